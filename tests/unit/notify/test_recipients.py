"""Who is told of each event kind, and that each recipient is told only its own part."""

from __future__ import annotations

import pytest

from services.contracts.reference import PREFECTURES
from services.contracts.notify import WEBHOOK_KINDS
from services.notify.domain.recipients import RULES, NoRecipient, NotKnownYet, Party, notices_for, recipient_of
from tests.unit.notify import samples as s

CALL = "call_1"
A = Party("app_a", "inst_a", "长沙市", "智能制造专业群", "prefecture:长沙市")
B = Party("app_b", "inst_b", "株洲市", "轨道交通专业群", "prefecture:株洲市")
C = Party("app_c", "inst_c", "长沙市", "现代物流专业群", "prefecture:长沙市")


@pytest.fixture
def known(directory):
    for party in (A, B, C):
        directory.add(party, CALL)
    directory.calls[CALL] = "2026年楚怡高水平高职高专专业群遴选"
    directory.approvals[(CALL, 1)] = A
    directory.projects["proj_a"] = (CALL, 1)
    return directory


def recipients(kind, data, directory):
    return sorted(n.recipient for n in notices_for(kind, data, directory))


def test_every_event_kind_has_a_rule():
    assert set(RULES) == set(WEBHOOK_KINDS)


@pytest.mark.parametrize(
    ("actor", "recipient"),
    [
        ({"role": "institution", "institution_id": "inst_a"}, "institution:inst_a"),
        ({"role": "prefecture", "prefecture": "长沙市"}, "prefecture:长沙市"),
        ({"role": "expert", "expert_id": "exp_1"}, "expert:exp_1"),
        ({"role": "hrss", "sponsor": "湖南省人力资源和社会保障厅"}, "hrss:湖南省人力资源和社会保障厅"),
        ({"role": "province"}, "province"),
        ({"role": "finance"}, "finance"),
    ],
)
def test_a_user_reads_the_messages_of_its_scope(actor, recipient):
    assert recipient_of({"sub": "u1", **actor}) == recipient


def test_a_scoped_role_without_its_scope_has_no_recipient():
    with pytest.raises(NoRecipient):
        recipient_of({"sub": "u1", "role": "institution", "institution_id": None})


def test_a_call_opening_reaches_every_prefecture_and_every_known_institution(known):
    got = recipients("call_opened", s.call_opened("call_2"), known)
    assert got == sorted(
        [f"prefecture:{p}" for p in PREFECTURES] + ["institution:inst_a", "institution:inst_b", "institution:inst_c"]
    )


def test_a_call_closing_reaches_its_applicants_and_their_prefectures(known):
    assert recipients("call_closed", s.call_closed(CALL), known) == [
        "institution:inst_a",
        "institution:inst_b",
        "institution:inst_c",
        "prefecture:株洲市",
        "prefecture:长沙市",
    ]


def test_a_cancelled_call_tells_each_applicant_of_its_own_closed_applications_and_their_prefectures(known):
    data = s.call_cancelled(CALL, closed=(("app_a", "inst_a", "长沙市"), ("app_b", "inst_b", "株洲市")))
    notices = {n.recipient: n for n in notices_for("call_cancelled", data, known)}
    assert sorted(notices) == ["institution:inst_a", "institution:inst_b", "prefecture:株洲市", "prefecture:长沙市"]
    assert [e["application_id"] for e in notices["institution:inst_b"].context["entries"]] == ["app_b"]
    assert notices["institution:inst_a"].context["reason"] == "批次误发"


def test_an_extension_tells_the_institutions_that_applied(known):
    assert recipients("call_extended", s.call_extended(CALL, ("inst_a", "inst_b")), known) == [
        "institution:inst_a",
        "institution:inst_b",
    ]


def test_a_new_project_tells_its_institution_its_prefecture_and_finance(known):
    data = s.project_established("app_a", CALL, "inst_a", "长沙市", "智能制造专业群")
    assert recipients("project_established", data, known) == ["finance", "institution:inst_a", "prefecture:长沙市"]


