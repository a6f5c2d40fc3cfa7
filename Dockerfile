# syntax=docker/dockerfile:1
# One image for every microcv process; the command picks which one runs:
#   (default)                    python -m collector       the beacon endpoint, port 8601
#   python -m consumers          a counter worker           metrics on port 9100
#   python -m consumers.api      the query API              port 8602
#   microcv ...                  the operations CLI (topics create|check, sites validate, replay, tag)
# Configuration is environment variables (docs/configuration.md) and the sites config, mounted at
# /etc/microcv/sites.toml (the image carries deploy/sites.example.toml there as a placeholder).

ARG PYTHON_VERSION=3.12

# -- build: wheels for microcv and its dependencies ---------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY collector ./collector
COPY consumers ./consumers
COPY snippet ./snippet
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# -- runtime: no compiler, no build files, a user without a shell ------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MICROCV_SITES=/etc/microcv/sites.toml \
    MICROCV_COLLECTOR_HOST=0.0.0.0 \
    MICROCV_API_HOST=0.0.0.0 \
    MICROCV_WORKER_METRICS_HOST=0.0.0.0 \
    MICROCV_WORKER_METRICS_PORT=9100 \
    MICROCV_SPOOL_DIR=/var/lib/microcv/spool

# The wheels were resolved in the build stage; --no-index installs exactly those (DL3013 asks for
# versions pinned on the command line, which a local wheelhouse already fixes).
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels microcv \
    && groupadd --system --gid 10001 microcv \
    && useradd --system --uid 10001 --gid microcv --no-create-home \
       --home-dir /var/lib/microcv --shell /usr/sbin/nologin microcv \
    && mkdir -p /etc/microcv /var/lib/microcv/spool \
    && chown -R microcv:microcv /var/lib/microcv

COPY deploy/sites.example.toml /etc/microcv/sites.toml

# The collector's spool: events Kafka could not take yet, fsynced before the 2xx. Keep it on a
# volume so a restarted container replays it.
VOLUME ["/var/lib/microcv/spool"]
WORKDIR /var/lib/microcv
USER 10001:10001
EXPOSE 8601 8602 9100

# SIGTERM: the collector flushes to Kafka or the spool, a worker finishes its batch and commits,
# each within MICROCV_GRACE_S; give the container at least that long to stop.
STOPSIGNAL SIGTERM

# Whichever process this container runs, exactly one of these answers when it is alive. Shell
# form on purpose (DL3025): the ports come from the environment.
# hadolint ignore=DL3025
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD microcv probe \
        "http://127.0.0.1:${MICROCV_COLLECTOR_PORT:-8601}/healthz" \
        "http://127.0.0.1:${MICROCV_API_PORT:-8602}/healthz" \
        "http://127.0.0.1:${MICROCV_WORKER_METRICS_PORT:-9100}/metrics"

CMD ["python", "-m", "collector"]
