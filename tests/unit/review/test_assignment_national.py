"""Assignment at national scale, scaled down: the paths a national call takes (the pool scored
by closeness of fields, the flow solved in parts), forced on a call of 3 000 applications × 5
experts from 1 000, the shape of `bench/assign_national.py` (caps 8..24, every pair under the
same-prefecture conflict). Behaviour only: no timings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.assign import synthetic
from bench.assign_national import lagrangian_bound
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
    monkeypatch.setattr(flow, "PART_ROWS", 1_000)


def certified_bound(applications, experts) -> float:
    """An upper bound on the affinity points of any assignment, over all pairs."""
    problem = AssignmentProblem(applications, experts, dataclasses.replace(POLICY, load_spread=0))
    solution = problem.sparse_flow(np.flatnonzero(problem.demand > 0), overflow=True, priced_per_row=4)
    if solution.overflow:
        solution = problem.flow(solution.app, solution.expert, spread=False)
    return lagrangian_bound(problem, solution.lp_duals().expert)["bound_points"]


def test_a_national_shaped_call_solved_in_parts_is_valid_and_near_the_certified_bound(national_paths):
    applications, experts = synthetic(1, n_apps=3_000, n_experts=1_000, caps=(8, 24))
    result = assign(applications, experts, POLICY)

    assert check_assignment(applications, experts, POLICY, result.pairs) == []
    assert sum(u.missing for u in result.unfilled) == 0
    assert len(result.pairs) == 15_000
    points = round(result.total_affinity * AFFINITY_SCALE)
    # The aim is 99.99% of a certified bound; solved in parts the call reaches about
    # 98.3% (the parts cut pairs the optimum uses; the bound's duals are not exact either).
    # This guards what is reached, not the aim.
    assert points >= 0.98 * certified_bound(applications, experts)


def test_the_certified_bound_is_never_below_the_exact_optimum():
    applications, experts = synthetic(1, n_apps=240, n_experts=80, caps=(8, 24))
    policy = dataclasses.replace(POLICY, load_spread=0)
    exact = assign(applications, experts, dataclasses.replace(policy, top_n=None))  # every eligible pair
    bound = certified_bound(applications, experts)
    assert round(exact.total_affinity * AFFINITY_SCALE) <= bound


def test_applications_left_short_by_the_parts_are_filled_from_their_best_experts_with_cap_left(national_paths):
    applications, experts = synthetic(1, n_apps=3_000, n_experts=1_000, caps=(8, 24))
    applications = [dataclasses.replace(a, category="hv-group") for a in applications]  # one call, one category
    experts = [dataclasses.replace(e, categories=frozenset({"hv-group"})) for e in experts]
    problem = AssignmentProblem(applications, experts, POLICY)
    solution = problem._decomposed_flow(np.flatnonzero(problem.demand > 0))
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
