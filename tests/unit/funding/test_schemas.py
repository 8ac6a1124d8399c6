import copy

import pytest
from marshmallow import ValidationError

from examples.finance_consumer.samples import scenario
from services.funding.domain.finance_events import EVENT_NAMES
from services.contracts.funding_events import EVENTS
from services.contracts.funding_api import BudgetSchema, MilestoneSchema


@pytest.fixture(scope="module")
def events():
    return scenario()[0]


def first(events, name):
    return copy.deepcopy(next(e for e in events if e.name == name).data)


def test_every_finance_event_the_domain_makes_loads_through_its_schema(events):
    assert sorted({e.name for e in events}) == sorted(EVENT_NAMES) == sorted(EVENTS)
    for event in events:
        assert EVENTS[event.name].load(event.data) == event.data


@pytest.mark.parametrize(
    "name, change, errors",
    [
        (
            "funds_allocated",
            lambda d: d["award"].update(total=d["award"]["total"] + 1),
            {"award": {"total": ["must equal the sum of by_source (500000000)"]}},
        ),
        (
            "funds_allocated",
            lambda d: d["award"]["by_source"].update(provincial_special=300000000.0),
            {"award": {"by_source": {"provincial_special": ["Not a valid integer."]}}},
        ),
        (
            "funds_allocated",
            lambda d: d["award"]["by_source"].update(municipal=1),
            {"award": {"by_source": {"municipal": ["Unknown field."]}}},
        ),
        (
            "funds_allocated",
            lambda d: d["award"].update(by_source={}),
            {
                "award": {
                    "by_source": {
                        "_schema": [
                            "at least one of ['provincial_special', 'local_special_bond', 'local_government', 'social']"
                        ]
                    }
                }
            },
        ),
        (
            "tranche_released",
            lambda d: d["tranche"]["amount"].update(currency="RMB"),
            {"tranche": {"amount": {"currency": ["Must be equal to CNY."]}}},
        ),
        (
            "tranche_withheld",
            lambda d: d.update(milestone="approval"),
            {"milestone": ["Must be one of: mid_term, acceptance."]},
        ),
        ("funds_clawed_back", lambda d: d.update(policy="none"), {"policy": ["Must be one of: beyond_approval, all."]}),
        ("budget_exhausted", lambda d: d.update(call_id="a:b"), {"call_id": ["must not contain ':'"]}),
    ],
)
def test_event_data_that_breaks_the_contract_is_refused_field_by_field(events, name, change, errors):
    data = first(events, name)
    change(data)
    with pytest.raises(ValidationError) as refused:
        EVENTS[name].load(data)
    assert refused.value.messages == errors


def test_a_budget_is_an_integer_amount_of_fen_for_a_known_line():
    assert BudgetSchema().load({"year": 2026, "category": "master-studio", "source": "social", "amount": 1}) == {
        "year": 2026,
        "category": "master-studio",
        "source": "social",
        "amount": 1,
        "currency": "CNY",
    }
    with pytest.raises(ValidationError) as refused:
        BudgetSchema().load({"year": 2020, "category": "x", "source": "bank", "amount": 100.0, "currency": "USD"})
    assert set(refused.value.messages) == {"year", "category", "source", "amount", "currency"}


@pytest.mark.parametrize(
    "body, errors",
    [
        (
            {"milestone": "mid_term", "result": "fail"},
            {
                "reason": [
                    "required: a direct record of the mid_term result (fail) overrides the expert panels and must say why"
                ]
            },
        ),
        (
            {"milestone": "acceptance", "result": "rectify", "reason": " "},
            {
                "reason": [
                    "required: a direct record of the acceptance result (rectify) overrides the expert panels and must say why"
                ]
            },
        ),
        (
            {"milestone": "mid_term", "result": "pass"},
            {
                "reason": [
                    "required: a direct record of the mid_term result (pass) overrides the expert panels and must say why"
                ]
            },
        ),
        (
            {"milestone": "final", "result": "pass", "reason": "省级直接记录"},
            {"milestone": ["Must be one of: mid_term, acceptance."]},
        ),
    ],
)
def test_a_direct_milestone_record_needs_a_known_result_and_always_a_reason(body, errors):
    """The province's direct record overrides the expert panels (docs/panels.md): it says why,
    whatever the result, in both languages."""
    with pytest.raises(ValidationError) as refused:
        MilestoneSchema().load(body)
    assert refused.value.messages == errors
    if "reason" in errors:
        assert refused.value.messages["reason"][0].zh.startswith("必填：省级直接记录")
    assert MilestoneSchema().load({"milestone": "mid_term", "result": "pass", "reason": "材料齐全，直接认定"})["reason"]
