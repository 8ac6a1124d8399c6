"""Expert assignment: conflict-free, optimal, spread, explained when short, replaceable.

Every solved instance here goes through the independent checker (`check_assignment`).
"""

from __future__ import annotations

import dataclasses
import itertools
import random

import numpy as np
import pytest

from services.review.domain import affinity as affinity_module
from services.review.domain.affinity import AffinityScorer, affinity_points, incidence, normalize_term
from services.review.domain.assignment import Application, AssignmentPolicy, Decline, Expert, check_assignment
from services.review.domain import flow
from services.review.domain.flow import (
    COST_PER_POINT,
    AssignmentProblem,
    assign,
    beyond_fields_cannot_beat,
    replace_declined,
    replacement_rounds,
    slot_scores,
)
from services.review.domain.conflicts import exclusion_reasons

K2 = AssignmentPolicy(reviewers_per_application=2, load_spread=0)


def app(id="A1", **overrides) -> Application:
    values = dict(
        institution_id="S1",
        prefecture="长沙市",
        category="hv-group",
        fields={"智能制造"},
        keywords={"工业机器人"},
        team_person_ids={"P1"},
    )
    return Application(id=id, **{**values, **overrides})


def expert(id, **overrides) -> Expert:
    values = dict(
        institution_id=f"U-{id}",
        prefecture="衡阳市",
        person_id=f"X-{id}",
        cap=3,
        fields={"智能制造"},
        keywords={"工业机器人"},
        categories={"hv-group", "master-teacher"},
    )
    return Expert(id=id, **{**values, **overrides})


def solved(applications, experts, policy, **kwargs):
    """Assign and insist the independent checker finds nothing wrong."""
    result = assign(applications, experts, policy, **kwargs)
    standing = [*kwargs.get("fixed", ()), *result.pairs]
    assert (
        check_assignment(
            applications,
            experts,
            policy,
            standing,
            kwargs.get("applied_institution_ids"),
            kwargs.get("excluded_pairs", ()),
        )
        == []
    )
    return result


def assigned(result) -> set[tuple[str, str]]:
    return {(pair.application_id, pair.expert_id) for pair in result.pairs}


# -- affinity ---------------------------------------------------------------------------


def test_affinity_is_higher_for_closer_expertise_and_stays_in_points():
    target = app(fields={"智能制造", "轨道交通"}, keywords={"工业机器人", "数控"})
    close = expert("E1", fields={"智能制造", "轨道交通"}, keywords={"工业机器人", "数控"})
    partial = expert("E2", fields={"智能制造", "现代农业"}, keywords={"数控"})
    unrelated = expert("E3", fields={"现代农业"}, keywords={"育种"})
    assert affinity_points(target, close) == 10_000
    assert 0 < affinity_points(target, partial) < 10_000
    assert affinity_points(target, unrelated) == 0


def test_keywords_match_across_width_and_case():
    assert normalize_term(" ＡＩ教学 ") == normalize_term("ai教学")
    assert app(keywords={"ＡＩ"}).keywords == frozenset({"ai"})


@pytest.mark.parametrize("sparse_budget", [10**9, 0], ids=["keywords-sparse", "keywords-dense"])
def test_bulk_scores_match_the_readable_formula(monkeypatch, sparse_budget):
    monkeypatch.setattr(affinity_module, "SPARSE_KEYWORD_PAIRS", sparse_budget)
    rng = random.Random(7)
    vocabulary, words = [f"f{i}" for i in range(6)], [f"k{i}" for i in range(9)]
    apps = [
        app(
            f"A{i}",
            fields=set(rng.sample(vocabulary, rng.randint(0, 3))),
            keywords=set(rng.sample(words, rng.randint(0, 4))),
        )
        for i in range(30)
    ]
    experts = [
        expert(
            f"E{j}",
            fields=set(rng.sample(vocabulary, rng.randint(0, 4))),
            keywords=set(rng.sample(words, rng.randint(0, 5))),
        )
        for j in range(20)
    ]
    scorer = AffinityScorer(apps, experts)
    rows, columns = np.arange(len(apps)), np.arange(len(experts))
    expected = np.array([[affinity_points(a, e) for e in experts] for a in apps])
    assert np.abs(scorer.block(rows, columns, columns) - expected).max() <= 0.51  # unrounded, float32
    app_index, expert_index = (grid.ravel() for grid in np.meshgrid(rows, columns, indexing="ij"))
    assert (scorer.points(app_index, expert_index) == expected.ravel()).all()


