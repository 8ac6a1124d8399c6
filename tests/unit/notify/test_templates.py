"""Every kind renders on every templated channel, in Chinese, from the context its rule
gives; HTML mail escapes what senders typed, plain text keeps it."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from services.contracts.notify import KINDS, TEMPLATED_CHANNELS
from services.notify.domain.platform import dead_letters_notice, review_reminders, webhook_disabled_notice
from services.notify.domain.recipients import Party, notices_for
from services.notify.rendering import TEMPLATES, fen, render, shanghai
from tests.unit.notify import samples as s

CJK = re.compile(r"[\u4e00-\u9fff]")
CALL = "call_1"
SCRIPT = "<script>alert(1)</script>"
A = Party("app_a", "inst_a", "长沙市", f"智能制造专业群{SCRIPT}", "prefecture:长沙市")
B = Party("app_b", "inst_b", "株洲市", "轨道交通专业群", "prefecture:株洲市")
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)

EVENTS = {
    "call_opened": s.call_opened(CALL),
    "call_closed": s.call_closed(CALL),
    "call_extended": s.call_extended(CALL),
    "call_cancelled": s.call_cancelled(CALL),
    "project_established": s.project_established("app_a", CALL, "inst_a", "长沙市", A.title),
    "project_replaced": s.project_replaced("proj_x", CALL, "app_a", "inst_a", "长沙市", A.title),
    "annual_report_due": s.annual_report_due("app_a", "inst_a", "长沙市", A.title),
    "annual_report_filed": s.annual_report(
        "annual_report_filed", "app_a", "inst_a", "长沙市", A.title, "submitted", filings=2, late=True
    ),
    "annual_report_returned": s.annual_report(
        "annual_report_returned",
        "app_a",
        "inst_a",
        "长沙市",
        A.title,
        "returned",
        reason="佐证材料不足，请补充实训基地验收记录",
    ),
    "annual_report_endorsed": s.annual_report(
        "annual_report_endorsed", "app_a", "inst_a", "长沙市", A.title, "endorsed", reason="同意推荐"
    ),
    "annual_report_accepted": s.annual_report(
        "annual_report_accepted", "app_a", "inst_a", "长沙市", A.title, "accepted"
    ),
    "annual_reports_missing": s.annual_reports_missing("长沙市"),
    "application_submitted": s.application_submitted("app_a", CALL, "inst_a", "长沙市", A.title),
    "application_withdrawn": s.application_withdrawn("app_a", CALL, "inst_a", "长沙市"),
    "application_recommended": s.application_decision("application_recommended", "app_a", CALL, "inst_a", "长沙市"),
    "application_declined": s.application_decision(
        "application_declined", "app_a", CALL, "inst_a", "长沙市", "名额已满"
    ),
    "eligibility_checked": s.eligibility_checked("app_a", CALL, "inst_a", "长沙市", A.title, eligible=False),
    "experts_assigned": s.experts_assigned(CALL, [("as_1", "app_a", "exp_1", "2026-06-10T00:00:00Z")]),
    "assignment_declined": s.assignment_declined(CALL, "as_1", "app_a", "exp_1"),
    "ranking_published": s.ranking_published(
        CALL, [s.entry("app_a", "inst_a", "长沙市", 1)], [s.entry("app_b", "inst_b", "株洲市", 2)]
    ),
    "notice_published": s.notice_published(CALL, [s.entry("app_a", "inst_a", "长沙市", 1)]),
    "objection_filed": s.objection_filed(CALL, "obj_1", "app_a"),
    "objection_resolved": s.objection_resolved(CALL, "obj_1", "app_a", True, removed=["app_a"], promoted=["app_b"]),
    "selection_finalized": s.selection_finalized(CALL, [s.approved("app_a", "inst_a", "长沙市", 1, A.title)]),
    "funds_allocated": s.funds_allocated("proj_a", CALL, 1),
    "tranche_released": s.tranche_released("proj_a", CALL),
    "tranche_withheld": s.tranche_withheld("proj_a", CALL),
    "funds_clawed_back": s.funds_clawed_back("proj_a", CALL),
    "project_failed": s.project_failed("proj_a", CALL),
    "project_withdrawn": s.project_withdrawn("proj_a", CALL),
    "budget_exhausted": s.budget_exhausted(CALL),
    "panel_experts_assigned": s.panel_experts_assigned(
        "pnl_1", [("pas_1", "app_a", A.title, "exp_1", "2026-06-10T00:00:00Z")]
    ),
    "panel_results_proposed": s.panel_results_proposed("pnl_1"),
    "panel_result_confirmed": s.panel_result_confirmed(
        "pnl_1", "app_a", CALL, "inst_a", "长沙市", A.title, "rectify", "2026-09-01T00:00:00Z"
    ),
    "rectification_due": s.rectification_due("pnl_1", "app_a", CALL, "inst_a", "长沙市", A.title),
}


@pytest.fixture
def known(directory):
    for party in (A, B):
        directory.add(party, CALL)
    directory.calls[CALL] = "2026年楚怡专业群遴选"
    directory.approvals[(CALL, 1)] = A
    directory.projects["proj_a"] = (CALL, 1)
    return directory


def first_notice(kind, directory, recipient="institution:inst_a"):
    return next(n for n in notices_for(kind, EVENTS[kind], directory) if n.recipient == recipient)


def every_notice(directory):
    notices = [n for kind, data in EVENTS.items() for n in notices_for(kind, data, directory)]
    notices += [
        n
        for _, n in review_reminders(
            [{"expert_id": "exp_1", "application_id": "app_a", "call_id": CALL, "review_deadline": NOW}], directory
        )
    ]
    notices.append(dead_letters_notice({"notify.applications.dead": 3}, NOW)[1])
    notices.append(
        webhook_disabled_notice(
            {"_id": "wh_1", "owner": "institution:inst_a", "url": "https://x.cn/h"}, 10, "HTTP 500", NOW
        )[1]
    )
    return notices


def test_each_kind_and_channel_has_exactly_one_template():
    suffix = {"inbox": "txt", "email": "html", "sms": "txt"}
    for channel in TEMPLATED_CHANNELS:
        files = {p.name for p in (TEMPLATES / channel).iterdir() if not p.name.startswith("_")}
        assert files == {f"{kind}.{suffix[channel]}" for kind in KINDS}, channel


def test_every_notice_renders_on_every_channel_in_chinese(known):
    notices = every_notice(known)
    assert {n.kind for n in notices} == set(KINDS)
    audiences = set()
    for notice in notices:
        audiences.add((notice.kind, notice.context["audience"]))
        inbox = render(notice.kind, "inbox", notice.context)
        email = render(notice.kind, "email", notice.context)
        sms = render(notice.kind, "sms", notice.context)
        for text in (inbox["title"], inbox["body"], email["html"], sms["text"]):
            assert CJK.search(text), (notice.kind, text)
        assert "\n" not in inbox["title"]
        assert email["subject"] == inbox["title"] and email["text"] == inbox["body"]
        assert sms["text"].startswith("【楚怡平台】") and "\n" not in sms["text"]
    assert ("application_submitted", "prefecture") in audiences and ("funds_allocated", "finance") in audiences


def test_text_keeps_what_was_typed_and_html_mail_escapes_it(known):
    context = first_notice("eligibility_checked", known).context
    inbox, email = render("eligibility_checked", "inbox", context), render("eligibility_checked", "email", context)
    assert SCRIPT in inbox["title"] and SCRIPT in inbox["body"]
    assert SCRIPT not in email["html"] and "&lt;script&gt;alert(1)&lt;/script&gt;" in email["html"]


def test_an_ineligible_finding_names_the_failed_rules_only(known):
    body = render("eligibility_checked", "inbox", first_notice("eligibility_checked", known).context)["body"]
    assert "形式审查未通过" in body and "每个单位限报一项" in body and "单位类型符合要求" not in body


def test_prefecture_and_institution_read_different_words_for_one_submission(known):
    bureau = first_notice("application_submitted", known, "prefecture:长沙市")
    institution = first_notice("application_submitted", known)
    assert render(bureau.kind, "inbox", bureau.context)["title"].startswith("有申报书待推荐")
    assert render(institution.kind, "inbox", institution.context)["title"].startswith("申报书已提交")


@pytest.mark.parametrize(("amount", "text"), [(0, "0.00 元"), (5, "0.05 元"), (123456789, "1,234,567.89 元")])
def test_fen_read_as_yuan(amount, text):
    assert fen(amount) == text


def test_times_read_in_beijing_time():
    assert shanghai("2026-05-31T16:30:00Z") == "2026年06月01日 00:30"


def test_a_confirmed_panel_result_reads_its_result_and_what_follows(known):
    failed = s.panel_result_confirmed("pnl_1", "app_a", CALL, "inst_a", "长沙市", A.title, "fail")
    notice = next(
        n for n in notices_for("panel_result_confirmed", failed, known) if n.recipient == "institution:inst_a"
    )
    body = render("panel_result_confirmed", "inbox", notice.context)["body"]
    assert "中期检查结论经省级确认为：不通过" in body and "55.20" in body and "已拨付资金按资金规则收回" in body
    rectify = render("panel_result_confirmed", "inbox", first_notice("panel_result_confirmed", known).context)["body"]
    assert "限期整改" in rectify and "2026年09月01日" in rectify


def test_a_passed_rectification_deadline_asks_the_province_to_review_and_the_institution_to_report(known):
    data = s.rectification_due("pnl_1", "app_a", CALL, "inst_a", "长沙市", A.title)
    bodies = {
        n.recipient: render("rectification_due", "inbox", n.context)["body"]
        for n in notices_for("rectification_due", data, known)
    }
    assert all("整改期限 2026年09月01日" in body and "已到" in body for body in bodies.values())
    assert "另行组建同一环节的专家组" in bodies["province"]
    assert "报送推荐单位与省教育厅" in bodies["institution:inst_a"]
    assert "督促项目单位" in bodies["prefecture:长沙市"]
