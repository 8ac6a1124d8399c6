from datetime import datetime, timezone

import pytest

from services.funding.domain.allocation import Allocation, BudgetExhausted, allocate
from services.funding.domain.awards import ApprovedProject
from services.funding.domain.budget import BudgetKey, fits, shortfall
from services.funding.domain.ledger import appropriation, check_ledger
from services.contracts.funding_rules import AwardTier, FundingRule, TieredAward, TrancheSpec

AT = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
YUAN = 100
RULE = FundingRule(
    TieredAward((AwardTier(1, 3, 5_000_000 * YUAN), AwardTier(4, 10, 3_000_000 * YUAN))),
    {"provincial_special": 1, "local_government": 1},
    (TrancheSpec("approval", 40), TrancheSpec("mid_term", 30), TrancheSpec("acceptance", 30)),
)
PROJECTS = [ApprovedProject(f"proj-{rank}", rank, 9_000_000 * YUAN) for rank in (4, 1, 2, 3)]
NEEDED = {"provincial_special": 9_000_000 * YUAN, "local_government": 9_000_000 * YUAN}  # 3 x 5M + 3M, halved


def run(available, projects=PROJECTS, rule=RULE):
    return allocate("call-1", 2026, "hv-group", rule, projects, available, actor="province:admin", at=AT)


def test_with_enough_budget_every_project_gets_its_full_award_in_rank_order():
    result = run(dict(NEEDED))
    assert isinstance(result, Allocation)
    assert [(a.project_id, a.total) for a in result.awards] == [
        ("proj-1", 5_000_000 * YUAN),
        ("proj-2", 5_000_000 * YUAN),
        ("proj-3", 5_000_000 * YUAN),
        ("proj-4", 3_000_000 * YUAN),
    ]
    assert result.needed == NEEDED
    assert [t.percent for t in result.awards[0].tranches] == [40, 30, 30]


def test_a_budget_short_in_one_source_allocates_nothing_and_says_by_how_much_per_source():
    result = run({"provincial_special": NEEDED["provincial_special"] - 1, "local_government": 10**12})
    assert isinstance(result, BudgetExhausted)
    assert result.shortfall == {"provincial_special": 1, "local_government": 0}
    assert result.available == {"provincial_special": NEEDED["provincial_special"] - 1, "local_government": 10**12}
    assert result.event.name == "budget_exhausted" and result.event.subject == "call-1"
    assert result.event.data["shortfall"] == {
        "currency": "CNY",
        "total": 1,
        "by_source": {"provincial_special": 1, "local_government": 0},
    }


def test_a_source_missing_from_the_budget_is_short_by_all_it_needs():
    result = run({"provincial_special": 10**12})
    assert result.shortfall == {"provincial_special": 0, "local_government": NEEDED["local_government"]}


def test_each_project_gets_its_award_events_and_its_approval_tranche_at_once():
    result = run(dict(NEEDED))
    first = [e for e in result.events if e.subject == "proj-1"]
    assert [e.name for e in first] == [
        "funds_allocated",
        "tranche_scheduled",
        "tranche_scheduled",
        "tranche_scheduled",
        "tranche_released",
    ]
    assert first[-1].data["tranche"]["trigger"] == "approval"
    assert {c.funding.status for c in result.changes} == {"awaiting_mid_term"}
    assert {c.audit.actor for c in result.changes} == {"province:admin"}


def test_the_allocation_entries_reserve_exactly_the_budget_and_keep_it_non_negative():
    result = run(dict(NEEDED))
    funded = [appropriation(BudgetKey(2026, "hv-group", s), amount, AT) for s, amount in NEEDED.items()]
    balances = check_ledger(funded + list(result.entries))
    for source in NEEDED:
        assert balances.available(BudgetKey(2026, "hv-group", source)) == 0
    position = balances.project_position("proj-1")
    assert position["provincial_special"] == {
        "reserved": 150_000_000,
        "released": 100_000_000,
        "withheld": 0,
        "clawed_back": 0,
    }


@pytest.mark.parametrize(
    "projects, message",
    [
        ([], "no approved project"),
        ([PROJECTS[0], PROJECTS[0]], "listed more than once"),
    ],
)
def test_a_bad_project_list_is_refused(projects, message):
    with pytest.raises(ValueError, match=message):
        run(dict(NEEDED), projects)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: ApprovedProject("a:b", 1, 100), "without ':'"),
        (lambda: ApprovedProject("p", 0, 100), "rank of p must be an integer >= 1"),
        (lambda: ApprovedProject("p", 1, 99.5), "request of p must be an integer number of fen"),
        (lambda: allocate("call-1", 2021, "hv-group", RULE, PROJECTS, NEEDED, actor="a", at=AT), "year must be"),
        (lambda: allocate("call-1", 2026, "hv", RULE, PROJECTS, NEEDED, actor="a", at=AT), "catalogue codes"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_the_rule(build, message):
    with pytest.raises((TypeError, ValueError), match=message):
        build()


def test_the_budget_rule_refuses_a_reservation_that_would_go_negative():
    assert fits({"social": 100}, {"social": 100})
    assert not fits({"social": 99}, {"social": 100})
    assert shortfall({"social": 99}, {"social": 100, "provincial_special": 5}) == {"social": 1, "provincial_special": 5}