def test_a_place_given_to_the_reserve_list_tells_the_successors_institution_and_the_province(known):
    data = s.project_replaced("proj_a", CALL, "app_b", "inst_b", "株洲市", "轨道交通专业群")
    assert recipients("project_replaced", data, known) == ["institution:inst_b", "province"]


def test_an_annual_report_reminder_and_return_reach_the_institution_only(known):
    assert recipients(
        "annual_report_due", s.annual_report_due("app_a", "inst_a", "长沙市", "智能制造专业群"), known
    ) == ["institution:inst_a"]
    returned = s.annual_report(
        "annual_report_returned", "app_a", "inst_a", "长沙市", "智能制造专业群", "returned", "补充佐证"
    )
    assert recipients("annual_report_returned", returned, known) == ["institution:inst_a"]


def test_an_endorsed_report_waits_with_the_province_and_an_accepted_one_is_told_to_the_institution(known):
    endorsed = s.annual_report("annual_report_endorsed", "app_a", "inst_a", "长沙市", "智能制造专业群", "endorsed")
    assert recipients("annual_report_endorsed", endorsed, known) == ["institution:inst_a", "province"]
    accepted = s.annual_report("annual_report_accepted", "app_a", "inst_a", "长沙市", "智能制造专业群", "accepted")
    assert recipients("annual_report_accepted", accepted, known) == ["institution:inst_a"]


def test_missing_reports_are_told_to_their_prefecture_bureau(known):
    assert recipients("annual_reports_missing", s.annual_reports_missing("衡阳市"), known) == ["prefecture:衡阳市"]


def test_a_filed_annual_report_waits_with_its_recommending_authority(known):
    filed = s.annual_report("annual_report_filed", "app_a", "inst_a", "长沙市", "智能制造专业群", "submitted")
    assert recipients("annual_report_filed", filed, known) == ["institution:inst_a", "prefecture:长沙市"]
    hrss = s.annual_report(
        "annual_report_filed", "app_t", "inst_t", "长沙市", "数控技术专业", "submitted", recommender_kind="hrss"
    )
    assert recipients("annual_report_filed", hrss, known) == ["institution:inst_t", "province"]


def test_a_submission_waits_with_its_prefecture_bureau(known):
    data = s.application_submitted("app_a", CALL, "inst_a", "长沙市", "智能制造专业群")
    notices = {n.recipient: n for n in notices_for("application_submitted", data, known)}
    assert set(notices) == {"institution:inst_a", "prefecture:长沙市"}
    assert notices["prefecture:长沙市"].context["audience"] == "prefecture"


def test_a_technician_school_submission_goes_to_the_province_for_its_hrss_sponsor(known):
    data = s.application_submitted("app_t", CALL, "inst_t", "衡阳市", "数控技术", recommender_kind="hrss")
    assert recipients("application_submitted", data, known) == ["institution:inst_t", "province"]


def test_a_withdrawal_tells_the_recommender_only_once_it_had_the_application(known):
    submitted = s.application_withdrawn("app_a", CALL, "inst_a", "长沙市", from_state="submitted")
    draft = s.application_withdrawn("app_x", CALL, "inst_a", "长沙市", from_state="draft")
    assert recipients("application_withdrawn", submitted, known) == ["institution:inst_a", "prefecture:长沙市"]
    assert recipients("application_withdrawn", draft, known) == ["institution:inst_a"]


@pytest.mark.parametrize("kind", ["application_recommended", "application_declined"])
def test_a_recommendation_decision_reaches_the_institution(known, kind):
    assert recipients(kind, s.application_decision(kind, "app_b", CALL, "inst_b", "株洲市", "名额已满"), known) == [
        "institution:inst_b"
    ]


def test_an_eligibility_finding_reaches_the_institution(known):
    data = s.eligibility_checked("app_b", CALL, "inst_b", "株洲市", "轨道交通专业群", eligible=False)
    assert recipients("eligibility_checked", data, known) == ["institution:inst_b"]


