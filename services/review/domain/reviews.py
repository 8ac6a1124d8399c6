"""Expert reviews (专家评审): the scoring rubric (评分细则), score sheets, totals,
the review deadline and who may see which review.

Scores and totals are integers, never floats:

- an expert gives each criterion a whole number of points in ``0..max_score``;
- the total is on a 0–100 scale and kept as integer hundredths (``8537`` is 85.37):
  ``total = Σ weight × score / max_score`` computed exactly (as a fraction) over the
  whole sheet, then rounded once, half up, to hundredths. Weights sum to 100, so a
  sheet of full marks totals exactly ``10000``.

Visibility rule (to keep reviews independent): an expert always sees their own review
of an application; the other experts' reviews of it become visible to them only once
they have submitted their own **and** the review deadline has passed. Until the
deadline reviews stay editable, so showing others' scores earlier would let an expert
revise towards them. An expert who has no review of the application sees nothing.

An assignment (one expert on one application) moves through ``ASSIGNMENT``: ``assigned``,
then ``reviewed`` on the first save (each later edit is another ``submit``, audited too),
or ``declined`` by the expert with a reason, or ``void`` when its application leaves the
review or the pair stops being allowed. ``assigned`` and ``reviewed`` are standing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any, TypeGuard

from services.common.bilingual import Bilingual
from services.common.errors import DomainError, FieldErrors
from services.common.statemachine import StateMachine, Transition

ASSIGNMENT = StateMachine(
    "assignment",
    ["assigned", "reviewed", "declined", "void"],
    [
        Transition("submit", {"assigned", "reviewed"}, "reviewed"),
        Transition("decline", {"assigned"}, "declined", requires_reason=True),
        Transition("void", {"assigned", "reviewed"}, "void", requires_reason=True),
    ],
)
STANDING = ("assigned", "reviewed")

TOTAL_WEIGHT = 100
COMMENTS_MAX_CHARS = 5000
_CRITERION_FIELDS = ("code", "name", "weight", "max_score")


class RubricInvalid(FieldErrors):
    pass


class ScoreSheetInvalid(FieldErrors):
    pass


class ReviewClosed(DomainError):
    """The review deadline has passed: the review can no longer be written or edited."""

    status, kind = 409, "review-closed"

    def __init__(self, deadline: datetime):
        self.deadline = deadline
        super().__init__(
            Bilingual(
                f"the review deadline {rfc3339(deadline)} has passed: reviews are closed",
                f"评审截止时间{rfc3339(deadline)}已过，不能再提交或修改评审意见",
            )
        )


def utc(instant: datetime, field: str = "time") -> datetime:
    """The instant in UTC; a naive datetime is refused (its zone would be a guess)."""
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        raise FieldErrors({field: ["must be a timezone-aware datetime"]})
    return instant.astimezone(timezone.utc)


def rfc3339(instant: datetime) -> str:
    """An instant as RFC 3339 in UTC with a Z, as events and replies carry it."""
    return utc(instant).isoformat().replace("+00:00", "Z")


def _is_whole_number(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_errors(value: object, max_chars: int | None = None) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return ["must be non-empty text"]
    if max_chars is not None and len(value) > max_chars:
        return [f"must be at most {max_chars} characters"]
    return []


@dataclass(frozen=True)
class Criterion:
    code: str
    name: str
    weight: int
    max_score: int


def _criterion_errors(item: object) -> dict[str, list[str]]:
    if not isinstance(item, Mapping):
        return {"": ["must be an object with code, name, weight and max_score"]}
    errors: dict[str, list[str]] = {}
    for key in item.keys() - set(_CRITERION_FIELDS):
        errors[str(key)] = ["unknown field"]
    for key in ("code", "name"):
        if messages := _text_errors(item.get(key)):
            errors[key] = messages
    for key in ("weight", "max_score"):
        value = item.get(key)
        if not _is_whole_number(value) or value <= 0:
            errors[key] = ["must be a whole number greater than 0"]
    return errors


@dataclass(frozen=True)
class Rubric:
    """A call's scoring rubric: weighted criteria whose weights sum to 100."""

    criteria: tuple[Criterion, ...]

    @classmethod
    def from_dicts(cls, items: Iterable[Mapping[str, Any]]) -> Rubric:
        """Build from ``[{"code", "name", "weight", "max_score"}, ...]``.

        Raises ``RubricInvalid`` with fields like ``rubric[1].weight``.
        """
        items = list(items)
        errors: dict[str, list[str]] = {}
        if not items:
            errors["rubric"] = ["must have at least one criterion"]
        seen: set[str] = set()
        for i, item in enumerate(items):
            for key, messages in _criterion_errors(item).items():
                errors[f"rubric[{i}].{key}".rstrip(".")] = messages
            code = item.get("code") if isinstance(item, Mapping) else None
            if isinstance(code, str):
                if code in seen:
                    errors[f"rubric[{i}].code"] = [f"duplicate criterion code {code!r}"]
                seen.add(code)
        if not errors:
            weights = sum(item["weight"] for item in items)
            if weights != TOTAL_WEIGHT:
                errors["rubric"] = [f"weights must sum to {TOTAL_WEIGHT}, not {weights}"]
        if errors:
            raise RubricInvalid(errors)
        return cls(tuple(Criterion(**{k: item[k] for k in _CRITERION_FIELDS}) for item in items))

    def to_dicts(self) -> list[dict[str, Any]]:
        return [{k: getattr(c, k) for k in _CRITERION_FIELDS} for c in self.criteria]

    def validate_scores(self, scores: Mapping[str, object]) -> dict[str, int]:
        """The sheet in rubric order, or ``ScoreSheetInvalid`` with fields like ``scores.plan``."""
        if not isinstance(scores, Mapping):
            raise ScoreSheetInvalid({"scores": ["must be an object of criterion code to points"]})
        errors: dict[str, list[str]] = {}
        sheet: dict[str, int] = {}
        for code in scores.keys() - {c.code for c in self.criteria}:
            errors[f"scores.{code}"] = ["unknown criterion"]
        for c in self.criteria:
            if c.code not in scores:
                errors[f"scores.{c.code}"] = [f"missing: every criterion must be scored ({c.name})"]
                continue
            value = scores[c.code]
            if not _is_whole_number(value) or not 0 <= value <= c.max_score:
                errors[f"scores.{c.code}"] = [f"must be a whole number from 0 to {c.max_score}"]
            else:
                sheet[c.code] = value
        if errors:
            raise ScoreSheetInvalid(errors)
        return sheet

    def total_hundredths(self, scores: Mapping[str, object]) -> int:
        """Weighted total on the 0–100 scale in integer hundredths (exact, then half up)."""
        sheet = self.validate_scores(scores)
        exact = sum(
            (Fraction(100 * c.weight * sheet[c.code], c.max_score) for c in self.criteria),
            Fraction(0),
        )
        return math.floor(exact + Fraction(1, 2))


