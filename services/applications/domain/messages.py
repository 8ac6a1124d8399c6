"""The errors of the applications domain, each with its message in Chinese and English
(`Bilingual`, from the kernel)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from services.common.bilingual import Bilingual as Bilingual  # the domain's modules name it from here


def rfc3339(moment: datetime) -> str:
    """A time as RFC 3339 in UTC with a Z, as events and replies carry it."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class DomainError(Exception):
    """A rule of the domain refused the request; `message` says why in both languages."""

    def __init__(self, message: Bilingual):
        self.message = message
        super().__init__(message.en)


class QuotaExceeded(DomainError):
    pass


class CallNotOpen(DomainError):
    pass


class WindowClosed(CallNotOpen):
    """The call's application window has passed."""


class DecisionsClosed(DomainError):
    """The call has moved on to review: recommendations and eligibility are settled."""


class ApplicationLimitReached(DomainError):
    pass


class NotEditable(DomainError):
    pass


class NotRecommender(DomainError):
    pass


class RecommendationCapReached(DomainError):
    pass


class DecisionReasonRequired(DomainError):
    pass


class RuleNotOverridable(DomainError):
    """A limit the notice sets (an institution type) failed: no decision makes it eligible."""


class NotFound(DomainError):
    """No such record, or not one the actor may see (never reveal which)."""


class DuplicateCreditCode(DomainError):
    pass


class NotRegistered(DomainError):
    """The acting institution is not in the register."""


class FieldsRefused(DomainError):
    """Refused for what some fields hold (or lack): `errors` maps each field to its
    messages; the first message is the refusal's own."""

    def __init__(self, errors: Mapping[str, list[Bilingual]]):
        self.errors = {field: list(messages) for field, messages in errors.items()}
        super().__init__(next(iter(self.errors.values()))[0])


class IncompleteSubmission(FieldsRefused):
    """A field the application cannot be submitted without."""


class UnknownReference(FieldsRefused):
    """A field names a record that does not exist (or that the actor may not see)."""


class ProjectNotLeft(DomainError):
    """Only the place of a project that has left (failed or withdrawn) can be given again."""


class PlaceTaken(DomainError):
    """The left project's place went to the reserve list already, or a later call holds it."""


class ReserveExpired(DomainError):
    """The call's reserve list is no longer valid (docs/projects.md: its validity)."""


class ReserveEmpty(DomainError):
    """No application remains on the call's reserve list that the call's cap admits."""
