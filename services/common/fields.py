"""Field types and base schemas for what crosses a service's boundary (marshmallow).

Types are strict (no "1" for 1, no 1 for true), every text has a length limit, times are
RFC 3339 with a zone and come out in UTC, money is integer fen. Every error message is a
`Bilingual` (services.common.bilingual): its text is English, `.zh` is Chinese. The
gateway feeds the schemas to apispec, so limits show in the OpenAPI document.

- `StrictSchema`: unknown fields refused, marshmallow's own messages (event data).
- `BaseSchema`: the same with bilingual schema-level messages (HTTP/RPC input and replies).
- `Text(max_length, min_length=1, multiline=False)`, `choice(choices)`, `opaque_id()`:
  trimmed single-line text or prose, one of a set of codes, an id of letters, digits, _ and -.
- `Whole(minimum, maximum, strict=True)`, `fen()`: integers in a range; an amount in fen.
- `Flag`, `UtcDateTime`, `ListOf(inner, max_items, min_items=0)`, `Object(schema)`,
  `SafeDict(max_items, key_length, value_length)`: booleans, times, bounded lists, nested
  objects, free-form text maps safe as MongoDB documents.
- `resident_id()`, `mobile()` (`PersonalIdentifier`), `Masked`: personal identifiers,
  checked without being quoted, kept as `Sensitive`, masked on output.
- `AuditEntryOut`: one entry of a status history, as replies show it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from services.common.bilingual import Bilingual
from services.common.personal import (
    Sensitive,
    mask,
    mobile_problem,
    normalise_mobile,
    normalise_resident_id,
    resident_id_problem,
)

MAX_FEN = 10**12  # ten billion yuan: far above any single request
ID_LENGTH = 64

_COMMON_MESSAGES = {
    "required": Bilingual("Missing data for required field.", "缺少必填字段。"),
    "null": Bilingual("Field may not be null.", "不能为空值（null）。"),
    "validator_failed": Bilingual("Invalid value.", "取值无效。"),
}
_TOO_LONG = Bilingual("Longer than maximum length {max}.", "长度超过上限{max}个字符。")
_TOO_SHORT = Bilingual("Shorter than minimum length {min}.", "长度不能少于{min}个字符。")
_EMPTY = Bilingual("Must not be empty.", "不能为空。")
_OUT_OF_RANGE = Bilingual("Must be between {min} and {max}.", "应在{min}至{max}之间。")
_NOT_ONE_OF = Bilingual("Must be one of: {choices}.", "应为以下之一：{labels}。")
_TOO_MANY = Bilingual("At most {max} items.", "至多{max}项。")
_TOO_FEW = Bilingual("At least {min} item(s).", "至少{min}项。")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PROSE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
# Characters that change how text shows without showing themselves: soft hyphen, bidi
# embeddings, overrides, isolates and marks, zero-width spaces and joiners, word joiner and
# invisible operators, the byte-order mark, interlinear annotation.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# What MongoDB (BSON) stores as an integer: signed 64 bits.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NOT_UNICODE = Bilingual("Not valid Unicode text (a lone surrogate).", "不是有效的Unicode文本（含孤立代理码位）。")
_NOT_INT64 = Bilingual(
    f"Integers must be between {INT64_MIN} and {INT64_MAX}.", f"整数应在{INT64_MIN}至{INT64_MAX}之间。"
)


def unstorable(document: Any) -> dict[str, list[Bilingual]]:
    """Where a decoded JSON document holds what no service can store: text with a lone
    surrogate (not encodable as UTF-8) or an integer beyond 64 bits; field path -> messages."""
    found: dict[str, list[Bilingual]] = {}

    def walk(path: str, value: Any) -> None:
        if isinstance(value, str):
            if _SURROGATE.search(value):
                found.setdefault(path or "_schema", []).append(_NOT_UNICODE)
        elif isinstance(value, int) and not isinstance(value, bool):
            if not INT64_MIN <= value <= INT64_MAX:
                found.setdefault(path or "_schema", []).append(_NOT_INT64)
        elif isinstance(value, Mapping):
            for key, inner in value.items():
                name = str(key)
                if _SURROGATE.search(name):  # a key that cannot be named in the answer either
                    found.setdefault(path or "_schema", []).append(_NOT_UNICODE)
                else:
                    walk(f"{path}.{name}" if path else name, inner)
        elif isinstance(value, (list, tuple)):
            for index, inner in enumerate(value):
                walk(f"{path}.{index}" if path else str(index), inner)

    walk("", document)
    return found


class StrictSchema(Schema):
    """Unknown fields are errors; text that is not Unicode and integers beyond 64 bits are
    refused before any field sees them (no input can make a store raise)."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _storable(self, data: Any, **kwargs: Any) -> Any:
        problems = unstorable(data)
        if problems:
            raise ValidationError(problems)
        return data