# -- input errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: app(category="science-park"), "Application.category must be a category code"),
        (lambda: app(institution_id=" "), "Application.institution_id must be a non-empty string"),
        (lambda: app(fields="智能制造"), "Application.fields must be a set of strings"),
        (lambda: expert("E1", cap=-1), "Expert.cap must be an integer >= 0"),
        (lambda: expert("E1", categories={"hv-grp"}), "Expert.categories must be a category code"),
        (lambda: AssignmentPolicy(reviewers_per_application=0), "reviewers_per_application must be an integer >= 1"),
        (lambda: AssignmentPolicy(3, top_n=0), "top_n must be an integer >= 1 or None"),
        (lambda: AssignmentPolicy(3, load_spread=-1), "load_spread must be a number of points"),
        (lambda: Decline("A1", "E1", ""), "Decline.reason must be a non-empty string"),
    ],
)
def test_bad_records_are_refused_naming_the_field(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fixed": [("A1", "E9")]}, "fixed: \\(A1, E9\\) names an unknown"),
        ({"excluded_pairs": [("A9", "E1")]}, "excluded_pairs: \\(A9, E1\\) names an unknown"),
        ({"fixed": [("A1", "E1"), ("A1", "E1")]}, "listed twice"),
        ({"fixed": [("A1", "E3")]}, "cannot stand: same institution"),
        ({"fixed": [("A1", "E1")], "excluded_pairs": [("A1", "E1")]}, "also in excluded_pairs"),
    ],
)
def test_bad_standing_assignments_are_refused(kwargs, message):
    experts = [expert("E1"), expert("E2"), expert("E3", institution_id="S1")]
    with pytest.raises(ValueError, match=message):
        assign([app()], experts, K2, **kwargs)


@pytest.mark.parametrize(
    ("applications", "experts", "fixed"),
    [
        ([], [], []),
        ([app()], [], []),
        ([], [expert("E1")], []),
        ([app()], [expert("E1"), expert("E2")], [("A1", "E1"), ("A1", "E2")]),
    ],
    ids=["nothing", "no-experts", "no-applications", "nothing-open"],
)
def test_empty_calls_and_pools_give_an_empty_assignment(applications, experts, fixed):
    result = solved(applications, experts, K2, fixed=fixed)
    assert result.pairs == []
    assert sum(u.missing for u in result.unfilled) == 2 * len(applications) - len(fixed)


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="experts: duplicate id 'E1'"):
        assign([app()], [expert("E1"), expert("E1")], K2)


# -- every rule holds ---------------------------------------------------------------------

CONFLICTED = {
    "same-institution": {"institution_id": "S1"},
    "same-prefecture": {"prefecture": "长沙市"},
    "declared-institution": {"conflict_institution_ids": {"S1"}},
    "declared-person": {"conflict_person_ids": {"P1"}},
    "team-member": {"person_id": "P1"},
    "own-institution-applied": {"institution_id": "S2"},
    "unavailable": {"available": False},
    "not-qualified": {"categories": {"workshop"}},
}


@pytest.mark.parametrize("rule", sorted(CONFLICTED))
def test_the_best_matched_expert_is_passed_over_when_a_rule_excludes_them(rule):
    applications = [app("A1"), app("A2", institution_id="S2", prefecture="株洲市")]
    policy = AssignmentPolicy(1, own_institution_applied_conflict=True, load_spread=0)
    best = expert("E-best", **CONFLICTED[rule])
    weaker = expert("E-weak", fields={"智能制造", "现代农业"}, keywords=set())
    result = solved(applications, [best, weaker], policy)
    assert ("A1", "E-best") not in assigned(result)
    assert ("A1", "E-weak") in assigned(result)


