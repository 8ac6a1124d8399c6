"""Applications (申报书): their states, how many an institution may file, which fields a
category uses and needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.contracts.applications import APPLICATION_STATES
from services.contracts.catalogue import CATEGORY_FIELDS, FIELD_NAMES_ZH, Category
from services.applications.domain.messages import (
    ApplicationLimitReached,
    Bilingual,
    FieldsRefused,
    IncompleteSubmission,
    NotEditable,
)
from services.common.statemachine import StateMachine, Transition

(
    DRAFT,
    SUBMITTED,
    RECOMMENDED,
    DECLINED,
    ELIGIBLE,
    INELIGIBLE,
    IN_REVIEW,
    APPROVED,
    NOT_SELECTED,
    WITHDRAWN,
    CALL_CANCELLED,
) = APPLICATION_STATES

APPLICATION_MACHINE = StateMachine(
    "application",
    APPLICATION_STATES,
    [
        Transition("submit", {DRAFT}, SUBMITTED),
        Transition("recommend", {SUBMITTED}, RECOMMENDED),
        Transition("decline", {SUBMITTED}, DECLINED, requires_reason=True),
        Transition("confirm_eligible", {RECOMMENDED}, ELIGIBLE),
        Transition("rule_ineligible", {RECOMMENDED}, INELIGIBLE),
        Transition("start_review", {ELIGIBLE}, IN_REVIEW),
        # The selection (立项) settles every eligible application, assigned to experts or not.
        Transition("approve", {ELIGIBLE, IN_REVIEW}, APPROVED),
        Transition("pass_over", {ELIGIBLE, IN_REVIEW}, NOT_SELECTED),
        # The province gave the place of a project that left to its call's reserve list (动态调整).
        Transition("promote", {NOT_SELECTED}, APPROVED),
        Transition("withdraw", {DRAFT, SUBMITTED, RECOMMENDED}, WITHDRAWN),
        # Its call was cancelled (only before review, so never from in_review on).
        Transition("close_with_call", {DRAFT, SUBMITTED, RECOMMENDED, ELIGIBLE}, CALL_CANCELLED, requires_reason=True),
    ],
)
#: States that hold one of the institution's places in a call (all but withdrawn).
COUNTED_STATES = tuple(s for s in APPLICATION_MACHINE.states if s != WITHDRAWN)
#: States of applications that were submitted and not withdrawn.
SUBMITTED_STATES = tuple(s for s in COUNTED_STATES if s != DRAFT)
#: Submitted applications still in the running for the prefecture's one place (one-per-prefecture rule).
CONTENDING_STATES = tuple(s for s in SUBMITTED_STATES if s not in (DECLINED, INELIGIBLE, NOT_SELECTED))


def application_limit(category: Category, per_institution_limit: int) -> int:
    """How many applications one institution may hold in a call of this category."""
    return 1 if category.one_per_institution else per_institution_limit


def check_can_open_draft(category: Category, per_institution_limit: int, held: int) -> None:
    """`held`: the institution's applications in this call in a COUNTED_STATES state.
    Raises ApplicationLimitReached."""
    limit = application_limit(category, per_institution_limit)
    if held >= limit:
        raise ApplicationLimitReached(
            Bilingual(
                f"the institution already has {held} application(s) in this call; the limit is {limit}",
                f"本单位在该批次已有{held}项申报，限报{limit}项",
            )
        )


def check_editable(state: str) -> None:
    if state != DRAFT:
        raise NotEditable(
            Bilingual(
                f"only a draft can be edited; this application is {state}",
                f"只有草稿可以修改，该申报当前状态为{state}",
            )
        )


def unused_fields(category: Category, data: Mapping[str, Any]) -> dict[str, list[Bilingual]]:
    """Category fields in `data` that this category does not use, as field errors."""
    return {
        name: [
            Bilingual(
                f"{category.code} applications have no {name}",
                f"“{category.name_zh}”申报不填写{FIELD_NAMES_ZH[name]}",
            )
        ]
        for name in CATEGORY_FIELDS
        if name in data and name not in category.allowed_fields
    }


def check_fields_used(category: Category, data: Mapping[str, Any]) -> None:
    """Raises FieldsRefused naming each category field `data` has that its category does not use."""
    unused = unused_fields(category, data)
    if unused:
        raise FieldsRefused(unused)


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return not value
    return False


def missing_fields(category: Category, application: Mapping[str, Any]) -> tuple[str, ...]:
    """Fields the category needs before submission that are absent or blank."""
    return tuple(name for name in category.submission_fields if _is_blank(application.get(name)))


def check_submittable(application: Mapping[str, Any]) -> None:
    """Review matches experts by industry field: no application goes in without one.
    Everything else a category needs is an eligibility finding. Raises IncompleteSubmission."""
    if _is_blank(application.get("industry_fields")):
        message = Bilingual(
            "name 1 to 3 industry fields (industry_fields) before submitting",
            f"提交前请填写{FIELD_NAMES_ZH['industry_fields']}（1至3项）",
        )
        raise IncompleteSubmission({"industry_fields": [message]})
