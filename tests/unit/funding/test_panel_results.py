"""A panel's confirmed result (review's `panel_result_confirmed`) recorded by funding as the
milestone's result through the same use case as the province's direct record
(services/funding/usecases/panels.py), on the in-memory store."""

from services.funding.usecases import projects
from services.funding.usecases.panels import record_panel_result
from services.contracts.review_events import EVENTS as REVIEW_EVENTS
from tests.unit.funding.world import AT


def confirmed(project_id, result, milestone="mid_term"):
    data = {
        "panel_id": "pnl_1",
        "project_id": project_id,
        "call_id": "call_1",
        "category": "hv-group",
        "institution_id": "inst_1",
        "prefecture": "长沙市",
        "title": "项目 1",
        "milestone": milestone,
        "result": result,
        "proposed_result": result,
        "overridden": False,
        "calibrated_hundredths": 5520,
        "reason": "专家组 pnl_1 中期检查结论",
        "rectify_by": None,
        "confirmed_by": "province:admin",
    }
    return REVIEW_EVENTS["panel_result_confirmed"].load(data)


def handle(store, data):
    """As the handler runs it: inside the event's transaction."""
    return store.atomic(lambda: record_panel_result(store, data, AT))


def test_a_confirmed_fail_withholds_and_claws_back_as_the_direct_record_would(funded):
    record = handle(funded, confirmed("app_call_1_1", "fail"))
    assert (record["result"], record["recorded_by"], record["reason"]) == (
        "fail",
        "panel:pnl_1",
        "专家组 pnl_1 中期检查结论",
    )
    doc = funded.project("app_call_1_1")
    assert doc["status"] == "failed"
    assert [t["state"] for t in doc["tranches"]] == ["released", "withheld", "withheld"]  # beyond_approval
    assert funded.emitted_names()[-1] == "project_failed"


def test_a_confirmed_pass_releases_the_milestones_tranche(funded):
    handle(funded, confirmed("app_call_1_2", "pass"))
    assert [t["state"] for t in funded.project("app_call_1_2")["tranches"]] == ["released", "released", "scheduled"]
    assert funded.emitted_names() == ["tranche_released"]


def test_a_result_the_funding_cannot_take_is_noted_not_recorded(funded):
    projects.record_milestone(funded, "app_call_1_1", "mid_term", "fail", "省级直接认定", "province:admin", AT)
    funded.emitted.clear()
    assert handle(funded, confirmed("app_call_1_1", "pass")) is None
    doc = funded.project("app_call_1_1")
    assert doc["status"] == "failed" and len(doc["milestones"]) == 1 and funded.emitted == []
    note = doc["history"][-1]
    assert note["event"] == "mid_term_pass_refused" and note["actor"] == "panel:pnl_1"
    assert note["reason"].startswith("专家组结论未记录：") and note["from_state"] == note["to_state"] == "failed"
    assert handle(funded, confirmed("app_unknown", "pass")) is None
