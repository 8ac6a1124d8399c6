"""The one page cursor of every list: keyset pages in a sort order, the cursor an opaque token
(URL-safe base64 of JSON) of the last item's sort keys, which a client passes back as it is."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .bilingual import Bilingual
from .errors import FieldErrors

ASCENDING, DESCENDING = 1, -1
#: A sort order: (field, ASCENDING or DESCENDING), the last field unique (`_id`).
Order = Sequence[tuple[str, int]]
BY_ID: Order = (("_id", ASCENDING),)
NOT_A_CURSOR = Bilingual(
    "not a next_cursor this list gave: pass it back as it is", "不是本列表给出的 next_cursor：请原样传回"
)


class InvalidCursor(FieldErrors):
    """A cursor this list did not give (422 naming `cursor`)."""

    def __init__(self) -> None:
        super().__init__({"cursor": [NOT_A_CURSOR]})


def encode_cursor(keys: Sequence[Any]) -> str:
    """The cursor after an item whose sort keys are `keys` (datetimes kept as datetimes)."""
    tagged = [{"t": value.isoformat()} if isinstance(value, datetime) else value for value in keys]
    raw = json.dumps(tagged, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """The sort keys of a cursor `encode_cursor` made for `length` keys. Raises InvalidCursor."""
    try:
        keys = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(keys, list) or len(keys) != length:
            raise ValueError(cursor)
        return [datetime.fromisoformat(k["t"]) if isinstance(k, dict) else k for k in keys]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
        raise InvalidCursor() from None


def after(cursor: str | None, order: Order) -> dict[str, Any]:
    """The filter of the items after `cursor` in `order` (empty for the first page)."""
    if cursor is None:
        return {}
    keys = decode_cursor(cursor, len(order))
    branches = []
    for i, (field, direction) in enumerate(order):
        equal = {order[j][0]: keys[j] for j in range(i)}
        branches.append({**equal, field: {"$gt" if direction == ASCENDING else "$lt": keys[i]}})
    return branches[0] if len(branches) == 1 else {"$or": branches}


def page(
    collection: Any,
    query: Mapping[str, Any],
    order: Order,
    limit: int,
    cursor: str | None,
    session: Any = None,
    projection: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `collection` (a pymongo collection) after `cursor` in `order`, and the cursor
    of the next page (None on the last)."""
    position = after(cursor, order)
    found = {"$and": [dict(query), position]} if position and query else (position or dict(query))
    docs = list(collection.find(found, projection, session=session).sort(list(order)).limit(limit + 1))
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, (cursor_after(docs[-1], order) if more else None)


def cursor_after(doc: Mapping[str, Any], order: Order) -> str:
    """The cursor of the page after `doc`."""
    return encode_cursor([doc[field] for field, _ in order])
