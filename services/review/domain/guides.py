"""How the refusals of the review service's state machines read to a portal: each state as
the API shows it, each event as the step (and route) that makes it, in both languages
(`services.common.statemachine.StateGuide`)."""

from __future__ import annotations

from services.common.bilingual import Bilingual
from services.common.statemachine import PublicState, StateGuide
from services.review.domain.notice import NOTICE, OBJECTION
from services.review.domain.panels import PANEL, PANEL_RESULT
from services.review.domain.reviews import ASSIGNMENT

# The call's selection stages, as the call's public status (GET /v1/calls/{id}) and its ranking show them.
SELECTION_GUIDE = StateGuide(
    NOTICE,
    Bilingual("call", "遴选批次"),
    {
        "reviewing": PublicState(
            "in_review", "under expert review, its ranking not published", "处于专家评审中，排名尚未发布"
        ),
        "ranked": PublicState("in_review", "ranked, its notice not published", "排名已发布，尚未公示"),
        "published": PublicState("noticed", "in its public notice (公示)", "处于公示期"),
        "finalized": PublicState("finalized", "finalized (立项)", "已立项"),
    },
    {
        "rank": Bilingual(
            "publish the ranking (POST /v1/calls/{id}/ranking)", "发布排名（POST /v1/calls/{id}/ranking）"
        ),
        "publish": Bilingual(
            "publish the notice (POST /v1/calls/{id}/notice)", "发布公示（POST /v1/calls/{id}/notice）"
        ),
        "finalize": Bilingual(
            "finalize the selection (POST /v1/calls/{id}/finalize)", "确定立项（POST /v1/calls/{id}/finalize）"
        ),
    },
)

ASSIGNMENT_GUIDE = StateGuide(
    ASSIGNMENT,
    Bilingual("assignment", "评审任务"),
    {
        "assigned": PublicState("assigned", "assigned, its review not written", "已分配，尚未评审"),
        "reviewed": PublicState("reviewed", "reviewed", "已评审"),
        "declined": PublicState("declined", "declined by its expert", "已被专家谢绝"),
        "void": PublicState("void", "void", "已作废"),
    },
    {
        "submit": Bilingual(
            "write the review (PUT /v1/assignments/{id}/review)", "提交评审意见（PUT /v1/assignments/{id}/review）"
        ),
        "decline": Bilingual(
            "decline the assignment (POST /v1/assignments/{id}/decline)",
            "谢绝评审任务（POST /v1/assignments/{id}/decline）",
        ),
        "void": Bilingual(
            "void the assignment (when its application leaves the review or a conflict appears)",
            "作废评审任务（申报书退出评审或出现回避情形时）",
        ),
    },
)

OBJECTION_GUIDE = StateGuide(
    OBJECTION,
    Bilingual("objection", "异议"),
    {
        "new": PublicState("new", "not filed", "尚未提出"),
        "open": PublicState("open", "open, awaiting the province", "待省级处理"),
        "upheld": PublicState("upheld", "upheld", "已成立"),
        "dismissed": PublicState("dismissed", "dismissed", "不成立"),
    },
    {
        "file": Bilingual(
            "file the objection (POST /v1/calls/{id}/objections)", "提出异议（POST /v1/calls/{id}/objections）"
        ),
        "uphold": Bilingual(
            "resolve the objection (POST /v1/objections/{id}/resolve)", "处理异议（POST /v1/objections/{id}/resolve）"
        ),
        "dismiss": Bilingual(
            "resolve the objection (POST /v1/objections/{id}/resolve)", "处理异议（POST /v1/objections/{id}/resolve）"
        ),
    },
)

PANEL_GUIDE = StateGuide(
    PANEL,
    Bilingual("panel", "专家组"),
    {
        "open": PublicState("open", "open, its experts not assigned", "已组建，尚未分配专家"),
        "reviewing": PublicState("reviewing", "under review by its experts", "专家评审中"),
        "proposed": PublicState("proposed", "proposing its results to the province", "已提出结论建议，待省级确认"),
        "closed": PublicState("closed", "closed, every result confirmed", "已结束，结论均已确认"),
    },
    {
        "assign": Bilingual(
            "assign experts (POST /v1/panels/{id}/assignments)", "分配专家（POST /v1/panels/{id}/assignments）"
        ),
        "propose": Bilingual(
            "propose the results (POST /v1/panels/{id}/proposal)", "提出结论建议（POST /v1/panels/{id}/proposal）"
        ),
        "close": Bilingual(
            "confirm every project's result (POST /v1/panels/{id}/projects/{project_id}/confirm)",
            "确认各项目结论（POST /v1/panels/{id}/projects/{project_id}/confirm）",
        ),
    },
)

PANEL_RESULT_GUIDE = StateGuide(
    PANEL_RESULT,
    Bilingual("panel result", "专家组结论"),
    {
        "proposed": PublicState("proposed", "proposed by the panel", "专家组已建议"),
        "confirmed": PublicState("confirmed", "confirmed by the province", "省级已确认"),
    },
    {
        "confirm": Bilingual(
            "confirm the result (POST /v1/panels/{id}/projects/{project_id}/confirm)",
            "确认结论（POST /v1/panels/{id}/projects/{project_id}/confirm）",
        ),
        "override": Bilingual(
            "override the result with a reason (POST /v1/panels/{id}/projects/{project_id}/confirm)",
            "说明理由改定结论（POST /v1/panels/{id}/projects/{project_id}/confirm）",
        ),
    },
)

GUIDES = {
    guide.machine.name: guide
    for guide in (SELECTION_GUIDE, ASSIGNMENT_GUIDE, OBJECTION_GUIDE, PANEL_GUIDE, PANEL_RESULT_GUIDE)
}
