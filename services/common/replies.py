"""The RPC reply contract between the services and the gateway.

Every service RPC takes keyword arguments: `actor` (the verified token's claims: `sub`,
`role`, and `institution_id` / `prefecture` / `expert_id` as the role has them), the
operation's parameters, and for creating commands `idempotency_key` and
`request_fingerprint`. It answers `{"status": 2xx, "body": ...}` or
`{"status": 4xx, "problem": {"title", "detail", "errors"?, "type"?}}`; `"replayed": true`
marks a reply stored under an idempotency key and given again.
"""
from __future__ import annotations

import functools
from typing import Callable, Mapping

from marshmallow import ValidationError

from .store import IdempotencyKeyReused

TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Content"}


class Refused(Exception):
    """A command refused for a reason the caller can act on, answered as a 4xx problem."""

    def __init__(self, status: int, detail: str, *, errors: dict | None = None, type: str | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors, self.type = status, detail, errors, type


def ok(body, status: int = 200) -> dict:
    return {"status": status, "body": body}


def created(body) -> dict:
    return ok(body, 201)


def problem(status: int, detail: str, *, errors: dict | None = None, type: str | None = None) -> dict:
    answer = {"title": TITLES.get(status, "Refused"), "detail": detail}
    if errors:
        answer["errors"] = errors
    if type:
        answer["type"] = type
    return {"status": status, "problem": answer}


def bilingual(message) -> str:
    """'中文 / English' for messages that carry both (the domain's Bilingual), else the text."""
    zh = getattr(message, "zh", None)
    return f"{zh} / {message}" if zh else str(message)


def field_errors(messages) -> dict[str, list[str]]:
    """marshmallow's nested messages flattened to {"a.b.0.c": ["..."]}, the shape clients read;
    messages that carry both languages keep both."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(prefix, item)
        else:
            flat.setdefault(prefix or "_schema", []).append(bilingual(value))

    walk("", messages)
    return flat


def replying(refusals: Mapping[type[Exception], int] | None = None):
    """Wrap an RPC method so that refusals become problems: invalid fields 422, a reused
    idempotency key 422, `Refused` as it says, and each domain error in `refusals` with its
    status (the domain's own message as the detail). Anything else is a bug and raises."""
    known = dict(refusals or {})

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def answer(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except ValidationError as exc:
                return problem(422, "Some fields are invalid.", errors=field_errors(exc.messages))
            except IdempotencyKeyReused:
                return problem(422, "This Idempotency-Key was used with a different request.", type="idempotency-key-reused")
            except Refused as exc:
                return problem(exc.status, exc.detail, errors=exc.errors, type=exc.type)
            except tuple(known) as exc:
                status = next(code for kind, code in known.items() if isinstance(exc, kind))
                return problem(status, bilingual(getattr(exc, "message", exc)))
        return answer
    return decorate


def idempotent(store, actor: dict, key: str | None, fingerprint: str | None, command: Callable[[], dict]) -> dict:
    """Run a creating command once per (caller, Idempotency-Key); a retry gets the first reply."""
    scoped = f"{actor['sub']}:{key}" if key else None
    reply, replayed = store.once_per_key(scoped, fingerprint or "", command)
    return {**reply, "replayed": True} if replayed else reply
