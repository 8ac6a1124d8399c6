"""The domain's refusals, as every service and the gateway answer them (pure: no framework).

A refusal says why in both languages (`message`, a `Bilingual`) and, by its class, how it
is answered: `status` and `kind` (the problem type). `replying` (services/common/replies.py)
turns any of them into the reply; a service declares its own refusals as subclasses, next
to the rule that raises them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class DomainError(Exception):
    """A rule refused the request. `errors` maps the fields at fault to their messages."""

    status: int = 409
    kind: str | None = None

    def __init__(self, message: Any, errors: Mapping[str, Sequence[Any]] | None = None):
        self.message = message
        self.errors = {field: list(messages) for field, messages in errors.items()} if errors else None
        super().__init__(getattr(message, "en", str(message)))


class FieldErrors(DomainError):
    """Refused for what some fields hold (or lack): `errors` maps each field to its
    messages; the first message is the refusal's own."""

    status, kind = 422, "invalid-fields"

    def __init__(self, errors: Mapping[str, Sequence[Any]]):
        errors = {field: list(messages) for field, messages in errors.items()}
        super().__init__(next(iter(errors.values()))[0], errors)


class NotFound(DomainError):
    """No such record, or not one the actor may see (never reveal which)."""

    status, kind = 404, "not-found"
