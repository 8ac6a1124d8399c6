"""The request id: accepted from `X-Request-Id` when well-formed, else generated; carried in a
context variable so that log lines and RPC context data of the current request can read it."""

from __future__ import annotations

import contextvars
import re
import uuid

HEADER = "X-Request-Id"
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def accept_or_generate(header_value: str | None) -> str:
    if header_value and _WELL_FORMED.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id.get()
