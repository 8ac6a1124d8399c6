"""The demo round (`make demo`) at a small size on the test stack: every step through the
public HTTP API, and the counts it ends with are the ones the rules give."""

import io
import json
import uuid
from collections import Counter
from datetime import datetime

import pytest
from pymongo import MongoClient

from chuyi.backup import backup, restore
from chuyi.demo.driver import run_demo
from chuyi.demo.plan import DemoConfig, award_of
from chuyi.demo.years import PANEL_REVIEWERS
from services.common.config import Settings
from tests.support.stack import JWT_SECRET

pytestmark = pytest.mark.e2e

CATEGORIES = ("hv-school", "training-base")


@pytest.fixture(scope="module")
def demo(stack, tmp_path_factory):
    out = io.StringIO()
    config = DemoConfig(
        base_url=stack.base_url,
        jwt_secret=JWT_SECRET,
        amqp_uri=stack.amqp_uri,
        finance_db=tmp_path_factory.mktemp("finance") / "finance.sqlite3",
        seed=2031,
        institutions=40,
        experts=120,
        categories=CATEGORIES,
        applications_per_call=16,
        notice_seconds=6,
        close_early=True,
    )
    result = run_demo(config, out=out, bars=io.StringIO())
    return result, out.getvalue()


def test_every_call_of_the_round_is_run(demo):
    result, _ = demo
    assert [c.category for c in result.calls] == list(CATEGORIES) and result.skipped == {}


def test_applications_are_recommended_within_each_authoritys_cap_and_the_rest_declined(demo):
    result, _ = demo
    for call in result.calls:
        assert len(call.submitted) == len(call.applications) > 0
        assert set(call.recommended) | set(call.declined) == set(call.submitted)
        assert not set(call.recommended) & set(call.declined)
        per_authority = Counter(a["recommender"]["authority"] for a in call.recommended.values())
        assert max(per_authority.values()) <= call.body["prefecture_cap"]
        assert all(a["state"] == "recommended" for a in call.recommended.values())
        assert set(call.eligible) | set(call.ineligible) == set(call.recommended)


def test_the_province_closes_each_call_early_once_every_application_is_decided(demo, stack):
    result, _ = demo
    province = stack.client("province")
    for call in result.calls + result.years.later_calls:
        history = province.get(stack.url(f"/v1/calls/{call.id}"), timeout=30).json()["history"]
        (closing,) = [step for step in history if step["to_state"] == "closed"]
        assert (closing["event"], closing["from_state"]) == ("close_early", "open")
        closed_at, window_end = datetime.fromisoformat(closing["at"]), datetime.fromisoformat(call.body["closes_at"])
        assert closed_at < window_end


def test_every_eligible_application_gets_the_plans_reviewers_and_every_review_is_written(demo):
    result, _ = demo
    for call in result.calls:
        reviewers = Counter(a["application_id"] for a in call.assignments)
        assert reviewers == {app: call.body["review_plan"]["reviewers_per_application"] for app in call.eligible}
        assert set(call.reviews) == {a["id"] for a in call.assignments}
        assert all(r["review"]["total_hundredths"] > 0 for r in call.reviews.values())


def test_each_call_selects_its_quota_or_every_eligible_application_if_fewer(demo):
    result, _ = demo
    for call in result.calls:
        ranked = {e["application_id"] for e in call.ranking["entries"]}
        assert ranked == set(call.eligible)
        assert len(call.selected) == min(call.quota, len(call.eligible))
        assert len(call.approved) == len(call.selected)


def test_the_upheld_objection_removes_one_application_and_promotes_one_from_the_reserve(demo):
    result, _ = demo
    (call,) = [c for c in result.calls if c.objection]
    selected = [e["application_id"] for e in call.selected]
    (removed,), (promoted,) = call.objection["removed"], call.objection["promoted"]
    assert call.objection["status"] == "upheld"
    assert removed in selected and promoted in call.ranking["reserve"]
    assert {a["application_id"] for a in call.approved} == set(selected) - {removed} | {promoted}
    assert [r["application_id"] for r in call.notice["removed"]] == [removed]


