"""Annual progress reports: the rules (domain/reports.py) and the use cases (usecases/reports.py)
on an in-memory store."""

from datetime import datetime, timedelta, timezone

import pytest

from services.applications.domain.messages import FieldsRefused, NotFound, NotRecommender
from services.common.actor import Actor
from services.applications.domain.reports import (
    REPORT_MACHINE,
    AlreadyFiled,
    DeadlinePassed,
    NotDue,
    WindowExists,
    WindowNotOpen,
    assessed,
    reminder_due,
    timeliness,
)
from services.applications.domain.guides import GUIDES
from services.common.replies import refusal_problem
from services.applications.usecases import reports as cases
from services.common.statemachine import ReasonRequired, TransitionNotAllowed
from tests.unit.applications.fakes import FakeApplicationsStore

AT = datetime(2025, 1, 10, 2, 0, tzinfo=timezone.utc)
DUE = AT + timedelta(days=5)
PROVINCE = Actor("province", "p1")
CHANGSHA_BUREAU = Actor("prefecture", "b1", prefecture="长沙市")
HENGYANG_BUREAU = Actor("prefecture", "b2", prefecture="衡阳市")
HRSS = Actor("hrss", "h1", sponsor="湖南省人力资源和社会保障厅")


def institution(institution_id: str) -> Actor:
    return Actor("institution", f"u-{institution_id}", institution_id=institution_id)


def project(
    project_id,
    institution_id,
    prefecture="长沙市",
    year=2024,
    state="under_construction",
    recommender=None,
    created_at=AT - timedelta(days=200),
):
    recommender = recommender or {"kind": "prefecture_bureau", "authority": prefecture}
    return {
        "_id": project_id,
        "call_id": "call_1",
        "category": "hv-group",
        "year": year,
        "state": state,
        "institution_id": institution_id,
        "institution_name": f"学校{institution_id}",
        "prefecture": prefecture,
        "recommender": recommender,
        "recommender_key": f"{recommender['kind']}:{recommender['authority']}",
        "created_at": created_at,
        "plan": {
            "title": f"专业群{project_id}",
            "yearly_targets": [{"year": 2024, "target": "建成实训基地"}, {"year": 2025, "target": "通过验收"}],
        },
    }


def filing(status="met", year=2024, **extra):
    return {
        "year": year,
        "summary": "本年度进展顺利",
        "assessments": [{"target_index": 0, "status": status, "evidence": "实训基地已投入使用"}],
        **extra,
    }


@pytest.fixture
def store():
    fake = FakeApplicationsStore()
    for doc in (
        project("p_a", "inst_a"),
        project("p_b", "inst_b"),
        project("p_late", "inst_c", year=2025),
        project("p_gone", "inst_d", state="failed"),
        project("p_out", "inst_e", state="withdrawn"),
        project("p_h", "inst_h", prefecture="衡阳市"),
        project("p_t", "inst_t", recommender={"kind": "hrss", "authority": "湖南省人力资源和社会保障厅"}),
    ):
        fake.projects[doc["_id"]] = doc
    return fake


@pytest.fixture
def window(store):
    return cases.open_window(store, {"year": 2024, "due_at": DUE}, PROVINCE, AT)


# ------------------------------------------------------------------ the rules


def test_the_report_machine_returns_refiles_endorses_and_accepts():
    state = "submitted"
    for event, reason in (
        ("return", "补充佐证"),
        ("refile", None),
        ("endorse", None),
        ("return", "省级退回"),
        ("refile", None),
        ("endorse", None),
        ("accept", None),
    ):
        state, _ = REPORT_MACHINE.apply(state, event, "someone", reason, AT)
    assert state == "accepted" and REPORT_MACHINE.is_terminal("accepted")
    with pytest.raises(ReasonRequired):
        REPORT_MACHINE.apply("submitted", "return", "someone", "  ", AT)


