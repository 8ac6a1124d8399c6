"""The eligibility check (形式审查): automatic rules run on submit, and the province's decision.

Each rule yields a finding `{rule, passed, reason_zh, reason_en}`; the province confirms
the automatic outcome or overrides it with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from services.applications.domain.applications import application_limit, missing_fields
from services.contracts.catalogue import FIELD_NAMES_ZH, Category
from services.contracts.reference import INSTITUTION_TYPES, Institution
from services.applications.domain.messages import Bilingual, DecisionReasonRequired, RuleNotOverridable, rfc3339

INSTITUTION_TYPE = "institution_type"
ONE_PER_PREFECTURE = "one_per_prefecture"
REQUIRED_FIELDS = "required_fields"
BUDGET_RANGE = "budget_range"
INSTITUTION_LIMIT = "institution_limit"
#: Limits the notice itself sets: a failed one is final, no person may judge it away. The
#: others (fields, budget, counts) are findings a person may weigh and override with a reason.
HARD_RULES = frozenset({INSTITUTION_TYPE})


@dataclass(frozen=True)
class Finding:
    rule: str
    passed: bool
    reason: Bilingual

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "passed": self.passed, "reason_zh": self.reason.zh, "reason_en": self.reason.en}

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> Finding:
        return cls(stored["rule"], stored["passed"], Bilingual(stored["reason_en"], stored["reason_zh"]))


@dataclass(frozen=True)
class EligibilityContext:
    """What the rules look at. Counts are of other applications in the same call, in a
    state from submitted on, not withdrawn (`others_of_prefecture`: nor declined or
    ineligible); `prefecture_already_selected`: an earlier call already selected this
    prefecture's school (one-per-prefecture categories)."""

    category: Category
    institution: Institution
    application: Mapping[str, Any]
    budget_min_fen: int
    budget_max_fen: int
    per_institution_limit: int
    others_of_institution: int
    others_of_prefecture: int = 0
    prefecture_already_selected: bool = False


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def _institution_type(ctx: EligibilityContext) -> Finding:
    category, kind = ctx.category, ctx.institution.type
    kind_zh = INSTITUTION_TYPES.get(kind, kind)
    if category.accepts(kind):
        reason = Bilingual(
            f"a {kind} institution may apply to {category.code}",
            f"单位类型“{kind_zh}”符合“{category.name_zh}”的申报条件",
        )
        return Finding(INSTITUTION_TYPE, True, reason)
    allowed_en = ", ".join(category.institution_types)
    allowed_zh = "、".join(INSTITUTION_TYPES[t] for t in category.institution_types)
    reason = Bilingual(
        f"a {kind} institution may not apply to {category.code}, which takes {allowed_en}",
        f"单位类型“{kind_zh}”不符合“{category.name_zh}”的申报条件（限{allowed_zh}）",
    )
    return Finding(INSTITUTION_TYPE, False, reason)


def _one_per_prefecture(ctx: EligibilityContext) -> Finding:
    prefecture, category = ctx.institution.prefecture, ctx.category
    if ctx.prefecture_already_selected:
        reason = Bilingual(
            f"{prefecture} already has its {category.code} selected in an earlier call",
            f"{prefecture}已在此前批次入选“{category.name_zh}”，每个市州限一所",
        )
        return Finding(ONE_PER_PREFECTURE, False, reason)
    if ctx.others_of_prefecture:
        reason = Bilingual(
            f"{prefecture} has {ctx.others_of_prefecture} other application(s) in this call; "
            f"{category.code} takes exactly one per prefecture",
            f"{prefecture}在本批次另有{ctx.others_of_prefecture}项申报，“{category.name_zh}”每个市州限一所",
        )
        return Finding(ONE_PER_PREFECTURE, False, reason)
    reason = Bilingual(
        f"the only application from {prefecture} in this call",
        f"本批次{prefecture}仅此一项申报",
    )
    return Finding(ONE_PER_PREFECTURE, True, reason)


def _required_fields(ctx: EligibilityContext) -> Finding:
    missing = missing_fields(ctx.category, ctx.application)
    if missing:
        reason = Bilingual(
            f"missing: {', '.join(missing)}",
            f"缺少：{'、'.join(FIELD_NAMES_ZH[name] for name in missing)}",
        )
        return Finding(REQUIRED_FIELDS, False, reason)
    return Finding(REQUIRED_FIELDS, True, Bilingual("every required field is filled in", "必填内容齐全"))


