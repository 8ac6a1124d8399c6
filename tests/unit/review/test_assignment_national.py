"""Assignment at national scale, scaled down: the paths a national call takes (the pool scored
by closeness of fields, the auction), forced on a call of 3 000 applications × 5
experts from 1 000, the shape of `bench/assign_national.py` (caps 8..24, every pair under the
same-prefecture conflict). Behaviour only: no timings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.assign import synthetic
from bench.assign_national import BOUND_EPSILON, bound_prices, lagrangian_bound
from services.review.domain import flow
from services.review.domain.affinity import AFFINITY_SCALE
from services.review.domain.assignment import AssignmentPolicy, check_assignment
from services.review.domain.flow import AssignmentProblem, assign

POLICY = AssignmentPolicy(reviewers_per_application=5, same_prefecture_conflict=True, seed=7)


@pytest.fixture
def national_paths(monkeypatch):
    """The thresholds of a national call, lowered so that a small call takes its paths."""
    monkeypatch.setattr(flow, "PRUNE_ABOVE_PAIRS", 0)
    monkeypatch.setattr(flow, "FIELD_COLUMNS", 200)
    monkeypatch.setattr(flow, "AUCTION_ROWS", 1_000)


def certified_bound(applications, experts, epsilon=BOUND_EPSILON) -> float:
    """An upper bound on the affinity points of any assignment, over all pairs: the prices of
    the bench's auction (without load spread), every pair priced with them (`lagrangian_bound`)."""
    problem = AssignmentProblem(applications, experts, dataclasses.replace(POLICY, load_spread=0))
    _, prices = bound_prices(problem, epsilon)
    return lagrangian_bound(problem, prices)["bound_points"]


def test_a_national_shaped_call_auctioned_is_valid_and_near_the_certified_bound(national_paths):
    applications, experts = synthetic(1, n_apps=3_000, n_experts=1_000, caps=(8, 24))
    result = assign(applications, experts, POLICY)

    assert check_assignment(applications, experts, POLICY, result.pairs) == []
    assert sum(u.missing for u in result.unfilled) == 0
    assert len(result.pairs) == 15_000
    points = round(result.total_affinity * AFFINITY_SCALE)
    # The aim: 99.99% of a certified bound (measured here: 99.993%).
    assert points >= 0.9999 * certified_bound(applications, experts)


def test_an_auctioned_call_gives_the_same_assignment_whatever_the_input_order(national_paths):
    applications, experts = synthetic(2, n_apps=3_000, n_experts=1_000, caps=(8, 24))
    first = assign(applications, experts, POLICY)
    again = assign(applications[::-1], experts[::-1], POLICY)
    assert first.pairs == again.pairs


def test_the_certified_bound_is_never_below_the_exact_optimum():
    applications, experts = synthetic(1, n_apps=240, n_experts=80, caps=(8, 24))
    policy = dataclasses.replace(POLICY, load_spread=0)
    exact = assign(applications, experts, dataclasses.replace(policy, top_n=None))  # every eligible pair
    bound = certified_bound(applications, experts, epsilon=32.0)  # any prices bound it; coarser is quicker
    assert round(exact.total_affinity * AFFINITY_SCALE) <= bound


def test_applications_left_short_by_the_auction_are_filled_from_their_best_experts_with_cap_left(national_paths):
    applications, experts = synthetic(1, n_apps=3_000, n_experts=1_000, caps=(8, 24))
    applications = [dataclasses.replace(a, category="hv-group") for a in applications]  # one call, one category
    experts = [dataclasses.replace(e, categories=frozenset({"hv-group"})) for e in experts]
    problem = AssignmentProblem(applications, experts, POLICY)
    solution, _ = problem._auctioned(np.flatnonzero(problem.demand > 0))
    dropped = np.isin(solution.app, np.arange(0, len(applications), 10))  # every tenth application left short
    short = flow._Pairs(
        solution.app[~dropped], solution.expert[~dropped], solution.chosen[~dropped], solution.points[~dropped], 0
    )
    missing = problem.demand - np.bincount(short.app, minlength=len(applications))

    filled = problem._fill_short(short, missing)

    pairs = problem._result(filled, problem._missing(filled), problem._feasibility()).pairs
    assert len(pairs) == 15_000 and check_assignment(applications, experts, POLICY, pairs) == []
    # 300 applications short of 5: offered their best experts with cap left, not all 1 000 each
    assert filled.candidates < 300 * len(experts) / 2


def test_an_auctioned_call_keeps_its_standing_assignments_and_fills_around_them(national_paths):
    applications, experts = synthetic(3, n_apps=3_000, n_experts=1_000, caps=(8, 24))
    first = assign(applications, experts, POLICY)
    standing = [(pair.application_id, pair.expert_id) for pair in first.pairs[::3]]

    result = assign(applications, experts, POLICY, fixed=standing)

    assert check_assignment(applications, experts, POLICY, [*standing, *result.pairs]) == []
    assert len(standing) + len(result.pairs) == 15_000 and not result.unfilled


def test_an_auctioned_call_with_too_few_experts_ends_and_names_every_application_left_short(national_paths):
    applications, experts = synthetic(4, n_apps=3_000, n_experts=1_000, caps=(8, 24))
    experts = [dataclasses.replace(e, cap=max(1, e.cap // 2)) for e in experts]  # about half the slots

    result = assign(applications, experts, POLICY)

    assert check_assignment(applications, experts, POLICY, result.pairs) == []
    capacity = sum(e.cap for e in experts if e.available)
    short = sum(u.missing for u in result.unfilled)
    assert len(result.pairs) + short == 15_000
    assert len(result.pairs) >= 0.99 * min(capacity, 15_000)
    assert {u.code for u in result.unfilled} <= {"capacity", "conflicts", "no_qualified_expert"}


def test_pools_deepened_where_they_leave_out_a_better_buy_win_more_points(national_paths, monkeypatch):
    applications, experts = synthetic(5, n_apps=3_000, n_experts=1_000, caps=(8, 24))
    monkeypatch.setattr(flow, "POOL_PER_TOP_N", 1)  # pools of 5: others crowd many of them out
    monkeypatch.setattr(flow, "DEEPER_PER_TOP_N", 0)
    shallow = assign(applications, experts, POLICY)
    monkeypatch.setattr(flow, "DEEPER_PER_TOP_N", 6)

    deepened = assign(applications, experts, POLICY)

    assert check_assignment(applications, experts, POLICY, deepened.pairs) == []
    assert len(deepened.pairs) == 15_000
    assert deepened.total_affinity > shallow.total_affinity
    assert deepened.candidate_pairs > shallow.candidate_pairs
