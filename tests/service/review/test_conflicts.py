"""Conflicts of interest (回避) through the API: a conflicted best match is never assigned, and
an expert whose institution applies later loses the assignment; the assignment module's
independent checker finds no violation in what the API answers. Each rule on its own is
checked on the use case in tests/unit/review/test_selection_usecases.py. Each test has its
own category, so the experts of one test never reach another's applications."""

import pytest


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
