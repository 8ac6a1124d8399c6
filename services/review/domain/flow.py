"""Finding the assignment of experts to applications (`assignment`) as a min-cost flow.


The flow network::

    source ──(one arc per unit of an expert's free cap, convex cost)──> expert
    expert ──(cap 1, cost (10 000 − points) · COST_PER_POINT)──> application
           └─> [application, institution] ──(cap 1)──> application   (when several experts
                                                                      of one institution
                                                                      are candidates)
    application ──(cap k − already assigned)──> sink

Every unit of flow crosses exactly one expert→application arc, so minimising cost
maximises affinity among the flows of the largest value. OR-Tools' `SimpleMinCostFlow`
solves it exactly; arcs are built in bulk with numpy.

Sparsification. Scoring every pair is cheap in blocks (one matrix product per block of
one category's applications against its qualified experts, in threads); a flow over
every pair is not (160 M arcs at provincial scale). So, in one pass over all pairs:

1. pool: each application's POOL_PER_TOP_N · top_n best eligible experts by affinity;
2. candidates: each application's top_n experts united with each expert's top_m
   applications (among the applications' nearest), taken from the pool;
3. column generation: solve the flow over the candidates for affinity alone, read its
   node potentials (the LP duals: shortest-path distances in the residual graph), price
   every pool pair with them and add those that would lower the cost (PRICING_ROUNDS
   rounds); then solve the flow, load spread included, over the candidates so grown;
4. an application still short gets all its eligible experts and the flow is solved
   again, so a shortfall is never an artefact of the sparsification (after an auction:
   first its POOL_PER_TOP_N · top_n best experts with cap left, `_fill_short`).

Large calls. Min-cost flow time grows about with the square of the arcs (1 s at 300 000,
100 s at 3 M), so a call of more than AUCTION_ROWS open applications is not solved by
flow: the pools go to an auction (`auction.py`; Bertsekas' forward auction), within
auction.EPSILON points per slot of the best over the pools, and its final prices are the
duals that certify it over every pair (`bench/assign_national.py`). A pool ranks experts by
points, the auction by points − price: before it, a coarse scouting auction tells roughly
the prices, and a row whose pool may leave out a better buy at them gets more experts from
outside it, the best by points − scouted price (`_deepened`).

`top_n=None` skips all that and solves over every eligible pair (the dense problem).
`bench/assign.py` measures the loss against the exact optimum over all pairs, certified
with `FlowSolution.lp_duals`.

Load spread, and why affinity still dominates. The j-th unit of an expert's cap
(j = 1 .. cap) costs round(load_spread · COST_PER_POINT · (j − 1) / (cap − 1)): convex,
increasing in the share of the cap used, so among equally good experts work goes to the
least loaded (relative to their caps). The most any one assignment can pay is
`load_spread` affinity points (1 point = 1/10 000 of the best possible affinity), so
spreading can cost at most `load_spread` points per assignment in total affinity: with
the default 0.5, at most 0.005% of a perfect match per slot; in practice it only breaks
ties, which are common because affinities are built from small sets. Set it to 0 for
pure affinity. In an auctioned call each unit's spread cost is its reservation price: of
equally priced experts the less loaded is bid for first, but the bidding increment
(auction.EPSILON) outweighs the spread, so work is spread only among experts whose prices
tie, not as the flow spreads it.

Feasibility. `Feasibility` reports aggregate demand against free capacity, overall and
per category, before solving. The solve maximises the number of filled slots first;
`unfilled` names every application left short, how many it misses and why.


Replacement. `replace_declined` (or `assign` with `fixed` and `excluded_pairs`) keeps
the standing assignments, never re-offers a declined pair, respects the caps that are
left, and solves only for the open slots. A decline in a call of any size solves only its
application: over the experts of `replacement_rounds`, with what each holds in the call.

Determinism. Applications and experts are ordered by id, then the experts are shuffled
with `policy.seed`, which decides ties between equally good experts; terms are coded in
sorted order, not in the order sets iterate (that follows each process's string hashes).
The same inputs and seed give the same assignment, whatever order the inputs came in, on
one installation: candidates are ranked by float scores from the BLAS library, whose last
bits another build may round differently.
"""

from __future__ import annotations

import gc
import os
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

from services.review.domain.affinity import (
    AFFINITY_SCALE,
    KEYWORD_WEIGHT,
    AffinityScorer,
    affinity_points,
    join_on_key,
)
from services.review.domain.assignment import (
    Application,
    AssignedPair,
    AssignmentPolicy,
    AssignmentResult,
    Decline,
    Expert,
    Feasibility,
    LoadStats,
    Unfilled,
    applied_institutions,
)
from services.review.domain.auction import EPSILON, FILL, auction
from services.review.domain.conflicts import ExclusionMask, exclusion_reasons

COST_PER_POINT = 64  # integer flow costs per affinity point: room for the load spread's steps
BLOCK_ENTRIES = 4_000_000  # scores computed at once: 16 MB of float32
POOL_PER_TOP_N = 24  # an application's pool: its 24 · top_n best experts
# An auctioned call first scouts prices with a coarse auction; a row whose pool may leave out a
# better buy at those prices gets DEEPER_PER_TOP_N · top_n more experts (`_deepened`).
SCOUT_EPSILON = 1024.0
DEEPER_PER_TOP_N = 6
PRICING_ROUNDS = 1
# Calls of more open applications than AUCTION_ROWS are solved by auction (`_auctioned`).
AUCTION_ROWS = 40_000
# Blocks are scored in threads: numpy releases the GIL. Under eventlet's monkey patching (the
# services) the threads are green and the blocks simply go one after another.
THREADS = min(4, os.cpu_count() or 1)
# A call with more qualified pairs than this (about 2e10 at national scale: 300 000 × 100 000)
# scores only the experts closest in fields to each application (`_field_plan`): at least
# FIELD_COLUMNS of them per set of fields, whole levels of field cosine.
PRUNE_ABOVE_PAIRS = 1_000_000_000
FIELD_COLUMNS = 1_500
MAX_FIELD_GROUP_PAIRS = 50_000_000
# Bellman-Ford passes for the potentials; about 150 at provincial scale. Stopped early they
# only price fewer pairs in, and the LP duals stay a valid (looser) bound.
MAX_RELAXATIONS = 2_000
#: An application's open slots are filled first from its REPLACEMENT_ROUND best experts, then
#: four times as many, and so on (`replacement_rounds`).
REPLACEMENT_ROUND = 64