def test_each_expert_is_told_of_its_own_assignments_only(known):
    data = s.experts_assigned(
        CALL,
        [
            ("as_1", "app_a", "exp_1", "2026-06-10T00:00:00Z"),
            ("as_2", "app_b", "exp_1", "2026-06-10T00:00:00Z"),
            ("as_3", "app_a", "exp_2", "2026-06-10T00:00:00Z"),
        ],
    )
    notices = {n.recipient: n.context for n in notices_for("experts_assigned", data, known)}
    assert set(notices) == {"expert:exp_1", "expert:exp_2"}
    assert [e["assignment_id"] for e in notices["expert:exp_1"]["entries"]] == ["as_1", "as_2"]
    assert [e["assignment_id"] for e in notices["expert:exp_2"]["entries"]] == ["as_3"]
    assert notices["expert:exp_1"]["entries"][1]["title"] == "轨道交通专业群"
    assert all("data" not in context for context in notices.values())
    assert not any(n.shareable for n in notices_for("experts_assigned", data, known))  # it lists the others' too


@pytest.mark.parametrize("kind", ["assignment_declined", "ranking_published", "objection_filed"])
def test_review_housekeeping_goes_to_the_province(known, kind):
    data = {
        "assignment_declined": lambda: s.assignment_declined(CALL, "as_1", "app_a", "exp_1"),
        "ranking_published": lambda: s.ranking_published(CALL, [s.entry("app_a", "inst_a", "长沙市", 1)]),
        "objection_filed": lambda: s.objection_filed(CALL, "obj_1", "app_a"),
    }[kind]()
    assert recipients(kind, data, known) == ["province"]


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (
            "notice_published",
            s.notice_published(
                CALL,
                [
                    s.entry("app_a", "inst_a", "长沙市", 1),
                    s.entry("app_b", "inst_b", "株洲市", 2),
                    s.entry("app_c", "inst_c", "长沙市", 3),
                ],
            ),
        ),
        (
            "selection_finalized",
            s.selection_finalized(
                CALL,
                [
                    s.approved("app_a", "inst_a", "长沙市", 1, "智能制造专业群"),
                    s.approved("app_b", "inst_b", "株洲市", 2, "轨道交通专业群"),
                    s.approved("app_c", "inst_c", "长沙市", 3, "现代物流专业群"),
                ],
            ),
        ),
    ],
)
def test_a_list_reaches_each_listed_institution_and_prefecture_with_only_its_entries(known, kind, data):
    notices = {n.recipient: n.context for n in notices_for(kind, data, known)}
    assert {r: [e["application_id"] for e in c["entries"]] for r, c in notices.items()} == {
        "institution:inst_a": ["app_a"],
        "institution:inst_b": ["app_b"],
        "institution:inst_c": ["app_c"],
        "prefecture:长沙市": ["app_a", "app_c"],
        "prefecture:株洲市": ["app_b"],
    }


def test_an_objection_resolution_tells_each_concerned_institution_its_part(known):
    data = s.objection_resolved(CALL, "obj_1", "app_a", upheld=True, removed=["app_a"], promoted=["app_b"])
    by_recipient = {n.recipient: n for n in notices_for("objection_resolved", data, known)}
    notices = {r: n.context for r, n in by_recipient.items()}
    assert set(notices) == {"province", "institution:inst_a", "institution:inst_b"}
    a, b = notices["institution:inst_a"], notices["institution:inst_b"]
    assert ([e["application_id"] for e in a["objected"]], [e["application_id"] for e in a["removed"]]) == (
        ["app_a"],
        ["app_a"],
    )
    assert [e["application_id"] for e in b["promoted"]] == ["app_b"]
    assert a["reason"] == data["reason"] and "reason" not in b  # the objection concerned A alone
    # so the event itself (with the reason) may go to A's webhooks, not to B's
    assert by_recipient["institution:inst_a"].shareable and not by_recipient["institution:inst_b"].shareable


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("funds_allocated", s.funds_allocated("proj_a", CALL, 1)),
        ("tranche_released", s.tranche_released("proj_a", CALL)),
        ("tranche_withheld", s.tranche_withheld("proj_a", CALL)),
        ("funds_clawed_back", s.funds_clawed_back("proj_a", CALL)),
        ("project_failed", s.project_failed("proj_a", CALL)),
        ("project_withdrawn", s.project_withdrawn("proj_a", CALL)),
    ],
)
def test_money_of_a_project_reaches_its_institution_and_finance(known, kind, data):
    assert recipients(kind, data, known) == ["finance", "institution:inst_a"]