def test_an_application_gets_at_most_one_expert_per_institution():
    experts = [
        expert("E1", institution_id="U1"),
        expert("E2", institution_id="U1"),
        expert("E3", institution_id="U3", keywords=set()),
    ]
    result = solved([app()], experts, K2)
    assert assigned(result) in ({("A1", "E1"), ("A1", "E3")}, {("A1", "E2"), ("A1", "E3")})


def random_call(seed: int, n_apps: int, n_experts: int):
    """A random call where conflicts abound and caps bind."""
    rng = random.Random(seed)
    institutions, prefectures = [f"I{i}" for i in range(6)], ["长沙市", "株洲市", "湘潭市"]
    categories, people = ["hv-group", "master-teacher", "workshop"], [f"P{i}" for i in range(15)]
    vocabulary, words = [f"f{i}" for i in range(5)], [f"k{i}" for i in range(8)]
    apps = [
        Application(
            id=f"A{i:03d}",
            institution_id=rng.choice(institutions),
            prefecture=rng.choice(prefectures),
            category=rng.choice(categories),
            fields=set(rng.sample(vocabulary, rng.randint(1, 2))),
            keywords=set(rng.sample(words, rng.randint(0, 3))),
            team_person_ids=set(rng.sample(people, 2)),
        )
        for i in range(n_apps)
    ]
    experts = [
        Expert(
            id=f"E{j:03d}",
            institution_id=rng.choice(institutions + ["U1", "U2", "U3"]),
            prefecture=rng.choice(prefectures),
            person_id=rng.choice(people + [f"X{j}"] * 3),
            cap=rng.randint(0, 4),
            available=rng.random() > 0.05,
            fields=set(rng.sample(vocabulary, rng.randint(1, 3))),
            keywords=set(rng.sample(words, rng.randint(0, 4))),
            categories=set(rng.sample(categories, rng.randint(1, 3))),
            conflict_institution_ids=set(rng.sample(institutions, rng.randint(0, 1))),
            conflict_person_ids=set(rng.sample(people, rng.randint(0, 1))),
        )
        for j in range(n_experts)
    ]
    policy = AssignmentPolicy(
        rng.randint(1, 3),
        same_prefecture_conflict=rng.choice([None, True, False]),
        own_institution_applied_conflict=rng.random() < 0.3,
        seed=seed,
        top_n=2,
        top_m=3,
        load_spread=rng.choice([0, 0.5, 2.0]),
    )
    return apps, experts, policy


@pytest.mark.parametrize("seed", range(25))
def test_random_calls_are_conflict_free_and_the_sparse_solve_fills_as_much_as_the_dense_one(seed):
    apps, experts, policy = random_call(seed, 60, 30)
    sparse = solved(apps, experts, policy)
    dense = solved(apps, experts, dataclasses.replace(policy, top_n=None))
    assert len(sparse.pairs) == len(dense.pairs)
    assert sum(u.missing for u in sparse.unfilled) == sum(u.missing for u in dense.unfilled)
    assert sparse.total_affinity <= dense.total_affinity + 1e-9


def brute_force(apps, experts, policy) -> tuple[int, int]:
    """(most slots filled, then most affinity points) over every possible assignment."""
    applied = {a.institution_id for a in apps}
    options = []
    for a in apps:
        eligible = [e for e in experts if not exclusion_reasons(a, e, policy, applied)]
        options.append(
            [
                team
                for size in range(policy.reviewers_per_application + 1)
                for team in itertools.combinations(eligible, size)
                if len({e.institution_id for e in team}) == len(team)
            ]
        )
    best = (0, 0)
    for teams in itertools.product(*options):
        load = {}
        for team in teams:
            for e in team:
                load[e.id] = load.get(e.id, 0) + 1
        if all(load[e.id] <= e.cap for team in teams for e in team):
            best = max(
                best, (sum(map(len, teams)), sum(affinity_points(a, e) for a, team in zip(apps, teams) for e in team))
            )
    return best


