"""The auction that solves a large call (`domain/auction.py`): every rule kept, as many slots
filled as any assignment over the pools fills, within ε points per slot of the best of them,
and prices that certify it. The best is found independently, by a min-cost flow."""

from __future__ import annotations

import numpy as np
import pytest
from ortools.graph.python import min_cost_flow

from services.review.domain import auction as auction_module
from services.review.domain.auction import FILL, auction


def pools(seed: int, rows: int = 40, n_experts: int = 15, width: int = 8, institutions: int = 6):
    """Random pools: each row's `width` experts (some rows fewer), values best first, with
    ties; caps 0..4, demand 1..3."""
    rng = np.random.default_rng(seed)
    experts = np.full((rows, width), -1, np.int64)
    values = np.full((rows, width), -np.inf)
    for row in range(rows):
        size = int(rng.integers(1, width + 1))
        experts[row, :size] = rng.choice(n_experts, size, replace=False)
        values[row, :size] = -np.sort(-rng.integers(0, 20, size) * 500.0)
    institution = rng.integers(0, institutions, n_experts)
    free = rng.integers(0, 5, n_experts)
    demand = rng.integers(1, 4, rows)
    return values, experts, institution, demand, free


def solve(values, experts, institution, demand, free, epsilon):
    result = auction(values, experts, institution, demand, free, np.zeros(int(free.sum())), epsilon)
    row, slot = np.nonzero(result.held >= 0)
    column = result.held[row, slot]
    return row, experts[row, column], values[row, column], result.price


