"""The funding service's vocabulary, as its events and replies carry it, and the Chinese
labels portals, reports and notices show for it. Plain data: the funding domain names
these too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CURRENCY = "CNY"

#: The funding sources named by the notice (经费投入), in their canonical order.
SOURCES = ("provincial_special", "local_special_bond", "local_government", "social")
SOURCE_NAMES_ZH = {
    "provincial_special": "省财政专项补助",
    "local_special_bond": "地方政府专项债券",
    "local_government": "市州、县市区投入",
    "social": "社会资金",
}

#: What releases a tranche: the approval, then the two milestones.
TRIGGERS = ("approval", "mid_term", "acceptance")
MILESTONES = ("mid_term", "acceptance")
TRIGGER_NAMES_ZH = {"approval": "立项", "mid_term": "中期检查", "acceptance": "验收"}
#: A milestone's result (the province's direct record, or an expert panel's confirmed result).
RESULTS = ("pass", "rectify", "fail")
RESULT_NAMES_ZH = {"pass": "通过", "rectify": "限期整改", "fail": "不通过"}

#: What is taken back when a project fails a milestone.
CLAWBACK_POLICIES = ("none", "beyond_approval", "all")
CLAWBACK_NAMES_ZH = {"beyond_approval": "超出立项批准部分收回", "all": "全部收回"}

#: The 16 catalogue codes of domain.md (the categories with a quota to 2025): what a budget is set for.
CATEGORIES = (
    "heritage-base",
    "vu-school",
    "hv-school",
    "sv-excellent",
    "sv-prefecture",
    "tech-school",
    "vu-group",
    "hv-group",
    "sv-specialty",
    "tech-specialty",
    "training-base",
    "edu-group",
    "master-teacher",
    "innovation-team",
    "master-studio",
    "workshop",
)
#: The states of a funded project's money (its replies' `status`), from approval to completion,
#: failure or withdrawal.
FUNDING_STATES = (
    "approved",
    "awaiting_mid_term",
    "mid_term_rectifying",
    "awaiting_acceptance",
    "acceptance_rectifying",
    "completed",
    "failed",
    "withdrawn",
)
#: A tranche's state, and the ledger account its money sits on in that state.
TRANCHE_ACCOUNT = {
    "scheduled": "reserved",
    "released": "released",
    "withheld": "withheld",
    "clawed_back": "clawed_back",
}
#: The ledger's movements, each with the kinds of account it debits and credits.
MOVEMENTS = {  # movement: (debited kind, credited kind)
    "appropriation": ("budget", "appropriation"),
    "reservation": ("reserved", "budget"),
    "release": ("released", "reserved"),
    "withholding": ("withheld", "reserved"),
    "clawback": ("clawed_back", "released"),
}

FIRST_YEAR = 2022  # the notice that started the action (湘教发〔2022〕7号)
LAST_YEAR = 2099


def money(by_source: Mapping[str, int]) -> dict[str, Any]:
    """An amount as events and replies carry it: currency, total and the split by source (fen)."""
    return {"currency": CURRENCY, "total": sum(by_source.values()), "by_source": dict(by_source)}