@pytest.mark.parametrize("seed", range(15))
def test_the_flow_finds_the_true_optimum_of_tiny_calls(seed):
    apps, experts, policy = random_call(100 + seed, 3, 5)
    policy = dataclasses.replace(policy, reviewers_per_application=2, top_n=None, load_spread=0)
    result = solved(apps, experts, policy)
    assert (len(result.pairs), round(result.total_affinity * 10_000)) == brute_force(apps, experts, policy)


@pytest.mark.parametrize("seed", range(8))
def test_the_flow_duals_bound_every_pair_and_are_tight_on_the_dense_problem(seed):
    apps, experts, policy = random_call(200 + seed, 50, 25)
    problem = AssignmentProblem(apps, experts, dataclasses.replace(policy, load_spread=0))
    every = problem.all_pairs(np.flatnonzero(problem.demand > 0))
    dense = problem.flow(*every)
    optimum = dense.points[dense.chosen].sum()
    assert dense.lp_duals().bound(*every, problem.points(*every)) == pytest.approx(optimum, abs=1e-6)
    few = problem.flow(every[0][::3], every[1][::3])
    if few.chosen.sum() == dense.chosen.sum():  # the bound compares fills of the same size
        assert few.lp_duals().bound(*every, problem.points(*every)) >= optimum - 1e-6


# -- load spread ------------------------------------------------------------------------


def test_work_spreads_over_equally_good_experts():
    apps = [app(f"A{i}") for i in range(6)]
    experts = [expert("E1", cap=6), expert("E2", cap=6), expert("E3", cap=6)]
    spread = solved(apps, experts, AssignmentPolicy(1))
    assert spread.load.max_load == 2


def test_affinity_outweighs_spreading():
    apps = [app(f"A{i}") for i in range(4)]
    experts = [expert("E-close", cap=4), expert("E-far", cap=4, keywords=set())]
    result = solved(apps, experts, AssignmentPolicy(1, load_spread=10))
    assert {pair.expert_id for pair in result.pairs} == {"E-close"}


# -- determinism --------------------------------------------------------------------------


def test_the_same_call_and_seed_give_the_same_assignment_whatever_the_input_order():
    apps, experts, policy = random_call(3, 60, 30)
    first = solved(apps, experts, policy)
    again = solved(list(reversed(apps)), random.Random(1).sample(experts, len(experts)), policy)
    assert first.pairs == again.pairs


# -- short applications -------------------------------------------------------------------


def test_short_applications_are_named_with_the_reason():
    apps = [
        app("A-no-one", category="workshop"),
        app("A-conflicts", institution_id="U-E1"),
        app("A-busy-1"),
        app("A-busy-2", institution_id="S2"),
    ]
    experts = [expert("E1", cap=1), expert("E2", cap=1)]
    result = solved(apps, experts, K2)
    reasons = {u.application_id: (u.missing, u.code) for u in result.unfilled}
    assert reasons["A-no-one"] == (2, "no_qualified_expert")
    assert reasons["A-conflicts"][1] == "conflicts"
    assert sum(missing for missing, _ in reasons.values()) == 8 - 2
    assert {code for _, code in reasons.values()} >= {"capacity"}
    assert any("category workshop" in note for note in result.feasibility.notes)
    assert any("free capacity 2 < 8 open slots" in note for note in result.feasibility.notes)


# -- declines and replacement ---------------------------------------------------------------