#: Told how far a solve has come: `progress(phase, done, total)`, phase "scoring" or "solving",
#: done and total counting the flows solved, or an auction's slots filled (None where the
#: phase has none to count).
Progress = Callable[[str, int | None, int | None], None]


def _no_progress(phase: str, done: int | None, total: int | None) -> None:
    pass


def assign(
    applications: Sequence[Application],
    experts: Sequence[Expert],
    policy: AssignmentPolicy,
    fixed: Iterable[tuple[str, str]] = (),
    excluded_pairs: Iterable[tuple[str, str]] = (),
    applied_institution_ids: Collection[str] | None = None,
    progress: Progress | None = None,
    held: Mapping[str, int] | None = None,
) -> AssignmentResult:
    """Assign experts to the call's applications.

    applications: all the call's applications to review (those with k fixed experts
    cost nothing). fixed: (application id, expert id) assignments that stand. excluded_pairs:
    pairs never to assign (declined). applied_institution_ids: the institutions that
    applied in the call (default: those of `applications`). progress: told of each phase
    and each flow solved or auction round (`Progress`). held: by expert id, the assignments an
    expert holds in the call beyond `fixed` (on applications not given: a replacement
    solving one application), counted against the cap and the load spread like fixed ones.
    Raises ValueError for duplicate or unknown ids, or a fixed pair that breaks a rule.
    """
    problem = AssignmentProblem(applications, experts, policy, fixed, excluded_pairs, applied_institution_ids, held)
    return problem.solve(progress or _no_progress)


def replace_declined(
    applications: Sequence[Application],
    experts: Sequence[Expert],
    policy: AssignmentPolicy,
    assigned: Iterable[tuple[str, str]],
    declined: Iterable[Decline],
    excluded_pairs: Iterable[tuple[str, str]] = (),
    applied_institution_ids: Collection[str] | None = None,
) -> AssignmentResult:
    """Replace declined assignments: the rest of `assigned` stands, declined pairs never return.

    `excluded_pairs`: earlier declines. Raises ValueError for a decline of a pair not assigned.
    """
    assigned = {(app, exp) for app, exp, *_ in assigned}
    declined_pairs = {(d.application_id, d.expert_id) for d in declined}
    if stray := sorted(declined_pairs - assigned):
        raise ValueError(f"declined: ({stray[0][0]}, {stray[0][1]}) is not an assigned pair")
    return assign(
        applications,
        experts,
        policy,
        sorted(assigned - declined_pairs),
        [*excluded_pairs, *sorted(declined_pairs)],
        applied_institution_ids,
    )


def slot_scores(
    application: Application,
    experts: Iterable[Expert],
    policy: AssignmentPolicy,
    applied_institution_ids: Collection[str],
    never: Collection[str] = (),
) -> list[tuple[int, str]]:
    """(points, expert id) of each expert who may fill an open slot of the application: no rule
    excludes them, a cap above 0, not in `never`."""
    return [
        (affinity_points(application, expert), expert.id)
        for expert in experts
        if expert.id not in never
        and expert.cap > 0
        and not exclusion_reasons(application, expert, policy, applied_institution_ids)
    ]


def replacement_rounds(scored: Iterable[tuple[int, str]], load_spread: float) -> list[list[str]]:
    """The experts of `slot_scores`, best first, in widening rounds of ids: the best
    REPLACEMENT_ROUND, then four times as many, and so on up to all; each round holds the one
    before it and every expert within `load_spread` points of its last.

    Solving the application alone over the first round that can fill its slots (with what
    each expert holds in the call, `assign(held=)`) gives what solving it over all would:
    the solver pays for a pair its missing points plus at most `load_spread` points for
    spreading, so an expert outside the round, more than `load_spread` points below everyone
    in it, never costs less than one in it; and one application's best choice under the
    one-per-institution rule is the greedy one, cheapest first."""
    ranked = sorted(scored, key=lambda pair: (-pair[0], pair[1]))
    rounds: list[list[str]] = []
    end, size = 0, REPLACEMENT_ROUND
    while end < len(ranked):
        end = min(size, len(ranked))
        floor = ranked[end - 1][0] - load_spread
        while end < len(ranked) and ranked[end][0] >= floor:
            end += 1
        rounds.append([expert_id for _, expert_id in ranked[:end]])
        size = 4 * end
    return rounds


def beyond_fields_cannot_beat(result: AssignmentResult, policy: AssignmentPolicy) -> bool:
    """Whether no expert sharing no field with the application could do better than `result`,
    one application solved over the experts who share a field with it: every slot is filled,
    each by more points than keywords alone can give (KEYWORD_WEIGHT) plus the load spread."""
    least = round(KEYWORD_WEIGHT * AFFINITY_SCALE) + policy.load_spread
    return not result.unfilled and all(pair.affinity * AFFINITY_SCALE >= least for pair in result.pairs)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off for a while (on again at the end if it was on at the start):
    building a national call's 1.5 M result pairs set off full collections over every record of
    the call, 2 s of the 4 it took. Nothing built meanwhile forms a cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _positions(records: Sequence[Application | Expert], kind: str) -> dict[str, int]:
    positions: dict[str, int] = {}
    for position, record in enumerate(records):
        if record.id in positions:
            raise ValueError(f"{kind}: duplicate id {record.id!r}")
        positions[record.id] = position
    return positions


def _id_rank(records: Sequence[Application | Expert]) -> np.ndarray:
    """Each record's rank by id (records have distinct ids)."""
    rank = np.empty(len(records), np.int64)
    rank[sorted(range(len(records)), key=lambda position: records[position].id)] = np.arange(len(records))
    return rank