def test_allocations_follow_each_calls_funding_rule(demo):
    result, printed = demo
    assert "allocating by command" not in printed  # each allocated on its selection's arrival
    for call in result.calls + result.years.later_calls:
        assert call.allocation["status"] == "allocated"
        assert call.allocation["year"] == call.body["year"]  # paid from its action year's budget
        requests = {a["application_id"]: a["budget_request_fen"] for a in call.approved}
        awards = {a["project_id"]: a for a in call.allocation["awards"]}
        assert set(awards) == set(requests)
        weights = call.rule["sources"]
        for project, award in awards.items():
            money = award["award"]
            assert money["total"] == award_of(call.rule, award["rank"], requests[project]) > 0
            assert set(money["by_source"]) == set(weights) and sum(money["by_source"].values()) == money["total"]
            for source, weight in weights.items():
                assert abs(money["by_source"][source] - money["total"] * weight / sum(weights.values())) < 1
        assert call.allocation["total"]["total"] == sum(a["award"]["total"] for a in awards.values())


def test_released_money_is_the_approval_tranche_and_the_passed_mid_term_tranche(demo):
    result, _ = demo
    for call in result.calls:
        passes = [(m["project_id"], m["milestone"]) for m in call.milestones if m["result"] == "pass"]
        passed = {p for p, milestone in passes if milestone == "mid_term"}
        accepted = {p for p, milestone in passes if milestone == "acceptance"}
        failed = {m["project_id"] for m in call.milestones if m["result"] == "fail"}
        percent = {t["trigger"]: t["percent"] for t in call.rule["tranches"]}
        assert passed and len(call.funding) == len(call.approved)
        for project, funding in call.funding.items():
            if project in failed:  # the years' panel failed it: nothing kept, nothing more to come
                assert {t["state"] for t in funding["tranches"]} == {"clawed_back", "withheld"}
                assert funding["kept"]["total"] == 0
                continue
            paid = (
                {"approval"}
                | ({"mid_term"} if project in passed else set())
                | ({"acceptance"} if project in accepted else set())
            )
            released = funding["released"]["total"]
            assert abs(released - funding["award"]["total"] * sum(percent[t] for t in paid) / 100) <= len(
                funding["tranches"]
            )
            assert {t["trigger"] for t in funding["tranches"] if t["state"] == "released"} == paid


def test_the_finance_consumer_ends_with_the_funding_services_figures(demo):
    result, _ = demo
    projects = {p: f for call in result.calls + result.years.later_calls for p, f in call.funding.items()}
    assert set(result.reconciliation) == set(projects)
    for project, funding in projects.items():
        for column, figure in (
            ("allocated", "award"),
            ("released", "released"),
            ("withheld", "withheld"),
            ("clawed_back", "clawed_back"),
        ):
            book = {s: row[column] for s, row in result.reconciliation[project].items() if row[column]}
            assert book == {s: v for s, v in funding[figure]["by_source"].items() if v}, (project, column)


def test_the_inboxes_hold_the_rounds_notifications(demo):
    result, _ = demo
    kinds = {label: Counter(i["kind"] for i in box["items"]) for label, box in result.inboxes.items()}
    province = kinds["the province"]
    assert province["ranking_published"] >= len(result.calls)
    assert province["objection_filed"] >= 1 and province["objection_resolved"] >= 1
    (institution,) = [k for label, k in kinds.items() if label.startswith("institution")]
    assert institution["selection_finalized"] >= 1 and institution["funds_allocated"] >= 1
    (expert,) = [k for label, k in kinds.items() if label.startswith("expert")]
    assert expert["experts_assigned"] >= 1
    approved = sum(len(c.approved) for c in result.calls)
    assert kinds["finance"]["funds_allocated"] >= approved


def test_the_summary_table_prints_each_calls_counts(demo):
    result, printed = demo
    summary = printed.split("Summary of the round\n", 1)[1].split("\n\n", 1)[0].splitlines()
    for call in result.calls:
        (row,) = [line.split() for line in summary if line.startswith(call.category + " ")]
        assert row[1:9] == [
            str(n)
            for n in (
                call.quota,
                len(call.submitted),
                len(call.recommended),
                len(call.eligible),
                len(call.assignments),
                len(call.reviews),
                len(call.selected),
                len(call.approved),
            )
        ]
    assert "Progress report" in printed


def test_the_progress_report_counts_the_rounds_approvals_and_money(demo):
    result, printed = demo
    categories = {c["code"]: c for c in result.progress_report["categories"]}
    for call in result.calls:  # other tests of the session may add to the same categories
        row = categories[call.category]
        left = sum(m["result"] == "fail" for m in call.milestones)  # a failed project no longer counts
        assert row["approved"] >= len(call.approved) - left
        assert row["allocated"]["total"] >= call.allocation["total"]["total"]
        assert row["milestones_passed"]["mid_term"] >= sum(
            m["result"] == "pass" and m["milestone"] == "mid_term" for m in call.milestones
        )
        assert row["milestones_passed"]["acceptance"] >= sum(
            m["result"] == "pass" and m["milestone"] == "acceptance" for m in call.milestones
        )
    assert "Progress report (GET /v1/reports/progress)" in printed


