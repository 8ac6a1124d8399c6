"""The demo round (`make demo`) at a small size on the test stack: every step through the
public HTTP API, and the counts it ends with are the ones the rules give."""
import io
from collections import Counter

import pytest

from chuyi.demo.driver import DemoConfig, award_of, run_demo
from tests.support.stack import JWT_SECRET

pytestmark = pytest.mark.e2e

CATEGORIES = ("hv-school", "training-base")


@pytest.fixture(scope="module")
def demo(stack, tmp_path_factory):
    out = io.StringIO()
    config = DemoConfig(base_url=stack.base_url, jwt_secret=JWT_SECRET, amqp_uri=stack.amqp_uri,
                        finance_db=tmp_path_factory.mktemp("finance") / "finance.sqlite3", seed=2031,
                        institutions=40, experts=120, categories=CATEGORIES, applications_per_call=16,
                        notice_seconds=6)
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
    result, _ = demo
    for call in result.calls:
        assert call.allocation["status"] == "allocated"
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
        passed = {m["project_id"] for m in call.milestones if m["result"] == "pass"}
        percent = {t["trigger"]: t["percent"] for t in call.rule["tranches"]}
        assert passed and len(call.funding) == len(call.approved)
        for project, funding in call.funding.items():
            paid = percent["approval"] + (percent["mid_term"] if project in passed else 0)
            released = funding["released"]["total"]
            assert abs(released - funding["award"]["total"] * paid / 100) <= len(funding["tranches"])
            assert {t["trigger"] for t in funding["tranches"] if t["state"] == "released"} == (
                {"approval", "mid_term"} if project in passed else {"approval"})


def test_the_finance_consumer_ends_with_the_funding_services_figures(demo):
    result, _ = demo
    projects = {p: f for call in result.calls for p, f in call.funding.items()}
    assert set(result.reconciliation) == set(projects)
    for project, funding in projects.items():
        for column, figure in (("allocated", "award"), ("released", "released"), ("withheld", "withheld"),
                               ("clawed_back", "clawed_back")):
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
        assert row[1:9] == [str(n) for n in (call.quota, len(call.submitted), len(call.recommended),
                                             len(call.eligible), len(call.assignments), len(call.reviews),
                                             len(call.selected), len(call.approved))]
    assert "Progress report" in printed


def test_the_progress_report_counts_the_rounds_approvals_and_money(demo):
    result, printed = demo
    categories = {c["code"]: c for c in result.progress_report["categories"]}
    for call in result.calls:  # other tests of the session may add to the same categories
        row = categories[call.category]
        assert row["approved"] >= len(call.approved)
        assert row["allocated"]["total"] >= call.allocation["total"]["total"]
        assert row["milestones_passed"]["mid_term"] >= sum(m["result"] == "pass" for m in call.milestones)
    assert "Progress report (GET /v1/reports/progress)" in printed
