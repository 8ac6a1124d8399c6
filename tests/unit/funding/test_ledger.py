from dataclasses import replace
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from services.funding.domain.allocation import allocate
from services.funding.domain.awards import ApprovedProject
from services.funding.domain.budget import BudgetKey
from services.funding.domain.ledger import (
    LedgerError,
    appropriation,
    check_ledger,
    reservation,
    tranche_movement,
)
from services.funding.domain.milestones import MilestoneRefused, record_milestone
from services.contracts.funding import CLAWBACK_POLICIES, MILESTONES, RESULTS, TRIGGERS
from services.funding.domain.money import SOURCES
from services.contracts.funding_rules import FundingRule, ShareAward, TrancheSpec

AT = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
LINE = BudgetKey(2026, "training-base", "social")


def funded_line(amount=1_000):
    return [appropriation(LINE, amount, AT)]


def test_a_budget_line_funded_and_reserved_balances():
    entries = funded_line() + reservation(2026, "training-base", "p1", {"social": 600}, AT)
    balances = check_ledger(entries)
    assert balances.available(LINE) == 400
    assert balances.accounts == {
        "budget:2026:training-base:social": 400,
        "appropriation:2026:training-base:social": -1_000,
        "reserved:p1:social": 600,
    }


@pytest.mark.parametrize(
    "entries, message",
    [
        (
            lambda: funded_line(599) + reservation(2026, "training-base", "p1", {"social": 600}, AT),
            "takes budget:2026:training-base:social to -1 fen; it must not go below zero",
        ),
        (
            lambda: funded_line() + tranche_movement("release", "p1", 1, {"social": 1}, AT),
            "takes reserved:p1:social to -1 fen",
        ),
        (lambda: [replace(funded_line()[0], amount=10.0)], "amount must be a positive integer number of fen"),
        (lambda: [replace(funded_line()[0], amount=0)], "amount must be a positive integer number of fen"),
        (lambda: [replace(funded_line()[0], movement="gift")], "unknown movement 'gift'"),
        (
            lambda: [replace(funded_line()[0], debit="reserved:p1:social")],
            "movement .appropriation. debits budget and credits appropriation, not reserved and appropriation",
        ),
        (lambda: [replace(funded_line()[0], source="provincial_special")], "both accounts must be of source"),
        (lambda: [replace(funded_line()[0], credit="appropriation:social")], "is not a ledger account"),
        (
            lambda: (
                funded_line()
                + [
                    replace(e, credit="reserved:p2:social")
                    for e in tranche_movement("release", "p1", 1, {"social": 1}, AT)
                ]
            ),
            "its project accounts belong to \\['p1', 'p2'\\], not to its project 'p1'",
        ),
    ],
)
def test_the_checker_names_the_entry_and_the_broken_rule(entries, message):
    with pytest.raises(LedgerError, match=message):
        check_ledger(entries())


# --- any sequence of milestones keeps the ledger balanced -------------------------------------


@st.composite
def rules(draw):
    sources = draw(st.lists(st.sampled_from(SOURCES), min_size=1, max_size=4, unique=True))
    triggers = sorted(
        draw(st.lists(st.sampled_from(TRIGGERS), min_size=1, max_size=3, unique=True)), key=TRIGGERS.index
    )
    cuts = sorted(
        draw(st.lists(st.integers(1, 99), min_size=len(triggers) - 1, max_size=len(triggers) - 1, unique=True))
    )
    percents = [b - a for a, b in zip([0, *cuts], [*cuts, 100])]
    return FundingRule(
        ShareAward(draw(st.integers(1, 100))),
        {s: draw(st.integers(1, 9)) for s in sources},
        tuple(TrancheSpec(t, p) for t, p in zip(triggers, percents)),
        draw(st.sampled_from(CLAWBACK_POLICIES)),
    )


def legal(history, milestone):
    """An independent statement of the order rules, from the results so far."""
    if ("fail" in (r for _, r in history)) or ("acceptance", "pass") in history:
        return False
    mid_term_passed = ("mid_term", "pass") in history
    return mid_term_passed if milestone == "acceptance" else not mid_term_passed


def assert_balanced(entries, fundings, appropriated, needed):
    balances = check_ledger(entries)
    for source in SOURCES:
        assert sum(b for name, b in balances.accounts.items() if name.endswith(f":{source}")) == 0
    for source, amount in needed.items():
        assert balances.available(BudgetKey(2026, "workshop", source)) == appropriated[source] - amount
    for funding in fundings:
        position = balances.project_position(funding.project_id)
        assert position == {s: p for s, p in funding.position().items() if any(p.values())}  # no account: no money
        for source, award in funding.award.by_source.items():
            assert sum(position.get(source, {}).values()) == award  # released + withheld + clawed back + scheduled


@settings(deadline=None, max_examples=150)
@given(
    rule=rules(),
    requests=st.lists(st.integers(1, 10**10), min_size=1, max_size=3),
    extra=st.integers(0, 10**6),
    steps=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(MILESTONES), st.sampled_from(RESULTS)), max_size=10),
)
def test_after_any_milestones_the_ledger_balances_and_accounts_for_every_award(rule, requests, extra, steps):
    projects = [ApprovedProject(f"p{i}", i + 1, request) for i, request in enumerate(requests)]
    needed = {s: 0 for s in rule.sources}
    for project in projects:
        for source, amount in allocate(
            "c", 2026, "workshop", rule, [project], {s: 10**12 for s in rule.sources}, actor="a", at=AT
        ).needed.items():
            needed[source] += amount
    appropriated = {s: amount + extra for s, amount in needed.items()}
    entries = [appropriation(BudgetKey(2026, "workshop", s), a, AT) for s, a in appropriated.items() if a]
    allocation = allocate("c", 2026, "workshop", rule, projects, appropriated, actor="a", at=AT)
    entries += allocation.entries
    fundings = [change.funding for change in allocation.changes]
    histories = [[] for _ in projects]
    assert_balanced(entries, fundings, appropriated, needed)
    for index, milestone, result in steps:
        index %= len(projects)
        try:
            change = record_milestone(fundings[index], milestone, result, actor="a", reason="why", at=AT)
        except MilestoneRefused:
            assert not legal(histories[index], milestone)
            continue
        assert legal(histories[index], milestone)
        histories[index].append((milestone, result))
        fundings[index] = change.funding
        entries += change.entries
        assert_balanced(entries, fundings, appropriated, needed)