def test_an_objection_about_an_application_not_known_yet_waits_for_its_ranking(known):
    with pytest.raises(NotKnownYet, match="app_new"):
        notices_for(
            "objection_resolved", s.objection_resolved(CALL, "obj_1", "app_a", False, promoted=["app_new"]), known
        )


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("funds_allocated", s.funds_allocated("proj_x", CALL, 7)),
        ("tranche_released", s.tranche_released("proj_x", CALL)),
    ],
)
def test_money_of_a_project_not_placed_yet_waits_for_its_selection(known, kind, data):
    with pytest.raises(NotKnownYet, match="proj_x"):
        notices_for(kind, data, known)


def test_an_exhausted_budget_reaches_the_province_and_finance(known):
    assert recipients("budget_exhausted", s.budget_exhausted(CALL), known) == ["finance", "province"]


def test_a_panel_assignment_tells_each_expert_only_their_projects(known):
    data = s.panel_experts_assigned(
        "pnl_1",
        [
            ("pas_1", "app_a", "智能制造专业群", "exp_1", "2026-06-10T00:00:00Z"),
            ("pas_2", "app_b", "轨道交通专业群", "exp_1", "2026-06-10T00:00:00Z"),
            ("pas_3", "app_a", "智能制造专业群", "exp_2", "2026-06-10T00:00:00Z"),
        ],
    )
    notices = {n.recipient: n for n in notices_for("panel_experts_assigned", data, known)}
    assert sorted(notices) == ["expert:exp_1", "expert:exp_2"]
    assert [e["assignment_id"] for e in notices["expert:exp_2"].context["entries"]] == ["pas_3"]
    assert not any(n.shareable for n in notices.values())


def test_a_confirmed_panel_result_reaches_the_institution_and_its_recommending_authority(known, directory):
    data = s.panel_result_confirmed("pnl_1", "app_b", CALL, "inst_b", "株洲市", "轨道交通专业群")
    assert recipients("panel_result_confirmed", data, known) == ["institution:inst_b", "prefecture:株洲市"]
    known.add(Party("app_t", "inst_t", "衡阳市", "技工专业群", "province"), CALL)  # an HRSS-sponsored school
    data = s.panel_result_confirmed("pnl_1", "app_t", CALL, "inst_t", "衡阳市", "技工专业群")
    assert recipients("panel_result_confirmed", data, known) == ["institution:inst_t", "province"]
    unknown = s.panel_result_confirmed("pnl_1", "app_x", CALL, "inst_x", "岳阳市", "未同步的项目")
    assert recipients("panel_result_confirmed", unknown, known) == ["institution:inst_x", "prefecture:岳阳市"]


def test_a_passed_rectification_deadline_reaches_the_institution_its_authority_and_the_province(known):
    data = s.rectification_due("pnl_1", "app_b", CALL, "inst_b", "株洲市", "轨道交通专业群")
    assert recipients("rectification_due", data, known) == ["institution:inst_b", "prefecture:株洲市", "province"]
    known.add(Party("app_t", "inst_t", "衡阳市", "技工专业群", "province"), CALL)  # an HRSS-sponsored school
    data = s.rectification_due("pnl_1", "app_t", CALL, "inst_t", "衡阳市", "技工专业群")
    assert recipients("rectification_due", data, known) == ["institution:inst_t", "province"]


def test_a_panels_proposal_reaches_the_province_with_its_counts(known):
    notices = notices_for("panel_results_proposed", s.panel_results_proposed("pnl_1"), known)
    assert [n.recipient for n in notices] == ["province"]
    assert notices[0].context["counts"] == {"pass": 1, "rectify": 0, "fail": 1}
