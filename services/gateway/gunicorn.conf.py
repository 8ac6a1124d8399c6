"""gunicorn settings for the gateway: `gunicorn -c services/gateway/gunicorn.conf.py`.

Threads, never eventlet: the gateway is a plain threaded WSGI app (gunicorn 27 has no eventlet
worker) whose RPC client lends one nameko proxy per call.
"""

import os


def _positive_int(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a positive integer, got {text!r}")
    return int(text)


wsgi_app = "services.gateway.wsgi:app"
# The API, and the metrics listener: the only one that answers /metrics (services.gateway.app).
bind = [os.environ.get("GATEWAY_BIND", "127.0.0.1:8000"), os.environ.get("GATEWAY_METRICS_BIND", "127.0.0.1:9100")]
# gthread that serves, rather than drops, a request arriving as its connection expires.
worker_class = "services.gateway.worker.GatewayWorker"
workers = _positive_int("GATEWAY_WORKERS", os.cpu_count() or 1)
threads = _positive_int("GATEWAY_THREADS", 8)
# A worker silent this long is killed and replaced; every RPC is bounded well below it.
timeout = _positive_int("GATEWAY_WORKER_TIMEOUT_S", 30)
# On SIGTERM, requests in flight get this long to finish.
graceful_timeout = _positive_int("GATEWAY_GRACEFUL_TIMEOUT_S", 20)
keepalive = _positive_int("GATEWAY_KEEPALIVE_S", 5)
# Workers connect to the broker after the fork, never before.
preload_app = False
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logger_class = "services.gateway.logs.GunicornJsonLogger"


def on_starting(server):
    # Samples left by an earlier master would be summed into this one's /metrics.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def post_fork(server, worker):
    # Before the worker loads the app, so that its import-time warnings are JSON lines too.
    from services.gateway.logs import configure_logging

    configure_logging(loglevel.upper())


def worker_exit(server, worker):
    app = getattr(worker, "wsgi", None)
    if app is not None:
        from services.gateway.app import close_app

        close_app(app)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
