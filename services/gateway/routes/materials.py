"""Materials: the files filed with an application (申报材料); the streaming helpers here serve
an annual report's evidence files too (routes/annual_reports.py).

The bytes never cross the RPC bus: after its own checks (token, role, query) the gateway
streams the request body to the applications service's internal HTTP entrypoint as it
arrives, and streams the service's answer back, with the verified actor in a short-lived
HMAC-signed header (services/common/signed_actor.py). Listing and removing, which carry no
bytes, are ordinary RPC calls. See docs/materials.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
from flask import Blueprint, Response, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from services.contracts.applications import MATERIAL_KINDS, MEDIA_TYPES
from services.contracts.applications_api import MaterialListOut, MaterialOut
from services.common.fields import BaseSchema, Text, choice
from services.common.signed_actor import HEADER as ACTOR_HEADER, sign
from services.gateway.problems import Problem
from services.gateway.requestid import HEADER as REQUEST_ID_HEADER, current_request_id
from services.gateway.routing import Call, gateway, operation
from services.gateway.rpc import ServiceFailed, ServiceUnavailable

SERVICE = "applications"
bp = Blueprint("materials", __name__)

READERS = {"institution", "prefecture", "hrss", "province", "expert"}
PIECE = 256 * 1024
_CONNECT_TIMEOUT_S = 3.0
_PASSED_BACK = (
    "Content-Type",
    "Content-Length",
    "Content-Range",
    "Accept-Ranges",
    "ETag",
    "Content-Disposition",
    "Cache-Control",
    "Last-Modified",
)
_PASSED_ON = ("Range", "If-None-Match", "If-Range", "If-Match")
WHO_READS = (
    "The owning institution, its recommending authority (prefecture bureau or HRSS department) and the "
    "province read an application's materials; an expert only those of applications assigned to that "
    "expert and only until the review deadline. Anyone else is answered 404."
)


class MaterialUploadQuery(BaseSchema):
    kind = choice({code: kind.zh for code, kind in MATERIAL_KINDS.items()}, required=True)
    filename = Text(255, required=True, metadata={"description": "the file's name, without any path"})


def _too_large() -> Problem:
    """The 413, after reading (and dropping) what is left of the body, up to the limit again:
    most clients read no answer until they have sent their body."""
    limit = gateway().settings.max_material_bytes
    raw, dropped = request.environ["wsgi.input"], 0
    while dropped <= limit and (piece := raw.read(PIECE)):
        dropped += len(piece)
    return Problem(
        413,
        f"单个文件不得超过 {limit / 2**20:.1f} MB / A file may have at most {limit / 2**20:.1f} MB.",
        type="too-large",
    )


def _pieces() -> Iterator[bytes]:
    while piece := request.stream.read(PIECE):
        yield piece


class _SizedBody:
    """The request body as a file of known length: sent on as it is read, with its Content-Length
    (a generator would be sent chunked)."""

    def __init__(self, length: int):
        self.length = length

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = PIECE) -> bytes:
        # The sender asks for its own block size (16 kB in urllib3); a piece of PIECE is as safe
        # (what is read is sent before the next read) and takes far fewer system calls.
        return request.stream.read(max(size, PIECE))


def _internal(call: Call, method: str, path: str, **kwargs: Any) -> requests.Response:
    settings = gateway().settings
    headers = {
        ACTOR_HEADER: sign(call.actor.as_claims(), settings.internal_secret),
        REQUEST_ID_HEADER: current_request_id() or "",
        **kwargs.pop("headers", {}),
    }
    try:
        return requests.request(
            method,
            f"{settings.applications_http_url}{path}",
            headers=headers,
            timeout=(_CONNECT_TIMEOUT_S, settings.rpc_timeout_s),
            **kwargs,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ServiceUnavailable(SERVICE, f"materials endpoint: {exc}") from None


def _refusal(answer: requests.Response) -> Problem:
    """The service's problem answer as the gateway's."""
    try:
        problem = answer.json()
        return Problem(
            answer.status_code,
            problem["detail"],
            title=problem.get("title"),
            errors=problem.get("errors"),
            type=problem.get("type"),
        )
    except (ValueError, KeyError, TypeError):
        raise ServiceFailed(
            SERVICE, f"materials endpoint answered {answer.status_code} without a problem: {answer.text[:300]!r}"
        ) from None
    finally:
        answer.close()


def upload(call: Call, internal_path: str, public_path: str) -> Response:
    """Streams the request body to the service's internal entrypoint at `internal_path`: 201 with
    the material, located under `public_path`, or the service's refusal."""
    limit = gateway().settings.max_material_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large()
    request.max_content_length = limit + 1  # a chunked body past the limit shows as RequestEntityTooLarge
    body = _pieces() if request.content_length is None else _SizedBody(request.content_length)
    try:
        answer = _internal(
            call,
            "POST",
            internal_path,
            params=call.query,
            data=body,
            headers={"Content-Type": "application/octet-stream"},
        )
    except RequestEntityTooLarge:
        raise _too_large() from None
    except ClientDisconnected:
        raise Problem(400, "请求体未完整送达 / The body ended before it was complete.") from None
    if answer.status_code != 201:
        raise _refusal(answer)
    response = Response(answer.content, status=201, mimetype="application/json")
    response.headers["Location"] = f"{public_path}/{answer.json()['id']}"
    return response


