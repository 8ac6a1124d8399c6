"""The province's choice for a left project's place (动态调整): its call's reserve list, while
that list is valid. The rules (domain/reserve.py) and the use case on the in-memory store."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest

from services.applications.domain.messages import PlaceTaken, ProjectNotLeft, ReserveEmpty, ReserveExpired
from services.applications.domain.projects import project_record
from services.common.actor import Actor
from services.applications.domain.reserve import (
    RESERVE_VALIDITY,
    check_place_available,
    check_place_free,
    check_reserve_valid,
    next_on_reserve,
    reserve_valid_until,
)
from services.applications.usecases.projects import give_place_to_reserve
from services.contracts.catalogue import catalogue
from tests.unit.applications.fakes import FakeApplicationsStore

FINALIZED = datetime(2025, 3, 1, 2, tzinfo=timezone.utc)
LATER = FINALIZED + timedelta(days=200)
PROVINCE = Actor(role="province", sub="office")
CHANGSHA, HENGYANG, LOUDI = "长沙市", "衡阳市", "娄底市"


def entry(application_id, prefecture, rank, position):
    return {"application_id": application_id, "prefecture": prefecture, "rank": rank, "reserve_position": position}


# --- the rules ------------------------------------------------------------------------------


def test_the_successor_is_the_best_ranked_waiting_entry_its_prefecture_cap_admits():
    reserve = [entry("app_3", CHANGSHA, 3, 1), entry("app_4", HENGYANG, 4, 2), entry("app_5", LOUDI, 5, 3)]
    assert next_on_reserve("call_1", reserve, {"app_3", "app_4", "app_5"}, {}, 2)["application_id"] == "app_3"
    assert next_on_reserve("call_1", reserve, {"app_4", "app_5"}, {}, 2)["application_id"] == "app_4"
    assert (
        next_on_reserve("call_1", reserve, {"app_3", "app_4", "app_5"}, {CHANGSHA: 1, HENGYANG: 1}, 1)["application_id"]
        == "app_5"
    )


def test_no_waiting_entry_the_cap_admits_is_an_empty_reserve_list_naming_the_rule():
    with pytest.raises(ReserveEmpty) as refused:
        next_on_reserve("call_1", [entry("app_3", CHANGSHA, 3, 1)], {"app_3"}, {CHANGSHA: 1}, 1)
    assert "cap of 1 per prefecture" in refused.value.message.en and "每市州1项上限" in refused.value.message.zh
    with pytest.raises(ReserveEmpty):
        next_on_reserve("call_1", [], set(), {}, 3)


def test_the_reserve_list_is_valid_for_a_year_after_the_selection_was_finalized():
    until = reserve_valid_until(FINALIZED)
    assert until - FINALIZED == RESERVE_VALIDITY == timedelta(days=365)
    check_reserve_valid("call_1", until, until)
    with pytest.raises(ReserveExpired) as refused:
        check_reserve_valid("call_1", until, until + timedelta(seconds=1))
    assert "2026-03-01T02:00:00Z" in refused.value.message.en and "one year" in refused.value.message.en
    assert "立项后一年" in refused.value.message.zh
    with pytest.raises(ReserveEmpty, match="without one"):
        check_reserve_valid("call_1", None, FINALIZED)


def test_only_a_left_projects_place_not_given_yet_can_go_to_the_reserve_list():
    with pytest.raises(ProjectNotLeft, match="under_construction"):
        check_place_free({"_id": "p1", "state": "under_construction"})
    with pytest.raises(PlaceTaken, match="p2"):
        check_place_free({"_id": "p1", "state": "failed", "succeeded_by": "p2"})
    check_place_free({"_id": "p1", "state": "withdrawn", "succeeded_by": None})


def test_a_freed_place_a_later_call_holds_cannot_go_to_the_reserve_list():
    category = catalogue()["hv-school"]  # quota 10
    check_place_available(category, 9, 0)
    with pytest.raises(PlaceTaken) as refused:
        check_place_available(category, 9, 1)
    assert "held by unfinished calls" in refused.value.message.en and "后续批次占用" in refused.value.message.zh


# --- the use case ---------------------------------------------------------------------------


def _application(store, application_id, prefecture, state):
    store.applications[application_id] = {
        "_id": application_id,
        "call_id": "call_1",
        "category": "hv-group",
        "institution_id": f"inst_{application_id}",
        "institution_name": "某职业技术学院",
        "prefecture": prefecture,
        "recommender": None,
        "recommender_key": None,
        "title": f"专业群 {application_id}",
        "summary": "概述",
        "construction_plan": "方案",
        "yearly_targets": [{"year": 2026, "target": "建成实训基地"}],
        "performance_indicators": [],
        "budget_request_fen": 5_000_000,
        "industry_fields": ["46"],
        "state": state,
        "history": [],
    }


@pytest.fixture
def store():
    """Call 1 (quota 2, cap 1 per prefecture) selected app_1 (长沙) and app_2 (衡阳); app_1 was
    withdrawn since; its reserve list is app_3 (衡阳), app_4 (长沙), app_5 (娄底)."""
    store = FakeApplicationsStore()
    call = {
        "_id": "call_1",
        "year": 2025,
        "category": "hv-group",
        "prefecture_cap": 1,
        "reserve": [entry("app_3", HENGYANG, 3, 1), entry("app_4", CHANGSHA, 4, 2), entry("app_5", LOUDI, 5, 3)],
        "reserve_valid_until": reserve_valid_until(FINALIZED),
    }
    store.calls["call_1"] = call
    for application_id, prefecture, state in (
        ("app_1", CHANGSHA, "approved"),
        ("app_2", HENGYANG, "approved"),
        ("app_3", HENGYANG, "not_selected"),
        ("app_4", CHANGSHA, "not_selected"),
        ("app_5", LOUDI, "not_selected"),
    ):
        _application(store, application_id, prefecture, state)
    for rank, application_id in enumerate(("app_1", "app_2"), 1):
        store.projects[application_id] = project_record(
            store.applications[application_id], call, rank, "system:review", FINALIZED
        )
        store.selections[application_id] = {
            "call_id": "call_1",
            "category": "hv-group",
            "prefecture": store.applications[application_id]["prefecture"],
        }
    store.projects["app_1"]["state"] = "withdrawn"
    store.selections["app_1"]["left_at"] = LATER
    store.category_quotas["hv-group"] = {"selected": 1, "held": 0}
    return store


def test_the_place_goes_to_the_best_ranked_waiting_application_the_cap_admits_and_it_becomes_a_project(store):
    successor = give_place_to_reserve(store, "app_1", PROVINCE, LATER)
    # app_3 is ranked higher, but 衡阳 holds its one place (app_2): 长沙's app_4 takes 长沙's place
    assert (successor["_id"], successor["rank"], successor["succeeds"], successor["state"]) == (
        "app_4",
        4,
        "app_1",
        "established",
    )
    assert "from the reserve list in the place of project app_1" in successor["history"][0]["reason"]
    assert store.applications["app_4"]["state"] == "approved"
    assert store.applications["app_4"]["history"][-1]["actor"] == "province:office"
    assert [store.applications[a]["state"] for a in ("app_3", "app_5")] == ["not_selected", "not_selected"]
    assert store.projects["app_1"]["succeeded_by"] == "app_4"
    assert store.category_quotas["hv-group"]["selected"] == 2
    assert [(name, subject) for name, subject, _ in store.emitted] == [
        ("project_established", "app_4"),
        ("project_replaced", "place-of-app_1"),
    ]
    replaced = store.emitted[-1][2]
    assert (
        replaced["left_as"],
        replaced["place_rank"],
        replaced["successor_project_id"],
        replaced["rank"],
        replaced["reserve_position"],
        replaced["by"],
    ) == ("withdrawn", 1, "app_4", 4, 2, "province:office")


def _refused(store, error, at=LATER):
    before = copy.deepcopy({name: getattr(store, name) for name in (*store.tables, "emitted")})
    with pytest.raises(error) as refused:
        give_place_to_reserve(store, "app_1", PROVINCE, at)
    assert {name: getattr(store, name) for name in (*store.tables, "emitted")} == before  # nothing half-written
    return refused.value


def test_a_second_attempt_is_refused_and_changes_nothing(store):
    give_place_to_reserve(store, "app_1", PROVINCE, LATER)
    assert "app_4" in _refused(store, PlaceTaken).message.en


def test_after_its_validity_the_reserve_list_is_refused_and_nothing_changes(store):
    assert (
        "valid until" in _refused(store, ReserveExpired, at=FINALIZED + RESERVE_VALIDITY + timedelta(days=1)).message.en
    )


def test_an_exhausted_reserve_list_is_refused_and_nothing_changes(store):
    for promoted in ("app_4", "app_5"):  # promoted for other places meanwhile: 衡阳's app_3 stays over its cap
        store.applications[promoted]["state"] = "approved"
    assert "3 listed" in _refused(store, ReserveEmpty).message.en


def test_a_place_a_later_call_holds_is_refused_and_nothing_changes(store):
    store.category_quotas["hv-group"]["held"] = catalogue()["hv-group"].quota - 1
    _refused(store, PlaceTaken)


def test_a_project_that_has_not_left_keeps_its_place(store):
    with pytest.raises(ProjectNotLeft):
        give_place_to_reserve(store, "app_2", PROVINCE, LATER)
    assert store.emitted == []
