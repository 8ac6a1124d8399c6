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
