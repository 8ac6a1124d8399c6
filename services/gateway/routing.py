"""How a route declares itself, and what every route gets before its view runs.

A view is declared once with `@operation(...)`: who may call it, what it takes and what it
answers. The same declaration drives the checks below (token, role, rate limit, query, body,
Idempotency-Key) and the OpenAPI document, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import contextvars
import functools
import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from flask import Response, current_app, g, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from services.common.fields import unstorable
from services.common.actor import Actor
from services.gateway.auth import ROLES, AuthError, TokenVerifier, bearer_token
from services.gateway.metrics import GatewayMetrics
from services.gateway.problems import Problem, field_errors
from services.gateway.ratelimit import SharedLimiter, TokenBucketLimiter
from services.gateway.rpc import RpcClient, ServiceFailed
from services.gateway.settings import Settings

Limiter = TokenBucketLimiter | SharedLimiter

EXTENSION = "chuyi_gateway"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_SUFFIXES = {CSV: ".csv", XLSX: ".xlsx"}
UPLOAD_FIELD = "file"
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,254}")
_PROBLEM_TYPE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_MAX_FILENAME = 255


@dataclass
class Gateway:
    """The app's collaborators, reachable from any request as `gateway()`."""

    settings: Settings
    rpc: RpcClient
    verifier: TokenVerifier
    limiter: Limiter | None
    metrics: GatewayMetrics
    anonymous_limiter: Limiter | None = None
    spec_cache: dict = field(default_factory=dict)

    def authenticate(self) -> Actor:
        try:
            return self.verifier.verify(bearer_token(request.headers.get("Authorization")))
        except AuthError as exc:
            raise Problem(
                401, f"Authentication failed: {exc}.", headers={"WWW-Authenticate": 'Bearer realm="chuyi"'}
            ) from None

    def throttle(self, actor: Actor | None) -> None:
        """The caller's limit: its principal's with a token, else its address's (stricter)."""
        if actor is not None:
            wait = self.limiter.take(actor.audit_name) if self.limiter else 0
        else:
            wait = self.anonymous_limiter.take(self.client_address()) if self.anonymous_limiter else 0
        if wait:
            raise Problem(429, f"Too many requests; retry in {wait} s.", headers={"Retry-After": str(wait)})

    def client_address(self) -> str:
        """The caller's address: the one the outermost trusted proxy saw, else the peer's."""
        hops = self.settings.trusted_proxy_hops
        forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()]
        if hops and len(forwarded) >= hops:
            return forwarded[-hops]
        return request.remote_addr or "unknown"


def gateway() -> Gateway:
    return current_app.extensions[EXTENSION]


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    roles: frozenset[str] | None  # None: public, no token
    responses: Mapping[int, Any]  # status -> Schema class (JSON) or a media type string
    description: str = ""
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    upload: bool = False
    streams: bool = False  # the body is a file, passed through to the service as it arrives
    idempotent: bool = False
    problems: tuple[int, ...] = ()  # statuses the service may answer besides the gateway's own
    downloads: tuple[str, ...] = ()  # media types the 200 answer may also take, as a file
    conditional: bool = False  # a read that answers with an ETag and 304 to If-None-Match
    query_schema: Schema | None = field(default=None, compare=False)
    body_schema: Schema | None = field(default=None, compare=False)


PUBLIC = None


def operation(
    *,
    summary: str,
    tag: str,
    roles: Iterable[str] | None,
    responses: Mapping[int, Any],
    description: str = "",
    query: type[Schema] | None = None,
    body: type[Schema] | None = None,
    upload: bool = False,
    streams: bool = False,
    idempotent: bool = False,
    problems: Iterable[int] = (),
    downloads: Iterable[str] = (),
    conditional: bool = False,
) -> Callable:
    """Declares a view. `roles` lists the roles that may call it (PUBLIC for no token); `downloads`
    the media types its 200 answer may take besides JSON, as a file (the view picks one with
    `exports.requested_format`); `conditional` marks a read-mostly resource whose 200 answer carries
    an ETag, so that a portal asking again with If-None-Match gets 304 without the body. The view is called as `view(call: Call, **path_params)` and
    returns a Flask response."""
    allowed = None if roles is None else frozenset(roles)
    if allowed is not None and (not allowed or not allowed <= set(ROLES)):
        raise ValueError(f"roles must be a non-empty subset of {ROLES}, got {sorted(allowed)}")
    if sum((body is not None, upload, streams)) > 1:
        raise ValueError("an operation takes a JSON body, an upload or a streamed file, one at most")
    op = Operation(
        summary=summary,
        tag=tag,
        roles=allowed,
        responses=dict(responses),
        description=description,
        query=query,
        body=body,
        upload=upload,
        streams=streams,
        idempotent=idempotent,
        problems=tuple(problems),
        downloads=tuple(downloads),
        conditional=conditional,
        query_schema=query() if query else None,
        body_schema=body() if body else None,
    )

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def handle(**path_params: Any) -> Response:
            return view(_prepare(op), **path_params)

        handle.operation = op
        return handle

    return decorate