def test_each_institution_lists_exactly_its_own_projects_with_their_award(demo):
    result, printed = demo
    every_call = result.calls + result.years.later_calls
    approved = {a["application_id"]: a for call in every_call for a in call.approved}
    funding = {p: f for call in every_call for p, f in call.funding.items()}
    listed = [p for items in result.projects.values() for p in items]
    assert {p["id"] for p in listed} == set(approved)
    for name, items in result.projects.items():
        assert {p["institution_name"] for p in items} == {name}
    for project in listed:
        assert project["award"]["total"] == funding[project["id"]]["award"]["total"]
        gone = project["id"] in result.years.failed  # the years' panel failed it
        assert project["state"] == ("failed" if gone else "under_construction")
        assert project["history"][0]["event"] == "create"
    assert "Projects per institution (GET /v1/projects, as each institution)" in printed


def test_a_backup_of_the_round_restores_its_figures(demo, stack, tmp_path):
    """`chuyi backup` of the whole round, restored onto empty databases (as after a wipe): every
    application's state, review's runs and assignments, and funding's ledger, budgets and
    projects come back as they were."""
    result, _ = demo
    source = Settings(mongo_uri=stack.mongo_uri, mongo_db_prefix=stack.prefix)
    target = Settings(mongo_uri=stack.mongo_uri, mongo_db_prefix=f"r{uuid.uuid4().hex[:8]}_")
    backup(tmp_path / "backup", source)
    figures_then = round_figures(stack.mongo_uri, source, [c.id for c in result.calls])
    restore(tmp_path / "backup", target)
    assert round_figures(stack.mongo_uri, target, [c.id for c in result.calls]) == figures_then
    assert figures_then["funding"]["ledger"] and figures_then["review"]["assignments"]


def round_figures(uri, settings, calls):
    with MongoClient(uri, tz_aware=True) as client:
        db = lambda service: client[settings.database_name(service)]  # noqa: E731

        def every(collection, query=None):
            return sorted((repr(d) for d in collection.find(query or {})))

        return {
            "applications": every(db("applications").applications, {"call_id": {"$in": calls}}),
            "review": {
                "assignments": every(db("review").assignments, {"call_id": {"$in": calls}}),
                "runs": every(db("review").runs, {"call_id": {"$in": calls}}),
            },
            "funding": {name: every(db("funding")[name]) for name in ("ledger", "budget_lines", "projects")},
        }


def test_each_application_files_its_form_and_an_expert_reads_a_watermarked_copy(demo, stack):
    result, out = demo
    applications = [application_id for call in result.calls for application_id in call.submitted]
    filed = stack.db("applications").materials.distinct("application_id", {"kind": "application_form"})
    assert set(applications) <= set(filed)
    copy = result.expert_copy
    assert copy and copy["filename"].endswith("申报书.pdf") and copy["stamp"].startswith("仅供评审使用 · ")
    assert f"stamped {copy['stamp']}" in out
    assert stack.db("applications").material_reads.count_documents({}) >= 1
    project = next(p for items in result.projects.values() for p in items)
    institution = stack.client("institution", institution_id=project["institution_id"])
    page = institution.get(stack.url(f"/v1/projects/{project['id']}"), timeout=30).json()
    assert [m["kind"] for m in page["materials"]] == ["application_form"]
    assert (
        page["materials"][0]["download"] == f"/v1/applications/{project['id']}/materials/{page['materials'][0]['id']}"
    )
    notices = json.dumps([call.notice for call in result.calls], ensure_ascii=False)
    assert "materials" not in notices and "申报书.pdf" not in notices and page["materials"][0]["sha256"] not in notices


# ---------------------------------------------------------------- the years after the round