def best_over_pools(values, experts, institution, demand, free) -> tuple[int, int]:
    """(most slots filled, then most points) over the pools: a min-cost max-flow
    source → expert (free) → [row, institution] (1) → row (demand) → sink."""
    row, column = np.nonzero(experts >= 0)
    expert = experts[row, column]
    n_rows, n_experts = len(demand), len(free)
    group, group_of = np.unique(row * 1000 + institution[expert], return_inverse=True)
    expert_node, row_node = 2 + np.arange(n_experts), 2 + n_experts + np.arange(n_rows)
    group_node = 2 + n_experts + n_rows + np.arange(len(group))
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = [
        (np.zeros(n_experts), expert_node, free, np.zeros(n_experts)),
        (expert_node[expert], group_node[group_of], np.ones(len(expert)), 10_000 - values[row, column]),
        (group_node, row_node[group // 1000], np.ones(len(group)), np.zeros(len(group))),
        (row_node, np.ones(n_rows), demand, np.zeros(n_rows)),
    ]
    tails, heads, caps, costs = (np.concatenate(part).astype(np.int64) for part in zip(*arcs))
    flow.add_arcs_with_capacity_and_unit_cost(tails.astype(np.int32), heads.astype(np.int32), caps, costs)
    flow.set_nodes_supplies(np.array([0, 1], np.int32), np.array([10**6, -(10**6)], np.int64))
    assert flow.solve_max_flow_with_min_cost() == flow.OPTIMAL
    filled = flow.maximum_flow()
    return filled, filled * 10_000 - flow.optimal_cost()


def lagrangian_bound(values, experts, institution, demand, free, price) -> float:
    """Σ free · price + Σ rows (best Σ (value − price) over ≤ demand experts of distinct
    institutions of its pool): an upper bound on the total value of any assignment over the
    pools (weak duality: the caps relaxed with multipliers `price` >= 0)."""
    total = float(free @ price)
    for row in range(len(demand)):
        best: dict[int, float] = {}
        for column in np.flatnonzero(experts[row] >= 0):
            expert = experts[row, column]
            if free[expert] > 0:
                net = values[row, column] - price[expert]
                best[institution[expert]] = max(best.get(institution[expert], 0.0), net)
        total += sum(sorted(best.values(), reverse=True)[: demand[row]])
    return total


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("epsilon", [1.0, 32.0])
def test_the_auction_keeps_every_rule_fills_the_most_and_is_within_epsilon_per_slot(seed, epsilon):
    call = pools(seed)
    values, experts, institution, demand, free = call
    row, expert, points, _ = solve(*call, epsilon)

    assert (np.bincount(row, minlength=len(demand)) <= demand).all()
    assert (np.bincount(expert, minlength=len(free)) <= free).all()
    assert len(set(zip(row.tolist(), institution[expert].tolist()))) == len(row)  # one per institution
    filled, best = best_over_pools(*call)
    assert len(row) == filled
    assert best - epsilon * filled <= points.sum() <= best


@pytest.mark.parametrize("seed", range(20))
def test_the_auctions_prices_certify_it_within_epsilon_per_slot(seed):
    """What the auction maximises is each pair's points plus FILL (filling first): its prices
    bound that over every assignment of the pools, and it is within ε per slot of them."""
    call = pools(seed)
    values, experts, institution, demand, free = call
    row, _, points, price = solve(*call, 32.0)
    bound = lagrangian_bound(values + FILL, experts, institution, demand, free, price)

    filled, best = best_over_pools(*call)
    assert filled * FILL + best <= bound + 1e-6
    assert bound - (len(row) * FILL + points.sum()) <= 32.0 * len(row) + 1e-6


@pytest.mark.parametrize("seed", range(10))
def test_with_enough_cap_the_prices_bound_the_points_alone(seed):
    rng = np.random.default_rng(seed)
    experts = np.argsort(rng.random((20, 12)), axis=1)  # every row may take every expert
    values = -np.sort(-rng.integers(0, 20, (20, 12)) * 500.0, axis=1)
    institution, demand, free = rng.integers(0, 6, 12), rng.integers(1, 4, 20), rng.integers(5, 9, 12)
    call = values, experts, institution, demand, free
    row, _, points, price = solve(*call, 1.0)
    bound = lagrangian_bound(*call, price)

    assert price.max() < FILL  # no application was priced out of a slot
    assert best_over_pools(*call)[1] <= bound + 1e-6
    assert bound - points.sum() <= 1.0 * len(row) + 1e-6


def test_an_application_takes_its_best_expert_of_each_institution_and_no_other_of_it():
    values = np.array([[9000.0, 8000, 7000, 6000]])
    experts = np.array([[0, 1, 2, 3]])
    institution = np.array([0, 0, 0, 1])  # the three best are colleagues
    row, expert, _, _ = solve(values, experts, institution, np.array([2]), np.array([1, 1, 1, 1]), 1.0)
    assert sorted(expert.tolist()) == [0, 3]


def test_with_more_slots_than_cap_every_unit_goes_to_the_applications_that_value_it_most():
    values = np.array([[9000.0, 1000], [8000, 2000], [7000, 6000]])
    experts = np.array([[0, 1], [0, 1], [0, 1]])
    row, expert, points, _ = solve(values, experts, np.array([0, 1]), np.ones(3, np.int64), np.array([1, 1]), 1.0)
    assert sorted(zip(row.tolist(), expert.tolist())) == [(0, 0), (2, 1)]  # 9 000 + 6 000: the best two


def test_an_experts_units_are_priced_by_the_load_spread_so_ties_go_to_the_less_loaded():
    # Two equally good experts; E0 holds one unit's worth of load already (its next unit dearer).
    values = np.array([[5000.0, 5000.0]])
    experts = np.array([[0, 1]])
    result = auction(values, experts, np.array([0, 1]), np.array([1]), np.array([2, 2]), np.array([0.4, 0.5, 0.0, 0.1]))
    assert experts[0, result.held[0, 0]] == 1


def test_a_bid_pushed_to_a_dearer_unit_that_it_does_not_beat_is_let_go():
    # E0's second unit is reserved at more than row 0's slot is worth to it: when row 1 outbids
    # row 0 for the first unit, row 0 is not kept on the second.
    values = np.array([[3000.0], [9000.0]])
    result = auction(
        values, np.array([[0], [0]]), np.array([0]), np.array([1, 1]), np.array([2]), np.array([0.0, 24_000])
    )
    assert result.held.tolist() == [[-1], [0]]
    assert result.price[0] == 24_000  # its next unit's reservation


def test_a_bid_not_above_a_full_experts_lowest_is_refused_and_the_next_experts_units_are_untouched():
    from services.review.domain.auction_bids import _offer

    cap, start = np.array([1, 1]), np.array([0, 1])
    unit_bid, unit_row, unit_column = np.array([100.0, 50.0]), np.array([0, 1]), np.array([3, 4])
    count, price, lost = np.array([1, 1]), np.array([100.0, 50.0]), np.zeros((2, 2), np.int64)

    n_lost = _offer(0, 7, 2, 100.0, cap, start, np.zeros(2), unit_bid, unit_row, unit_column, count, price, lost)

    assert n_lost == 1 and lost[0].tolist() == [7, 2]  # the bid itself
    assert unit_bid.tolist() == [100.0, 50.0] and unit_row.tolist() == [0, 1] and unit_column.tolist() == [3, 4]
    assert count.tolist() == [1, 1] and price.tolist() == [100.0, 50.0]


def test_progress_counts_the_slots_filled_as_bidding_goes_never_falling(monkeypatch):
    monkeypatch.setattr(auction_module, "BIDS_PER_REPORT", 5)
    values, experts, institution, demand, free = pools(4)
    told: list[tuple[int, int]] = []
    result = auction(
        values,
        experts,
        institution,
        demand,
        free,
        np.zeros(int(free.sum())),
        1.0,
        lambda done, total: told.append((done, total)),
    )
    filled = [done for done, _ in told]
    assert len(filled) > 3 and filled[0] > 0
    assert filled == sorted(filled) and filled[-1] == int((result.held >= 0).sum())
    assert {total for _, total in told} == {int(demand.sum())}
