"""Benchmark: expert assignment at provincial scale (services/review/domain/assignment.py, flow.py).

The instance (synthetic, seeded): 20 000 applications × 3 experts from 8 000 experts;
14 prefectures (长沙 a third of everything), caps 4..12 (mean 8, so 94% of all capacity
is needed), 30 industry fields, keywords drawn within an entity's fields, each expert
qualified for 4..8 of the 16 categories, the same-prefecture conflict applied to every
application, declared conflicts, same institutions and team members: about 15% of all
pairs are in conflict (measured below).

Measured in one run, each step in a fresh process (peak memory is that process's max RSS,
instance included):
- ours: `assign` with the default policy: seconds (wall and CPU), peak memory, total
  affinity, violations found by the independent checker, unfilled slots; again with
  OpenBLAS held to one thread (the scoring's own threads then share the cores instead
  of fighting OpenBLAS's spinning threads); and with load_spread=0 (what spreading costs);
- the exact optimum over ALL pairs: min-cost flows by column generation, each round
  pricing every one of the 160 M pairs against the flow's LP duals (`FlowSolution.lp_duals`,
  a certified upper bound by weak duality) until none prices in. The network's LP is
  integral, so the LP optimum is the assignment optimum. Also the bound certified from
  our own candidate set before any column is added;
- a greedy baseline: each application in turn takes its best experts with free cap;
- the dense all-pairs flow at a scale that fits (stated), beside ours at that scale: at
  full scale it would have every eligible pair as an arc (about 100 M; at 0.25 scale,
  6.5 M arcs already take about 1.45 GB and 15-40 s), so it cannot run there in 2 GB;
- a HiGHS cross-check at a small scale: the LP over all pairs solved by highspy (in its
  own process: highspy and OR-Tools bundle different libhighs.so.1 and cannot share one)
  must equal the flow optimum.

The machine is shared: load averages are printed; only same-run comparisons mean much.
The last line is one JSON object.
Run: make bench-assign, or .venv/bin/python bench/assign.py [--scale S] [--dense-scale D]
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

from services.review.domain.assignment import Application, AssignmentPolicy, Expert, check_assignment  # noqa: E402
from services.review.domain.flow import AssignmentProblem, assign  # noqa: E402
from services.review.domain.conflicts import CATEGORIES, EXCLUDED, ExclusionMask  # noqa: E402

PREFECTURES = (
    "长沙市",
    "株洲市",
    "湘潭市",
    "衡阳市",
    "邵阳市",
    "岳阳市",
    "常德市",
    "张家界市",
    "益阳市",
    "郴州市",
    "永州市",
    "怀化市",
    "娄底市",
    "湘西土家族苗族自治州",
)
QUOTAS = {
    "heritage-base": 20,
    "vu-school": 3,
    "hv-school": 10,
    "sv-excellent": 10,
    "sv-prefecture": 14,
    "tech-school": 5,
    "vu-group": 10,
    "hv-group": 100,
    "sv-specialty": 100,
    "tech-specialty": 10,
    "training-base": 80,
    "edu-group": 30,
    "master-teacher": 300,
    "innovation-team": 400,
    "master-studio": 300,
    "workshop": 100,
}
FIELDS = tuple(f"产业领域{i:02d}" for i in range(30))
KEYWORDS_PER_FIELD = 40
FULL_APPS, FULL_EXPERTS = 20_000, 8_000
POLICY = AssignmentPolicy(reviewers_per_application=3, same_prefecture_conflict=True, seed=7)
MAX_ROUNDS = 12


# ---------------------------------------------------------------- the instance


def synthetic(
    scale: float,
    seed: int = 2022,
    n_apps: int | None = None,
    n_experts: int | None = None,
    caps: tuple[int, int] = (4, 12),
) -> tuple[list[Application], list[Expert]]:
    """The call and pool at `scale` (1 = 20 000 applications, 8 000 experts), or of
    `n_apps` × `n_experts` when given; caps drawn uniformly in caps[0]..caps[1]."""
    rng = np.random.default_rng(seed)
    n_apps = round(FULL_APPS * scale) if n_apps is None else n_apps
    n_experts = round(FULL_EXPERTS * scale) if n_experts is None else n_experts
    prefecture_weight = np.r_[0.34, np.full(13, 0.66 / 13)]
    n_applicants, n_others = max(8, n_apps // 30), max(8, n_experts // 9)
    applicant_prefecture = rng.choice(14, n_applicants, p=prefecture_weight)
    other_prefecture = rng.choice(14, n_others, p=prefecture_weight)
    categories = sorted(CATEGORIES)
    category_weight = np.array([QUOTAS[c] for c in categories], float)
    category_weight /= category_weight.sum()
    field_weight = rng.dirichlet(np.full(len(FIELDS), 2.0))
    keyword_weight = 1 / np.arange(1, KEYWORDS_PER_FIELD + 1)
    keyword_weight /= keyword_weight.sum()

    def weighted_sets(n, weights, low, high, names):
        """n sets of low..high distinct names, drawn by weight (Gumbel top-k)."""
        keys = np.log(weights) + rng.gumbel(size=(n, len(weights)))
        order, sizes = np.argsort(-keys, axis=1), rng.integers(low, high + 1, n)
        return [[names[i] for i in order[row, : sizes[row]]] for row in range(n)]

    def keywords(fields_of, low, high):
        sizes = rng.integers(low, high + 1, len(fields_of))
        ranks = rng.choice(KEYWORDS_PER_FIELD, sizes.sum(), p=keyword_weight)
        picks = rng.random(sizes.sum())
        out, at = [], 0
        for fields, size in zip(fields_of, sizes):
            out.append(
                {f"{fields[int(p * len(fields))]}/kw{r}" for p, r in zip(picks[at : at + size], ranks[at : at + size])}
            )
            at += size
        return out

    app_fields = weighted_sets(n_apps, field_weight, 1, 3, FIELDS)
    app_keywords = keywords(app_fields, 3, 6)
    size = rng.lognormal(0, 1, n_applicants)
    app_institution = rng.choice(n_applicants, n_apps, p=size / size.sum())
    app_category = rng.choice(len(categories), n_apps, p=category_weight)
    team_size = rng.integers(1, 7, n_apps)
    applications = [
        Application(
            id=f"A{i:06d}",
            institution_id=f"S{app_institution[i]:04d}",
            prefecture=PREFECTURES[applicant_prefecture[app_institution[i]]],
            category=categories[app_category[i]],
            fields=app_fields[i],
            keywords=app_keywords[i],
            team_person_ids={f"P{i:06d}-{m}" for m in range(team_size[i])},
        )
        for i in range(n_apps)
    ]
    exp_fields = weighted_sets(n_experts, field_weight, 1, 3, FIELDS)
    exp_keywords = keywords(exp_fields, 3, 8)
    exp_categories = weighted_sets(n_experts, category_weight, 4, 8, categories)
    from_applicant = rng.random(n_experts) < 0.15
    institution = np.where(
        from_applicant, rng.integers(n_applicants, size=n_experts), rng.integers(n_others, size=n_experts)
    )
    caps = rng.integers(caps[0], caps[1] + 1, n_experts)
    declared_institutions = rng.integers(0, 4, n_experts)
    declared_people = rng.integers(0, 3, n_experts)
    experts = [
        Expert(
            id=f"E{j:05d}",
            institution_id=f"{'S' if from_applicant[j] else 'O'}{institution[j]:04d}",
            prefecture=PREFECTURES[(applicant_prefecture if from_applicant[j] else other_prefecture)[institution[j]]],
            person_id=f"X{j:05d}",
            cap=int(caps[j]),
            fields=exp_fields[j],
            keywords=exp_keywords[j],
            categories=exp_categories[j],
            conflict_institution_ids={f"S{s:04d}" for s in rng.integers(n_applicants, size=declared_institutions[j])},
            conflict_person_ids={f"P{a:06d}-0" for a in rng.integers(n_apps, size=declared_people[j])},
        )
        for j in range(n_experts)
    ]
    for a in rng.choice(n_apps, n_apps // 200, replace=False):  # experts who sit in an applying team
        member = f"X{rng.integers(n_experts):05d}"
        applications[a] = dataclasses.replace(
            applications[a], team_person_ids=applications[a].team_person_ids | {member}
        )
    return applications, experts


# ---------------------------------------------------------------- steps (each in its own process)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_solve(scale: float, top_n: int | None, load_spread: float) -> dict:
    """Ours (or the dense flow with top_n None): time, memory, affinity, checker."""
    applications, experts = synthetic(scale)
    policy = dataclasses.replace(POLICY, top_n=top_n, load_spread=load_spread)
    before_mb, cpu = peak_mb(), time.process_time()
    result = assign(applications, experts, policy)
    cpu, peak = time.process_time() - cpu, peak_mb()
    violations = check_assignment(applications, experts, policy, result.pairs)
    return {
        "seconds": result.seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak,
        "instance_mb": before_mb,
        "points": round(result.total_affinity * 10_000),
        "filled": len(result.pairs),
        "unfilled": sum(u.missing for u in result.unfilled),
        "violations": len(violations),
        "candidate_pairs": result.candidate_pairs,
        "load": dataclasses.asdict(result.load),
    }


def step_optimum(scale: float) -> dict:
    """The exact optimum over all pairs (column generation), the greedy baseline, conflict rates."""
    applications, experts = synthetic(scale)
    problem = AssignmentProblem(applications, experts, dataclasses.replace(POLICY, load_spread=0))
    rows = np.flatnonzero(problem.demand > 0)
    started = time.perf_counter()
    solution = problem.sparse_flow(rows)
    rounds, first_bound = [], None
    for _ in range(MAX_ROUNDS):
        bound, app, expert = price_all_pairs(problem, rows, solution)
        first_bound = bound if first_bound is None else first_bound
        objective = int(solution.points[solution.chosen].sum())
        rounds.append({"objective": objective, "bound": bound, "priced_in": len(app), "pairs": len(solution.app)})
        if not len(app):
            break
        solution = problem.flow(np.concatenate([solution.app, app]), np.concatenate([solution.expert, expert]))
    return {
        "optimum_points": rounds[-1]["objective"],
        "bound_points": rounds[-1]["bound"],
        "exact": not rounds[-1]["priced_in"],
        "first_bound_points": first_bound,
        "filled": int(solution.chosen.sum()),
        "rounds": rounds,
        "optimum_seconds": time.perf_counter() - started,
        "greedy": greedy(problem, rows),
        **pair_rates(applications, experts),
    }


def price_all_pairs(problem: AssignmentProblem, rows: np.ndarray, solution) -> tuple[float, np.ndarray, np.ndarray]:
    """The LP bound over every eligible pair, and the pairs not in the flow that price in."""
    duals = solution.lp_duals()
    seen = np.sort(solution.app * len(problem.experts) + solution.expert)
    positive, new_app, new_expert = 0.0, [], []
    for block_rows, columns, scores in problem.eligible_blocks(rows):
        # Unrounded scores are within half a point of the points and group duals are >= 0,
        # so > -1 keeps every pair whose exact slack is positive.
        excluded = scores < 0
        scores -= (duals.app[block_rows] + duals.fill).astype(np.float32)[:, None]
        scores -= duals.expert[columns].astype(np.float32)[None, :]
        scores[excluded] = -np.inf
        r, c = np.nonzero(scores > -1)
        app, expert = block_rows[r], columns[c]
        slack = duals.slack(app, expert, problem.points(app, expert))
        positive += float(slack[slack > 0].sum())
        fresh = (slack > 1e-9) & ~np.isin(app * len(problem.experts) + expert, seen)
        new_app.append(app[fresh])
        new_expert.append(expert[fresh])
    return duals.base + positive, np.concatenate(new_app), np.concatenate(new_expert)


def greedy(problem: AssignmentProblem, rows: np.ndarray) -> dict:
    """Each application in turn (positions: category, prefecture, id) takes its best experts
    with free cap, one per institution."""
    free, k = problem.free.copy(), problem.policy.reviewers_per_application
    app, expert = [], []
    for block_rows, columns, scores in problem.eligible_blocks(rows):
        for row, position in zip(scores, block_rows):
            taken = set()
            for column in np.argsort(-row, kind="stable"):
                e = columns[column]
                if row[column] < 0 or len(taken) == k:
                    break
                if free[e] > 0 and problem.institution[e] not in taken:
                    taken.add(problem.institution[e])
                    free[e] -= 1
                    app.append(position)
                    expert.append(e)
    points = problem.points(np.array(app, np.int64), np.array(expert, np.int64))
    return {"points": int(points.sum()), "filled": len(app), "unfilled": int(problem.demand[rows].sum()) - len(app)}


def pair_rates(applications, experts) -> dict:
    """Shares of all pairs: in conflict of interest; eligible (qualified and conflict-free)."""
    unqualified = [dataclasses.replace(e, categories=CATEGORIES, available=True) for e in experts]
    applied = {a.institution_id for a in applications}
    total = len(applications) * len(experts)
    counts = []
    for pool in (unqualified, experts):
        mask = ExclusionMask(applications, pool, POLICY, applied)
        columns = np.arange(len(pool))
        excluded = 0
        for start in range(0, len(applications), 500):
            rows = np.arange(start, min(start + 500, len(applications)))
            block = np.zeros((len(rows), len(columns)), np.float32)
            mask.apply(block, rows, columns, columns)
            excluded += int((block == EXCLUDED).sum())
        counts.append(excluded)
    return {"conflict_fraction": counts[0] / total, "eligible_fraction": 1 - counts[1] / total}


def step_highs(scale: float, filled: int) -> dict:
    """The LP over every eligible pair, by HiGHS (never imported beside OR-Tools)."""
    import highspy

    applications, experts = synthetic(scale)
    problem = AssignmentProblem(applications, experts, dataclasses.replace(POLICY, load_spread=0))
    app, expert = problem.all_pairs(np.flatnonzero(problem.demand > 0))
    n_apps, n_experts = len(problem.applications), len(problem.experts)
    group_key, group, size = np.unique(
        app * problem.n_institutions + problem.institution[expert], return_inverse=True, return_counts=True
    )
    group_row = np.full(len(group_key), -1)
    group_row[size > 1] = n_apps + n_experts + np.arange(int((size > 1).sum()))
    fill_row = n_apps + n_experts + int((size > 1).sum())
    in_group = group_row[group] >= 0
    start = np.r_[0, np.cumsum(3 + in_group)]
    index = np.empty(start[-1], np.int32)
    index[start[:-1]], index[start[:-1] + 1] = app, n_apps + expert
    index[(start[:-1] + 2)[in_group]] = group_row[group][in_group]
    index[start[1:] - 1] = fill_row
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(app), fill_row + 1
    lp.col_cost_ = problem.points(app, expert).astype(float)
    lp.col_lower_, lp.col_upper_ = np.zeros(len(app)), np.ones(len(app))
    lp.row_lower_ = np.r_[np.full(fill_row, -highspy.kHighsInf), filled].astype(float)
    lp.row_upper_ = np.r_[problem.demand.clip(0), problem.free, np.ones(fill_row - n_apps - n_experts), filled].astype(
        float
    )
    matrix = lp.a_matrix_
    matrix.format_, matrix.num_col_, matrix.num_row_ = highspy.MatrixFormat.kColwise, len(app), fill_row + 1
    matrix.start_, matrix.index_, matrix.value_ = start.astype(np.int32), index, np.ones(len(index))
    lp.sense_ = highspy.ObjSense.kMaximize
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.passModel(lp)
    started = time.perf_counter()
    highs.run()
    return {
        "lp_points": highs.getInfo().objective_function_value,
        "status": highs.modelStatusToString(highs.getModelStatus()),
        "columns": len(app),
        "lp_seconds": time.perf_counter() - started,
    }


STEPS = {"solve": step_solve, "optimum": step_optimum, "highs": step_highs}


def in_child(step: str, environment: dict | None = None, **options) -> dict:
    """Run a step in a fresh interpreter; its last stdout line is its JSON answer."""
    command = [sys.executable, __file__, "--child", step, json.dumps(options)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, **(environment or {})}
    )
    if done.returncode:
        raise SystemExit(f"step {step} {options} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the report


def main() -> None:
    parser = argparse.ArgumentParser(description="Expert assignment benchmark")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 20 000 applications × 8 000 experts")
    parser.add_argument("--dense-scale", type=float, default=0.25, help="scale of the dense all-pairs comparison")
    parser.add_argument("--check-scale", type=float, default=0.03, help="scale of the HiGHS cross-check")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "OPTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(STEPS[args.child[0]](**json.loads(args.child[1]))))
        return
    load_before = os.getloadavg()[0]
    ours = in_child("solve", scale=args.scale, top_n=POLICY.top_n, load_spread=POLICY.load_spread)
    blas_single = in_child(
        "solve", {"OPENBLAS_NUM_THREADS": "1"}, scale=args.scale, top_n=POLICY.top_n, load_spread=POLICY.load_spread
    )
    no_spread = in_child("solve", scale=args.scale, top_n=POLICY.top_n, load_spread=0)
    optimum = in_child("optimum", scale=args.scale)
    dense = in_child("solve", scale=args.dense_scale, top_n=None, load_spread=POLICY.load_spread)
    sparse_small = in_child("solve", scale=args.dense_scale, top_n=POLICY.top_n, load_spread=POLICY.load_spread)
    check_flow = in_child("optimum", scale=args.check_scale)
    check_lp = in_child("highs", scale=args.check_scale, filled=check_flow["filled"])
    load_after = os.getloadavg()[0]

    best = optimum["optimum_points"]

    def solved(name, run, optimum_points):
        return (
            name,
            run["seconds"],
            run["cpu_seconds"],
            run["peak_mb"],
            run["points"] / optimum_points,
            run["filled"],
            run["violations"],
        )

    rows = [
        solved("ours (sparse flow)", ours, best),
        solved("ours, OPENBLAS_NUM_THREADS=1 (threads score blocks)", blas_single, best),
        solved("ours, no load spread", no_spread, best),
        ("greedy baseline", None, None, None, optimum["greedy"]["points"] / best, optimum["greedy"]["filled"], None),
        (
            f"exact optimum (column generation, {len(optimum['rounds'])} pricing passes)",
            optimum["optimum_seconds"],
            None,
            None,
            1.0,
            optimum["filled"],
            None,
        ),
        solved(f"dense all pairs at scale {args.dense_scale}", dense, dense["points"]),
        solved(f"ours at scale {args.dense_scale}", sparse_small, dense["points"]),
    ]
    print(
        f"{FULL_APPS * args.scale:.0f} applications × {POLICY.reviewers_per_application} experts from "
        f"{FULL_EXPERTS * args.scale:.0f} experts; {optimum['conflict_fraction']:.1%} of pairs in conflict, "
        f"{optimum['eligible_fraction']:.1%} eligible; {os.cpu_count()} cores, "
        f"load average {load_before:.1f} → {load_after:.1f}"
    )
    print(f"{'':58} {'seconds':>8} {'cpu s':>8} {'peak MB':>8} {'of optimum':>11} {'filled':>7} {'violations':>10}")
    for name, seconds, cpu, peak, ratio, filled, violations in rows:
        cells = [
            f"{'':8}" if seconds is None else f"{seconds:8.2f}",
            f"{'':8}" if cpu is None else f"{cpu:8.2f}",
            f"{'':8}" if peak is None else f"{peak:8.0f}",
            f"{ratio:11.6%}",
            f"{filled:7d}",
            f"{'':10}" if violations is None else f"{violations:10d}",
        ]
        print(f"{name:58} " + " ".join(cells))
    print(
        f"optimum {best / 1e4:.4f} ({'exact' if optimum['exact'] else 'bound ' + str(optimum['bound_points'] / 1e4)}); "
        f"bound certified from our own candidates alone: ours ≥ {ours['points'] / optimum['first_bound_points']:.6%} of it"
    )
    print(
        f"HiGHS cross-check at scale {args.check_scale}: LP {check_lp['lp_points']:.1f} ({check_lp['status']}, "
        f"{check_lp['columns']} columns) vs flow optimum {check_flow['optimum_points']}"
    )
    print(
        json.dumps(
            {
                "seconds": round(ours["seconds"], 3),
                "cpu_seconds": round(ours["cpu_seconds"], 3),
                "peak_mb": round(ours["peak_mb"], 1),
                "instance_mb": round(ours["instance_mb"], 1),
                "optimality": ours["points"] / best,
                "violations": ours["violations"],
                "unfilled": ours["unfilled"],
                "candidate_pairs": ours["candidate_pairs"],
                "seconds_openblas_single_thread": round(blas_single["seconds"], 3),
                "cpu_seconds_openblas_single_thread": round(blas_single["cpu_seconds"], 3),
                "optimality_no_load_spread": no_spread["points"] / best,
                "load": ours["load"],
                "load_no_spread": no_spread["load"],
                "optimum_exact": optimum["exact"],
                "optimum_points": best,
                "pricing_passes": len(optimum["rounds"]),
                "certified_optimality_before_column_generation": ours["points"] / optimum["first_bound_points"],
                "greedy_optimality": optimum["greedy"]["points"] / best,
                "greedy_unfilled": optimum["greedy"]["unfilled"],
                "dense_scale": args.dense_scale,
                "dense_full_scale_arcs": round(optimum["eligible_fraction"] * FULL_APPS * FULL_EXPERTS * args.scale**2),
                "dense_seconds": round(dense["seconds"], 3),
                "dense_peak_mb": round(dense["peak_mb"], 1),
                "sparse_seconds_at_dense_scale": round(sparse_small["seconds"], 3),
                "optimality_vs_dense_at_dense_scale": sparse_small["points"] / dense["points"],
                "highs_check": {
                    "scale": args.check_scale,
                    "lp_points": check_lp["lp_points"],
                    "flow_points": check_flow["optimum_points"],
                    "match": abs(check_lp["lp_points"] - check_flow["optimum_points"]) < 0.5,
                },
                "conflict_fraction": round(optimum["conflict_fraction"], 4),
                "eligible_fraction": round(optimum["eligible_fraction"], 4),
                "scale": args.scale,
                "cores": os.cpu_count(),
                "load_average": [round(load_before, 2), round(load_after, 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