def test_every_target_of_the_year_is_assessed_once_and_refusals_name_the_field():
    targets = ["建成实训基地", "新增合作企业"]
    ok = assessed(
        targets,
        [
            {"target_index": 1, "status": "not_met", "evidence": "b"},
            {"target_index": 0, "status": "met", "evidence": "a"},
        ],
    )
    assert [(a["target"], a["status"]) for a in ok] == [("建成实训基地", "met"), ("新增合作企业", "not_met")]
    with pytest.raises(FieldsRefused) as missing:
        assessed(targets, [{"target_index": 0, "status": "met", "evidence": "a"}])
    assert list(missing.value.errors) == ["assessments"] and "缺少第1项" in missing.value.errors["assessments"][0].zh
    with pytest.raises(FieldsRefused) as twice:
        assessed(targets, [{"target_index": 0, "status": "met", "evidence": "a"}] * 2)
    assert list(twice.value.errors) == ["assessments.1.target_index"]
    with pytest.raises(FieldsRefused) as beyond:
        assessed(targets, [{"target_index": 5, "status": "met", "evidence": "a"}])
    assert "0至1" in beyond.value.errors["assessments.0.target_index"][0].zh


def test_reminders_are_due_within_the_windows_reminding_time_before_the_deadline():
    window = {"opens_at": AT, "due_at": DUE, "remind_hours": 24}
    assert not reminder_due(window, AT)
    assert reminder_due(window, DUE - timedelta(hours=23))
    assert not reminder_due(window, DUE)


def test_timeliness_counts_only_filed_reports_before_the_deadline_and_every_due_project_after():
    window = {"_id": "w", "year": 2024, "due_at": DUE}
    projects = [project("p_a", "a"), project("p_b", "b"), project("p_c", "c", prefecture="衡阳市")]
    reports = {"p_a": {"late": False}, "p_c": {"late": True}}
    assert timeliness(window, projects, reports, AT) == {
        "长沙市": {"due": 1, "on_time": 1},
        "衡阳市": {"due": 1, "on_time": 0},
    }
    assert timeliness(window, projects, reports, DUE + timedelta(seconds=1)) == {
        "长沙市": {"due": 2, "on_time": 1},
        "衡阳市": {"due": 1, "on_time": 0},
    }
    assert timeliness(None, projects, reports, AT) == {}


# ------------------------------------------------------------------ the use cases


def test_a_window_is_one_per_year_and_its_deadline_is_ahead(store, window):
    assert (window["year"], window["remind_hours"]) == (2024, 168)
    assert store.emitted[-1][0] == "report_window_opened"
    with pytest.raises(WindowExists):
        cases.open_window(store, {"year": 2024, "due_at": DUE}, PROVINCE, AT)
    with pytest.raises(FieldsRefused) as past:
        cases.open_window(store, {"year": 2025, "due_at": AT - timedelta(days=1)}, PROVINCE, AT)
    assert list(past.value.errors) == ["due_at"]


def test_filing_needs_the_years_window_and_a_due_project_of_ones_own(store):
    with pytest.raises(WindowNotOpen):
        cases.file_report(store, institution("inst_a"), "p_a", filing(), AT)
    cases.open_window(store, {"year": 2024, "due_at": DUE, "opens_at": AT + timedelta(days=1)}, PROVINCE, AT)
    with pytest.raises(WindowNotOpen) as early:
        cases.file_report(store, institution("inst_a"), "p_a", filing(), AT)
    assert "将于" in early.value.message.zh
    later = AT + timedelta(days=2)
    with pytest.raises(NotFound):
        cases.file_report(store, institution("inst_b"), "p_a", filing(), later)
    with pytest.raises(NotDue):
        cases.file_report(store, institution("inst_c"), "p_late", filing(), later)  # a 2025 project
    with pytest.raises(NotDue):
        cases.file_report(store, institution("inst_d"), "p_gone", filing(), later)  # it has left
    with pytest.raises(NotDue):
        cases.file_report(store, institution("inst_e"), "p_out", filing(), later)  # withdrawn: it has left too
    report = cases.file_report(store, institution("inst_a"), "p_a", filing("partly_met"), later)
    assert (report["state"], report["late"], report["filings"]) == ("submitted", False, 1)
    assert report["assessments"] == [
        {"target_index": 0, "target": "建成实训基地", "status": "partly_met", "evidence": "实训基地已投入使用"}
    ]
    with pytest.raises(AlreadyFiled):
        cases.file_report(store, institution("inst_a"), "p_a", filing(), later)
    assert [e[0] for e in store.emitted] == ["report_window_opened", "annual_report_filed"]


