# One image for both Python services: `python -m substation` (default) or `python -m proxy`.
FROM python:3.11.10-slim-bookworm

RUN useradd --create-home --uid 10001 grid
WORKDIR /app
COPY pyproject.toml README.md ./
COPY grid ./grid
COPY proxy ./proxy
COPY substation ./substation
COPY stack ./stack
COPY bench ./bench
RUN pip install --no-cache-dir . && mkdir -p /var/lib/grid && chown grid /var/lib/grid

USER grid
EXPOSE 8000 8080
CMD ["python", "-m", "substation", "--host", "0.0.0.0", "--port", "8000"]