def test_the_years_reports_are_filed_one_returned_and_refiled_all_accepted_and_one_listed_missing(demo):
    result, printed = demo
    years = result.years
    approved = {a["application_id"] for call in result.calls for a in call.approved}
    assert years.unfiled in approved and set(years.reports) == approved - {years.unfiled}
    assert {r["year"] for r in years.reports.values()} == {years.year}
    assert all(r["state"] == "accepted" for r in years.reports.values())
    assert all(r["assessments"] for r in years.reports.values())  # each against its target of the year
    assert years.returned["filings"] == 2 and years.returned["return_reason"]
    assert (years.evidence["report_id"], years.evidence["kind"]) == (years.returned["id"], "evidence")
    assert [h["event"] for h in years.reports[years.returned["project_id"]]["history"]] == [
        "create",
        "return",
        "refile",
        "endorse",
        "accept",
    ]
    assert years.reminded  # the unfiled institution was reminded before the deadline
    assert years.overdue["past_due"]
    assert [m["project_id"] for m in years.overdue["missing"] if m["project_id"] in approved] == [years.unfiled]
    assert f"overdue listing (GET /v1/report-windows/{years.window['id']}/overdue): 1 missing" in printed


def test_the_mid_term_panel_confirms_every_result_and_its_failing_project_leaves_and_frees_its_place(demo):
    result, printed = demo
    years = result.years
    (call,) = [c for c in result.calls if c.category == years.panel_call]
    projects = {a["application_id"] for a in call.approved}
    results = {r["project_id"]: r for r in years.panel["results"]}
    assert years.panel["status"] == "closed" and set(results) == projects
    assert all(r["status"] == "confirmed" and r["result"] == r["proposed_result"] for r in results.values())
    assert len(years.panel_run["assigned"]) == years.panel_reviews == PANEL_REVIEWERS * len(projects)
    assert len({(a["project_id"], a["expert_id"]) for a in years.panel_run["assigned"]}) == years.panel_reviews
    assert [p for p, r in results.items() if r["result"] == "fail"] == [years.lagging] == list(years.failed)
    assert years.results["pass"] >= 1
    gone = years.failed[years.lagging]
    assert gone["project"]["state"] == "failed"
    money = gone["funding"]
    assert money["status"] == "failed" and money["withheld"]["total"] > 0
    assert money["clawed_back"]["total"] == money["released"]["total"] > 0  # the demo's rules claw back all
    assert years.places == {
        "category": call.category,
        "before": years.places["before"],
        "after": years.places["before"] + 1,
    }
    # the panel's call has no direct record: its mid-term results are the panel's, then the acceptance's
    assert [m for m in call.milestones if m["milestone"] == "mid_term"] == [
        {"project_id": p, "milestone": "mid_term", "result": r["result"], "recorded_by": f"panel:{years.panel['id']}"}
        for p, r in results.items()
    ]
    accepted = {r["project_id"]: r for r in years.acceptance["results"]}
    assert years.acceptance["status"] == "closed" and years.acceptance["milestone"] == "acceptance"
    assert 1 <= len(accepted) <= 2 and set(accepted) <= {p for p, r in results.items() if r["result"] == "pass"}
    assert {r["result"] for r in accepted.values()} == {"pass"}
    assert years.summary() in printed
    assert f"{len(years.reports)} annual reports filed, {len(years.reports)} accepted, " in years.summary()


def test_the_next_years_round_takes_the_freed_place_and_every_later_report_is_accepted(demo):
    result, printed = demo
    years = result.years
    assert years.year == 2022
    (call,) = years.later_calls
    assert (call.category, call.body["year"], call.quota) == (years.panel_call, 2023, len(years.failed))
    assert call.allocation["status"] == "allocated" and len(call.approved) == call.quota
    assert years.reused == {"category": years.panel_call, "available": years.places["before"]}
    (newcomer,) = [
        p for items in result.projects.values() for p in items if p["id"] == call.approved[0]["application_id"]
    ]
    assert (newcomer["year"], newcomer["state"]) == (2023, "under_construction")
    standing = {a["application_id"] for c in result.calls + years.later_calls for a in c.approved} - set(years.failed)
    assert sorted(years.later_reports) == [2023, 2024]
    for year, reports in years.later_reports.items():
        assert set(reports) == standing
        assert {(r["year"], r["state"]) for r in reports.values()} == {(year, "accepted")}
    assert "the freed place is taken: GET /v1/programmes shows" in printed
    assert "The years (2022-2025)" in years.summary()


def test_the_years_end_with_the_supervision_table_and_where_to_look(demo):
    result, printed = demo
    years = result.years
    rows = years.supervision["prefectures"]
    assert years.supervision["year"] == years.supervision_year == 2024 and rows
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert years.exports["xlsx"] > 0 and years.exports["pdf"] > 0
    assert "supervision 2024 (GET /v1/reports/supervision?year=2024)" in printed
    assert "/dashboard (its year selector" in printed and "format=xlsx" in printed
