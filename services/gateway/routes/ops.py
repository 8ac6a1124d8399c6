"""Operational routes: liveness, readiness and the API's own description (metrics have a listener of
their own: services.gateway.app)."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, current_app, jsonify, render_template

from services.gateway.openapi import api_spec, describe_schema
from services.gateway.routing import PUBLIC, Call, gateway, operation
from services.gateway.rpc import RpcError
from services.gateway.schemas import HealthSchema, ReadinessSchema

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@operation(
    summary="The process is up (checks no dependency)", tag="operations", roles=PUBLIC, responses={200: HealthSchema}
)
def healthz(call: Call):
    return jsonify(status="ok")


@bp.get("/readyz")
@operation(
    summary="The broker is reachable and every service answers ping",
    description="503 with the same body when any check fails.",
    tag="operations",
    roles=PUBLIC,
    responses={200: ReadinessSchema, 503: ReadinessSchema},
)
def readyz(call: Call):
    state = gateway()
    timeout = state.settings.ready_timeout_s
    services = state.settings.ready_services
    try:
        state.rpc.check_broker(timeout)
        checks = {"broker": {"ok": True}}
        with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
            # copy_context: each ping carries this request's id.
            futures = {
                name: pool.submit(contextvars.copy_context().run, _ping, state.rpc, name, timeout) for name in services
            }
            checks.update({name: future.result() for name, future in futures.items()})
    except RpcError as exc:
        checks = {"broker": {"ok": False, "detail": exc.detail}}
        checks.update({name: {"ok": False, "detail": "not checked: the broker cannot be reached"} for name in services})
    ready = all(check["ok"] for check in checks.values())
    response = jsonify(status="ready" if ready else "not_ready", checks=checks)
    if not ready:
        response.status_code = 503
        response.headers["Retry-After"] = str(state.settings.retry_after_s)
    return response


def _ping(rpc, service: str, timeout: float) -> dict:
    try:
        reply = rpc.call(service, "ping", timeout=timeout)
    except RpcError as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc.detail}"}
    if isinstance(reply, dict) and reply.get("ok") is True:
        return {"ok": True}
    if isinstance(reply, dict) and isinstance(reply.get("missing"), str):
        return {"ok": False, "detail": f"{reply['missing']} is not available to {service}"}
    return {"ok": False, "detail": f"ping answered {reply!r}"}


@bp.get("/openapi.json")
@operation(
    summary="This API's OpenAPI 3.1 document", tag="operations", roles=PUBLIC, responses={200: "application/json"}
)
def openapi_json(call: Call):
    return jsonify(api_spec(current_app))


@bp.get("/docs")
@operation(summary="This API's documentation, as a page", tag="operations", roles=PUBLIC, responses={200: "text/html"})
def docs(call: Call):
    return render_template("docs.html", spec=api_spec(current_app), describe=describe_schema)
