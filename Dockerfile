# One image for both Python services: `python -m substation` (default) or `python -m proxy`.
# Run-time dependencies only, at the versions locked in requirements/service.lock; the local
# stack's tools (Locust, matplotlib) are not in it: Compose runs Locust from its own image.
# BASE_IMAGE: CI, which reaches no image registry, builds it on a base made from Debian's own
# packages (.ci/containers); that Python marks itself externally managed, hence the ENV.
ARG BASE_IMAGE=python:3.11.10-slim-bookworm
FROM ${BASE_IMAGE}
ENV PIP_BREAK_SYSTEM_PACKAGES=1

RUN useradd --create-home --uid 10001 grid
WORKDIR /app
COPY requirements/service.lock ./requirements/service.lock
RUN pip install --no-cache-dir --no-deps -r requirements/service.lock
COPY pyproject.toml README.md ./
COPY grid ./grid
COPY proxy ./proxy
COPY substation ./substation
RUN pip install --no-cache-dir --no-deps . && mkdir -p /var/lib/grid && chown grid /var/lib/grid

USER grid
EXPOSE 8000 8080
CMD ["python", "-m", "substation", "--host", "0.0.0.0", "--port", "8000"]
