"""The refusals of the applications domain, each with its message in Chinese and English
(`Bilingual`) and, as the kernel's `DomainError`s, the status and problem type it is answered with."""

from __future__ import annotations

from datetime import datetime, timezone

from services.common.bilingual import Bilingual as Bilingual  # the domain's modules name it from here
from services.common.errors import DomainError, FieldErrors
from services.common.errors import NotFound as KernelNotFound


def rfc3339(moment: datetime) -> str:
    """A time as RFC 3339 in UTC with a Z, as events and replies carry it."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class QuotaExceeded(DomainError):
    status, kind = 409, "quota-exceeded"


class CallNotOpen(DomainError):
    status, kind = 409, "call-not-open"


class WindowClosed(CallNotOpen):
    """The call's application window has passed."""

    status, kind = 409, "window-closed"


class DecisionsClosed(DomainError):
    """The call has moved on to review: recommendations and eligibility are settled."""

    status, kind = 409, "decisions-closed"


class ApplicationLimitReached(DomainError):
    status, kind = 409, "application-limit-reached"


class NotEditable(DomainError):
    status, kind = 409, "not-editable"


class NotRecommender(DomainError):
    status, kind = 403, "not-recommender"


class RecommendationCapReached(DomainError):
    status, kind = 409, "recommendation-cap-reached"


class DecisionReasonRequired(DomainError):
    """A decision that needs its reason: the refusal names the field `reason`."""

    status, kind = 422, "reason-required"

    def __init__(self, message: Bilingual):
        super().__init__(message, {"reason": [message]})


class RuleNotOverridable(DomainError):
    """A limit the notice sets (an institution type) failed: no decision makes it eligible."""

    status, kind = 409, "rule-not-overridable"


class NotFound(KernelNotFound):
    """No such record, or not one the actor may see (never reveal which)."""

    status, kind = 404, "not-found"


class DuplicateCreditCode(DomainError):
    status, kind = 409, "duplicate-credit-code"


class NotRegistered(DomainError):
    """The acting institution is not in the register."""

    status, kind = 403, "institution-not-registered"


class FieldsRefused(FieldErrors):
    """Refused for what some fields hold (or lack), as the kernel's FieldErrors."""


class IncompleteSubmission(FieldsRefused):
    """A field the application cannot be submitted without."""


class UnknownReference(FieldsRefused):
    """A field names a record that does not exist (or that the actor may not see)."""


class ProjectNotLeft(DomainError):
    """Only the place of a project that has left (failed or withdrawn) can be given again."""

    status, kind = 409, "project-not-left"


class PlaceTaken(DomainError):
    """The left project's place went to the reserve list already, or a later call holds it."""

    status, kind = 409, "place-taken"


class ReserveExpired(DomainError):
    """The call's reserve list is no longer valid (docs/projects.md: its validity)."""

    status, kind = 409, "reserve-expired"


class ReserveEmpty(DomainError):
    """No application remains on the call's reserve list that the call's cap admits."""

    status, kind = 409, "reserve-empty"