@dataclass(frozen=True)
class Review:
    """One expert's submitted review of one application."""

    application_id: str
    expert_id: str
    scores: Mapping[str, int]
    comments: str
    total_hundredths: int
    submitted_at: datetime
    updated_at: datetime


def review_open(now: datetime, deadline: datetime) -> bool:
    """Whether reviews may still be written or edited: strictly before the deadline."""
    return utc(now, "now") < utc(deadline, "deadline")


def write_review(
    rubric: Rubric,
    *,
    application_id: str,
    expert_id: str,
    scores: Mapping[str, object],
    comments: str,
    now: datetime,
    deadline: datetime,
    previous: Review | None = None,
) -> Review:
    """Submit a review, or replace ``previous`` (the same expert's review of the same
    application) with an edit. Raises ``ReviewClosed`` at or after the deadline,
    ``ScoreSheetInvalid`` for a bad sheet or empty comments."""
    if not review_open(now, deadline):
        raise ReviewClosed(utc(deadline))
    if previous is not None and (previous.application_id, previous.expert_id) != (
        application_id,
        expert_id,
    ):
        raise ValueError("previous must be this expert's review of this application")
    errors: dict[str, list[str]] = {}
    sheet: dict[str, int] = {}
    try:
        sheet = rubric.validate_scores(scores)
    except ScoreSheetInvalid as invalid:
        errors.update(invalid.errors or {})
    if messages := _text_errors(comments, COMMENTS_MAX_CHARS):
        errors["comments"] = messages
    if errors:
        raise ScoreSheetInvalid(errors)
    now = utc(now, "now")
    return Review(
        application_id=application_id,
        expert_id=expert_id,
        scores=sheet,
        comments=comments,
        total_hundredths=rubric.total_hundredths(sheet),
        submitted_at=previous.submitted_at if previous else now,
        updated_at=now,
    )


def visible_reviews(expert_id: str, reviews: Iterable[Review], *, now: datetime, deadline: datetime) -> list[Review]:
    """What ``expert_id`` may see of one application's ``reviews`` (see module rule)."""
    reviews = list(reviews)
    own = [r for r in reviews if r.expert_id == expert_id]
    if own and not review_open(now, deadline):
        return reviews
    return own


def reviews_complete(standing_statuses: Iterable[str], reviewers_per_application: int) -> bool:
    """Whether all reviews of one application are in: its plan's number of standing
    assignments, every one reviewed."""
    statuses = list(standing_statuses)
    return len(statuses) >= reviewers_per_application and all(s == "reviewed" for s in statuses)