def _best(keys: np.ndarray, count: int) -> np.ndarray:
    """Flat indices of each row's `count` largest keys, among the keys >= 0."""
    width = keys.shape[1]
    columns = (
        np.argpartition(keys, width - count, axis=1)[:, -count:]
        if width > count
        else np.broadcast_to(np.arange(width), keys.shape)
    )
    flat = (np.arange(len(keys))[:, None] * width + columns).ravel()
    best: np.ndarray = flat[keys.ravel()[flat] >= 0]
    return best


def _best_by_group(groups: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` largest values within each group (ties: first seen)."""
    order = np.lexsort((-values, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return order[rank < count]


class _Block(NamedTuple):
    rows: np.ndarray  # application positions, ascending, one category
    columns: np.ndarray  # expert positions
    column_of_expert: np.ndarray  # expert position -> column, or -1


class _State(NamedTuple):
    """What is left for one flow after a first solve: open slots per application, free cap and
    standing load per expert (what the first solve took counts as standing)."""

    demand: np.ndarray
    free: np.ndarray
    load: np.ndarray


class _Pairs(NamedTuple):
    """The pairs of an auction, shaped like a FlowSolution for `_result`."""

    app: np.ndarray
    expert: np.ndarray
    chosen: np.ndarray
    points: np.ndarray
    candidates: int


class LpDuals(NamedTuple):
    """Dual values of the assignment LP (max Σ points·x), read off a flow without load spread.

    The LP's rows: each application (≤ open slots), each expert (≤ free cap), each
    [application, institution] group (≤ 1) and Σx = filled. Any values with app, expert,
    group ≥ 0 bound the optimum over ANY set of pairs by weak duality::

        base + Σ_pairs max(0, slack),   slack = points − app − expert − group − fill

    where base = Σ slots·app + Σ free·expert + Σ group + filled·fill; over the flow's own
    pairs the bound equals the flow's optimum, so adding the rest certifies the loss of
    the sparsification.
    """

    app: np.ndarray  # per application position, in points
    expert: np.ndarray  # per expert position
    group_keys: np.ndarray  # sorted: application position · n_institutions + institution code
    group: np.ndarray
    fill: float
    base: float
    institution: np.ndarray  # institution code per expert position
    n_institutions: int

    def slack(self, app: np.ndarray, expert: np.ndarray, points: np.ndarray) -> np.ndarray:
        key = app * self.n_institutions + self.institution[expert]
        at = np.minimum(np.searchsorted(self.group_keys, key), max(len(self.group_keys) - 1, 0))
        group = np.where(self.group_keys[at] == key, self.group[at], 0) if len(self.group_keys) else 0
        slack: np.ndarray = points - self.app[app] - self.expert[expert] - group - self.fill
        return slack

    def bound(self, app: np.ndarray, expert: np.ndarray, points: np.ndarray) -> float:
        """The upper bound on total affinity points over the pairs given."""
        return self.base + float(np.maximum(self.slack(app, expert, points), 0).sum())


class FlowSolution:
    """The min-cost flow over one candidate set, solved, with node potentials.

    Nodes: 0 source, 1 sink, 2.. experts, then applications, then one gadget per
    [application, institution] with several candidate experts. `potentials` are
    shortest-path distances in the residual graph (Bellman-Ford, vectorised, one pass per
    arc of the longest shortest path): with them every residual arc has reduced cost
    >= 0, which certifies optimality and prices pairs the flow did not see.
    """

    def __init__(
        self,
        problem: AssignmentProblem,
        app: np.ndarray,
        expert: np.ndarray,
        spread: bool = True,
        state: _State | None = None,
    ):
        self.problem, self.app, self.expert, self.spread = (
            problem,
            app,
            expert,
            spread and problem.policy.load_spread > 0,
        )
        self.state = state
        demand = problem.demand if state is None else state.demand
        self.points = problem.points(app, expert)
        n_experts, n_apps = len(problem.experts), len(problem.applications)
        self.first_app = 2 + n_experts
        group_key, group, group_size = np.unique(
            app * problem.n_institutions + problem.institution[expert], return_inverse=True, return_counts=True
        )
        shared = group_size > 1
        group_node = np.full(len(group_key), -1, np.int64)
        group_node[shared] = self.first_app + n_apps + np.arange(int(shared.sum()))
        group_app = np.zeros(len(group_key), np.int64)
        group_app[group] = app
        self.group_keys, self.group_nodes = group_key[shared], group_node[shared]
        self.pair_head = np.where(shared[group], group_node[group], self.first_app + app)
        load = problem.load_arcs(self.spread, state)
        open_apps = np.flatnonzero(demand > 0)
        parts = [
            load,
            (2 + expert, self.pair_head, np.ones(len(app)), (AFFINITY_SCALE - self.points) * COST_PER_POINT),
            (
                self.group_nodes,
                self.first_app + group_app[shared],
                np.ones(len(self.group_nodes)),
                np.zeros(len(self.group_nodes)),
            ),
            (self.first_app + open_apps, np.ones(len(open_apps)), demand[open_apps], np.zeros(len(open_apps))),
        ]
        self.n_nodes = self.first_app + n_apps + len(self.group_nodes)
        wanted = int(demand[open_apps].sum())
        self.tails, self.heads, self.caps, self.costs = (
            np.concatenate(column).astype(np.int64) for column in zip(*parts)
        )
        self.flows = self._solve(wanted)
        first_pair = len(load[0])
        self.chosen = self.flows[first_pair : first_pair + len(app)] > 0
        self._potentials: np.ndarray | None = None

    def _solve(self, wanted: int) -> np.ndarray:
        # Imported here: OR-Tools and highspy bundle different libhighs.so.1 builds and cannot
        # share a process, and the benchmark's LP process scores pairs with this module.
        from ortools.graph.python import min_cost_flow

        flow = min_cost_flow.SimpleMinCostFlow()
        arcs = flow.add_arcs_with_capacity_and_unit_cost(
            self.tails.astype(np.int32), self.heads.astype(np.int32), self.caps, self.costs
        )
        flow.set_nodes_supplies(np.array([0, 1], np.int32), np.array([wanted, -wanted], np.int64))
        status = flow.solve()
        if status != flow.OPTIMAL:  # the pool cannot cover every slot: fill what can be filled
            status = flow.solve_max_flow_with_min_cost()
        if status != flow.OPTIMAL:
            raise RuntimeError(f"min-cost flow failed: {status}")
        flows: np.ndarray = flow.flows(np.asarray(arcs, np.int32)).astype(np.int64)  # OR-Tools is untyped
        return flows

    @property
    def candidates(self) -> int:
        return len(self.app)

    @property
    def potentials(self) -> np.ndarray:
        if self._potentials is None:
            forward, backward = self.flows < self.caps, self.flows > 0
            tails = np.concatenate([self.tails[forward], self.heads[backward]])
            heads = np.concatenate([self.heads[forward], self.tails[backward]])
            costs = np.concatenate([self.costs[forward], -self.costs[backward]])
            order = np.argsort(heads, kind="stable")
            tails, heads, costs = tails[order], heads[order], costs[order]
            starts = np.flatnonzero(np.r_[True, heads[1:] != heads[:-1]]) if len(heads) else heads
            distance = np.zeros(self.n_nodes, np.int64)
            for _ in range(min(self.n_nodes, MAX_RELAXATIONS) if len(heads) else 0):
                relaxed = np.minimum(distance[heads[starts]], np.minimum.reduceat(distance[tails] + costs, starts))
                if np.array_equal(relaxed, distance[heads[starts]]):
                    break
                distance[heads[starts]] = relaxed
            self._potentials = distance
        return self._potentials

    def reduced_costs(self, app: np.ndarray, expert: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Reduced cost of new expert→application arcs: negative ones would lower the cost."""
        reduced: np.ndarray = (
            (AFFINITY_SCALE - points) * COST_PER_POINT
            + self.potentials[2 + expert]
            - self.potentials[self.first_app + app]
        )
        return reduced

    def lp_duals(self) -> LpDuals:
        """The LP duals in points; only for a flow without load spread (plain expert arcs)."""
        problem = self.problem
        if self.spread or self.state is not None:
            raise ValueError("lp_duals needs a flow of the whole call solved without load spread")
        distance = self.potentials / COST_PER_POINT
        source, sink = distance[0], distance[1]
        app = np.where(
            problem.demand > 0, np.maximum(0, sink - distance[self.first_app : self.first_app + len(problem.demand)]), 0
        )
        expert = np.where(problem.free > 0, np.maximum(0, distance[2 : self.first_app] - source), 0)
        group = np.maximum(
            0, distance[self.first_app + self.group_keys // problem.n_institutions] - distance[self.group_nodes]
        )
        fill = AFFINITY_SCALE + source - sink
        base = problem.demand.clip(0) @ app + problem.free @ expert + group.sum() + self.chosen.sum() * fill
        return LpDuals(
            app, expert, self.group_keys, group, fill, float(base), problem.institution, problem.n_institutions
        )


class AssignmentProblem:
    """One assignment run: positions, exclusions, scores, candidates, flows.

    Positions: applications are ordered by (category, prefecture, id), experts by id then
    shuffled with the seed; arrays below are indexed by these positions. Public for the
    benchmark and for diagnostics; `assign` is the everyday entry point.
    """

    def __init__(
        self,
        applications: Sequence[Application],
        experts: Sequence[Expert],
        policy: AssignmentPolicy,
        fixed: Iterable[tuple[str, str]] = (),
        excluded_pairs: Iterable[tuple[str, str]] = (),
        applied_institution_ids: Collection[str] | None = None,
        held: Mapping[str, int] | None = None,
    ):
        self._started = time.perf_counter()
        self.policy = policy
        self.applications = sorted(applications, key=lambda a: (a.category, a.prefecture, a.id))
        by_id = sorted(experts, key=lambda e: e.id)
        self.experts = [by_id[i] for i in np.random.default_rng(policy.seed).permutation(len(by_id))]
        self.application_at = _positions(self.applications, "applications")
        self.expert_at = _positions(self.experts, "experts")
        self.applied = applied_institutions(applications, applied_institution_ids)
        institutions: dict[str, int] = {}
        self.institution = np.array(
            [institutions.setdefault(e.institution_id, len(institutions)) for e in self.experts], np.int64
        )
        self.n_institutions = max(len(institutions), 1)
        self.category = np.array([a.category for a in self.applications])
        self.cap = np.array([e.cap for e in self.experts], np.int64)
        fixed_app, fixed_exp = self._pairs(fixed, "fixed")
        declined_app, declined_exp = self._pairs(excluded_pairs, "excluded_pairs")
        self._check_fixed(fixed_app, fixed_exp, set(zip(declined_app.tolist(), declined_exp.tolist())))
        k = policy.reviewers_per_application
        self.demand = k - np.bincount(fixed_app, minlength=len(self.applications))
        if (self.demand < 0).any():
            over = self.applications[int(np.argmax(self.demand < 0))].id
            raise ValueError(f"fixed: application {over!r} has more than {k} experts")
        self.load = np.bincount(fixed_exp, minlength=len(self.experts))
        if held:
            self.load += np.array([held.get(e.id, 0) for e in self.experts], np.int64)
        available = np.array([e.available for e in self.experts], bool)
        self.free = np.where(available, np.maximum(self.cap - self.load, 0), 0)
        # Experts of an institution already on an application are out for it, like declined pairs.
        same_app, same_exp = join_on_key(
            fixed_app, self.institution[fixed_exp], np.arange(len(self.experts)), self.institution
        )
        extra = (np.concatenate([same_app, declined_app]), np.concatenate([same_exp, declined_exp]))
        self.mask = ExclusionMask(self.applications, self.experts, policy, self.applied, extra)
        self.scorer = AffinityScorer(self.applications, self.experts)

    def _pairs(self, pairs: Iterable[tuple[str, str]], argument: str) -> tuple[np.ndarray, np.ndarray]:
        apps: list[int] = []
        exps: list[int] = []
        for app_id, expert_id, *_ in pairs:
            if app_id not in self.application_at or expert_id not in self.expert_at:
                raise ValueError(f"{argument}: ({app_id}, {expert_id}) names an unknown application or expert")
            apps.append(self.application_at[app_id])
            exps.append(self.expert_at[expert_id])
        return np.asarray(apps, np.int64), np.asarray(exps, np.int64)

    def _check_fixed(self, fixed_app: np.ndarray, fixed_exp: np.ndarray, declined: set[tuple[int, int]]) -> None:
        seen: set[tuple[int, int]] = set()
        for app, exp in zip(fixed_app.tolist(), fixed_exp.tolist()):
            application, expert = self.applications[app], self.experts[exp]
            reasons = exclusion_reasons(application, expert, self.policy, self.applied)
            if (app, exp) in declined:
                reasons.append("also in excluded_pairs")
            if (app, exp) in seen:
                reasons.append("listed twice")
            seen.add((app, exp))
            if reasons:
                raise ValueError(f"fixed: ({application.id}, {expert.id}) cannot stand: {'; '.join(reasons)}")

    def points(self, app: np.ndarray, expert: np.ndarray) -> np.ndarray:
        """Exact affinity points of the pairs (app[i], expert[i]) (positions)."""
        return self.scorer.points(app, expert)

    def solve(self, progress: Progress = _no_progress) -> AssignmentResult:
        feasibility = self._feasibility()
        open_rows = np.flatnonzero(self.demand > 0)
        solution: FlowSolution | _Pairs
        progress("scoring", None, None)
        if self.policy.top_n is None:
            pairs = self.all_pairs(open_rows)
            progress("solving", 0, 1)
            solution = self.flow(*pairs)
        elif len(open_rows) > AUCTION_ROWS:
            solution, _ = self._auctioned(open_rows, progress)
        else:
            solution = self.sparse_flow(open_rows, progress)
        missing = self._missing(solution)
        if missing.any() and isinstance(solution, _Pairs):
            solution = self._fill_short(solution, missing)
            missing = self._missing(solution)
        elif missing.any() and self.policy.top_n is not None:
            # Never leave an application short for want of candidates: give it all its experts.
            extra = self.all_pairs(np.flatnonzero(missing))
            keys = np.union1d(
                solution.app * len(self.experts) + solution.expert, extra[0] * len(self.experts) + extra[1]
            )
            if len(keys) > len(solution.app):
                solution = self.flow(keys // len(self.experts), keys % len(self.experts))
                missing = self._missing(solution)
        return self._result(solution, missing, feasibility)

    def flow(
        self,
        app: np.ndarray,
        expert: np.ndarray,
        spread: bool = True,
        state: _State | None = None,
    ) -> FlowSolution:
        """Solve the flow over the candidate pairs (app[i], expert[i]); spread=False leaves the
        load spread out (pure affinity); `state`: what is left after a first solve."""
        return FlowSolution(self, app, expert, spread, state)

    def sparse_flow(self, rows: np.ndarray, progress: Progress = _no_progress) -> FlowSolution:
        """The flow over the sparsified candidate set of `rows`.

        Candidates: each row's top_n experts and each expert's top_m rows by affinity,
        from a pool of each row's POOL_PER_TOP_N · top_n best experts. Then up to
        PRICING_ROUNDS rounds of column generation: solve for affinity alone, price every
        pool pair with the flow's potentials, add those that would lower the cost. Last,
        the flow with the load spread over the grown set.
        """
        top_n = self.policy.top_n
        assert top_n is not None  # solve() takes the sparse flow only with a top_n
        keys, expert_bits = self._pool(rows, POOL_PER_TOP_N * top_n)
        progress("solving", 0, 1)
        flat = keys.ravel()
        app, expert, score = np.repeat(rows, keys.shape[1]), flat & ((1 << expert_bits) - 1), flat >> expert_bits
        chosen = np.zeros(flat.size, bool)
        chosen[_best(keys, top_n)] = True
        near = _best(keys, 4 * top_n)  # each expert's top_m among the rows' nearest
        chosen[near[_best_by_group(expert[near], flat[near], self.policy.top_m)]] = True
        for _ in range(PRICING_ROUNDS):
            pricing = self.flow(app[chosen], expert[chosen], spread=False)  # affinity alone prices
            unseen = np.flatnonzero((flat >= 0) & ~chosen)
            reduced = pricing.reduced_costs(app[unseen], expert[unseen], score[unseen])
            priced_in = unseen[reduced < 0]
            if not len(priced_in):
                if not self.policy.load_spread:
                    return pricing
                break
            chosen[priced_in] = True
        return self.flow(app[chosen], expert[chosen])

    def _auctioned(
        self, rows: np.ndarray, progress: Progress = _no_progress, epsilon: float = EPSILON
    ) -> tuple[_Pairs, np.ndarray]:
        """A call too large for one flow (min-cost flow time grows about with the square of the
        arcs: 1 s at 300 000 arcs, 100 s at 3 M): the rows' pools, deepened where they may leave
        out a better buy (`_deepened`), go to an auction (`auction.auction`), within `epsilon`
        points per slot of the best over them. Returns the pairs won and the experts' final
        prices (the duals that certify them)."""
        values, experts = self._deepened(rows, *self._auction_pools(rows))
        _, spread = self._units(self.free, self.load)  # units in the order the auction takes them
        won = auction(
            values,
            experts,
            self.institution,
            self.demand[rows],
            self.free,
            spread,
            epsilon,
            progress=lambda filled, slots: progress("solving", filled, slots),
        )
        row, slot = np.nonzero(won.held >= 0)
        app, expert = rows[row], experts[row, won.held[row, slot]].astype(np.int64)
        pairs = _Pairs(app, expert, np.ones(len(app), bool), self.points(app, expert), int(np.isfinite(values).sum()))
        return pairs, won.price

    def _auction_pools(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's POOL_PER_TOP_N · top_n best eligible experts by points, best first:
        (points as float64, -inf where none; expert positions as int32, -1 where none)."""
        top_n = self.policy.top_n
        assert top_n is not None  # an auctioned call is a sparse one
        keys, expert_bits = self._pool(rows, POOL_PER_TOP_N * top_n)
        present = keys >= 0
        experts = np.where(present, keys & ((1 << expert_bits) - 1), -1).astype(np.int32)
        values = np.where(present, (keys >> expert_bits).astype(np.float64), -np.inf)
        return values, experts

    def _deepened(self, rows: np.ndarray, values: np.ndarray, experts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pools, with more experts for the rows whose pool may leave out a better buy.

        A pool holds a row's best experts by points; the auction buys by points − price, and
        an expert just below the pool that nobody else wants (price 0) can be worth more to the
        row than an expert of its pool that others bid up. A scouting auction (increment
        SCOUT_EPSILON, no load spread) tells roughly what the prices will be. Every expert
        outside a row's pool scores at most the pool's last value and costs at least 0, so a
        row can gain from outside only where that last value exceeds what its worst slot is
        worth to it at the scouted prices (its held net; an open slot: worth any expert); with
        more than SCOUT_EPSILON to gain, it gets its DEEPER_PER_TOP_N · top_n best experts by
        points − scouted price from outside its pool (`_outside_pools`), as extra columns."""
        top_n = self.policy.top_n
        assert top_n is not None  # an auctioned call is a sparse one
        width = DEEPER_PER_TOP_N * top_n
        if not width:
            return values, experts
        demand = self.demand[rows]
        scout = auction(
            values, experts, self.institution, demand, self.free, np.zeros(int(self.free.sum())), SCOUT_EPSILON
        )
        held = np.maximum(scout.held, 0)
        held_experts = np.take_along_axis(experts, held, 1)
        held_net = np.take_along_axis(values, held, 1) - scout.price[held_experts]
        slots = np.arange(held.shape[1])[None, :] < demand[:, None]
        worst = np.where(slots, np.where(scout.held >= 0, held_net, -FILL), np.inf).min(axis=1)
        deep = np.flatnonzero(values[:, -1] > worst + SCOUT_EPSILON)
        if not len(deep):
            return values, experts
        outside_values, outside_experts = self._outside_pools(rows[deep], rows, experts[deep], scout.price, width)
        merged_values = np.full((len(rows), values.shape[1] + width), -np.inf)
        merged_experts = np.full(merged_values.shape, -1, np.int32)
        merged_values[:, : values.shape[1]], merged_experts[:, : values.shape[1]] = values, experts
        deep_values = np.hstack([values[deep], outside_values])
        order = np.argsort(-deep_values, axis=1, kind="stable")  # best first, the pool first at equal points
        merged_values[deep] = np.take_along_axis(deep_values, order, 1)
        merged_experts[deep] = np.take_along_axis(np.hstack([experts[deep], outside_experts]), order, 1)
        return merged_values, merged_experts

    def _outside_pools(
        self, rows: np.ndarray, call_rows: np.ndarray, pools: np.ndarray, price: np.ndarray, width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's `width` best eligible experts by points − `price` that are not in its pool
        (`pools`: rows × pool width of expert positions, -1: none), among the experts the call
        of `call_rows` scores (`_scoring_plan`): (points, -inf where none; expert positions,
        -1 where none), rows × width."""
        row_of = np.full(len(self.applications), -1, np.int64)
        row_of[rows] = np.arange(len(rows))
        values = np.full((len(rows), width), -np.inf)
        experts = np.full((len(rows), width), -1, np.int32)
        for block in self._scoring_plan(rows, call_rows):
            scores = self._scores(block)
            net = np.where(scores >= 0, scores - price[block.columns][None, :], -np.inf)
            at = row_of[block.rows]
            pool = pools[at]
            in_pool = np.where(pool >= 0, block.column_of_expert[np.maximum(pool, 0)], -1)
            r, c = np.nonzero(in_pool >= 0)
            net[r, in_pool[r, c]] = -np.inf
            take = min(width, net.shape[1])
            top = np.argpartition(net, net.shape[1] - take, axis=1)[:, -take:]
            found = np.isfinite(np.take_along_axis(net, top, 1))
            values[at, :take] = np.where(found, np.rint(np.take_along_axis(scores, top, 1)), -np.inf)
            experts[at, :take] = np.where(found, block.columns[top], -1)
        return values, experts

    def _fill_short(self, solution: _Pairs, missing: np.ndarray) -> _Pairs:
        """After an auction: the applications left short get their best eligible experts
        with cap left (`_best_pairs`, POOL_PER_TOP_N · top_n each), every other pair standing;
        those still short then get all their eligible experts with cap left. Offering every
        expert at once was 71 M arcs and 17 GB in a national call of one category."""
        load = self.load + np.bincount(solution.expert, minlength=len(self.experts))
        held = np.unique(solution.app * self.n_institutions + self.institution[solution.expert])
        available = np.array([e.available for e in self.experts], bool)
        state = _State(np.maximum(missing, 0), np.where(available, np.maximum(self.cap - load, 0), 0), load)
        top_n = self.policy.top_n
        assert top_n is not None  # an auctioned call is a sparse one
        app, expert = self._best_pairs(np.flatnonzero(missing > 0), state.free, POOL_PER_TOP_N * top_n)
        fresh = ~np.isin(app * self.n_institutions + self.institution[expert], held)
        app, expert = app[fresh], expert[fresh]
        extra = self.flow(app, expert, state=state)
        still = state.demand - np.bincount(extra.app[extra.chosen], minlength=len(self.applications))
        if (still > 0).any():  # never short for want of candidates
            more_app, more_expert = self._best_pairs(np.flatnonzero(still > 0), state.free, len(self.experts))
            fresh = ~np.isin(more_app * self.n_institutions + self.institution[more_expert], held)
            keys = np.union1d(
                app * len(self.experts) + expert, more_app[fresh] * len(self.experts) + more_expert[fresh]
            )
            app, expert = keys // len(self.experts), keys % len(self.experts)
            extra = self.flow(app, expert, state=state)
        app = np.concatenate([solution.app, extra.app[extra.chosen]])
        expert = np.concatenate([solution.expert, extra.expert[extra.chosen]])
        return _Pairs(
            app, expert, np.ones(len(app), bool), self.points(app, expert), solution.candidates + len(extra.app)
        )

    def _best_pairs(self, rows: np.ndarray, free: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(app, expert) pairs: each row's `width` best eligible experts among those with `free` cap."""
        apps, experts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for block in self._block_plan(rows, with_free_cap=True, free=free):
            best = _best(self._scores(block), width)
            apps.append(block.rows[best // len(block.columns)])
            experts.append(block.columns[best % len(block.columns)])
        return np.concatenate(apps), np.concatenate(experts)

    def all_pairs(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every eligible pair of `rows` with an expert who has free cap."""
        pairs = [
            (block_rows[r], columns[c])
            for block_rows, columns, scores in self.eligible_blocks(rows)
            for r, c in [np.nonzero(scores >= 0)]
        ]
        if not pairs:
            empty = np.zeros(0, np.int64)
            return empty, empty
        apps, experts = zip(*pairs)
        return np.concatenate(apps), np.concatenate(experts)

    def _pool(self, rows: np.ndarray, width: int) -> tuple[np.ndarray, int]:
        """Each row's `width` best eligible experts as keys, best first (rows × width, -1 where
        none, last): key = rounded score << expert_bits | expert position, so the larger key is
        the better expert and equal scores go by position, the seeded tie-break. Returns (keys,
        expert_bits)."""
        expert_bits = max(1, (len(self.experts) - 1).bit_length())
        key_type = np.int32 if expert_bits <= 16 else np.int64

        def best_keys(block: _Block) -> np.ndarray:
            keys = np.rint(self._scores(block)).astype(key_type)
            keys <<= expert_bits
            keys |= block.columns.astype(key_type)
            if keys.shape[1] > width:
                keys = np.partition(keys, keys.shape[1] - width, axis=1)[:, -width:]
            keys.sort(axis=1)
            best_first: np.ndarray = np.maximum(keys[:, ::-1], -1)  # excluded (< 0) last, as none
            return best_first

        pool = np.full((len(rows), width), -1, key_type)
        row_of = np.full(len(self.applications), -1, np.int64)
        row_of[rows] = np.arange(len(rows))
        plan = self._scoring_plan(rows, rows)
        with ThreadPoolExecutor(THREADS) as threads:
            # A bounded window of blocks in flight: at national scale there are thousands.
            pending: deque[tuple[_Block, Any]] = deque()
            for block in plan:
                pending.append((block, threads.submit(best_keys, block)))
                if len(pending) > 2 * THREADS:
                    done, keys = pending.popleft()
                    pool[row_of[done.rows], : keys.result().shape[1]] = keys.result()
            for done, keys in pending:
                pool[row_of[done.rows], : keys.result().shape[1]] = keys.result()
        return pool, expert_bits

    def _scoring_plan(self, rows: np.ndarray, call_rows: np.ndarray) -> Iterator[_Block]:
        """The blocks to score for `rows` of a call of `call_rows`: every qualified expert with
        free cap, or, where the call has more qualified pairs than PRUNE_ABOVE_PAIRS, the
        experts closest in fields (`_field_plan`)."""
        qualified_pairs = sum(
            len(category_rows) * int((self.mask.qualified(category_rows[0]) & (self.free > 0)).sum())
            for _, category_rows in self._by_category(call_rows)
        )
        plan = self._field_plan(rows, FIELD_COLUMNS) if qualified_pairs > PRUNE_ABOVE_PAIRS else None
        return self._block_plan(rows, with_free_cap=True) if plan is None else plan

    def _field_plan(self, rows: np.ndarray, min_columns: int) -> Iterator[_Block] | None:
        """Blocks for a large call: the rows of one set of fields × the experts whose fields are
        closest to it, in whole levels of field cosine, until at least `min_columns` experts
        with free cap (or every expert, when the fields do not tell experts apart). Another
        expert scores at most FIELD_WEIGHT · its lower cosine + KEYWORD_WEIGHT: the pool is a
        heuristic there, and `bench/assign_national.py` certifies what it loses. None when
        there are too many distinct sets of fields for the group-by-group cosines."""
        app_group, exp_group, cosine = self.scorer.field_groups()
        if cosine.size > MAX_FIELD_GROUP_PAIRS:
            return None
        return self._field_blocks(rows, min_columns, app_group, exp_group, cosine)

    def _field_blocks(
        self, rows: np.ndarray, min_columns: int, app_group: np.ndarray, exp_group: np.ndarray, cosine: np.ndarray
    ) -> Iterator[_Block]:
        has_cap = self.free > 0
        experts_in = np.bincount(exp_group[has_cap], minlength=cosine.shape[1])
        order = rows[np.argsort(app_group[rows], kind="stable")]  # rows of a group stay ascending
        groups = app_group[order]
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        for start, end in zip(starts, np.r_[starts[1:], len(order)]):
            closeness = cosine[groups[start]]
            by_closeness = np.argsort(-closeness, kind="stable")
            enough = int(np.searchsorted(np.cumsum(experts_in[by_closeness]), min_columns))
            cut = closeness[by_closeness[min(enough, len(by_closeness) - 1)]]
            columns = np.flatnonzero((closeness >= cut)[exp_group] & has_cap if cut > 0 else has_cap)
            if not len(columns):
                continue
            column_of_expert = np.full(len(self.experts), -1, np.int32)
            column_of_expert[columns] = np.arange(len(columns))
            group_rows = order[start:end]
            step = max(1, BLOCK_ENTRIES // len(columns))
            for at in range(0, len(group_rows), step):
                yield _Block(group_rows[at : at + step], columns, column_of_expert)

    def eligible_blocks(
        self, rows: np.ndarray, with_free_cap: bool = True
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(rows, columns, scores) blocks over the rows' qualified experts; excluded entries < 0.

        Scores are float32, unrounded (within half a point of `points`). `with_free_cap`:
        only experts with free cap as columns.
        """
        for block in self._block_plan(rows, with_free_cap):
            yield block.rows, block.columns, self._scores(block)

    def _block_plan(self, rows: np.ndarray, with_free_cap: bool, free: np.ndarray | None = None) -> Iterator[_Block]:
        """The blocks to score: a run of rows of one category × its qualified experts (with
        free cap: `free`, default the call's)."""
        free = self.free if free is None else free
        for _, category_rows in self._by_category(rows):
            qualified = self.mask.qualified(category_rows[0])
            columns = np.flatnonzero(qualified & (free > 0) if with_free_cap else qualified)
            if not len(columns):
                continue
            column_of_expert = np.full(len(self.experts), -1, np.int32)
            column_of_expert[columns] = np.arange(len(columns))
            step = max(1, BLOCK_ENTRIES // len(columns))
            for start in range(0, len(category_rows), step):
                yield _Block(category_rows[start : start + step], columns, column_of_expert)

    def _scores(self, block: _Block) -> np.ndarray:
        scores = self.scorer.block(block.rows, block.columns, block.column_of_expert)
        self.mask.apply(scores, block.rows, block.columns, block.column_of_expert)
        return scores

    def _by_category(self, rows: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """(category, its rows) for the given rows (positions ascending, so each is a run)."""
        for category in np.unique(self.category[rows]):
            yield str(category), rows[self.category[rows] == category]

    def load_arcs(
        self, spread: bool, state: _State | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Source→expert arcs (tails, heads, caps, costs): one per unit of free cap with
        its convex load cost, or one plain arc per expert without load spread."""
        free, standing = (self.free, self.load) if state is None else (state.free, state.load)
        if not spread:
            experts = np.flatnonzero(free > 0)
            return np.zeros(len(experts)), 2 + experts, free[experts], np.zeros(len(experts))
        expert, spread_points = self._units(free, standing)
        return np.zeros(len(expert)), 2 + expert, np.ones(len(expert)), np.rint(COST_PER_POINT * spread_points)

    def _units(self, free: np.ndarray, standing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each unit of free cap, expert after expert (ascending), and its load spread in points."""
        experts = np.flatnonzero(free > 0)
        units = free[experts]
        expert = np.repeat(experts, units)
        # j: the unit's place in the expert's whole cap (after the standing load), 1-based.
        j = standing[expert] + 1 + np.arange(len(expert)) - np.repeat(np.cumsum(units) - units, units)
        return expert, self.policy.load_spread * (j - 1) / np.maximum(self.cap[expert] - 1, 1)

    def _feasibility(self) -> Feasibility:
        demand, capacity = int(self.demand.sum()), int(self.free.sum())
        notes = []
        if capacity < demand:
            notes.append(f"free capacity {capacity} < {demand} open slots: at least {demand - capacity} stay empty")
        for category, rows in self._by_category(np.flatnonzero(self.demand > 0)):
            wanted = int(self.demand[rows].sum())
            qualified = int(self.free[self.mask.qualified(rows[0])].sum())
            if qualified < wanted:
                notes.append(
                    f"category {category}: free capacity {qualified} of qualified experts < {wanted} open slots"
                )
        return Feasibility(demand, capacity, tuple(notes))

    def _missing(self, solution: FlowSolution | _Pairs) -> np.ndarray:
        return self.demand - np.bincount(solution.app[solution.chosen], minlength=len(self.applications))

    def _unfilled(self, missing: np.ndarray) -> list[Unfilled]:
        """Why each short application is short: no qualified expert, conflicts, or capacity."""
        short = np.flatnonzero(missing > 0)
        eligible = np.zeros(len(self.applications), np.int64)
        institutions = np.zeros(len(self.applications), np.int64)
        for rows, columns, scores in self.eligible_blocks(short, with_free_cap=False):
            row, column = np.nonzero(scores >= 0)
            eligible[rows] = np.bincount(row, minlength=len(rows))
            distinct = np.unique(row * self.n_institutions + self.institution[columns[column]])
            institutions[rows] = np.bincount(distinct // self.n_institutions, minlength=len(rows))
        unfilled = []
        for position in short.tolist():
            application, need = self.applications[position], int(self.demand[position])
            if not self.mask.qualified(position).any():
                code, reason = "no_qualified_expert", f"no available expert may review category {application.category}"
            elif institutions[position] < need:
                code, reason = (
                    "conflicts",
                    (
                        f"{eligible[position]} experts from {institutions[position]} institutions are free of conflicts; "
                        f"needs {need} from distinct institutions"
                    ),
                )
            else:
                code, reason = (
                    "capacity",
                    (
                        f"its {eligible[position]} eligible experts ({institutions[position]} institutions) "
                        "are at their caps with other applications"
                    ),
                )
            unfilled.append(Unfilled(application.id, int(missing[position]), reason, code))
        return sorted(unfilled)

    def _result(
        self, solution: FlowSolution | _Pairs, missing: np.ndarray, feasibility: Feasibility
    ) -> AssignmentResult:
        app, expert, points = (
            solution.app[solution.chosen],
            solution.expert[solution.chosen],
            solution.points[solution.chosen],
        )
        order = np.lexsort((_id_rank(self.experts)[expert], _id_rank(self.applications)[app]))
        app_ids, expert_ids = [a.id for a in self.applications], [e.id for e in self.experts]
        with _no_cycle_collection():
            pairs = [
                AssignedPair(app_ids[a], expert_ids[e], p / AFFINITY_SCALE)
                for a, e, p in zip(app[order].tolist(), expert[order].tolist(), points[order].tolist())
            ]
        load = self.load + np.bincount(expert, minlength=len(self.experts))
        pool = np.array([e.available and e.cap > 0 for e in self.experts], bool)
        stats = LoadStats(
            experts_used=int((load[pool] > 0).sum()),
            experts_at_cap=int((load[pool] >= self.cap[pool]).sum()),
            mean_load=float(load[pool].mean()) if pool.any() else 0.0,
            max_load=int(load.max(initial=0)),
            max_utilization=float((load[pool] / self.cap[pool]).max(initial=0.0)),
        )
        return AssignmentResult(
            pairs,
            self._unfilled(missing),
            int(points.sum()) / AFFINITY_SCALE,
            stats,
            feasibility,
            time.perf_counter() - self._started,
            solution.candidates,
        )
