"""The funding use cases on the in-memory store (fakes.py): what a call's selection, its
allocation and a project's milestones load, decide, write and emit, in milliseconds and
without a server. The stack tests (tests/service/funding) keep the routes, the events on
the wire and the parallel allocations that only a real database can race."""

import pytest

from services.funding.domain.allocation import Allocation, BudgetExhausted
from services.funding.domain.ledger import Entry, check_ledger
from services.funding.domain.milestones import MilestoneRefused
from services.funding.domain.refusals import (
    AllocationImpossible,
    AlreadyAllocated,
    NoSelection,
    NotFundedYet,
    RuleExists,
    RuleMissing,
)
from services.contracts.funding_rules import AwardTier, FundingRule, TieredAward
from services.contracts.funding import money
from services.contracts.project_events import EVENTS as PROJECT_EVENTS
from services.funding.usecases import budgets, calls, projects
from tests.unit.funding.world import AT, MILLION, RULE, budget, selection


def entries(store):
    return [Entry(**{k: v for k, v in e.items() if k not in ("_id", "currency", "call_id")}) for e in store.ledger]


def test_a_selection_with_its_rule_and_budget_is_allocated_on_arrival(store):
    budget(store, {"provincial_special": 10 * MILLION, "local_government": 10 * MILLION})
    calls.selection_finalized(store, selection(), AT, AT)
    call = store.call("call_1")
    assert call["status"] == "allocated" and call["year"] == 2026 and call["pending_reason"] is None
    assert call["history"][-1]["actor"] == "system:funding"
    assert call["total"]["by_source"] == {"provincial_special": MILLION, "local_government": MILLION}
    assert {
        s: (line["reserved"], line["available"])
        for s, line in ((line["source"], line) for line in store.budget_lines.values())
    } == {"provincial_special": (MILLION, 9 * MILLION), "local_government": (MILLION, 9 * MILLION)}
    assert [t["state"] for t in store.project("app_call_1_1")["tranches"]] == ["released", "scheduled", "scheduled"]
    assert store.emitted_names().count("funds_allocated") == 2 and store.emitted_names().count("tranche_released") == 2
    check_ledger(entries(store))


def test_a_selection_without_a_budget_line_waits_with_the_reason_and_emits_nothing(store):
    calls.selection_finalized(store, selection(), AT, AT)
    call = store.call("call_1")
    assert call["status"] == "pending" and call["pending_reason"].startswith("no budget line for 2026 hv-group")
    assert store.emitted == [] and store.projects == {}


def test_a_calls_projects_are_paid_from_its_action_years_budget_whenever_it_is_finalized(store):
    budget(store, {"provincial_special": 10 * MILLION, "local_government": 10 * MILLION})  # 2026's
    calls.selection_finalized(store, selection(year=2022), AT, AT)  # a 2022 call finalized in 2026
    assert store.call("call_1")["pending_reason"].startswith("no budget line for 2022 hv-group")
    budget(store, {"provincial_special": 10 * MILLION, "local_government": 10 * MILLION}, year=2022)
    outcome, call = calls.allocate_call(store, "call_1", None, "province:admin", AT)  # no year asked: the call's
    assert call["status"] == "allocated" and call["year"] == 2022
    assert {line["year"] for line in store.budget_lines.values() if line["reserved"]} == {2022}


def test_a_selection_whose_rule_is_missing_waits_with_the_refusal_as_its_reason(store):
    budget(store, {"provincial_special": MILLION})
    calls.selection_finalized(store, selection(rule_id="rule_later"), AT, AT)
    assert "rule_later" in store.call("call_1")["pending_reason"]
    with pytest.raises(RuleMissing):
        calls.allocate_call(store, "call_1", 2026, "province:admin", AT)


def test_a_selection_arriving_again_after_the_allocation_changes_nothing(store):
    budget(store, {"provincial_special": 10 * MILLION, "local_government": 10 * MILLION})
    calls.selection_finalized(store, selection(), AT, AT)
    before = store.call("call_1")
    calls.selection_finalized(store, selection(ranks=(1, 2, 3)), AT, AT)
    assert store.call("call_1") == before


