from datetime import datetime, timezone

import pytest
from marshmallow import ValidationError, fields

from services.common.fields import BaseSchema, StrictSchema, UtcDateTime


def test_utc_times_from_any_zone():
    field = UtcDateTime()
    value = field.deserialize("2026-03-01T08:00:00+08:00")
    assert value == datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc) and value.tzinfo == timezone.utc


def test_unknown_fields_are_refused_by_both_bases_and_only_the_boundary_one_speaks_chinese():
    class EventData(StrictSchema):
        call_id = fields.String()

    class Reply(BaseSchema):
        call_id = fields.String()

    def refusal(schema):
        with pytest.raises(ValidationError) as caught:
            schema.load({"call_id": "c1", "extra": 1})
        (message,) = caught.value.messages["extra"]
        return message

    strict, boundary = refusal(EventData()), refusal(Reply())
    assert strict == boundary == "Unknown field."
    assert boundary.zh == "未知字段。" and not hasattr(strict, "zh")


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\ufeff", "\u2066", "\u00ad"])
def test_text_refuses_invisible_and_text_direction_characters(char):
    from services.common.fields import Text

    with pytest.raises(ValidationError) as refused:
        Text(40).deserialize(f"长沙{char}职业技术学院")
    assert "invisible" in str(refused.value.messages[0])


def test_text_is_normalised_to_nfc():
    from services.common.fields import Text

    assert Text(40).deserialize("Cafe\u0301") == "Caf\u00e9"


def test_every_schema_refuses_lone_surrogates_and_integers_beyond_64_bits():
    from services.common.fields import StrictSchema
    from marshmallow import fields

    class Anything(StrictSchema):
        name = fields.String()
        amount = fields.Integer()
        nested = fields.Dict()

    for data, field in (
        ({"name": "\udc00"}, "name"),
        ({"amount": 2**64}, "amount"),
        ({"nested": {"a": [1, -(2**63) - 1]}}, "nested.a.1"),
    ):
        with pytest.raises(ValidationError) as refused:
            Anything().load(data)
        assert field in refused.value.messages
    assert Anything().load({"amount": 2**63 - 1}) == {"amount": 2**63 - 1}