def _budget_range(ctx: EligibilityContext) -> Finding:
    low, high = _yuan(ctx.budget_min_fen), _yuan(ctx.budget_max_fen)
    requested = ctx.application.get("budget_request_fen")
    if requested is None:
        reason = Bilingual("no budget request", "未填写申请经费")
        return Finding(BUDGET_RANGE, False, reason)
    passed = ctx.budget_min_fen <= requested <= ctx.budget_max_fen
    verdict_en, verdict_zh = ("within", "在") if passed else ("outside", "不在")
    reason = Bilingual(
        f"the request of {_yuan(requested)} yuan is {verdict_en} the call's range {low}-{high} yuan",
        f"申请经费{_yuan(requested)}元{verdict_zh}本批次范围{low}至{high}元内",
    )
    return Finding(BUDGET_RANGE, passed, reason)


def _institution_limit(ctx: EligibilityContext) -> Finding:
    limit = application_limit(ctx.category, ctx.per_institution_limit)
    count = ctx.others_of_institution + 1
    passed = count <= limit
    reason = Bilingual(
        f"application {count} of the institution in this call; the limit is {limit}",
        f"本单位本批次第{count}项申报，限报{limit}项",
    )
    return Finding(INSTITUTION_LIMIT, passed, reason)


def check_eligibility(ctx: EligibilityContext) -> tuple[Finding, ...]:
    """Run the automatic rules; the one-per-prefecture rule only where the category has it."""
    rules = [_institution_type, _required_fields, _budget_range, _institution_limit]
    if ctx.category.one_per_prefecture:
        rules.insert(1, _one_per_prefecture)
    return tuple(rule(ctx) for rule in rules)


def automatically_eligible(findings: Iterable[Finding]) -> bool:
    return all(f.passed for f in findings)


@dataclass(frozen=True)
class EligibilityDecision:
    eligible: bool
    automatically_eligible: bool
    reason: str | None
    actor: str
    at: datetime
    findings: tuple[Finding, ...]

    @property
    def overridden(self) -> bool:
        return self.eligible != self.automatically_eligible

    @property
    def event(self) -> str:
        """The application state machine's event for this decision."""
        return "confirm_eligible" if self.eligible else "rule_ineligible"

    def as_dict(self) -> dict[str, Any]:
        return {
            "eligible": self.eligible,
            "automatically_eligible": self.automatically_eligible,
            "overridden": self.overridden,
            "reason": self.reason,
            "actor": self.actor,
            "at": self.at,
            "findings": [f.as_dict() for f in self.findings],
        }


def decide_eligibility(
    findings: Iterable[Finding], eligible: bool, actor: str, reason: str | None, at: datetime
) -> EligibilityDecision:
    """The province's decision. Overriding the automatic outcome needs a reason
    (DecisionReasonRequired), and a failed hard rule cannot be overridden at all
    (RuleNotOverridable); a naive `at` is a ValueError."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a decision time must be timezone-aware (UTC)")
    findings = tuple(findings)
    automatic = automatically_eligible(findings)
    hard = [f for f in findings if f.rule in HARD_RULES and not f.passed]
    if eligible and hard:
        raise RuleNotOverridable(
            Bilingual(
                "the notice's limit cannot be overridden: " + "; ".join(f.reason.en for f in hard),
                "通知规定的申报条件不可推翻：" + "；".join(f.reason.zh for f in hard),
            )
        )
    reason = (reason or "").strip() or None
    if eligible != automatic and not reason:
        failed = ", ".join(f.rule for f in findings if not f.passed)
        raise DecisionReasonRequired(
            Bilingual(
                f"overriding the automatic check ({failed or 'all rules passed'}) needs a reason",
                "推翻自动审查结果须说明理由",
            )
        )
    return EligibilityDecision(eligible, automatic, reason, actor, at.astimezone(timezone.utc), findings)


def applicant_snapshot(
    institution: Institution, application: Mapping[str, Any], submitted_at: datetime
) -> dict[str, Any]:
    """What review needs of an application it is to review (the `applicant` of
    eligibility_checked): who applied, on what, who is on the team (by person key)."""
    return {
        "institution_name": institution.name,
        "institution_type": institution.type,
        "county": institution.county,
        "title": application["title"],
        "summary": application.get("summary") or "",
        "industry_fields": list(application.get("industry_fields") or ()),
        "keywords": list(application.get("keywords") or ()),
        "team_person_keys": [member["person_key"] for member in application.get("team_members") or ()],
        "budget_request_fen": application.get("budget_request_fen") or 0,
        "submitted_at": rfc3339(submitted_at),
    }