def test_a_declined_assignment_is_replaced_and_the_rest_stands():
    apps, experts, policy = random_call(11, 40, 30)
    first = solved(apps, experts, policy)
    gone = first.pairs[0]
    decline = Decline(gone.application_id, gone.expert_id, "出差，无法按期评审")
    second = replace_declined(apps, experts, policy, first.pairs, [decline])
    standing = (assigned(first) - {(gone.application_id, gone.expert_id)}) | assigned(second)
    assert (
        check_assignment(apps, experts, policy, standing, excluded_pairs=[(gone.application_id, gone.expert_id)]) == []
    )
    assert (gone.application_id, gone.expert_id) not in assigned(second)
    open_before = {gone.application_id} | {u.application_id for u in first.unfilled}
    assert {pair.application_id for pair in second.pairs} <= open_before
    reviewers = sum(1 for a, _ in standing if a == gone.application_id)
    short = sum(u.missing for u in second.unfilled if u.application_id == gone.application_id)
    assert reviewers + short == policy.reviewers_per_application


def test_a_replacement_respects_the_caps_left_and_the_institutions_already_on_the_application():
    apps = [app("A1"), app("A2", institution_id="S2")]
    experts = [
        expert("E1", cap=2, institution_id="U1"),
        expert("E2", cap=1, institution_id="U2"),
        expert("E3", cap=1, institution_id="U1"),
        expert("E4", cap=1, institution_id="U4", keywords=set()),
    ]
    policy = AssignmentPolicy(2, load_spread=0)
    current = [("A1", "E1"), ("A1", "E2"), ("A2", "E1"), ("A2", "E3")]
    result = replace_declined(apps, experts, policy, current, [Decline("A1", "E2", "回避：近亲属在申报团队")])
    # E2 declined, E1 is at its cap, E3 shares E1's institution: only E4 can step in.
    assert assigned(result) == {("A1", "E4")}


def flow_cost(result, experts, policy, held) -> tuple[int, int]:
    """(slots filled, the solver's cost of the new pairs): missing points, and the load spread
    of each expert's next unit after what they hold (one pair per expert: one application)."""
    caps = {e.id: e.cap for e in experts}
    cost = 0
    for pair in result.pairs:
        j = held.get(pair.expert_id, 0) + 1
        spread = round(policy.load_spread * COST_PER_POINT * (j - 1) / max(caps[pair.expert_id] - 1, 1))
        cost += (10_000 - round(pair.affinity * 10_000)) * COST_PER_POINT + spread
    return len(result.pairs), cost


def one_application(seed: int):
    """A random call's first application, what every expert holds in the call elsewhere, one
    standing expert fixed on it (when it takes more than one), and its solve over experts by id."""
    apps, experts, policy = random_call(seed, 4, 80)
    rng = random.Random(seed)
    application, applied = apps[0], {a.institution_id for a in apps}
    held = {e.id: rng.randint(0, e.cap) for e in experts}
    eligible = [e for e in experts if e.cap > 0 and not exclusion_reasons(application, e, policy, applied)]
    on_it = eligible[:1] if policy.reviewers_per_application > 1 else []
    fixed, by_id = [(application.id, e.id) for e in on_it], {e.id: e for e in experts}

    def solve(expert_ids):
        offered = [*on_it, *(by_id[i] for i in expert_ids)]
        return solved([application], offered, policy, fixed=fixed, applied_institution_ids=applied, held=held)

    return application, experts, policy, applied, held, {e.id for e in on_it}, eligible, solve


@pytest.mark.parametrize("seed", range(40))
def test_one_application_solved_over_its_first_filling_round_is_as_good_as_over_every_expert(seed, monkeypatch):
    monkeypatch.setattr(flow, "REPLACEMENT_ROUND", 2)  # rounds of a few experts: several are tried, ties cut
    application, experts, policy, applied, held, never, eligible, solve = one_application(seed)
    rounds = replacement_rounds(slot_scores(application, experts, policy, applied, never), policy.load_spread)
    assert all(set(a) < set(b) for a, b in itertools.pairwise(rounds))
    assert set(rounds[-1] if rounds else []) == {e.id for e in eligible} - never
    everyone = solve(rounds[-1] if rounds else [])
    first = next((result for r in rounds if not (result := solve(r)).unfilled), everyone)
    assert flow_cost(first, experts, policy, held) == flow_cost(everyone, experts, policy, held)


