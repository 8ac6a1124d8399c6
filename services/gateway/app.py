"""The gateway's Flask application: request id, metrics, errors as problems, routes."""
from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from services.gateway.auth import TokenVerifier
from services.gateway.metrics import GatewayMetrics
from services.gateway.problems import Problem
from services.gateway.ratelimit import TokenBucketLimiter
from services.gateway.requestid import HEADER as REQUEST_ID_HEADER
from services.gateway.requestid import accept_or_generate, current_request_id, request_id
from services.gateway.routes import register_routes
from services.gateway.routing import EXTENSION, Gateway, gateway
from services.gateway.rpc import ClusterRpcClient, RpcClient, ServiceFailed, ServiceTimeout, ServiceUnavailable
from services.gateway.settings import Settings

log = logging.getLogger(__name__)

DEV_SECRET_WARNING = (
    "JWT_SECRET is not set: tokens are verified with the PUBLIC DEVELOPMENT SECRET, so anyone can mint "
    "a token for any role. Set JWT_SECRET (or JWT_PUBLIC_KEY) before this gateway faces anyone."
)
_DETAILS = {
    404: "There is no resource at this path.",
    405: "This path does not accept the method {method}.",
    413: "The body is too large.",
}


def create_app(settings: Settings | None = None, rpc: RpcClient | None = None) -> Flask:
    settings = settings or Settings.from_env()
    if settings.uses_dev_secret:
        log.warning(DEV_SECRET_WARNING)
    app = Flask(__name__, static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=max(settings.max_body_bytes, settings.max_upload_bytes),
        # Every method a route answers is a declared one; OPTIONS would bypass the declarations.
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions[EXTENSION] = Gateway(
        settings=settings,
        rpc=rpc or ClusterRpcClient(settings.amqp_uri, pool_size=settings.rpc_pool_size, timeout=settings.rpc_timeout_s),
        verifier=TokenVerifier.from_settings(settings),
        limiter=TokenBucketLimiter(settings.rate_limit_per_s, settings.rate_limit_burst) if settings.rate_limit_per_s else None,
        metrics=GatewayMetrics(),
    )
    _install_request_hooks(app)
    _install_error_handlers(app)
    register_routes(app)
    return app


def close_app(app: Flask) -> None:
    """Releases the app's broker connections (gunicorn calls it when a worker exits)."""
    app.extensions[EXTENSION].rpc.close()


def _install_request_hooks(app: Flask) -> None:
    @app.before_request
    def start() -> None:
        g.started = time.perf_counter()
        request_id.set(accept_or_generate(request.headers.get(REQUEST_ID_HEADER)))

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = current_request_id() or accept_or_generate(None)
        route = request.url_rule.rule if request.url_rule else None
        gateway().metrics.observe(request.method, route, response.status_code, time.perf_counter() - g.get("started", 0))
        return response

    @app.teardown_request
    def forget(_exc: BaseException | None) -> None:
        request_id.set(None)


def _install_error_handlers(app: Flask) -> None:
    app.register_error_handler(Problem, lambda problem: problem.response())
    app.register_error_handler(HTTPException, _http_problem)
    app.register_error_handler(ServiceUnavailable, _dependency_problem(503, "The {service} service is not available right now."))
    app.register_error_handler(ServiceTimeout, _dependency_problem(504, "The {service} service did not answer in time."))
    app.register_error_handler(ServiceFailed, _dependency_problem(502, "The {service} service failed to answer."))
    app.register_error_handler(Exception, _unexpected)


def _http_problem(exc: HTTPException) -> Response:
    if exc.code is None or exc.code < 400:  # a routing redirect, not an error
        return exc.get_response()
    headers = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    detail = _DETAILS.get(exc.code, exc.description or "").format(method=request.method)
    return Problem(exc.code, detail, headers=headers).response()


def _dependency_problem(status: int, detail: str):
    def handle(exc: ServiceUnavailable | ServiceTimeout | ServiceFailed) -> Response:
        log.warning("%s answered %s: %s", exc.service, status, exc.detail)
        headers = {"Retry-After": str(gateway().settings.retry_after_s)} if status in (503, 504) else {}
        return Problem(status, detail.format(service=exc.service), headers=headers).response()

    return handle


def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.path)
    return Problem(500, "An unexpected error occurred; quote the request id when reporting it.").response()
