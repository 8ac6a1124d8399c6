"""Budgets, funding rules and allocation through the public API, on the whole stack:
a call is allocated on its selection_finalized or on the province's command, all or
nothing, and parallel allocations never overspend a budget line."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from tests.service.funding.support import Funding, check_http_ledger, fresh_year, mid_year

pytestmark = pytest.mark.service

MILLION = 1_000_000
FIXED = {"method": "tiers", "tiers": [{"from_rank": 1, "to_rank": None, "amount": MILLION}]}
HALVES = {"provincial_special": 1, "local_government": 1}


@pytest.fixture(scope="module")
def funding(stack):
    return Funding(stack)


def test_a_budget_line_grows_with_each_appropriation_and_shows_what_is_available(funding):
    year = fresh_year()
    first = funding.post("/v1/budgets", {"year": year, "category": "workshop", "source": "social", "amount": 300})
    again = funding.post("/v1/budgets", {"year": year, "category": "workshop", "source": "social", "amount": 200})
    assert first.status_code == again.status_code == 201
    assert again.json() | {"updated_at": None} == {
        "id": f"{year}:workshop:social",
        "year": year,
        "category": "workshop",
        "source": "social",
        "currency": "CNY",
        "appropriated": 500,
        "reserved": 0,
        "available": 500,
        "updated_at": None,
    }
    assert funding.lines(year, "workshop")["social"]["available"] == 500
    appropriations = [e for e in funding.ledger(source="social") if e["debit"] == f"budget:{year}:workshop:social"]
    assert [(e["movement"], e["amount"]) for e in appropriations] == [("appropriation", 300), ("appropriation", 200)]


def test_budget_lines_page_with_a_cursor(funding):
    year = fresh_year()
    funding.budget(year, "vu-group", {"provincial_special": 1, "local_special_bond": 2, "local_government": 3})
    first = funding.get("/v1/budgets", funding.finance, year=year, limit=2).json()
    second = funding.get("/v1/budgets", funding.finance, year=year, limit=2, cursor=first["next_cursor"]).json()
    assert [line["source"] for line in first["items"] + second["items"]] == [
        "local_government",
        "local_special_bond",
        "provincial_special",
    ]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"category": "workshop", "source": "social", "amount": 10.5}, "amount"),
        ({"category": "workshop", "source": "bank", "amount": 10}, "source"),
        ({"category": "hv", "source": "social", "amount": 10}, "category"),
        ({"category": "workshop", "source": "social", "amount": 0}, "amount"),
    ],
)
def test_a_bad_budget_is_a_422_naming_the_field(funding, body, field):
    answer = funding.post("/v1/budgets", {"year": 2031, **body})
    assert answer.status_code == 422
    assert list(answer.json()["errors"]) == [field]


def test_only_the_province_funds_budgets_and_an_institution_sees_no_budget(funding, stack):
    institution = stack.client("institution", institution_id="inst-x")
    body = {"year": 2031, "category": "workshop", "source": "social", "amount": 1}
    assert funding.post("/v1/budgets", body, client=funding.finance).status_code == 403
    assert funding.get("/v1/budgets", institution).status_code == 403


def test_a_funding_rule_is_kept_under_its_id_once(funding):
    rule = {
        "id": f"rule-{fresh_year()}",
        "name": "楚怡工坊 定额补助",
        "award": FIXED,
        "sources": HALVES,
        "tranches": [{"trigger": "approval", "percent": 100}],
        "clawback": "none",
    }
    created = funding.post("/v1/funding-rules", rule)
    assert created.status_code == 201
    assert created.headers["Location"].endswith(f"/v1/funding-rules/{rule['id']}")
    shown = funding.get(f"/v1/funding-rules/{rule['id']}", funding.finance).json()
    assert {k: shown[k] for k in rule} == rule
    assert funding.post("/v1/funding-rules", rule).status_code == 409
    assert funding.get("/v1/funding-rules/no-such-rule").status_code == 404


def test_a_rule_that_breaks_its_own_checks_is_a_422_naming_the_nested_field(funding):
    answer = funding.post(
        "/v1/funding-rules",
        {
            "award": {
                "method": "tiers",
                "tiers": [
                    {"from_rank": 1, "to_rank": 3, "amount": 500},
                    {"from_rank": 5, "to_rank": None, "amount": 300},
                ],
            },
            "sources": HALVES,
            "tranches": [{"trigger": "approval", "percent": 60}, {"trigger": "mid_term", "percent": 30}],
        },
    )
    assert answer.status_code == 422
    assert set(answer.json()["errors"]) == {"award.tiers.1.from_rank", "tranches"}


def test_a_selection_is_allocated_on_arrival_from_the_budget_of_its_year_in_china(funding):
    year = fresh_year()
    rule = funding.rule(FIXED, HALVES)
    funding.budget(year, "hv-group", {"provincial_special": 10 * MILLION, "local_government": 10 * MILLION})
    # 20:00 UTC on 31 December is already 1 January in Changsha: next year's budget.
    call_id, approved = funding.finalize(
        "hv-group", rule, [5 * MILLION, 4 * MILLION], datetime(year - 1, 12, 31, 20, tzinfo=timezone.utc)
    )
    allocation = funding.allocation(call_id, until=lambda a: a["status"] == "allocated")
    assert allocation["year"] == year
    assert allocation["total"] == {
        "currency": "CNY",
        "total": 2 * MILLION,
        "by_source": {"provincial_special": MILLION, "local_government": MILLION},
    }
    assert [a["project_id"] for a in allocation["awards"]] == [p["application_id"] for p in approved]
    assert allocation["history"][-1]["actor"] == "system:funding"
    project = funding.project(approved[0]["application_id"])
    assert [t["state"] for t in project["tranches"]] == ["released", "scheduled", "scheduled"]
    assert project["released"]["total"] == 400_000 and project["scheduled"]["total"] == 600_000
    lines = funding.lines(year, "hv-group")
    assert {s: (line["reserved"], line["available"]) for s, line in lines.items()} == {
        "provincial_special": (MILLION, 9 * MILLION),
        "local_government": (MILLION, 9 * MILLION),
    }


def test_a_call_without_its_rule_waits_for_the_provinces_command(funding):
    year = fresh_year()
    rule_id = f"rule-later-{year}"
    funding.budget(year, "edu-group", {"social": 10 * MILLION})
    call_id, approved = funding.finalize("edu-group", rule_id, [MILLION], mid_year(year))
    pending = funding.allocation(call_id, until=lambda a: a["pending_reason"])
    assert pending["status"] == "pending" and rule_id in pending["pending_reason"]
    refused = funding.post(f"/v1/calls/{call_id}/allocation", {"year": year})
    assert refused.status_code == 409 and rule_id in refused.json()["detail"]
    funding.post(
        "/v1/funding-rules",
        {
            "id": rule_id,
            "award": {"method": "share", "percent": 50},
            "sources": {"social": 1},
            "tranches": [{"trigger": "approval", "percent": 100}],
        },
    )
    allocated = funding.post(f"/v1/calls/{call_id}/allocation", {"year": year}, key=f"alloc-{call_id}")
    assert allocated.status_code == 201
    assert allocated.json()["awards"][0]["award"]["total"] == MILLION // 2
    replayed = funding.post(f"/v1/calls/{call_id}/allocation", {"year": year}, key=f"alloc-{call_id}")
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    again = funding.post(f"/v1/calls/{call_id}/allocation", {"year": year})
    assert again.status_code == 409 and "allocated already" in again.json()["detail"]
    assert funding.lines(year, "edu-group")["social"]["reserved"] == MILLION // 2


def test_allocating_a_call_whose_selection_has_not_arrived_is_a_409_saying_so(funding):
    answer = funding.post("/v1/calls/call_never_finalized/allocation", {})
    assert answer.status_code == 409
    assert "no selection_finalized has arrived for call call_never_finalized" in answer.json()["detail"]
    assert funding.get("/v1/calls/call_never_finalized/allocation").status_code == 404


def test_a_budget_short_in_one_source_allocates_nothing_and_says_by_how_much(funding):
    year = fresh_year()
    rule = funding.rule(FIXED, HALVES)
    call_id, approved = funding.finalize("sv-specialty", rule, [MILLION] * 3, mid_year(year))
    funding.allocation(call_id, until=lambda a: a["pending_reason"])  # no budget line yet
    funding.budget(year, "sv-specialty", {"provincial_special": 3 * MILLION, "local_government": MILLION})
    answer = funding.post(f"/v1/calls/{call_id}/allocation", {"year": year})
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("budget-exhausted")
    assert answer.json()["errors"] == {
        "shortfall.local_government": [
            "需1500000分，可用1000000分，缺500000分 / needs 1500000 fen, 1000000 available: short by 500000 fen"
        ]
    }
    assert "Add budget lines (POST /v1/budgets), then allocate" in answer.json()["detail"]
    lines = funding.lines(year, "sv-specialty")
    assert {s: line["reserved"] for s, line in lines.items()} == {"provincial_special": 0, "local_government": 0}
    allocation = funding.allocation(call_id)
    assert allocation["status"] == "pending" and allocation["awards"] == []
    assert allocation["last_shortfall"]["shortfall"]["by_source"] == {
        "provincial_special": 0,
        "local_government": 500_000,
    }
    assert funding.get(f"/v1/projects/{approved[0]['application_id']}/funding").status_code == 404


def test_parallel_allocations_never_overspend_a_budget_line(funding):
    """Six calls of two projects each need 1,000,000 fen per source; the lines hold
    3,500,000: three allocations fit, three are refused, nothing goes below zero."""
    year, category = fresh_year(), "training-base"
    rule = funding.rule({"method": "tiers", "tiers": [{"from_rank": 1, "to_rank": None, "amount": MILLION}]}, HALVES)
    calls = [funding.finalize(category, rule, [MILLION, MILLION], mid_year(year))[0] for _ in range(6)]
    for call_id in calls:
        funding.allocation(call_id, until=lambda a: a["pending_reason"])
    funding.budget(year, category, {"provincial_special": 3_500_000, "local_government": 3_500_000})
    with ThreadPoolExecutor(len(calls)) as pool:
        answers = list(pool.map(lambda c: funding.post(f"/v1/calls/{c}/allocation", {"year": year}), calls))
    assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 3, [a.text for a in answers]
    assert all(a.json()["type"].endswith("budget-exhausted") for a in answers if a.status_code == 409)
    lines = funding.lines(year, category)
    for line in lines.values():
        assert (line["appropriated"], line["reserved"], line["available"]) == (3_500_000, 3 * MILLION, 500_000)
    awarded = [a.json()["total"]["by_source"] for a in answers if a.status_code == 201]
    assert all(total == {"provincial_special": MILLION, "local_government": MILLION} for total in awarded)
    balances = check_http_ledger(funding.ledger())
    assert balances.accounts[f"budget:{year}:{category}:provincial_special"] == 500_000
