"""Benchmark: expert assignment at national scale (services/review/domain/flow.py).

The instance: `bench/assign.py`'s generator (same prefectures, categories, fields, keywords,
institutions and conflict rules, so the same share of pairs in conflict) at 300 000
applications × 5 experts from 100 000 experts, about the applications a national funder
(NSFC) receives in a year. Caps are drawn in 8..24 instead of 4..12: with 4..12 the pool's
capacity (about 800 000) could not cover the 1 500 000 slots at all, and 8..24 keeps the
provincial benchmark's ratio (about 94% of all capacity needed).

Measured, each step in a fresh process (peak memory is that process's max RSS, instance
included):
- ours: `assign` with the default policy: seconds (wall and CPU), peak memory, total
  affinity, violations found by the independent checker (`check_assignment`: conflicts of
  interest, qualification, caps, one expert per institution, duplicates), unfilled slots;
- a certified upper bound on the optimum over ALL 30 000 M pairs: the Lagrangian bound
  L(v) = Σ free·v + Σ over applications of its best Σ (points − v) over at most 5 eligible
  experts of distinct institutions, for the experts' prices v of the auction without load
  spread and with a finer increment (`bound_prices`: ε = BOUND_EPSILON over the deepened
  pools; any v >= 0 gives a bound, by weak duality; these are near the best v). Every pair
  is priced exactly where it could enter an application's best set; elsewhere a bound proves
  it cannot: a pair scores at most
  7 000 · (cosine of the fields) + 3 000 points (`AffinityScorer.field_groups`), so a group of
  experts whose best possible score, less the group's least price, is below what the
  application already has contributes nothing. The exact optimum over all pairs (as `bench/assign.py`
  finds it at provincial scale) would need rounds of pricing over every pair; the bound
  makes that unnecessary: ours / bound ≤ ours / optimum.

The machine is shared: load averages are printed. The last line is one JSON object.
Run: make bench-assign-national, or .venv/bin/python bench/assign_national.py [--apps N --experts M]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from assign import synthetic  # noqa: E402
from services.review.domain.affinity import AFFINITY_SCALE, FIELD_WEIGHT, KEYWORD_WEIGHT  # noqa: E402
from services.review.domain.assignment import AssignmentPolicy, check_assignment  # noqa: E402
from services.review.domain.flow import AssignmentProblem, _Block, assign  # noqa: E402

N_APPS, N_EXPERTS, CAPS = 300_000, 100_000, (8, 24)
POLICY = AssignmentPolicy(reviewers_per_application=5, same_prefecture_conflict=True, seed=7)
BOUND_EPSILON = 4.0  # the bound's auction: within 4 points per slot of the best over its pools


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def instance(apps: int, experts: int):
    return synthetic(1, n_apps=apps, n_experts=experts, caps=CAPS)


def step_solve(apps: int, experts: int) -> dict:
    started = time.perf_counter()
    applications, pool = instance(apps, experts)
    generated, before_mb, cpu = time.perf_counter() - started, peak_mb(), time.process_time()
    result = assign(applications, pool, POLICY)
    cpu, peak = time.process_time() - cpu, peak_mb()
    checked = time.perf_counter()
    violations = check_assignment(applications, pool, POLICY, result.pairs)
    return {
        "seconds": result.seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak,
        "instance_mb": before_mb,
        "instance_seconds": generated,
        "check_seconds": time.perf_counter() - checked,
        "points": round(result.total_affinity * AFFINITY_SCALE),
        "filled": len(result.pairs),
        "unfilled": sum(u.missing for u in result.unfilled),
        "violations": len(violations),
        "violation_kinds": sorted({v.rule for v in violations}),
        "candidate_pairs": result.candidate_pairs,
        "load": dataclasses.asdict(result.load),
    }


def best_sets(
    problem: AssignmentProblem, rows: np.ndarray, columns: np.ndarray, upper: np.ndarray, prices: np.ndarray
) -> np.ndarray:
    """Per row, the most Σ (points − price) over at most demand experts of distinct
    institutions, among `columns`; `upper` (rows × columns) bounds each value from above
    (excluded: -inf). The best few per row are valued exactly, the rest at their bound."""
    demand = problem.demand[rows]
    k = int(demand.max())
    width = min(upper.shape[1], 4 * k)
    top = (
        np.argpartition(upper, upper.shape[1] - width, axis=1)[:, -width:]
        if upper.shape[1] > width
        else np.broadcast_to(np.arange(upper.shape[1]), (len(rows), upper.shape[1]))
    )
    top_upper = np.take_along_axis(upper, top, axis=1)
    cutoff = np.full(len(rows), -np.inf)  # the most any entry outside `top` can be worth
    if upper.shape[1] > width:
        rest = upper.copy()
        np.put_along_axis(rest, top, -np.inf, axis=1)
        cutoff = rest.max(axis=1)
    r = np.repeat(np.arange(len(rows)), width)
    expert = columns[top.ravel()]
    value = (problem.points(rows[r], expert) - prices[expert]).astype(np.float64)
    value[~np.isfinite(top_upper.ravel())] = -np.inf
    # One expert per institution: keep each (row, institution)'s best.
    key = r * problem.n_institutions + problem.institution[expert]
    order = np.lexsort((-value, key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    value[order[~first]] = -np.inf
    values = np.hstack([value.reshape(len(rows), width), np.repeat(cutoff[:, None], k, axis=1)])
    values = -np.sort(-values, axis=1)[:, :k]
    values[np.arange(k)[None, :] >= demand[:, None]] = 0
    return np.maximum(values, 0).sum(axis=1)


def bound_prices(problem: AssignmentProblem, epsilon: float = BOUND_EPSILON) -> tuple:
    """(the auction's pairs, its final prices) for `problem` (solve it without load spread):
    the call's auction (its pools deepened) with the increment `epsilon`, finer than the
    solver's, so that the prices are nearer the best multipliers and the bound tighter."""
    return problem._auctioned(np.flatnonzero(problem.demand > 0), epsilon=epsilon)


def lagrangian_bound(problem: AssignmentProblem, prices: np.ndarray) -> dict:
    """L(v) = Σ free·v + Σ_applications (best Σ (points − v) over its eligible experts of
    distinct institutions): for any prices v >= 0 an upper bound on the total affinity of any
    assignment (the caps relaxed with multipliers v), computed over ALL pairs. An expert
    group's pairs score at most 7 000 · field cosine + 3 000 (+ 0.5 for rounding); groups
    that cannot beat what an application already has are not scored."""
    app_group, exp_group, cosine = problem.scorer.field_groups()
    has_cap = problem.free > 0
    prices = np.where(has_cap, np.maximum(prices, 0), 0)
    least_price = np.full(cosine.shape[1], np.inf)
    np.minimum.at(least_price, exp_group[has_cap], prices[has_cap])
    room = FIELD_WEIGHT * AFFINITY_SCALE * cosine + KEYWORD_WEIGHT * AFFINITY_SCALE + 0.5 - least_price[None, :]
    experts_in = np.bincount(exp_group[has_cap], minlength=cosine.shape[1])
    rows = np.flatnonzero(problem.demand > 0)
    order = rows[np.argsort(app_group[rows], kind="stable")]
    groups = app_group[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    total, scored = float(problem.free @ prices), 0

    def values(block_rows, columns):
        column_of_expert = np.full(len(problem.experts), -1, np.int64)
        column_of_expert[columns] = np.arange(len(columns))
        scores = problem._scores(_Block(block_rows, columns, column_of_expert)).astype(np.float64)
        upper = scores + 0.5 - prices[columns][None, :]
        upper[scores < 0] = -np.inf
        return best_sets(problem, block_rows, columns, upper, prices)

    for start, end in zip(starts, np.r_[starts[1:], len(order)]):
        group_rows, row_room = order[start:end], room[groups[start]]
        by_room = np.argsort(-row_room)
        enough = min(np.searchsorted(np.cumsum(experts_in[by_room]), 400), len(by_room) - 1)
        first = np.flatnonzero((row_room >= row_room[by_room[enough]])[exp_group] & has_cap)
        step = max(1, 2_000_000 // max(len(first), 1))
        floor = []  # per row: its k-th best value so far, which an expert must beat
        for at in range(0, len(group_rows), step):
            block_rows = group_rows[at : at + step]
            floor.append(values_floor(problem, block_rows, first, prices))
            scored += len(block_rows) * len(first)
        threshold = float(np.concatenate(floor).min()) if floor else 0.0
        columns = np.flatnonzero((row_room > threshold)[exp_group] & has_cap)
        columns = np.union1d(columns, first)
        step = max(1, 2_000_000 // max(len(columns), 1))
        for at in range(0, len(group_rows), step):
            block_rows = group_rows[at : at + step]
            total += float(values(block_rows, columns).sum())
            scored += len(block_rows) * len(columns)
    return {"bound_points": total, "pairs_scored": scored}


def values_floor(problem: AssignmentProblem, rows: np.ndarray, columns: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """Per row, a value every expert that could improve its best set must exceed: the k-th
    best value among `columns` over distinct institutions (k experts of k institutions worth
    at least that: any other expert worth no more can be swapped for one of them), or 0."""
    by_institution = np.argsort(problem.institution[columns], kind="stable")
    columns = columns[by_institution]
    institution = problem.institution[columns]
    column_of_expert = np.full(len(problem.experts), -1, np.int64)
    column_of_expert[columns] = np.arange(len(columns))
    scores = problem._scores(_Block(rows, columns, column_of_expert))
    k = int(problem.demand[rows].max())
    net = np.where(scores < 0, -np.inf, scores - 0.5 - prices[columns][None, :])  # lower bounds on values
    starts = np.flatnonzero(np.r_[True, institution[1:] != institution[:-1]])
    best = np.maximum.reduceat(net, starts, axis=1) if len(starts) else net
    if best.shape[1] < k:
        return np.zeros(len(rows))
    kth = np.partition(best, best.shape[1] - k, axis=1)[:, best.shape[1] - k]
    return np.maximum(kth, 0)


def step_bound(apps: int, experts: int) -> dict:
    applications, pool = instance(apps, experts)
    started = time.perf_counter()
    problem = AssignmentProblem(applications, pool, dataclasses.replace(POLICY, load_spread=0))
    auctioned, prices = bound_prices(problem)
    bound = lagrangian_bound(problem, prices)
    return {
        **bound,
        "auction_points": int(auctioned.points.sum()),
        "filled": len(auctioned.app),
        "bound_seconds": time.perf_counter() - started,
        "peak_mb": peak_mb(),
    }


STEPS = {"solve": step_solve, "bound": step_bound}


def in_child(step: str, **options) -> dict:
    """Run a step in a fresh interpreter; its last stdout line is its JSON answer."""
    command = [sys.executable, __file__, "--child", step, json.dumps(options)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"step {step} {options} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="Expert assignment at national scale")
    parser.add_argument("--apps", type=int, default=N_APPS)
    parser.add_argument("--experts", type=int, default=N_EXPERTS)
    parser.add_argument("--child", nargs=2, metavar=("STEP", "OPTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(STEPS[args.child[0]](**json.loads(args.child[1]))))
        return
    load_before = os.getloadavg()[0]
    wall = time.perf_counter()
    ours = in_child("solve", apps=args.apps, experts=args.experts)
    bound = in_child("bound", apps=args.apps, experts=args.experts)
    load_after = os.getloadavg()[0]
    optimality = ours["points"] / bound["bound_points"]
    print(
        f"{args.apps} applications × {POLICY.reviewers_per_application} experts from {args.experts} experts "
        f"(caps {CAPS[0]}..{CAPS[1]}); {os.cpu_count()} cores, load average {load_before:.1f} → {load_after:.1f}"
    )
    print(
        f"ours: {ours['seconds']:.1f} s wall ({ours['cpu_seconds']:.1f} s CPU), peak {ours['peak_mb']:.0f} MB "
        f"(instance {ours['instance_mb']:.0f} MB), {ours['filled']} filled, {ours['unfilled']} unfilled, "
        f"{ours['violations']} violations, {ours['candidate_pairs']} candidate pairs"
    )
    print(
        f"certified bound {bound['bound_points'] / AFFINITY_SCALE:.4f} (the auction without load spread "
        f"{bound['auction_points'] / AFFINITY_SCALE:.4f}; "
        f"{bound['pairs_scored']} pairs scored to price, {bound['bound_seconds']:.0f} s): "
        f"ours = {optimality:.6%} of it"
    )
    print(
        json.dumps(
            {
                "seconds": round(ours["seconds"], 3),
                "cpu_seconds": round(ours["cpu_seconds"], 3),
                "peak_mb": round(ours["peak_mb"], 1),
                "instance_mb": round(ours["instance_mb"], 1),
                "optimality": optimality,
                "violations": ours["violations"],
                "unfilled": ours["unfilled"],
                "filled": ours["filled"],
                "candidate_pairs": ours["candidate_pairs"],
                "points": ours["points"],
                "bound_points": bound["bound_points"],
                "bound_kind": f"Lagrangian at the prices of the auction with epsilon {BOUND_EPSILON} (weak duality) over all pairs",
                "optimality_vs_auction_without_spread": ours["points"] / bound["auction_points"],
                "bound_pairs_scored": bound["pairs_scored"],
                "bound_seconds": round(bound["bound_seconds"], 1),
                "instance_seconds": round(ours["instance_seconds"], 1),
                "check_seconds": round(ours["check_seconds"], 1),
                "load": ours["load"],
                "applications": args.apps,
                "experts": args.experts,
                "caps": list(CAPS),
                "cores": os.cpu_count(),
                "load_average": [round(load_before, 2), round(load_after, 2)],
                "total_seconds": round(time.perf_counter() - wall, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
