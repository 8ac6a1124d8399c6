"""The demo's years (chuyi/demo/years.py): which call goes to a panel, how a project's
delivery is simulated (one lagging project fails, the others pass), and the summary line."""

import random
from statistics import mean

from chuyi.demo.plan import FUNDING_RULES, CallRound
from chuyi.demo.generator import simulated_scores
from chuyi.demo.years import DELIVERY_FLOOR, PANEL_RUBRIC, Years, delivery, panel_call, target_status


def call(category: str, projects: int, tranches=None) -> CallRound:
    rule = FUNDING_RULES[category] if tranches is None else {"tranches": tranches}
    return CallRound(
        key=f"call-{category}",
        category=category,
        body={},
        rule=rule,
        selection={"approved": [{"application_id": f"app_{category}_{n}"} for n in range(projects)]},
    )


def share(scores: dict) -> float:
    return sum(c["weight"] * scores[c["code"]] / c["max_score"] for c in PANEL_RUBRIC) / 100


def test_the_panel_takes_the_first_call_with_a_mid_term_tranche_and_three_projects():
    small, plain = call("hv-school", 2), call("training-base", 3, tranches=[{"trigger": "approval", "percent": 100}])
    chosen = call("innovation-team", 3)
    assert panel_call([small, plain, chosen, call("master-teacher", 5)]) is chosen
    assert panel_call([small, plain]) is None


def test_a_lagging_project_scores_below_the_fail_line_and_the_others_above_the_pass_line():
    rng = random.Random(7)
    for quality in (0.3, 0.55, 0.7, 0.85, 0.97):
        assert delivery(quality, lagging=False) >= DELIVERY_FLOOR
        assert delivery(quality, lagging=True) <= 0.4
        good = [share(simulated_scores(PANEL_RUBRIC, delivery(quality, False), lean, rng)) for lean in (-0.1, 0, 0.1)]
        bad = [share(simulated_scores(PANEL_RUBRIC, delivery(quality, True), lean, rng)) for lean in (-0.1, 0, 0.1)]
        assert mean(good) >= 0.75 and mean(bad) < 0.6


def test_a_target_is_met_partly_met_or_not_met_by_the_projects_delivery():
    assert [target_status(s) for s in (0.9, 0.8, 0.7, 0.6, 0.3)] == [
        "met",
        "met",
        "partly_met",
        "partly_met",
        "not_met",
    ]


def test_the_years_summary_counts_reports_results_and_places():
    reports = {"a": {"state": "accepted", "late": False}, "b": {"state": "accepted", "late": True}}
    years = Years(
        year=2022,
        reports=reports,
        overdue={"missing": [{"project_id": "c"}]},
        panel_call="hv-school",
        panel={"results": [{"result": "pass"}, {"result": "pass"}, {"result": "fail"}]},
        acceptance={"results": [{"result": "pass"}]},
        failed={"x": {}},
        places={"category": "hv-school", "before": 5, "after": 6},
        later_calls=[call("hv-school", 1)],
        reused={"category": "hv-school", "available": 5},
        later_reports={2023: {"a": {}, "b": {}, "y": {}}, 2024: {"a": {}, "b": {}, "y": {}}},
    )
    assert years.summary() == (
        "The years (2022-2025): 2022: 2 annual reports filed, 2 accepted, 1 late, 1 missing; 2023: 3 reports "
        "accepted; 2024: 3 reports accepted; mid-term panel (hv-school): 2 pass, 0 rectify, 1 fail; acceptance "
        "panel: 1 of 1 accepted; 1 project(s) left, 1 place(s) of hv-school returned; the 2023 round of hv-school "
        "selected 1 project(s) on the freed place(s)."
    )