@dataclass(frozen=True)
class Call:
    """One accepted request: who calls, and the validated query and body."""

    operation: Operation
    actor: Actor | None
    query: dict
    # The JSON body as sent (it passed validation), or for an upload {"filename", "content_b64"}.
    body: Any
    idempotency_key: str | None
    fingerprint: str | None

    def rpc(self, service: str, method: str, **params: Any) -> "ServiceReply":
        """Calls the service with the actor (and, for a creating operation, the idempotency key and
        request fingerprint); a problem reply is raised as a Problem."""
        return self._answered(service, method, gateway().rpc.call(service, method, **self._kwargs(params)))

    def rpc_each(self, calls: Sequence[tuple[str, str, dict]]) -> list["ServiceReply"]:
        """`rpc` of each (service, method, params) at once, each in a thread of its own (with the
        request's context variables: its id goes along), so that a page merged from every
        service waits for the slowest service, not for the sum of them. Replies in order."""
        client = gateway().rpc
        with ThreadPoolExecutor(max_workers=len(calls) or 1, thread_name_prefix="rpc-each") as pool:
            pending = [
                pool.submit(contextvars.copy_context().run, client.call, service, method, **self._kwargs(params))
                for service, method, params in calls
            ]
            raw = [future.result() for future in pending]
        return [self._answered(service, method, reply) for (service, method, _), reply in zip(calls, raw)]

    def _kwargs(self, params: Mapping[str, Any]) -> dict:
        kwargs = dict(params)
        if self.actor is not None:
            kwargs["actor"] = self.actor.as_claims()
        if self.operation.idempotent:
            kwargs["idempotency_key"] = self.idempotency_key
            kwargs["request_fingerprint"] = self.fingerprint
        return kwargs

    def _answered(self, service: str, method: str, raw: Any) -> "ServiceReply":
        reply = ServiceReply.parse(service, method, raw)
        if self.operation.conditional:
            g.answer_versions = [*g.get("answer_versions", ()), fingerprint(reply.body)]
        return reply


@dataclass(frozen=True)
class ServiceReply:
    service: str
    status: int
    body: Any
    replayed: bool = False

    @classmethod
    def parse(cls, service: str, method: str, reply: Any) -> "ServiceReply":
        """Reads a reply of the contract: {"status": 2xx, "body": ..., "replayed"?} or
        {"status": 4xx, "problem": {"title", "detail", "errors"?, "type"?}, "replayed"?}."""

        def broken(why: str) -> ServiceFailed:
            return ServiceFailed(service, f"{method} broke the reply contract: {why}")

        if not isinstance(reply, Mapping) or not isinstance(reply.get("status"), int):
            raise broken("no integer status")
        status, replayed = reply["status"], reply.get("replayed") is True
        if 200 <= status < 300 and "body" in reply:
            return cls(service=service, status=status, body=reply["body"], replayed=replayed)
        problem = reply.get("problem")
        if not (400 <= status < 500 and isinstance(problem, Mapping)):
            raise broken(f"status {status} without a body or a 4xx problem")
        if not isinstance(problem.get("title"), str) or not isinstance(problem.get("detail"), str):
            raise broken("a problem needs a title and a detail")
        errors = problem.get("errors")
        if errors is not None and not _is_field_errors(errors):
            raise broken("problem errors must map fields to lists of messages")
        kind = problem.get("type")
        if kind is not None and not (isinstance(kind, str) and _PROBLEM_TYPE.fullmatch(kind)):
            raise broken("a problem type must be a lower-case slug")
        raise Problem(
            status,
            problem["detail"],
            title=problem["title"],
            errors=errors,
            type=kind,
            headers={REPLAYED_HEADER: "true"} if replayed else None,
        )

    def created_id(self) -> str:
        if not isinstance(self.body, Mapping) or not isinstance(self.body.get("id"), str):
            raise ServiceFailed(self.service, "a creation reply must carry the new record's id")
        return self.body["id"]

    def response(self, *, location: str | None = None) -> Response:
        response = current_app.json.response(self.body)
        response.status_code = self.status
        if self.replayed:
            response.headers[REPLAYED_HEADER] = "true"
        if location:
            response.headers["Location"] = location
        return response


def _is_field_errors(errors: Any) -> bool:
    return isinstance(errors, Mapping) and all(
        isinstance(name, str) and isinstance(messages, list) and all(isinstance(m, str) for m in messages)
        for name, messages in errors.items()
    )


