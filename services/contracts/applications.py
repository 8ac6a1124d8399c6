"""The applications service's vocabulary, as its replies carry it and the gateway documents it,
the Chinese labels portals and reports show for it, and the checks of a call's terms that the
gateway makes before the service does. Plain data and pure functions: the applications domain
names these too."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.common.bilingual import Bilingual
from services.contracts.catalogue import Category

# ---------------------------------------------------------------- states

CALL_STATES = ("draft", "open", "closed", "in_review", "noticed", "finalized", "cancelled")
APPLICATION_STATES = (
    "draft",
    "submitted",
    "recommended",
    "declined",
    "eligible",
    "ineligible",
    "in_review",
    "approved",
    "not_selected",
    "withdrawn",
    "call_cancelled",
)
PROJECT_STATES = ("established", "under_construction", "failed", "withdrawn")
REPORT_STATES = ("draft", "submitted", "returned", "endorsed", "accepted")

# ---------------------------------------------------------------- calls

#: The weights of a call's scoring rubric add up to this.
RUBRIC_TOTAL_WEIGHT = 100


def remaining_quota(category: Category, selected_count: int, held: int = 0) -> int:
    return max(category.quota - selected_count - held, 0)


def quota_problem(category: Category, quota: int, selected_count: int, held: int = 0) -> Bilingual | None:
    """Why a call may not offer `quota` places, or None: a call may offer at most what is left of its
    category's quota. `selected_count`: what earlier calls of the category selected; `held`: the
    quotas of its calls not finalized yet, which may still select that many."""
    left = remaining_quota(category, selected_count, held)
    if quota <= left:
        return None
    return Bilingual(
        f"the call's quota {quota} is more than the {left} left of {category.code}'s "
        f"quota of {category.quota} ({selected_count} already selected, {held} held by unfinished calls)",
        f"本批次名额{quota}超过“{category.name_zh}”剩余名额{left}"
        f"（总名额{category.quota}，已遴选{selected_count}，未结束批次占用{held}）",
    )


def call_terms_problems(category: Category, prefecture_cap: int, per_institution_limit: int) -> dict[str, Bilingual]:
    """Terms of a call that its category forbids, by field."""
    problems = {}
    if category.one_per_prefecture and prefecture_cap != 1:
        problems["prefecture_cap"] = Bilingual(
            f"{category.code} takes one per prefecture: the cap must be 1",
            f"“{category.name_zh}”每个市州限一所，推荐上限应为1",
        )
    if category.one_per_institution and per_institution_limit != 1:
        problems["per_institution_limit"] = Bilingual(
            f"{category.code} takes one application per institution: the limit must be 1",
            f"“{category.name_zh}”每个单位每批次限报一项，限额应为1",
        )
    return problems


def rubric_problems(criteria: Iterable[Mapping[str, Any]]) -> list[Bilingual]:
    """What is wrong with a scoring rubric as a whole (codes repeated, weights not 100)."""
    criteria = list(criteria)
    problems = []
    codes = [c["code"] for c in criteria]
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    if repeated:
        problems.append(
            Bilingual(
                f"criterion codes must be unique: {', '.join(repeated)} repeated",
                f"评分指标代码不能重复：{'、'.join(repeated)}",
            )
        )
    total = sum(c["weight"] for c in criteria)
    if total != RUBRIC_TOTAL_WEIGHT:
        problems.append(
            Bilingual(
                f"criterion weights must add up to {RUBRIC_TOTAL_WEIGHT}, not {total}",
                f"评分指标权重之和应为{RUBRIC_TOTAL_WEIGHT}，当前为{total}",
            )
        )
    return problems


# ---------------------------------------------------------------- applications

#: Kinds of organisation in a vocational education group, with their Chinese names.
ORGANISATION_KINDS = {
    "government": "政府",
    "industry": "行业",
    "enterprise": "企业",
    "school": "学校",
    "research_institute": "科研院所",
}

# ---------------------------------------------------------------- annual reports

#: How each target of the year stands, as the institution reports it.
TARGET_STATUSES = {"met": "已完成", "partly_met": "部分完成", "not_met": "未完成"}
#: Reminders go out this long before the deadline unless the window says otherwise.
DEFAULT_REMIND_HOURS = 7 * 24

# ---------------------------------------------------------------- materials

#: Each kind of material (申报材料, 佐证材料), by code, with its name in Chinese and English.
MATERIAL_KINDS: dict[str, Bilingual] = {
    "application_form": Bilingual("application form", "申报书"),
    "construction_plan": Bilingual("construction plan", "建设方案"),
    "evidence": Bilingual("supporting evidence", "佐证材料"),
    "other": Bilingual("other", "其他材料"),
}
#: The kinds of material an annual report's evidence files may be (an application takes every kind).
REPORT_MATERIAL_KINDS = ("evidence", "other")
#: Where an owner's materials are, by the field of a material that names its owner.
MATERIAL_ROUTES = {
    "application_id": "/v1/applications/{id}/materials",
    "report_id": "/v1/annual-reports/{id}/materials",
}

#: The media types a material may be, decided from its bytes alone.
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JPEG = "image/jpeg"
PNG = "image/png"
MEDIA_TYPES = (PDF, DOCX, XLSX, JPEG, PNG)


def material_link(material: Mapping[str, Any]) -> str:
    """Where to download a material (GET), under its owner's materials."""
    field, route = next((field, route) for field, route in MATERIAL_ROUTES.items() if material.get(field))
    return f"{route.format(id=material[field])}/{material['id']}"


# ---------------------------------------------------------------- supervision

#: What a prefecture is scored on in the yearly supervision (考核督导), each a share in [0, 1]
#: (see docs/supervision.md), and the weights the province uses unless it sets its own for the
#: year (they sum to 100).
SUPERVISION_MEASURES: dict[str, str] = {
    "projects": "立项项目",  # its projects against the provincial mean per prefecture
    "local_money": "地方资金到位",  # local money disbursed against allocated
    "milestones": "中期与验收",  # milestones passed against recorded
    "reports": "年度报告按时",  # annual reports on time against due
    "duties": "结构性任务",  # the structural duties met
}
DEFAULT_SUPERVISION_WEIGHTS: dict[str, int] = {
    "projects": 15,
    "local_money": 25,
    "milestones": 20,
    "reports": 15,
    "duties": 25,
}
