# One image for every Chuyi service and the gateway; the Kubernetes
# Deployments choose the command (deploy/k8s).
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    NUMBA_CACHE_DIR=/tmp/numba

RUN groupadd --gid 10001 chuyi \
 && useradd --uid 10001 --gid chuyi --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin chuyi

WORKDIR /app

# Dependencies first, from the exact pins, so a code change reuses this layer.
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock

COPY chuyi/ chuyi/
COPY services/ services/
# Byte-code compiled now: the root filesystem is read-only at run time.
RUN python -m compileall -q chuyi services

USER 10001:10001
EXPOSE 8000 9100

# Kubernetes probes /healthz and /readyz on each service's own port; a Docker
# HEALTHCHECK would not know which of the two ports the command serves.
# checkov:skip=CKV_DOCKER_2: health is probed by Kubernetes, per Deployment

# Exec form: python (or gunicorn) is PID 1 and receives SIGTERM itself.
CMD ["python", "-m", "chuyi", "--help"]
