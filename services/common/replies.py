"""The RPC reply contract between the services and the gateway.

Every service RPC takes keyword arguments: `actor` (the verified token's claims: `sub`,
`role`, and `institution_id` / `prefecture` / `expert_id` as the role has them), the
operation's parameters, and for creating commands `idempotency_key` and
`request_fingerprint`. It answers `{"status": 2xx, "body": ...}` or
`{"status": 4xx, "problem": {"title", "detail", "errors"?, "type"?}}`; `"replayed": true`
marks a reply stored under an idempotency key and given again.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json
from collections.abc import Collection
from typing import Any, Callable, Mapping, ParamSpec

from marshmallow import ValidationError

from .actor import Actor
from .bilingual import Bilingual
from .errors import DomainError
from .statemachine import ReasonRequired, StateGuide, TransitionNotAllowed
from .store import BaseStore, CommandInProgress, IdempotencyKeyReused

P = ParamSpec("P")
#: An RPC method's answer: {"status", "body"} or {"status", "problem"}.
Reply = dict[str, Any]

# The RPC method `replying` is answering: the operation an idempotency key is scoped to.
_operation: contextvars.ContextVar[str | None] = contextvars.ContextVar("operation", default=None)
# The claims that say whose key it is: the role, its scope claim, the subject.
_KEY_OWNER = ("role", "institution_id", "prefecture", "expert_id", "sponsor", "sub")

KEY_REUSED = Bilingual(
    "This Idempotency-Key was used with a different request.", "该幂等键（Idempotency-Key）已用于另一个请求。"
)


def key_in_progress(seconds: int) -> Bilingual:
    return Bilingual(
        f"A request with this Idempotency-Key is still in progress; retry after {seconds} s.",
        f"使用该幂等键（Idempotency-Key）的请求仍在处理中；请在 {seconds} 秒后重试。",
    )


TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}


class Refused(DomainError):
    """A command refused for a reason the caller can act on, with its status and problem type
    given where it is raised (a role not allowed, an answer composed by the entrypoint); a
    `Bilingual` detail is given in both languages."""

    def __init__(
        self, status: int, detail: str, *, errors: dict[str, Any] | None = None, type: str | None = None
    ) -> None:
        detail = bilingual(detail)
        super().__init__(detail)
        self.status, self.kind, self.detail, self.errors, self.type = status, type, detail, errors, type


def role_refused(role: object, roles: Collection[str]) -> Refused:
    """The 403 for a role that may not do this, naming the roles that may."""
    allowed = ", ".join(sorted(roles))
    return Refused(
        403,
        Bilingual(
            f"The role {role} may not do this; it is for: {allowed}.",
            f"角色 {role} 无权执行此操作；可执行的角色：{allowed}。",
        ),
        type="role-not-allowed",
    )


def require_role(actor: object, roles: Collection[str]) -> Actor:
    """The acting party of forwarded claims, refused (403) if its role is not one of `roles`:
    each service checks the actor it is given, whatever the gateway checked before it."""
    role = actor.get("role") if isinstance(actor, Mapping) else None
    if role not in roles or not (isinstance(actor, Mapping) and isinstance(actor.get("sub"), str)):
        raise role_refused(role, roles)
    return Actor.from_claims(actor)


def ok(body: object, status: int = 200) -> Reply:
    return {"status": status, "body": body}


def created(body: object) -> Reply:
    return ok(body, 201)


def problem(status: int, detail: str, *, errors: dict[str, Any] | None = None, type: str | None = None) -> Reply:
    answer: dict[str, Any] = {"title": TITLES.get(status, "Refused"), "detail": detail}
    if errors:
        answer["errors"] = errors
    if type:
        answer["type"] = type
    return {"status": status, "problem": answer}


def bilingual(message: object) -> str:
    """'中文 / English' for messages that carry both (the domain's Bilingual), else the text."""
    zh = getattr(message, "zh", None)
    return f"{zh} / {message}" if zh else str(message)


def field_errors(messages: object) -> dict[str, list[str]]:
    """marshmallow's nested messages flattened to {"a.b.0.c": ["..."]}, the shape clients read;
    messages that carry both languages keep both."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value: object) -> None:
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


def refusal_problem(exc: BaseException, guides: Mapping[str, StateGuide] | None = None) -> Reply | None:
    """The problem a refusal is answered with: invalid fields 422, a reused idempotency key
    422, a domain's refusal (`DomainError`, `Refused` among them) with the status and problem
    type it declares and its message in both languages as the detail, a missing reason 422
    naming `reason`, a state machine's refusal by its guide in `guides`. None for anything
    else: a bug, which raises."""
    if isinstance(exc, ValidationError):
        return problem(422, "Some fields are invalid.", errors=field_errors(exc.messages))
    if isinstance(exc, IdempotencyKeyReused):
        return problem(422, bilingual(KEY_REUSED), type="idempotency-key-reused")
    if isinstance(exc, CommandInProgress):
        return problem(409, bilingual(key_in_progress(exc.retry_after_s)), type="idempotency-key-in-progress")
    if isinstance(exc, Refused):
        return problem(exc.status, exc.detail, errors=exc.errors, type=exc.type)
    if isinstance(exc, DomainError):
        return problem(
            exc.status, bilingual(exc.message), errors=field_errors(exc.errors) if exc.errors else None, type=exc.kind
        )
    if isinstance(exc, ReasonRequired):
        message = bilingual(Bilingual(f"'{exc.event}' needs a reason", "须说明理由"))
        return problem(422, message, errors={"reason": [message]}, type="reason-required")
    if isinstance(exc, TransitionNotAllowed) and guides and exc.machine is not None and exc.machine in guides:
        guide = guides[exc.machine]
        return problem(409, bilingual(guide.explain(exc)), type=guide.problem_type(exc))
    return None


def replying(guides: Mapping[str, StateGuide] | None = None) -> Callable[[Callable[P, Reply]], Callable[P, Reply]]:
    """Wrap an RPC method so that its refusals are answered as problems (`refusal_problem`,
    with the service's state `guides`); anything else is a bug and raises."""

    def decorate(method: Callable[P, Reply]) -> Callable[P, Reply]:
        @functools.wraps(method)
        def answer(*args: P.args, **kwargs: P.kwargs) -> Reply:
            operation = _operation.set(method.__name__)
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                answer = refusal_problem(exc, guides)
                if answer is None:
                    raise
                return answer
            finally:
                _operation.reset(operation)

        return answer

    return decorate


def run_once(
    store: BaseStore, actor: Mapping[str, Any], key: str | None, fingerprint: str | None, command: Callable[[], Reply]
) -> Reply:
    """Run a creating command once per Idempotency-Key of one caller and one operation; a retry
    gets the first reply. The caller is the role, its scope claim and the subject together (one
    sub acting for another institution is another caller); the operation is the RPC method
    being answered. Keys expire (store.IDEMPOTENCY_KEY_TTL)."""
    scoped = None
    if key:
        owner = {claim: actor.get(claim) for claim in _KEY_OWNER}
        scope = json.dumps({**owner, "operation": _operation.get(), "key": key}, sort_keys=True, ensure_ascii=False)
        scoped = hashlib.sha256(scope.encode("utf-8")).hexdigest()
    reply, replayed = store.once_per_key(scoped, fingerprint or "", command)
    return {**reply, "replayed": True} if replayed else reply


#: What an `@idempotent` entrypoint returns: the command, to be run once per key.
Command = Callable[[], Reply]


def idempotent(method: Callable[..., Command]) -> Callable[..., Reply]:
    """A creating command's entrypoint: it checks the caller and loads its input, then returns
    the command (a function of no arguments answering the reply), which is run once per
    Idempotency-Key (`run_once`) in one transaction of the service's store. The entrypoint takes
    `idempotency_key` and `request_fingerprint` from the gateway besides its own parameters.
    Checks stay outside the transaction, so that a refused input costs no write."""

    @functools.wraps(method)
    def entrypoint(
        service: Any,
        actor: Mapping[str, Any],
        *args: Any,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
        **kwargs: Any,
    ) -> Reply:
        command = method(service, actor, *args, **kwargs)
        return run_once(service.store, actor, idempotency_key, request_fingerprint, command)

    return entrypoint
