"""The gateway's Flask application: request id, metrics, errors as problems, routes."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from services.gateway.auth import TokenVerifier
from services.gateway.metrics import GatewayMetrics
from services.gateway.problems import Problem
from services.gateway.ratelimit import SharedLimiter, TokenBucketLimiter
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
# Pages (the dashboard, /docs) load their script from the gateway and carry their styles with
# this request's nonce; nothing else may load, and no page of the gateway may be framed.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_DETAILS = {
    404: "There is no resource at this path.",
    405: "This path does not accept the method {method}.",
    413: "The body is too large.",
}


def create_app(settings: Settings | None = None, rpc: RpcClient | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.refuse_unsafe_secrets()
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
        rpc=rpc
        or ClusterRpcClient(settings.amqp_uri, pool_size=settings.rpc_pool_size, timeout=settings.rpc_timeout_s),
        verifier=TokenVerifier.from_settings(settings),
        limiter=_limiter(settings, "principals", settings.rate_limit_per_s, settings.rate_limit_burst),
        anonymous_limiter=_limiter(
            settings, "addresses", settings.anonymous_rate_limit_per_s, settings.anonymous_rate_limit_burst
        ),
        metrics=GatewayMetrics(),
    )
    _install_request_hooks(app)
    _install_error_handlers(app)
    register_routes(app)
    app.wsgi_app = _MetricsListener(app.wsgi_app, app.extensions[EXTENSION].metrics, settings.metrics_port)
    return app


class _MetricsListener:
    """Answers GET /metrics on the metrics listener alone, and nothing else there; the public
    listener has no /metrics (it showed route counts and the Python version to anyone)."""

    def __init__(self, api, metrics: GatewayMetrics, port: int):
        self.api, self.metrics, self.port = api, metrics, port

    def __call__(self, environ, start_response):
        if self._local_port(environ) != self.port:
            return self.api(environ, start_response)
        if environ.get("PATH_INFO") == "/metrics" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return Response(self.metrics.exposition(), content_type=self.metrics.content_type)(environ, start_response)
        return Response("only /metrics here\n", status=404, content_type="text/plain")(environ, start_response)

    @staticmethod
    def _local_port(environ) -> int | None:
        # gunicorn's SERVER_PORT comes from the Host header, which a caller chooses; the socket does not lie.
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            return sock.getsockname()[1]
        port = environ.get("SERVER_PORT", "")
        return int(port) if port.isdigit() else None


def _limiter(settings: Settings, scope: str, rate_per_s: float, burst: int):
    if not rate_per_s:
        return None
    if settings.rate_limit_mongo_uri:
        return SharedLimiter.on_mongo(settings.rate_limit_mongo_uri, scope, rate_per_s, burst)
    return TokenBucketLimiter(rate_per_s, burst)


def close_app(app: Flask) -> None:
    """Releases the app's broker connections (gunicorn calls it when a worker exits)."""
    app.extensions[EXTENSION].rpc.close()


def _install_request_hooks(app: Flask) -> None:
    @app.before_request
    def start() -> None:
        g.started = time.perf_counter()
        request_id.set(accept_or_generate(request.headers.get(REQUEST_ID_HEADER)))
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.context_processor
    def page_nonce() -> dict:
        return {"csp_nonce": g.get("csp_nonce", "")}

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = current_request_id() or accept_or_generate(None)
        _secure(response)
        response = _conditional(response)
        route = request.url_rule.rule if request.url_rule else None
        gateway().metrics.observe(
            request.method, route, response.status_code, time.perf_counter() - g.get("started", 0)
        )
        return response

    @app.teardown_request
    def forget(_exc: BaseException | None) -> None:
        request_id.set(None)


def _secure(response: Response) -> None:
    response.headers["Content-Security-Policy"] = _CSP.format(nonce=g.get("csp_nonce") or secrets.token_urlsafe(16))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if "Authorization" in request.headers:
        # What a token was shown must not stay in a shared or browser cache.
        response.headers["Cache-Control"] = "no-store"


def _conditional(response: Response) -> Response:
    """A read-mostly resource's 200 answer gets a strong ETag and answers If-None-Match with 304
    and no body. The tag is a hash of what the services answered and the media type: a download
    (a workbook carries its save time) has the same tag while its content is the same. The public
    notice may be kept by shared caches but is revalidated each time (an upheld objection changes
    it); an answer to a token stays `no-store` (a client keeps its own copy and its ETag)."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    op = getattr(view, "operation", None)
    if (
        op is None
        or not op.conditional
        or request.method not in ("GET", "HEAD")
        or response.status_code != 200
        or response.is_streamed
    ):
        return response
    if "Authorization" not in request.headers:
        response.headers["Cache-Control"] = "public, no-cache"
    response.vary.add("Authorization")
    versions = g.get("answer_versions") or [hashlib.sha256(response.get_data()).hexdigest()]
    response.set_etag(hashlib.sha256(" ".join([*versions, response.mimetype]).encode()).hexdigest()[:40])
    return response.make_conditional(request)


def _install_error_handlers(app: Flask) -> None:
    app.register_error_handler(Problem, lambda problem: problem.response())
    app.register_error_handler(HTTPException, _http_problem)
    app.register_error_handler(
        ServiceUnavailable, _dependency_problem(503, "The {service} service is not available right now.")
    )
    app.register_error_handler(
        ServiceTimeout, _dependency_problem(504, "The {service} service did not answer in time.")
    )
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
