"""Every conflict-of-interest rule (回避) through the API: the conflicted expert is the best
match for the application, yet is never assigned; the assignment module's independent
checker finds no violation in what the API answers. Each test has its own category, so
the experts of one test never reach another's applications."""

import pytest

from tests.service.review.world import resident_id

pytestmark = pytest.mark.service

BEST = {"fields": ("51",), "keywords": ("智能制造", "工业机器人")}
FAIR = {"fields": ("51", "46"), "keywords": ("物联网",)}


def run_and_check(world, call):
    world.close(call)
    run = world.run(call)
    pairs = world.standing(call)
    assert pairs, "the run assigned nobody"
    assert world.violations(call, pairs) == []
    return run, {expert for _, expert in pairs}


def clean_pair(world, category):
    return {world.expert((category,), **FAIR), world.expert((category,), **FAIR)}


def test_same_institution(world):
    call = world.open_call("hv-school")
    world.apply(call, institution_id="inst-same-1", prefecture="长沙市", **BEST)
    conflicted = world.expert(("hv-school",), institution_id="inst-same-1", prefecture="株洲市", **BEST)
    clean = clean_pair(world, "hv-school")
    _, assigned = run_and_check(world, call)
    assert conflicted not in assigned
    assert assigned == clean


def test_same_prefecture_for_school_level_categories(world):
    call = world.open_call("sv-excellent")
    world.apply(call, prefecture="衡阳市", **BEST)
    conflicted = world.expert(("sv-excellent",), prefecture="衡阳市", **BEST)
    clean = clean_pair(world, "sv-excellent")
    _, assigned = run_and_check(world, call)
    assert conflicted not in assigned
    assert assigned == clean


def test_a_call_may_turn_the_same_prefecture_rule_off(world):
    call = world.open_call("sv-specialty", same_prefecture=False)
    world.apply(call, prefecture="衡阳市", **BEST)
    neighbour = world.expert(("sv-specialty",), prefecture="衡阳市", **BEST)
    clean_pair(world, "sv-specialty")
    _, assigned = run_and_check(world, call)
    assert neighbour in assigned  # the best match, and no longer a conflict


def test_declared_conflict_with_the_institution(world):
    call = world.open_call("tech-school")
    world.apply(call, institution_id="inst-declared-1", **BEST)
    conflicted = world.expert(("tech-school",), conflict_institutions=("inst-declared-1",), **BEST)
    clean = clean_pair(world, "tech-school")
    _, assigned = run_and_check(world, call)
    assert conflicted not in assigned
    assert assigned == clean


def test_declared_conflict_with_a_person_of_the_team(world):
    member = resident_id()
    call = world.open_call("master-teacher")
    world.apply(call, team=(resident_id(), member), **BEST)
    conflicted = world.expert(("master-teacher",), conflict_people=(member,), **BEST)
    clean = clean_pair(world, "master-teacher")
    _, assigned = run_and_check(world, call)
    assert conflicted not in assigned
    assert assigned == clean


def test_a_member_of_the_applying_team(world):
    member = resident_id()
    call = world.open_call("innovation-team")
    world.apply(call, team=(member, resident_id()), **BEST)
    conflicted = world.expert(("innovation-team",), id_number=member, **BEST)
    clean = clean_pair(world, "innovation-team")
    _, assigned = run_and_check(world, call)
    assert conflicted not in assigned
    assert assigned == clean


def test_own_institution_applied_in_the_same_call_when_the_call_says_so(world):
    call = world.open_call("vu-group", own_institution_applied=True)
    target = world.apply(call, prefecture="长沙市", **BEST)
    world.apply(call, institution_id="inst-applied-1", prefecture="常德市", fields=("52",), keywords=("护理",))
    conflicted = world.expert(("vu-group",), institution_id="inst-applied-1", prefecture="株洲市", **BEST)
    clean = clean_pair(world, "vu-group")
    _, assigned = run_and_check(world, call)
    assert conflicted not in assigned
    assert {e for a, e in world.standing(call) if a == target} == clean


def test_an_expert_whose_institution_applies_later_loses_the_assignment_and_is_replaced(world):
    call = world.open_call("training-base", own_institution_applied=True, k=1)
    app = world.apply(call, **BEST)
    late = world.expert(("training-base",), institution_id="inst-late-1", **BEST)
    other = world.expert(("training-base",), **FAIR)
    _, assigned = run_and_check(world, call)
    assert assigned == {late}

    new = world.apply(call, institution_id="inst-late-1", prefecture="郴州市", fields=("52",), keywords=("护理",))
    world.close(call)  # waits until the review service has the new application
    run = world.run(call)
    voided = [a for a in world.assignments(call, status="void") if a["expert_id"] == late]
    assert voided and "applied" in voided[0]["reason"]
    pairs = world.standing(call)
    assert sorted(pairs) == sorted([(app, other), (new, other)])
    assert world.violations(call, pairs) == []
    assert run["quality"]["coverage"] == 1.0


def test_an_application_without_a_free_expert_is_named_with_why(world):
    call = world.open_call("heritage-base", k=2)
    app = world.apply(call, institution_id="inst-short-1", prefecture="岳阳市", **BEST)
    world.expert(("heritage-base",), institution_id="inst-short-1", **BEST)  # the only expert is conflicted
    world.expert(("heritage-base",), prefecture="岳阳市", **BEST)  # so is this one
    world.close(call)
    run = world.run(call)
    assert run["assigned"] == []
    (short,) = run["unfilled"]
    assert (short["application_id"], short["missing"], short["code"]) == (app, 2, "conflicts")
    assert run["quality"]["coverage"] == 0.0