def test_returned_refiled_endorsed_and_accepted_by_the_right_parties(store, window):
    report = cases.file_report(store, institution("inst_a"), "p_a", filing("not_met"), AT)
    rid = report["_id"]
    with pytest.raises(NotFound):
        cases.decide(store, HENGYANG_BUREAU, rid, "endorse", None, AT)  # another prefecture's
    with pytest.raises(NotRecommender):
        cases.decide(store, PROVINCE, rid, "return", "不合格", AT)  # a filed report is its authority's to return
    returned = cases.decide(store, CHANGSHA_BUREAU, rid, "return", " 佐证不足 ", AT)
    assert (returned["state"], returned["return_reason"]) == ("returned", "佐证不足")
    with pytest.raises(TransitionNotAllowed) as refused:
        cases.decide(store, CHANGSHA_BUREAU, rid, "endorse", None, AT)
    assert "POST /v1/annual-reports/{id}/refile" in refusal_problem(refused.value, GUIDES)["problem"]["detail"]
    with pytest.raises(FieldsRefused):  # the content is checked again
        cases.refile_report(store, institution("inst_a"), rid, {"summary": "x", "assessments": []}, AT)
    later = DUE + timedelta(hours=1)
    refiled = cases.refile_report(store, institution("inst_a"), rid, filing("met"), later)
    assert (refiled["state"], refiled["filings"], refiled["late"]) == ("submitted", 2, False)  # the first filing's
    cases.decide(store, CHANGSHA_BUREAU, rid, "endorse", "同意", later)
    with pytest.raises(NotRecommender):
        cases.decide(store, CHANGSHA_BUREAU, rid, "return", "再改", later)  # endorsed: the province's now
    accepted = cases.decide(store, PROVINCE, rid, "accept", None, later)
    assert [h["event"] for h in accepted["history"]] == ["create", "return", "refile", "endorse", "accept"]
    names = [e[0] for e in store.emitted]
    assert names[1:] == [
        "annual_report_filed",
        "annual_report_returned",
        "annual_report_filed",
        "annual_report_endorsed",
        "annual_report_accepted",
    ]
    assert store.emitted[2][2]["reason"] == "佐证不足" and store.emitted[3][2]["filings"] == 2


def test_a_technician_schools_report_is_endorsed_by_its_hrss_sponsor_not_the_bureau(store, window):
    rid = cases.file_report(store, institution("inst_t"), "p_t", filing(), AT)["_id"]
    with pytest.raises(NotRecommender):
        cases.decide(store, CHANGSHA_BUREAU, rid, "endorse", None, AT)
    assert cases.decide(store, HRSS, rid, "endorse", None, AT)["state"] == "endorsed"


def test_missing_and_late_reports_are_listed_within_the_readers_scope(store, window):
    cases.file_report(store, institution("inst_a"), "p_a", filing(), AT)
    before = cases.list_overdue(store, PROVINCE, window["_id"], AT)
    assert not before["past_due"] and [p["project_id"] for p in before["missing"]] == ["p_b", "p_h", "p_t"]
    after = DUE + timedelta(minutes=1)
    late = cases.file_report(store, institution("inst_b"), "p_b", filing(), after)
    assert late["late"] is True
    listed = cases.list_overdue(store, PROVINCE, window["_id"], after)
    assert listed["past_due"] and [p["project_id"] for p in listed["missing"]] == ["p_h", "p_t"]
    assert [p["report_id"] for p in listed["late"]] == [late["_id"]]
    own = cases.list_overdue(store, HENGYANG_BUREAU, window["_id"], after)
    assert [p["project_id"] for p in own["missing"]] == ["p_h"] and own["late"] == []


def test_each_institution_not_filed_yet_is_reminded_once_when_the_deadline_nears(store, window):
    cases.file_report(store, institution("inst_a"), "p_a", filing(), AT)
    assert cases.remind(store, AT) == 3  # p_b, p_h, p_t: within the default 7 days
    assert cases.remind(store, AT + timedelta(hours=1)) == 0
    reminders = [e for e in store.emitted if e[0] == "annual_report_due"]
    assert sorted(e[2]["project_id"] for e in reminders) == ["p_b", "p_h", "p_t"]
    assert reminders[0][2]["targets"] == ["建成实训基地"] and reminders[0][2]["hours_left"] == 120
    assert cases.remind(store, DUE + timedelta(seconds=1)) == 0  # past the deadline: no more reminders


