"""The one page cursor (services/common/pages.py): opaque, it gives back the place it was made at,
and a cursor the list did not give is refused naming the field."""

from datetime import datetime, timezone

import pytest

from services.common import pages
from services.common.replies import refusal_problem

AT = datetime(2026, 6, 1, 2, 0, 0, 123000, tzinfo=timezone.utc)


@pytest.mark.parametrize("keys", [[42], ["2026:hv-group:social"], [AT, "ntf_1"], ["长沙市", 7]])
def test_a_cursor_gives_back_the_keys_it_was_made_of(keys):
    cursor = pages.encode_cursor(keys)
    assert cursor.isascii() and "=" not in cursor
    assert pages.decode_cursor(cursor, len(keys)) == keys


@pytest.mark.parametrize("cursor", ["not-base64!", "e30", pages.encode_cursor([1, 2]), "", "bm90LWpzb24"])
def test_a_cursor_the_list_did_not_give_is_refused_naming_the_field(cursor):
    with pytest.raises(pages.InvalidCursor) as refused:
        pages.decode_cursor(cursor, 1)
    answer = refusal_problem(refused.value)
    assert answer["status"] == 422 and list(answer["problem"]["errors"]) == ["cursor"]
    assert "next_cursor" in answer["problem"]["detail"] and "原样传回" in answer["problem"]["detail"]


def test_the_next_page_starts_after_the_last_item_in_the_sort_order():
    order = (("created_at", pages.DESCENDING), ("_id", pages.DESCENDING))
    cursor = pages.cursor_after({"created_at": AT, "_id": "ntf_9"}, order)
    assert pages.after(cursor, order) == {
        "$or": [{"created_at": {"$lt": AT}}, {"created_at": AT, "_id": {"$lt": "ntf_9"}}]
    }
    assert pages.after(pages.encode_cursor(["app_3"]), pages.BY_ID) == {"_id": {"$gt": "app_3"}}
    assert pages.after(None, pages.BY_ID) == {}