class BaseSchema(StrictSchema):
    """Unknown fields are errors; schema-level messages are bilingual."""

    error_messages = {
        "unknown": Bilingual("Unknown field.", "未知字段。"),
        "type": Bilingual("Invalid input type.", "输入类型无效。"),
    }


def _length(min_length: int, max_length: int) -> list[validate.Length]:
    validators = [validate.Length(max=max_length, error=_TOO_LONG)]
    if min_length:
        validators.insert(0, validate.Length(min=min_length, error=_EMPTY if min_length == 1 else _TOO_SHORT))
    return validators


class Text(fields.String):
    """A string with a length limit (in characters), normalised to NFC; no text may hold
    invisible or text-direction characters (`_INVISIBLE`). Single-line text is trimmed and
    refuses line breaks and control characters; prose (`multiline`) is kept as written
    but refuses control characters other than tab and line breaks."""

    default_error_messages = {
        **_COMMON_MESSAGES,
        "invalid": Bilingual("Not a valid string.", "不是有效的文本。"),
        "invalid_utf8": Bilingual("Not a valid utf-8 string.", "不是有效的UTF-8文本。"),
        "control": Bilingual("Must not contain control characters.", "不能包含控制字符。"),
        "line": Bilingual(
            "Must be a single line without control characters.", "应为单行文本，不能包含换行或控制字符。"
        ),
        "invisible": Bilingual(
            "Must not contain invisible or text-direction characters.", "不能包含不可见字符或文字方向控制字符。"
        ),
        "unicode": _NOT_UNICODE,
    }

    def __init__(
        self,
        max_length: int,
        *,
        min_length: int = 1,
        multiline: bool = False,
        validate: Iterable[Callable[[Any], Any]] = (),
        **kwargs: Any,
    ) -> None:
        self.multiline = multiline
        super().__init__(validate=[*_length(min_length, max_length), *validate], **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _SURROGATE.search(text):
            raise self.make_error("unicode")
        text = unicodedata.normalize("NFC", text)
        if _INVISIBLE.search(text):
            raise self.make_error("invisible")
        if self.multiline:
            if _PROSE_CONTROL.search(text):
                raise self.make_error("control")
            return text
        text = text.strip()
        if _LINE_CONTROL.search(text):
            raise self.make_error("line")
        return text


def choice(choices: Mapping[str, str] | Collection[str], **kwargs: Any) -> Text:
    """One of `choices`; a mapping gives each code its Chinese label for the message."""
    codes = list(choices)
    labels = [f"{code}（{choices[code]}）" for code in codes] if isinstance(choices, Mapping) else codes
    one_of = validate.OneOf(codes, labels, error=_NOT_ONE_OF)
    return Text(max(map(len, codes)), validate=[one_of], **kwargs)


def opaque_id(**kwargs: Any) -> Text:
    """A record's id as it travels: up to 64 letters, digits, '_' and '-'."""
    pattern = validate.Regexp(
        _ID_PATTERN, error=Bilingual("Only letters, digits, '_' and '-'.", "只能包含字母、数字、“_”和“-”。")
    )
    return Text(ID_LENGTH, validate=[pattern], **kwargs)


class Whole(fields.Integer):
    """An integer, strictly: no strings, floats or booleans (`strict=False` for query strings)."""

    default_error_messages = {
        **_COMMON_MESSAGES,
        "invalid": Bilingual("Not a valid integer.", "不是有效的整数。"),
        "too_large": Bilingual("Number too large.", "数值过大。"),
    }

    def __init__(self, minimum: int, maximum: int, *, strict: bool = True, **kwargs: Any) -> None:
        super().__init__(strict=strict, validate=validate.Range(minimum, maximum, error=_OUT_OF_RANGE), **kwargs)


def fen(**kwargs: Any) -> Whole:
    """An amount of money: whole fen from 0 to MAX_FEN."""
    metadata = {"description": "integer fen (分, 1/100 yuan), currency CNY", **kwargs.pop("metadata", {})}
    return Whole(0, MAX_FEN, metadata=metadata, **kwargs)


class Flag(fields.Boolean):
    """true or false, nothing else."""

    default_error_messages = {**_COMMON_MESSAGES, "invalid": Bilingual("Not a valid boolean.", "不是有效的布尔值。")}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class UtcDateTime(fields.AwareDateTime):
    """An RFC 3339 time with its zone; loaded and dumped in UTC (a naive stored time is UTC)."""

    default_error_messages = {
        **_COMMON_MESSAGES,
        "invalid": Bilingual("Not a valid RFC 3339 time.", "不是有效的RFC 3339时间。"),
        "invalid_awareness": Bilingual(
            "Must carry a time zone, e.g. 2026-03-01T08:00:00Z.", "须带时区，例如2026-03-01T08:00:00Z。"
        ),
        "format": Bilingual("Not a valid RFC 3339 time.", "不是有效的RFC 3339时间。"),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> datetime:
        return super()._deserialize(value, attr, data, **kwargs).astimezone(timezone.utc)

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class ListOf(fields.List[Any]):
    """A list of `inner` values with at most `max_items` (and at least `min_items`)."""

    default_error_messages = {**_COMMON_MESSAGES, "invalid": Bilingual("Not a valid list.", "不是有效的列表。")}

    def __init__(
        self, inner: fields.Field[Any] | type[fields.Field[Any]], *, max_items: int, min_items: int = 0, **kwargs: Any
    ) -> None:
        sizes = [validate.Length(max=max_items, error=_TOO_MANY)]
        if min_items:
            sizes.append(validate.Length(min=min_items, error=_TOO_FEW))
        super().__init__(inner, validate=sizes, **kwargs)


class Object(fields.Nested):
    """A nested schema's object."""

    default_error_messages = {**_COMMON_MESSAGES, "type": Bilingual("Invalid type.", "类型无效。")}


def _mongo_safe_key(key: str) -> None:
    if key.startswith("$") or "." in key:
        raise ValidationError(
            Bilingual("Keys may not start with '$' or contain '.'.", "键名不能以“$”开头，也不能包含“.”。")
        )


class SafeDict(fields.Dict):
    """A free-form mapping of text to text whose keys are safe as MongoDB field names:
    none starts with '$' or contains '.' (operator injection); values are plain text."""

    default_error_messages = {**_COMMON_MESSAGES, "invalid": Bilingual("Not a valid object.", "不是有效的对象。")}

    def __init__(
        self,
        *,
        max_items: int,
        key_length: int,
        value_length: int,
        metadata: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.max_items = max_items
        super().__init__(
            keys=Text(key_length, validate=[_mongo_safe_key]),
            values=Text(value_length),
            validate=self._at_most_max_items,
            # Length would be documented as maxLength; an object's bound is maxProperties.
            metadata={"maxProperties": max_items, **(metadata or {})},
            **kwargs,
        )

    def _at_most_max_items(self, value: dict[str, Any]) -> None:
        if len(value) > self.max_items:
            raise ValidationError(_TOO_MANY.format(max=self.max_items))


def _masked(value: object) -> str | None:
    return None if value is None else mask(str(value))


class PersonalIdentifier(Text):
    """A resident ID number or mobile number: checked without quoting it, kept as a
    `Sensitive` (masked repr), always masked on output."""

    def __init__(
        self,
        max_length: int,
        normalise: Callable[[str], str],
        problem: Callable[[str], Bilingual | None],
        **kwargs: Any,
    ) -> None:
        self.normalise = normalise
        self.problem = problem
        super().__init__(max_length, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Sensitive:
        identifier = self.normalise(super()._deserialize(value, attr, data, **kwargs))
        problem = self.problem(identifier)
        if problem:
            raise ValidationError(problem)
        return Sensitive(identifier)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return _masked(value)


def resident_id(**kwargs: Any) -> PersonalIdentifier:
    """A resident ID number (居民身份证号码, GB 11643)."""
    metadata = {"description": "居民身份证号码 (GB 11643), 18 characters; masked on output, e.g. 430***********1234"}
    return PersonalIdentifier(18, normalise_resident_id, resident_id_problem, metadata=metadata, **kwargs)


def mobile(**kwargs: Any) -> PersonalIdentifier:
    """A mainland mobile number."""
    metadata = {"description": "mainland mobile number, 11 digits (+86 allowed); masked on output, e.g. 138****5678"}
    return PersonalIdentifier(20, normalise_mobile, mobile_problem, metadata=metadata, **kwargs)


class Masked(fields.String):
    """Personal data on the way out: masked whatever it holds (masking a masked value keeps it)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return _masked(value)


class AuditEntryOut(BaseSchema):
    """One step of a status history (services.common.statemachine.AuditEntry): who, when, from, to, why."""

    event = fields.String()
    from_state = fields.String()
    to_state = fields.String()
    actor = fields.String()
    at = UtcDateTime()
    reason = fields.String(allow_none=True)
