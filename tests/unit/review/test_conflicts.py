"""Conflicts of interest (回避): each rule in words, the bulk mask agreeing with it, and the solver
never assigning a conflicted pair (every result through the independent checker)."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.review.domain.affinity import affinity_points
from services.review.domain.assignment import Application, AssignmentPolicy, Expert, check_assignment
from services.review.domain.flow import assign
from services.review.domain.conflicts import (
    CATEGORIES,
    EXCLUDED,
    PERSON_CATEGORIES,
    SAME_PREFECTURE_CATEGORIES,
    ExclusionMask,
    conflict_reasons,
    exclusion_reasons,
)

POLICY = AssignmentPolicy(reviewers_per_application=3)


def application(**overrides) -> Application:
    values = dict(
        id="A1",
        institution_id="S1",
        prefecture="长沙市",
        category="hv-group",
        fields={"智能制造"},
        team_person_ids={"P1", "P2"},
    )
    return Application(**{**values, **overrides})


def expert(**overrides) -> Expert:
    values = dict(
        id="E1",
        institution_id="U9",
        prefecture="衡阳市",
        person_id="X1",
        cap=5,
        fields={"智能制造"},
        categories={"hv-group", "master-teacher"},
    )
    return Expert(**{**values, **overrides})


def test_an_expert_from_elsewhere_with_no_ties_has_no_conflict():
    assert conflict_reasons(application(), expert(), POLICY, {"S1"}) == []
    assert exclusion_reasons(application(), expert(), POLICY, {"S1"}) == []


@pytest.mark.parametrize(
    ("changes", "policy", "applied", "words"),
    [
        ({"institution_id": "S1"}, POLICY, set(), "same institution"),
        ({"prefecture": "长沙市"}, POLICY, set(), "same prefecture"),
        ({"conflict_institution_ids": {"S1"}}, POLICY, set(), "declared conflict with institution S1"),
        ({"conflict_person_ids": {"P2"}}, POLICY, set(), "declared conflict with team member(s) P2"),
        ({"person_id": "P1"}, POLICY, set(), "member of the applying team"),
        (
            {"institution_id": "S7"},
            AssignmentPolicy(3, own_institution_applied_conflict=True),
            {"S1", "S7"},
            "own institution S7 applied",
        ),
    ],
    ids=[
        "same-institution",
        "same-prefecture",
        "declared-institution",
        "declared-person",
        "team-member",
        "own-institution-applied",
    ],
)
def test_each_conflict_rule_names_itself(changes, policy, applied, words):
    reasons = conflict_reasons(application(), expert(**changes), policy, applied)
    assert len(reasons) == 1 and words in reasons[0]


def test_own_institution_applied_is_a_conflict_only_when_the_call_says_so():
    assert conflict_reasons(application(), expert(institution_id="S7"), POLICY, {"S1", "S7"}) == []


@pytest.mark.parametrize("category", sorted(SAME_PREFECTURE_CATEGORIES))
def test_same_prefecture_holds_by_default_for_school_group_and_base_categories(category):
    assert conflict_reasons(application(category=category), expert(prefecture="长沙市"), POLICY)


@pytest.mark.parametrize("category", sorted(PERSON_CATEGORIES))
def test_same_prefecture_does_not_hold_by_default_for_person_and_team_categories(category):
    assert conflict_reasons(application(category=category), expert(prefecture="长沙市"), POLICY) == []


@pytest.mark.parametrize(
    ("setting", "category", "expected"),
    [
        (True, "master-teacher", True),
        (False, "hv-group", False),
    ],
)
def test_the_call_can_turn_the_same_prefecture_rule_on_or_off(setting, category, expected):
    policy = AssignmentPolicy(3, same_prefecture_conflict=setting)
    reasons = conflict_reasons(application(category=category), expert(prefecture="长沙市"), policy)
    assert bool(reasons) is expected


def test_exclusion_adds_qualification_to_conflicts():
    reasons = exclusion_reasons(application(category="workshop"), expert(available=False, institution_id="S1"), POLICY)
    assert reasons[0] == "expert unavailable"
    assert "may not review category workshop" in reasons[1]
    assert "same institution" in reasons[2]


def random_pool(rng: random.Random, n_apps: int, n_experts: int):
    """A small pool where every rule fires often: few institutions, prefectures, people."""
    institutions = [f"I{i}" for i in range(5)]
    prefectures = ["长沙市", "株洲市", "湘西土家族苗族自治州"]
    categories = ["hv-group", "master-teacher", "workshop", "sv-prefecture"]
    people = [f"P{i}" for i in range(12)]
    apps = [
        Application(
            id=f"A{i}",
            institution_id=rng.choice(institutions),
            prefecture=rng.choice(prefectures),
            category=rng.choice(categories),
            fields=set(rng.sample(["f1", "f2", "f3", "f4"], rng.randint(0, 2))),
            keywords=set(rng.sample(["k1", "k2", "k3", "k4", "k5"], rng.randint(0, 3))),
            team_person_ids=set(rng.sample(people, rng.randint(0, 3))),
        )
        for i in range(n_apps)
    ]
    experts = [
        Expert(
            id=f"E{j}",
            institution_id=rng.choice(institutions),
            prefecture=rng.choice(prefectures),
            person_id=rng.choice(people),
            cap=rng.randint(0, 3),
            available=rng.random() > 0.1,
            fields=set(rng.sample(["f1", "f2", "f3", "f4"], rng.randint(0, 3))),
            keywords=set(rng.sample(["k1", "k2", "k3", "k4", "k5"], rng.randint(0, 3))),
            categories=set(rng.sample(categories, rng.randint(1, 3))),
            conflict_institution_ids=set(rng.sample(institutions, rng.randint(0, 1))),
            conflict_person_ids=set(rng.sample(people, rng.randint(0, 2))),
        )
        for j in range(n_experts)
    ]
    return apps, experts


@pytest.mark.parametrize("seed", range(12))
def test_the_bulk_mask_excludes_exactly_the_pairs_the_readable_rules_exclude(seed):
    rng = random.Random(seed)
    apps, experts = random_pool(rng, 40, 25)
    policy = AssignmentPolicy(
        3, same_prefecture_conflict=[None, True, False][seed % 3], own_institution_applied_conflict=seed % 2 == 0
    )
    applied = {"I0", "I3"}
    declined = (np.array([0, 5]), np.array([1, 2]))
    mask = ExclusionMask(apps, experts, policy, applied, declined)
    rows, columns = np.arange(len(apps)), np.arange(len(experts))
    scores = np.zeros((len(apps), len(experts)), np.float32)
    mask.apply(scores, rows, columns, columns)
    expected = np.array([[bool(exclusion_reasons(a, e, policy, applied)) for e in experts] for a in apps])
    expected[declined] = True
    assert ((scores == EXCLUDED) == expected).all()
    for position in rows:
        barred_whole = [
            not e.available or (policy.own_institution_applied_conflict and e.institution_id in applied)
            for e in experts
        ]
        may_review = [apps[position].category in e.categories for e in experts]
        assert (mask.qualified(position) == np.logical_and(may_review, np.logical_not(barred_whole))).all()


# -- the solver never assigns a conflicted pair, even its best match ----------------------

PERFECT = {"fields": {"智能制造"}, "keywords": {"工业机器人"}}


def assigned_pairs(apps, experts, policy, applied=None) -> set[tuple[str, str]]:
    """Assign, and insist the independent checker finds no violation in the result."""
    result = assign(apps, experts, policy, applied_institution_ids=applied)
    assert check_assignment(apps, experts, policy, result.pairs, applied) == []
    return {(pair.application_id, pair.expert_id) for pair in result.pairs}


def best_or_runner_up(app: Application, best: Expert, policy, applied=None) -> str:
    """Which of a perfect match (`best`) and a weaker clean expert reviews `app` (k = 1)."""
    runner_up = expert(
        id="E-runner-up",
        institution_id="U8",
        prefecture="岳阳市",
        person_id="X8",
        fields={"智能制造", "现代农业"},
        categories=CATEGORIES,
    )
    assert affinity_points(app, best) > affinity_points(app, runner_up) > 0
    pairs = assigned_pairs([app], [best, runner_up], dataclasses.replace(policy, reviewers_per_application=1), applied)
    assert len(pairs) == 1
    return next(iter(pairs))[1]


ONE = AssignmentPolicy(reviewers_per_application=1, load_spread=0)


@pytest.mark.parametrize(
    ("changes", "policy", "applied"),
    [
        ({"institution_id": "S1"}, ONE, None),
        ({"conflict_institution_ids": {"S1"}}, ONE, None),
        ({"conflict_person_ids": {"P2"}}, ONE, None),
        ({"person_id": "P1"}, ONE, None),
        ({"institution_id": "S7"}, dataclasses.replace(ONE, own_institution_applied_conflict=True), {"S1", "S7"}),
    ],
    ids=[
        "same-institution",
        "declared-institution",
        "declared-person",
        "team-member-by-person-key",
        "own-institution-applied",
    ],
)
def test_a_conflicted_best_match_is_never_assigned(changes, policy, applied):
    best = expert(**{**PERFECT, **changes})
    assert best_or_runner_up(application(**PERFECT), best, policy, applied) == "E-runner-up"


@pytest.mark.parametrize("category", sorted(SAME_PREFECTURE_CATEGORIES))
def test_a_best_match_from_the_same_prefecture_is_never_assigned_to_a_level_category(category):
    best = expert(**PERFECT, prefecture="长沙市", categories={category})
    app = application(**PERFECT, category=category)
    assert best_or_runner_up(app, best, ONE) == "E-runner-up"


@pytest.mark.parametrize("category", sorted(PERSON_CATEGORIES))
def test_a_best_match_from_the_same_prefecture_reviews_person_and_team_categories(category):
    best = expert(**PERFECT, prefecture="长沙市", categories={category})
    app = application(**PERFECT, category=category)
    assert best_or_runner_up(app, best, ONE) == "E1"
    on_for_all = dataclasses.replace(ONE, same_prefecture_conflict=True)
    assert best_or_runner_up(app, best, on_for_all) == "E-runner-up"


def test_a_call_that_turns_the_same_prefecture_rule_off_gets_its_best_match():
    best = expert(**PERFECT, prefecture="长沙市")
    off = dataclasses.replace(ONE, same_prefecture_conflict=False)
    assert best_or_runner_up(application(**PERFECT), best, off) == "E1"


def test_own_institution_applied_keeps_nobody_off_when_the_call_does_not_say_so():
    best = expert(**PERFECT, institution_id="S7")
    assert best_or_runner_up(application(**PERFECT), best, ONE, {"S1", "S7"}) == "E1"


def test_an_application_never_gets_two_experts_of_one_institution():
    twins = [expert(**PERFECT, id=f"E-twin-{i}", person_id=f"X-twin-{i}", institution_id="U1") for i in range(2)]
    other = expert(id="E-other", institution_id="U2", person_id="X2", fields={"智能制造", "现代农业"})
    pairs = assigned_pairs(
        [application(**PERFECT)], [*twins, other], dataclasses.replace(ONE, reviewers_per_application=2)
    )
    assert len(pairs) == 2 and ("A1", "E-other") in pairs
    short = assign([application(**PERFECT)], twins, dataclasses.replace(ONE, reviewers_per_application=2))
    assert len(short.pairs) == 1 and short.unfilled[0].code == "conflicts"


@st.composite
def small_calls(draw):
    """A small call and pool over few institutions, prefectures and people, so that every
    rule fires often, with a random policy."""
    seed = draw(st.integers(0, 2**32 - 1))
    apps, experts = random_pool(random.Random(seed), draw(st.integers(1, 25)), draw(st.integers(0, 15)))
    policy = AssignmentPolicy(
        reviewers_per_application=draw(st.integers(1, 3)),
        same_prefecture_conflict=draw(st.sampled_from([None, True, False])),
        own_institution_applied_conflict=draw(st.booleans()),
        seed=draw(st.integers(0, 9)),
        top_n=draw(st.sampled_from([1, 2, 8, None])),
        top_m=draw(st.integers(0, 3)),
        load_spread=draw(st.sampled_from([0, 0.5, 3])),
    )
    applied = draw(st.sampled_from([None, {"I0"}, {"I1", "I4"}]))
    return apps, experts, policy, applied


@settings(max_examples=60, deadline=None)
@given(small_calls())
def test_no_random_call_ever_gets_a_conflicted_or_over_cap_assignment(call):
    apps, experts, policy, applied = call
    pairs = assigned_pairs(apps, experts, policy, applied)
    seen = applied if applied is not None else {a.institution_id for a in apps}
    by_id = {e.id: e for e in experts}
    assert not [
        pair
        for pair in pairs
        if exclusion_reasons(next(a for a in apps if a.id == pair[0]), by_id[pair[1]], policy, seen)
    ]
