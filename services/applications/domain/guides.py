"""How the refusals of the applications service's state machines read to a portal: each
state as the API shows it, each event as the step (and route) that makes it, in both
languages (`services.common.replies.StateGuide`)."""

from __future__ import annotations

from services.applications.domain.applications import APPLICATION_MACHINE
from services.applications.domain.calls import CALL_MACHINE
from services.applications.domain.projects import PROJECT_MACHINE
from services.applications.domain.reports import REPORT_MACHINE
from services.common.bilingual import Bilingual
from services.common.statemachine import PublicState, StateGuide

CALL_GUIDE = StateGuide(
    CALL_MACHINE,
    Bilingual("call", "遴选批次"),
    {
        "draft": PublicState("draft", "a draft, not open yet", "为草稿，尚未开放申报"),
        "open": PublicState("open", "open for applications", "正在受理申报"),
        "closed": PublicState("closed", "closed for applications, awaiting review", "已截止申报，等待评审"),
        "in_review": PublicState("in_review", "under expert review", "处于专家评审中"),
        "noticed": PublicState("noticed", "in its public notice (公示)", "处于公示期"),
        "finalized": PublicState("finalized", "finalized (立项)", "已立项"),
        "cancelled": PublicState("cancelled", "cancelled", "已撤销"),
    },
    {
        "open": Bilingual(
            "open the call (at its opens_at, or now: POST /v1/calls/{id}/open)",
            "开放申报（到开放时间自动开放，或立即开放：POST /v1/calls/{id}/open）",
        ),
        "close": Bilingual("close the call (at its closes_at)", "截止申报（到截止时间自动截止）"),
        "close_early": Bilingual(
            "close the call early (POST /v1/calls/{id}/close)", "提前截止申报（POST /v1/calls/{id}/close）"
        ),
        "extend": Bilingual("extend the call (POST /v1/calls/{id}/extend)", "延长申报期（POST /v1/calls/{id}/extend）"),
        "cancel": Bilingual(
            "cancel the call (POST /v1/calls/{id}/cancel)", "撤销遴选批次（POST /v1/calls/{id}/cancel）"
        ),
        "start_review": Bilingual(
            "assign experts (POST /v1/calls/{id}/assignments)", "分配评审专家（POST /v1/calls/{id}/assignments）"
        ),
        "publish_notice": Bilingual(
            "publish the notice (POST /v1/calls/{id}/notice)", "发布公示（POST /v1/calls/{id}/notice）"
        ),
        "finalize": Bilingual(
            "finalize the selection (POST /v1/calls/{id}/finalize)", "确定立项（POST /v1/calls/{id}/finalize）"
        ),
    },
)

APPLICATION_GUIDE = StateGuide(
    APPLICATION_MACHINE,
    Bilingual("application", "申报书"),
    {
        "draft": PublicState("draft", "a draft", "为草稿"),
        "submitted": PublicState("submitted", "submitted, awaiting its recommendation", "已提交，等待推荐"),
        "recommended": PublicState(
            "recommended", "recommended, awaiting the eligibility decision", "已推荐，等待资格审查"
        ),
        "declined": PublicState("declined", "declined by its recommending authority", "未获推荐"),
        "eligible": PublicState("eligible", "eligible, awaiting review", "资格审查通过，等待评审"),
        "ineligible": PublicState("ineligible", "ineligible", "资格审查未通过"),
        "in_review": PublicState("in_review", "under expert review", "处于专家评审中"),
        "approved": PublicState("approved", "approved (立项)", "已立项"),
        "not_selected": PublicState("not_selected", "not selected", "未入选"),
        "withdrawn": PublicState("withdrawn", "withdrawn", "已撤回"),
        "call_cancelled": PublicState("call_cancelled", "closed with its cancelled call", "因遴选批次撤销而关闭"),
    },
    {
        "submit": Bilingual(
            "submit the application (POST /v1/applications/{id}/submit)",
            "提交申报书（POST /v1/applications/{id}/submit）",
        ),
        "recommend": Bilingual(
            "recommend the application (POST /v1/applications/{id}/recommend)",
            "推荐申报书（POST /v1/applications/{id}/recommend）",
        ),
        "decline": Bilingual(
            "decline to recommend the application (POST /v1/applications/{id}/decline)",
            "不予推荐（POST /v1/applications/{id}/decline）",
        ),
        "confirm_eligible": Bilingual(
            "decide its eligibility (POST /v1/applications/{id}/eligibility)",
            "作出资格审查决定（POST /v1/applications/{id}/eligibility）",
        ),
        "rule_ineligible": Bilingual(
            "decide its eligibility (POST /v1/applications/{id}/eligibility)",
            "作出资格审查决定（POST /v1/applications/{id}/eligibility）",
        ),
        "start_review": Bilingual(
            "assign experts to its call (POST /v1/calls/{call_id}/assignments)",
            "为其遴选批次分配评审专家（POST /v1/calls/{call_id}/assignments）",
        ),
        "approve": Bilingual(
            "finalize its call's selection (POST /v1/calls/{call_id}/finalize)",
            "确定其遴选批次立项（POST /v1/calls/{call_id}/finalize）",
        ),
        "pass_over": Bilingual(
            "finalize its call's selection (POST /v1/calls/{call_id}/finalize)",
            "确定其遴选批次立项（POST /v1/calls/{call_id}/finalize）",
        ),
        "promote": Bilingual(
            "give a left project's place to its call's reserve list (POST /v1/projects/{project_id}/successor)",
            "将退出项目的名额由其批次候补递补（POST /v1/projects/{project_id}/successor）",
        ),
        "withdraw": Bilingual(
            "withdraw the application (POST /v1/applications/{id}/withdraw)",
            "撤回申报书（POST /v1/applications/{id}/withdraw）",
        ),
        "close_with_call": Bilingual(
            "cancel its call (POST /v1/calls/{call_id}/cancel)", "撤销其遴选批次（POST /v1/calls/{call_id}/cancel）"
        ),
    },
)