def download(call: Call, internal_path: str) -> Response:
    """Streams the service's answer for the material at `internal_path` back, with its headers."""
    passed_on = {name: request.headers[name] for name in _PASSED_ON if name in request.headers}
    answer = _internal(call, "GET", internal_path, headers=passed_on, stream=True)
    if answer.status_code >= 400 and answer.status_code != 416:
        raise _refusal(answer)
    headers = {name: answer.headers[name] for name in _PASSED_BACK if name in answer.headers}
    response = Response(
        answer.raw.stream(PIECE, decode_content=False),
        status=answer.status_code,
        headers=headers,
        direct_passthrough=True,
    )
    response.call_on_close(answer.close)
    return response


@bp.post("/v1/applications/<application_id>/materials")
@operation(
    summary="File a material (PDF, DOCX, XLSX, JPEG or PNG) with a draft application",
    description="The body is the file itself (any Content-Type; the type is decided from the content). Refused: "
    "content of another type or that does not open (415); an encrypted PDF, a PDF with JavaScript or "
    "launch actions, an Office file with macros or with an archive inside, a name with a path (422); "
    "a file past the per-file limit or materials past the per-application limit (413; "
    "MATERIALS_MAX_FILE_BYTES, MATERIALS_MAX_APPLICATION_BYTES, 20 MB and 100 MB by default); an "
    "application already submitted (409: materials freeze at submission). The same content filed "
    "twice is stored once.",
    tag="materials",
    roles={"institution"},
    query=MaterialUploadQuery,
    streams=True,
    responses={201: MaterialOut},
    problems=(404, 409),
)
def file_material(call: Call, application_id: str):
    return upload(
        call, f"/internal/applications/{application_id}/materials", f"/v1/applications/{application_id}/materials"
    )


@bp.get("/v1/applications/<application_id>/materials")
@operation(
    summary="List an application's materials",
    description=WHO_READS,
    tag="materials",
    roles=READERS,
    responses={200: MaterialListOut},
    problems=(404,),
)
def list_materials(call: Call, application_id: str):
    return call.rpc(SERVICE, "list_materials", application_id=application_id).response()


@bp.get("/v1/applications/<application_id>/materials/<material_id>")
@operation(
    summary="Download a material",
    description=f"{WHO_READS} Content-Disposition names the file (RFC 5987 filename* for Chinese names); ETag is "
    "the content's SHA-256 and Range requests are answered 206. An expert's copy of a PDF carries a "
    "visible watermark (仅供评审使用 · the expert · the time) and each expert download is recorded.",
    tag="materials",
    roles=READERS,
    responses={200: "application/octet-stream"},
    downloads=MEDIA_TYPES,
    problems=(404,),
)
def read_material(call: Call, application_id: str, material_id: str):
    return download(call, f"/internal/applications/{application_id}/materials/{material_id}")


@bp.delete("/v1/applications/<application_id>/materials/<material_id>")
@operation(
    summary="Remove a material from a draft application (it stays in the history)",
    tag="materials",
    roles={"institution"},
    responses={204: None},
    problems=(404, 409),
)
def remove_material(call: Call, application_id: str, material_id: str):
    call.rpc(SERVICE, "remove_material", application_id=application_id, material_id=material_id)
    return Response(status=204)