def test_experts_sharing_a_field_are_enough_when_no_one_sharing_none_could_beat_them():
    enough = 0
    for seed in range(40):
        application, experts, policy, applied, held, never, _, solve = one_application(seed)
        near = [e for e in experts if e.fields & application.fields]
        result = solve([i for _, i in slot_scores(application, near, policy, applied, never)])
        if beyond_fields_cannot_beat(result, policy):
            everyone = solve([i for _, i in slot_scores(application, experts, policy, applied, never)])
            assert flow_cost(result, experts, policy, held) == flow_cost(everyone, experts, policy, held), seed
            enough += 1
    assert enough >= 10  # the check holds often enough here to have been put to the test


def test_a_round_reaches_as_far_below_its_last_expert_as_the_load_spread_can_pay(monkeypatch):
    monkeypatch.setattr(flow, "REPLACEMENT_ROUND", 1)
    words = {f"k{i}" for i in range(300)}
    application = app(keywords=words)
    busy, idle = (
        expert("E1", cap=5, keywords=words),
        expert("E2", cap=5, keywords=words - {"k0"}),
    )  # 10 000, 9 995 points
    policy = AssignmentPolicy(1, load_spread=10)
    assert replacement_rounds(slot_scores(application, [busy, idle], policy, {"S1"}), 10) == [["E1", "E2"]]
    # E1 has cap left, but its fifth unit pays 10 points of spread: 5 more than E2's missing points
    assert assigned(assign([application], [busy, idle], policy, held={"E1": 4})) == {("A1", "E2")}


def test_what_an_expert_holds_elsewhere_in_the_call_counts_against_their_cap_and_spread():
    policy = AssignmentPolicy(1, load_spread=2.0)
    twins = [expert("E1", cap=4), expert("E2", cap=4)]
    assert assigned(assign([app()], twins, policy, held={"E1": 2, "E2": 1})) == {("A1", "E2")}
    assert assigned(assign([app()], twins, policy, held={"E1": 1, "E2": 3})) == {("A1", "E1")}
    assert assign([app()], twins, policy, held={"E1": 4, "E2": 4}).unfilled[0].code == "capacity"


def test_declining_a_pair_that_was_not_assigned_is_refused():
    with pytest.raises(ValueError, match="declined: \\(A1, E2\\) is not an assigned pair"):
        replace_declined([app()], [expert("E1"), expert("E2")], K2, [("A1", "E1")], [Decline("A1", "E2", "不便")])


# -- the checker ---------------------------------------------------------------------------


def test_the_checker_reports_every_kind_of_violation():
    apps = [app("A1"), app("A2", institution_id="S2")]
    experts = [
        expert("E1", cap=1, institution_id="U1"),
        expert("E2", institution_id="U1"),
        expert("E3", institution_id="S1"),
        expert("E4"),
    ]
    pairs = [("A1", "E1"), ("A2", "E1"), ("A1", "E2"), ("A1", "E3"), ("A2", "E4"), ("A2", "E4"), ("A9", "E1")]
    rules = {v.rule for v in check_assignment(apps, experts, K2, pairs, excluded_pairs=[("A2", "E4")])}
    assert rules == {"cap", "one_per_institution", "excluded", "plan", "duplicate", "declined", "unknown"}


def test_term_codes_follow_the_terms_not_the_order_a_set_iterates_in():
    """Set iteration follows the process's string hashes; codes (and so the order of terms
    in every float sum, and so the candidates) must not, or a re-run could differ."""
    vocabulary: dict[str, int] = {}
    rows, codes = incidence([["专业群", "ai"], ["ai"]], vocabulary)
    assert vocabulary == {"ai": 0, "专业群": 1}
    assert rows.tolist() == [0, 0, 1] and codes.tolist() == [1, 0, 0]
    assert incidence([["zz", "ai"]], vocabulary, grow=False)[1].tolist() == [-1, 0]