def test_a_short_budget_allocates_nothing_keeps_the_shortfall_and_emits_budget_exhausted(store):
    budget(store, {"provincial_special": 10 * MILLION, "local_government": MILLION // 2})
    calls.selection_finalized(store, selection(), AT, AT)
    outcome, call = calls.allocate_call(store, "call_1", 2026, "province:admin", AT)
    assert isinstance(outcome, BudgetExhausted)
    assert call["status"] == "pending" and call["awards"] == []
    assert call["last_shortfall"]["shortfall"]["by_source"] == {"provincial_special": 0, "local_government": 500_000}
    assert (
        call["pending_reason"]
        == call["history"][-1]["reason"]
        == "the 2026 budget falls short: local_government by 500000 fen"
    )
    assert store.emitted_names().count("budget_exhausted") == 2  # on arrival, and on the province's command
    assert store.projects == {} and {line["reserved"] for line in store.budget_lines.values()} == {0}


def test_a_call_is_allocated_once_and_not_before_its_selection(store):
    with pytest.raises(NoSelection):
        calls.allocate_call(store, "call_1", 2026, "province:admin", AT)
    budget(store, {"provincial_special": 10 * MILLION, "local_government": 10 * MILLION})
    calls.selection_finalized(store, selection(), AT, AT)
    with pytest.raises(AlreadyAllocated):
        calls.allocate_call(store, "call_1", 2026, "province:admin", AT)


def test_a_project_funded_by_another_call_makes_the_allocation_impossible_and_nothing_is_written(store):
    budget(store, {"provincial_special": 10 * MILLION, "local_government": 10 * MILLION})
    calls.selection_finalized(store, selection(), AT, AT)
    again = selection(call_id="call_2")
    again["approved"][0]["application_id"] = "app_call_1_1"
    calls.selection_finalized(store, again, AT, AT)
    assert "app_call_1_1 is funded already, by call call_1" in store.call("call_2")["pending_reason"]
    call, ledger, emitted = store.call("call_2"), list(store.ledger), list(store.emitted)
    with pytest.raises(AllocationImpossible):
        calls.allocate_call(store, "call_2", 2026, "province:admin", AT)
    assert (store.call("call_2"), store.ledger, store.emitted) == (call, ledger, emitted)


def test_the_provinces_allocation_returns_the_outcome_and_the_call_after_it(store):
    calls.selection_finalized(store, selection(), AT, AT)
    budget(store, {"provincial_special": 10 * MILLION, "local_government": 10 * MILLION})
    outcome, call = calls.allocate_call(store, "call_1", 2026, "province:admin", AT)
    assert isinstance(outcome, Allocation) and call == store.call("call_1")
    assert [a["project_id"] for a in call["awards"]] == ["app_call_1_1", "app_call_1_2"]
    assert call["history"][-1]["actor"] == "province:admin"


def test_a_rule_id_is_taken_once(store):
    with pytest.raises(RuleExists):
        budgets.add_funding_rule(store, "rule_1", None, RULE, "province:admin", AT)
    assert budgets.add_funding_rule(store, None, None, RULE, "province:admin", AT)["_id"].startswith("rule_")


def test_a_milestone_moves_the_tranches_writes_the_ledger_and_emits(funded):
    record, after = projects.record_milestone(funded, "app_call_1_1", "mid_term", "pass", None, "province:admin", AT)
    assert record["milestone"] == "mid_term" and after["milestones"] == [record]
    assert [t["state"] for t in after["tranches"]] == ["released", "released", "scheduled"]
    assert funded.emitted_names() == ["tranche_released"]
    failed = projects.record_milestone(funded, "app_call_1_1", "acceptance", "fail", "未通过", "province:admin", AT)[1]
    assert failed["status"] == "failed"
    assert "project_failed" in funded.emitted_names()
    check_ledger(entries(funded))


def test_fail_withholds_the_rest_and_claws_back_beyond_approval(funded):
    projects.record_milestone(funded, "app_call_1_1", "mid_term", "pass", None, "province:admin", AT)
    _, after = projects.record_milestone(
        funded, "app_call_1_1", "acceptance", "fail", "验收未通过：实训基地未建成", "province:admin", AT
    )
    assert after["status"] == "failed"
    assert [t["state"] for t in after["tranches"]] == ["released", "clawed_back", "withheld"]
    approval, mid_term, acceptance = (sum(t["by_source"].values()) for t in after["tranches"])
    assert (approval, mid_term, acceptance) == (400_000, 300_000, 300_000)
    assert approval + mid_term + acceptance == MILLION
    movements = [(e["movement"], e["tranche"]) for e in funded.ledger if e["project_id"] == "app_call_1_1"]
    assert (
        movements
        == [("reservation", None)] * 2
        + [("release", 1)] * 2
        + [("release", 2)] * 2
        + [("withholding", 3)] * 2
        + [("clawback", 2)] * 2
    )
    assert [e["amount"] for e in funded.ledger if e["movement"] == "clawback"] == [150_000, 150_000]
    check_ledger(entries(funded))
    with pytest.raises(MilestoneRefused):
        projects.record_milestone(funded, "app_call_1_1", "acceptance", "pass", None, "province:admin", AT)


def test_a_withdrawal_withholds_the_rest_writes_the_ledger_and_emits(funded):
    after = projects.withdraw_project(funded, "app_call_1_1", "学校申请撤销", "province:admin", AT)
    assert after["status"] == "withdrawn" and after["milestones"] == []
    assert [t["state"] for t in after["tranches"]] == ["released", "withheld", "withheld"]
    assert funded.emitted_names()[-1] == "project_withdrawn" and after["history"][-1]["reason"] == "学校申请撤销"
    check_ledger(entries(funded))
    with pytest.raises(MilestoneRefused):
        projects.withdraw_project(funded, "app_call_1_1", "再次撤销", "province:admin", AT)


def test_a_milestone_refused_by_the_domain_writes_nothing(funded):
    before = funded.project("app_call_1_1")
    with pytest.raises(MilestoneRefused):
        projects.record_milestone(funded, "app_call_1_1", "acceptance", "pass", None, "province:admin", AT)
    assert funded.project("app_call_1_1") == before and funded.emitted == []


def test_a_milestone_of_an_unknown_project_is_none_and_of_an_unallocated_one_is_refused(store):
    assert projects.record_milestone(store, "app_x", "mid_term", "pass", None, "province:admin", AT) is None
    calls.selection_finalized(store, selection(), AT, AT)  # no budget: pending
    with pytest.raises(NotFundedYet):
        projects.record_milestone(store, "app_call_1_1", "mid_term", "pass", None, "province:admin", AT)


# --- a successor from the reserve list (动态调整) ------------------------------------------

TIERED = FundingRule(
    TieredAward((AwardTier(1, 1, 3 * MILLION), AwardTier(2, None, MILLION))),
    {"provincial_special": 1},
    RULE.tranches,
    "beyond_approval",
)


def replaced(place_rank=1, rank=3, successor="app_succ", call_id="call_1"):
    return PROJECT_EVENTS["project_replaced"].load(
        {
            "project_id": f"app_{call_id}_{place_rank}",
            "call_id": call_id,
            "category": "hv-group",
            "year": 2025,
            "left_as": "withdrawn",
            "place_rank": place_rank,
            "successor_project_id": successor,
            "institution_id": "inst_succ",
            "prefecture": "衡阳市",
            "title": "递补项目",
            "rank": rank,
            "reserve_position": 1,
            "budget_request_fen": 5 * MILLION,
            "by": "province:admin",
        }
    )


@pytest.fixture
def tiered(store):
    budgets.add_funding_rule(store, "tiers", "分档", TIERED, "province:admin", AT)
    return store


def test_a_successor_is_funded_by_the_calls_rule_at_the_rank_of_the_place_it_takes(tiered):
    store = tiered
    budget(store, {"provincial_special": 10 * MILLION})
    calls.selection_finalized(store, selection(rule_id="tiers", ranks=(1, 2)), AT, AT)
    before = len(store.emitted)
    calls.project_replaced(store, replaced(place_rank=1, rank=3), AT)
    project = store.project("app_succ")
    assert (project["award"], project["rank"], project["call_id"]) == ({"provincial_special": 3 * MILLION}, 3, "call_1")
    assert [t["state"] for t in project["tranches"]] == ["released", "scheduled", "scheduled"]
    call = store.call("call_1")
    assert call["awards"][-1] == {
        "project_id": "app_succ",
        "rank": 3,
        "award": money({"provincial_special": 3 * MILLION}),
    }
    assert call["total"]["total"] == 3 * MILLION + MILLION + 3 * MILLION
    assert call["approved"][-1]["succeeds"] == "app_call_1_1"
    line = store.budget_lines["2026:hv-group:provincial_special"]
    assert (line["reserved"], line["available"]) == (7 * MILLION, 3 * MILLION)
    allocated = [d for n, _, d in store.emitted[before:] if n == "funds_allocated"]
    assert [(d["project_id"], d["rank"], d["award"]["total"]) for d in allocated] == [("app_succ", 3, 3 * MILLION)]
    check_ledger(entries(store))

    emitted = len(store.emitted)
    calls.project_replaced(store, replaced(place_rank=1, rank=3), AT)  # a repeat changes nothing
    assert store.call("call_1") == call and len(store.emitted) == emitted


def test_a_successor_the_budget_does_not_cover_waits_unfunded_and_finance_is_told(tiered):
    store = tiered
    budget(store, {"provincial_special": 5 * MILLION})
    calls.selection_finalized(store, selection(rule_id="tiers", ranks=(1, 2)), AT, AT)
    calls.project_replaced(store, replaced(place_rank=1, rank=3), AT)
    assert store.project("app_succ") is None
    (unfunded,) = store.call("call_1")["unfunded"]
    assert (
        unfunded["project_id"] == "app_succ" and "falls short: provincial_special by 2000000 fen" in unfunded["reason"]
    )
    assert store.emitted_names()[-1] == "budget_exhausted"
    assert store.budget_lines["2026:hv-group:provincial_special"]["available"] == MILLION


def test_a_successor_of_a_call_not_allocated_yet_is_allocated_with_it(tiered):
    store = tiered
    calls.selection_finalized(store, selection(rule_id="tiers", ranks=(1, 2)), AT, AT)
    calls.project_replaced(store, replaced(place_rank=1, rank=3), AT)
    assert store.call("call_1")["status"] == "pending" and store.project("app_succ") is None
    assert [p["project_id"] for p in store.call("call_1")["approved"]][-1] == "app_succ"
    with pytest.raises(NoSelection):
        calls.project_replaced(store, replaced(call_id="call_unknown"), AT)
