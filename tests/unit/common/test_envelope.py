import json

import pytest

from services.common.envelope import InvalidEvent, new_event, parse_event


def test_an_event_round_trips_with_chinese_data_and_its_extensions():
    event = new_event(
        "funding",
        "tranche_released",
        "proj_1",
        {"说明": "楚怡工坊", "amount_fen": 12},
        sequence=3,
        correlation_id="req-1",
    )
    parsed = parse_event(event.to_json())
    assert parsed == event
    assert parsed.type == "cn.chuyi.funding.tranche_released.v1" and parsed.name == "tranche_released"
    assert parsed.service == "funding" and parsed.sequence == 3 and parsed.correlationid == "req-1"
    assert json.loads(event.to_json())["data"]["说明"] == "楚怡工坊"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"specversion": "0.3"}, "specversion"),
        ({"sequence": 0}, "sequence"),
        ({"sequence": "1"}, "sequence"),
        ({"type": "com.example.thing"}, "type"),
        ({"time": "yesterday"}, "time"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_broken_envelope_is_refused_naming_the_field(change, field):
    body = {**new_event("review", "ranking_published", "call_1", {}, sequence=1).to_dict(), **change}
    with pytest.raises(InvalidEvent) as refused:
        parse_event(json.dumps(body))
    assert field in refused.value.errors


def test_a_missing_id_is_refused_not_invented():
    body = new_event("review", "ranking_published", "call_1", {}, sequence=1).to_dict()
    del body["id"]
    with pytest.raises(InvalidEvent) as refused:
        parse_event(body)
    assert "id" in refused.value.errors


def test_a_body_that_is_not_json_is_refused():
    with pytest.raises(InvalidEvent):
        parse_event(b"\xff not json")