def test_a_deadline_moves_later_before_it_passes_and_the_unfiled_are_reminded_of_the_new_one(store, window):
    assert cases.remind(store, AT) == 4  # p_a, p_b, p_h, p_t
    with pytest.raises(FieldsRefused) as earlier:
        cases.extend_window(store, window["_id"], PROVINCE, DUE - timedelta(days=1), None, AT)
    assert list(earlier.value.errors) == ["due_at"]
    later_due = DUE + timedelta(days=10)
    moved = cases.extend_window(store, window["_id"], PROVINCE, later_due, "疫情影响", AT)
    assert moved["due_at"] == later_due and moved["extensions"][0]["reason"] == "疫情影响"
    assert store.emitted[-1][0] == "report_window_extended"
    late_filer = cases.file_report(store, institution("inst_a"), "p_a", filing(), DUE + timedelta(days=1))
    assert late_filer["late"] is False  # by the new deadline
    assert cases.remind(store, AT + timedelta(days=1)) == 0  # the new deadline is not near yet
    assert cases.remind(store, later_due - timedelta(days=2)) == 3  # reminded again: p_b, p_h, p_t
    with pytest.raises(DeadlinePassed):
        cases.extend_window(
            store, window["_id"], PROVINCE, later_due + timedelta(days=1), None, later_due + timedelta(seconds=1)
        )


def test_once_the_deadline_passes_each_bureau_is_told_once_of_its_missing_reports(store, window):
    cases.file_report(store, institution("inst_a"), "p_a", filing(), AT)
    assert cases.announce_missing(store, AT) == 0  # not due yet
    after = DUE + timedelta(seconds=1)
    assert cases.announce_missing(store, after) == 2  # 长沙市 (p_b, p_t) and 衡阳市 (p_h)
    assert cases.announce_missing(store, after + timedelta(minutes=1)) == 0
    told = {
        e[2]["prefecture"]: [m["project_id"] for m in e[2]["missing"]]
        for e in store.emitted
        if e[0] == "annual_reports_missing"
    }
    assert told == {"长沙市": ["p_b", "p_t"], "衡阳市": ["p_h"]}


def test_a_draft_is_filed_as_the_years_report_and_counts_as_missing_until_then(store, window):
    mine = institution("inst_a")
    with pytest.raises(NotFound):
        cases.start_report(store, institution("inst_b"), "p_a", 2024, AT)  # not its project
    draft = cases.start_report(store, mine, "p_a", 2024, AT)
    assert (draft["state"], draft["filings"], draft["first_filed_at"], draft["late"]) == ("draft", 0, None, False)
    with pytest.raises(AlreadyFiled) as again:
        cases.start_report(store, mine, "p_a", 2024, AT)
    assert "draft" in again.value.message.en and "草稿" in again.value.message.zh
    listed = cases.list_overdue(store, PROVINCE, window["_id"], DUE + timedelta(minutes=1))
    assert "p_a" in [p["project_id"] for p in listed["missing"]], "a draft is not filed"
    assert cases.remind(store, AT) == 4 and "p_a" in [
        e[2]["project_id"] for e in store.emitted if e[0] == "annual_report_due"
    ]
    with pytest.raises(TransitionNotAllowed):
        cases.decide(store, CHANGSHA_BUREAU, draft["_id"], "endorse", None, AT)

    late = DUE + timedelta(hours=1)
    filed = cases.file_report(store, mine, "p_a", filing(), late)
    assert (filed["_id"], filed["state"], filed["filings"], filed["late"]) == (draft["_id"], "submitted", 1, True)
    assert filed["first_filed_at"] == late and [h["event"] for h in filed["history"]] == ["create", "file"]
    assert [e[0] for e in store.emitted if e[0] == "annual_report_filed"] == ["annual_report_filed"]
    with pytest.raises(AlreadyFiled) as twice:
        cases.file_report(store, mine, "p_a", filing(), late)
    assert "refile" in twice.value.message.en


def test_a_draft_needs_the_years_window_and_a_due_project(store, window):
    with pytest.raises(WindowNotOpen):
        cases.start_report(store, institution("inst_a"), "p_a", 2025, AT)
    with pytest.raises(NotDue):
        cases.start_report(store, institution("inst_d"), "p_gone", 2024, AT)
