"""How the refusals of the funding service's state machines read to a portal: each state as
the API shows it, each event as the step (and route) that makes it, in both languages
(`services.common.statemachine.StateGuide`)."""

from __future__ import annotations

from services.common.bilingual import Bilingual
from services.common.statemachine import PublicState, StateGuide
from services.funding.domain.allocation import CALL_ALLOCATION
from services.funding.domain.milestones import FUNDING

_MILESTONES = "POST /v1/projects/{id}/milestones"


def _record(milestone_en: str, milestone_zh: str, result_en: str, result_zh: str) -> Bilingual:
    return Bilingual(
        f"record the {milestone_en} as {result_en} ({_MILESTONES})",
        f"记录{milestone_zh}结果为“{result_zh}”（{_MILESTONES}）",
    )


PROJECT_FUNDING_GUIDE = StateGuide(
    FUNDING,
    Bilingual("project's funding", "项目资金"),
    {
        "approved": PublicState("approved", "approved, not allocated yet", "已立项，尚未下达"),
        "awaiting_mid_term": PublicState("awaiting_mid_term", "awaiting its mid-term review", "等待中期检查"),
        "mid_term_rectifying": PublicState(
            "mid_term_rectifying", "rectifying after its mid-term review", "中期检查后整改中"
        ),
        "awaiting_acceptance": PublicState("awaiting_acceptance", "awaiting its acceptance", "等待验收"),
        "acceptance_rectifying": PublicState(
            "acceptance_rectifying", "rectifying after its acceptance review", "验收后整改中"
        ),
        "completed": PublicState("completed", "complete, its acceptance passed", "已通过验收，资金已结清"),
        "failed": PublicState("failed", "ended by a failed milestone", "因考核未通过而终止"),
        "withdrawn": PublicState("withdrawn", "ended by its withdrawal", "已撤销"),
    },
    {
        "allocate": Bilingual(
            "allocate the call (POST /v1/calls/{call_id}/allocation)",
            "下达该批次资金（POST /v1/calls/{call_id}/allocation）",
        ),
        "mid_term_pass": _record("mid-term review", "中期检查", "pass", "通过"),
        "mid_term_rectify": _record("mid-term review", "中期检查", "rectify", "整改"),
        "mid_term_fail": _record("mid-term review", "中期检查", "fail", "不通过"),
        "acceptance_pass": _record("acceptance", "验收", "pass", "通过"),
        "acceptance_rectify": _record("acceptance", "验收", "rectify", "整改"),
        "acceptance_fail": _record("acceptance", "验收", "fail", "不通过"),
        "withdraw": Bilingual(
            "withdraw the project (POST /v1/projects/{id}/withdrawal)",
            "撤销该项目（POST /v1/projects/{id}/withdrawal）",
        ),
    },
)

CALL_ALLOCATION_GUIDE = StateGuide(
    CALL_ALLOCATION,
    Bilingual("call's allocation", "批次资金分配"),
    {
        "pending": PublicState("pending", "pending", "待分配"),
        "allocated": PublicState("allocated", "allocated", "已分配"),
    },
    {
        "allocate": Bilingual(
            "allocate the call (POST /v1/calls/{id}/allocation)", "分配该批次资金（POST /v1/calls/{id}/allocation）"
        ),
        "budget_exhausted": Bilingual("add budget lines (POST /v1/budgets)", "增加预算（POST /v1/budgets）"),
    },
)

GUIDES = {guide.machine.name: guide for guide in (PROJECT_FUNDING_GUIDE, CALL_ALLOCATION_GUIDE)}