def canonical_json(document: Any) -> bytes:
    """Keys sorted, no spaces, UTF-8: the same document always gives the same bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def fingerprint(document: Any) -> str:
    return hashlib.sha256(canonical_json(document)).hexdigest()


def _prepare(op: Operation) -> Call:
    state = gateway()
    actor = None
    if op.roles is None:
        if op.tag != "operations":  # probes and the API's description are not throttled
            state.throttle(None)
    else:
        actor = state.authenticate()
        state.throttle(actor)
        if actor.role not in op.roles:
            raise Problem(
                403,
                f"The role {actor.role} may not use this operation; it is for: {', '.join(sorted(op.roles))}.",
            )
    query = _validated(op.query_schema, request.args.to_dict(), "query parameter")
    key = _idempotency_key() if op.idempotent else None
    body = None
    if op.body_schema is not None:
        body = _json_body(op.body_schema, state.settings.max_body_bytes)
    elif op.upload:
        body = _upload(state.settings.max_upload_bytes)
    return Call(
        operation=op,
        actor=actor,
        query=query,
        body=body,
        idempotency_key=key,
        # The path's own parameters are part of the request: one key cannot submit two applications.
        fingerprint=fingerprint({"path": request.view_args, "body": body} if request.view_args else body)
        if op.idempotent
        else None,
    )


def _validated(schema: Schema | None, data: Any, what: str) -> Any:
    if schema is None:
        if data:
            names = sorted(data)
            raise Problem(422, f"Unknown {what}: {', '.join(names)}.", errors={n: ["Unknown field."] for n in names})
        return {}
    try:
        return schema.load(data)
    except ValidationError as exc:
        errors = field_errors(exc.messages)
        raise Problem(422, f"Invalid {what}s: {', '.join(sorted(errors))}.", errors=errors) from None


def _idempotency_key() -> str | None:
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':  # sent as a structured-field string, as the IETF draft shows
        key = key[1:-1]
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        rule = "1 to 255 characters: letters, digits and . _ : ~ - (a UUID is a good key)"
        raise Problem(400, f"The {IDEMPOTENCY_HEADER} header must be {rule}.", errors={IDEMPOTENCY_HEADER: [rule]})
    return key


def _read_body(limit: int, read: Callable[[], Any]) -> Any:
    detail = f"The body is larger than the {limit} bytes this operation accepts."
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, detail)
    # A body without Content-Length (chunked) is cut silently at werkzeug's maximum: allow one byte
    # more than the limit, so that a body over it shows.
    request.max_content_length = limit + 1
    try:
        data = read()
    except RequestEntityTooLarge:
        raise Problem(413, detail) from None
    if isinstance(data, bytes) and len(data) > limit:
        raise Problem(413, detail)
    return data


def _json_body(schema: Schema, limit: int) -> Any:
    mimetype = request.mimetype
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if not (mimetype == "application/json" or mimetype.endswith("+json")) or charset not in ("utf-8", "utf8"):
        raise Problem(415, "Send the body as JSON: Content-Type: application/json (UTF-8).")
    raw = _read_body(limit, request.get_data)
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise Problem(400, "The body is not UTF-8 text.") from None
    except (ValueError, RecursionError) as exc:
        raise Problem(400, f"The body is not valid JSON: {exc}.") from None
    unfit = unstorable(document)  # refused here, whatever the schema, so it never reaches a service
    if unfit:
        errors = field_errors(unfit)
        raise Problem(422, f"Invalid fields: {', '.join(sorted(errors))}.", errors=errors)
    _validated(schema, document, "field")
    return document


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _upload(limit: int) -> dict:
    if request.mimetype == "multipart/form-data":
        filename, content = _read_body(limit, _multipart_file)
    elif request.mimetype in UPLOAD_SUFFIXES:
        filename, content = "upload" + UPLOAD_SUFFIXES[request.mimetype], _read_body(limit, request.get_data)
    else:
        raise Problem(
            415,
            f"Send a CSV or XLSX file: multipart/form-data with the file in the field '{UPLOAD_FIELD}', "
            f"or the file itself as the body with Content-Type {CSV} or {XLSX}.",
        )
    if not content:
        raise Problem(422, "The file is empty.", errors={UPLOAD_FIELD: ["The file is empty."]})
    return {"filename": filename, "content_b64": base64.b64encode(content).decode("ascii")}


def _multipart_file() -> tuple[str, bytes]:
    unknown = sorted((set(request.files) | set(request.form)) - {UPLOAD_FIELD})
    if unknown:
        raise Problem(
            422, f"Unknown form fields: {', '.join(unknown)}.", errors={n: ["Unknown field."] for n in unknown}
        )
    upload = request.files.get(UPLOAD_FIELD)
    if upload is None:
        raise Problem(
            422, f"The form has no field '{UPLOAD_FIELD}'.", errors={UPLOAD_FIELD: ["Missing data for required field."]}
        )
    filename = re.split(r"[\\/]", upload.filename or "")[-1].strip()
    if not filename or len(filename) > _MAX_FILENAME:
        message = f"The file needs a name of 1 to {_MAX_FILENAME} characters."
        raise Problem(422, message, errors={UPLOAD_FIELD: [message]})
    if not filename.lower().endswith(tuple(UPLOAD_SUFFIXES.values())):
        raise Problem(415, "The file must be a .csv or .xlsx file.")
    return filename, upload.read()