PROJECT_GUIDE = StateGuide(
    PROJECT_MACHINE,
    Bilingual("project", "项目"),
    {
        "established": PublicState("established", "established, awaiting its funds", "已立项，等待资金下达"),
        "under_construction": PublicState("under_construction", "under construction", "建设中"),
        "failed": PublicState("failed", "failed a milestone and left the action", "考核未通过，已退出"),
        "withdrawn": PublicState("withdrawn", "withdrawn and left the action", "已撤销，已退出"),
    },
    {
        "fund": Bilingual(
            "allocate its funds (POST /v1/calls/{call_id}/allocation)",
            "下达项目资金（POST /v1/calls/{call_id}/allocation）",
        ),
        "fail": Bilingual(
            "record a failed milestone (POST /v1/projects/{project_id}/milestones)",
            "记录考核未通过（POST /v1/projects/{project_id}/milestones）",
        ),
        "withdraw": Bilingual(
            "withdraw the project (POST /v1/projects/{project_id}/withdrawal)",
            "撤销该项目（POST /v1/projects/{project_id}/withdrawal）",
        ),
    },
)

REPORT_GUIDE = StateGuide(
    REPORT_MACHINE,
    Bilingual("annual progress report", "年度建设进展报告"),
    {
        "draft": PublicState("draft", "a draft its institution has not filed", "草稿，尚未报送"),
        "submitted": PublicState("submitted", "filed, awaiting its recommending authority", "已报送，等待推荐单位审核"),
        "returned": PublicState("returned", "returned for changes", "已退回修改"),
        "endorsed": PublicState("endorsed", "endorsed, awaiting the province", "推荐单位已审核，等待省级验收"),
        "accepted": PublicState("accepted", "accepted by the province", "省级已验收"),
    },
    {
        "file": Bilingual(
            "file the report (POST /v1/projects/{project_id}/annual-reports)",
            "报送年度报告（POST /v1/projects/{project_id}/annual-reports）",
        ),
        "return": Bilingual(
            "return the report with a reason (POST /v1/annual-reports/{id}/return)",
            "退回年度报告并说明理由（POST /v1/annual-reports/{id}/return）",
        ),
        "refile": Bilingual(
            "refile the report (POST /v1/annual-reports/{id}/refile)",
            "重新报送年度报告（POST /v1/annual-reports/{id}/refile）",
        ),
        "endorse": Bilingual(
            "endorse the report (POST /v1/annual-reports/{id}/endorse)",
            "审核推荐年度报告（POST /v1/annual-reports/{id}/endorse）",
        ),
        "accept": Bilingual(
            "accept the report (POST /v1/annual-reports/{id}/accept)",
            "验收年度报告（POST /v1/annual-reports/{id}/accept）",
        ),
    },
)

GUIDES = {guide.machine.name: guide for guide in (CALL_GUIDE, APPLICATION_GUIDE, PROJECT_GUIDE, REPORT_GUIDE)}
