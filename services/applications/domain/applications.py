"""Applications (申报书): their states, how many an institution may file, which fields a
category uses and needs."""
from __future__ import annotations

from collections.abc import Mapping

from services.applications.domain.catalogue import CATEGORY_FIELDS, FIELD_NAMES_ZH, Category
from services.applications.domain.messages import ApplicationLimitReached, Bilingual, NotEditable
from services.common.statemachine import StateMachine, Transition

DRAFT = "draft"
SUBMITTED = "submitted"
RECOMMENDED = "recommended"
DECLINED = "declined"
ELIGIBLE = "eligible"
INELIGIBLE = "ineligible"
IN_REVIEW = "in_review"
WITHDRAWN = "withdrawn"

APPLICATION_MACHINE = StateMachine(
    "application",
    [DRAFT, SUBMITTED, RECOMMENDED, DECLINED, ELIGIBLE, INELIGIBLE, IN_REVIEW, WITHDRAWN],
    [
        Transition("submit", {DRAFT}, SUBMITTED),
        Transition("recommend", {SUBMITTED}, RECOMMENDED),
        Transition("decline", {SUBMITTED}, DECLINED, requires_reason=True),
        Transition("confirm_eligible", {RECOMMENDED}, ELIGIBLE),
        Transition("rule_ineligible", {RECOMMENDED}, INELIGIBLE),
        Transition("start_review", {ELIGIBLE}, IN_REVIEW),
        Transition("withdraw", {DRAFT, SUBMITTED, RECOMMENDED}, WITHDRAWN),
    ],
)
#: Kinds of organisation in a vocational education group, with their Chinese names.
ORGANISATION_KINDS = {
    "government": "政府",
    "industry": "行业",
    "enterprise": "企业",
    "school": "学校",
    "research_institute": "科研院所",
}
#: States that hold one of the institution's places in a call (all but withdrawn).
COUNTED_STATES = tuple(s for s in APPLICATION_MACHINE.states if s != WITHDRAWN)


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


def unused_fields(category: Category, data: Mapping) -> dict[str, list[Bilingual]]:
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


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return not value
    return False


def missing_fields(category: Category, application: Mapping) -> tuple[str, ...]:
    """Fields the category needs before submission that are absent or blank."""
    return tuple(name for name in category.submission_fields if _is_blank(application.get(name)))
