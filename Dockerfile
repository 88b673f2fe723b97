# One image for both Python services: `python -m substation` (default) or `python -m proxy`.
# Run-time dependencies only, at the versions locked in requirements/service.lock; the local
# stack's tools (Locust, matplotlib) are not in it: Compose runs Locust from its own image.
# BASE_IMAGE: CI, which reaches no image registry, builds it on a base made from Debian's own
# packages (.ci/containers); that Python marks itself externally managed, hence the ENV.
ARG BASE_IMAGE=python:3.11.10-slim-bookworm

# The build stage: the project's wheel with its pure core compiled to C by mypyc (setup.py,
# GRID_COMPILE=1). The compiler, Python's headers and mypy stay in this stage.
FROM ${BASE_IMAGE} AS build
ENV PIP_BREAK_SYSTEM_PACKAGES=1
RUN packages="gcc libc6-dev" \
    && headers="$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
    && { [ -f "$headers/Python.h" ] || packages="$packages python3-dev"; } \
    && apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# mypyc type-checks what it compiles against the run-time dependencies' types (httptools,
# multidict), so they are installed here too.
COPY requirements/service.lock requirements/compile.lock ./requirements/
RUN pip install --no-cache-dir --no-deps -r requirements/service.lock -r requirements/compile.lock
COPY pyproject.toml setup.py README.md ./
COPY grid ./grid
COPY proxy ./proxy
COPY substation ./substation
RUN GRID_COMPILE=1 pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM ${BASE_IMAGE}
ENV PIP_BREAK_SYSTEM_PACKAGES=1

RUN useradd --create-home --uid 10001 grid
WORKDIR /app
COPY requirements/service.lock ./requirements/service.lock
RUN pip install --no-cache-dir --no-deps -r requirements/service.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels \
    && mkdir -p /var/lib/grid && chown grid /var/lib/grid

USER grid
EXPOSE 8000 8080
CMD ["python", "-m", "substation", "--host", "0.0.0.0", "--port", "8000"]
