"""Reading records from an uploaded CSV or XLSX file, all or nothing.

The file is read into rows keyed by field (headers in Chinese or English, as the `Table`
accepts them), every row is checked by the caller's row validator (the same schema as
creating one record), and the result is either every record or a row-by-row error report
in both languages. Row numbers are the spreadsheet's: the header is row 1.

    table = Table(columns={"name": ("名称", "name"), ...}, nothing_read=Bilingual(...))
    result = read_table(content, table, validate_row, unique=Unique(...))
    result.ok, result.records, result.errors, result.report()

`validate_row(row)` returns (clean record, {}) or (None, {field: [messages]}); messages
that are not `Bilingual` are shown as they are in both languages. A file that cannot be
read at all (too large, not UTF-8/GB18030 CSV nor XLSX, .xls, no header, no rows, too
many rows) gives one error without a row.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import openpyxl

from services.common.bilingual import Bilingual, as_bilingual

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_XLSX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ROWS = 5000
MAX_CELL_CHARS = 500
MAX_REPORTED_ERRORS = 500
HEADER_ROW = 1

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls
_EXACT_FLOAT_LIMIT = 10**15  # spreadsheets keep 15 significant digits

RowValidator = Callable[[dict[str, Any]], tuple[dict[str, Any] | None, Mapping[str, list[str]]]]


def _as_written(field: str, text: str) -> Any:
    return text


@dataclass(frozen=True)
class Table:
    """What a file must hold.

    `columns`: field -> accepted headers (English ones match case-insensitively, full-width
    characters as their ASCII forms); the first is the one error messages show.
    `required`: the fields whose column must be there (default: every column).
    `nothing_read`: the error of a file with a header and no rows ("the file has no ...").
    `typed(field, text)`: a non-empty cell's text as the row validator wants it (default: as written).
    """

    columns: Mapping[str, tuple[str, ...]]
    nothing_read: Bilingual
    required: tuple[str, ...] | None = None
    typed: Callable[[str, str], Any] = _as_written
    _field_by_header: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_header = {_header_key(header): name for name, headers in self.columns.items() for header in headers}
        object.__setattr__(self, "_field_by_header", by_header)

    def field_of(self, header: str) -> str | None:
        return self._field_by_header.get(_header_key(header))

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(self.columns) if self.required is None else self.required


@dataclass(frozen=True)
class Unique:
    """A key no two records of a file may share, nor share with a record already kept.

    `key(record)` is the key of a clean record; `known` the keys already kept; errors name
    `field` (and its column) with `already_known`, or with `repeats` formatted with the
    `row` that had the key first.
    """

    field: str
    key: Callable[[dict[str, Any]], str]
    known: Collection[str]
    already_known: Bilingual
    repeats: Bilingual


@dataclass(frozen=True)
class RowError:
    row: int | None
    field: str | None
    column: str | None
    message: Bilingual

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "column": self.column, **self.message.as_dict()}


@dataclass(frozen=True)
class TableImport:
    """Either every clean record, in file order, or only errors."""

    records: tuple[dict[str, Any], ...]
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def report(self) -> dict[str, Any]:
        return {"ok": self.ok, "imported": len(self.records), "errors": [e.as_dict() for e in self.errors]}


def read_table(content: bytes, table: Table, validate_row: RowValidator, unique: Unique | None = None) -> TableImport:
    """Read a CSV (UTF-8 with or without BOM, or GB18030) or XLSX file into `table`'s
    records, each checked by `validate_row` and, if given, `unique`; all or nothing."""
    try:
        return _read(content, table, validate_row, unique)
    except _Unreadable as problem:
        return TableImport((), (RowError(None, None, None, problem.message),))


class _Unreadable(Exception):
    """The file, or one cell of it, cannot be read."""

    def __init__(self, message: Bilingual):
        self.message = message


def _header_key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def _decode(content: bytes) -> str:
    if content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8) :]
    for encoding in ("utf-8", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _Unreadable(Bilingual("the CSV file is neither UTF-8 nor GB18030 text", "CSV文件编码应为UTF-8或GB18030"))


def _csv_rows(content: bytes) -> Iterator[list[Any]]:
    try:
        yield from csv.reader(io.StringIO(_decode(content), newline=""))
    except csv.Error as error:
        raise _Unreadable(Bilingual(f"the CSV file is malformed: {error}", "CSV文件格式错误")) from error


_UNREADABLE_XLSX = Bilingual("the file is not a readable XLSX workbook", "文件不是可读取的XLSX工作簿")


def _xlsx_rows(content: bytes) -> Iterator[list[Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as error:
        raise _Unreadable(_UNREADABLE_XLSX) from error
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise _Unreadable(
            Bilingual(
                f"the workbook unpacks to more than {MAX_XLSX_UNPACKED_BYTES // 2**20} MiB",
                f"工作簿解压后超过{MAX_XLSX_UNPACKED_BYTES // 2**20} MiB",
            )
        )
    # openpyxl raises many kinds of errors on a damaged workbook; all mean the same to the user.
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001
        raise _Unreadable(_UNREADABLE_XLSX) from error
    try:
        if not workbook.worksheets:
            raise _Unreadable(_UNREADABLE_XLSX)
        for row in workbook.worksheets[0].iter_rows(values_only=True):
            yield list(row)
    finally:
        workbook.close()


def _rows(content: bytes) -> Iterator[list[Any]]:
    if len(content) > MAX_FILE_BYTES:
        raise _Unreadable(
            Bilingual(
                f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB",
                f"文件大小超过{MAX_FILE_BYTES // 2**20} MiB",
            )
        )
    if content.startswith(_OLE_MAGIC):
        raise _Unreadable(
            Bilingual(
                "Excel 97-2003 (.xls) files are not accepted: save as XLSX or CSV",
                "不支持Excel 97-2003（.xls）文件，请另存为XLSX或CSV",
            )
        )
    return _xlsx_rows(content) if content.startswith(_ZIP_MAGIC) else _csv_rows(content)


def _cell_text(value: Any) -> str:
    """A cell as text; a number that a spreadsheet stored without all its digits is _Unreadable."""
    if value is None:
        return ""
    if isinstance(value, float):
        if not value.is_integer() or abs(value) >= _EXACT_FLOAT_LIMIT:
            raise _Unreadable(
                Bilingual(
                    "the cell holds a number that has lost digits: format the column as text",
                    "该单元格为数值格式，长数字已失真，请将此列设置为文本格式",
                )
            )
        value = int(value)
    return str(value).strip()


def _is_blank(cells: list[Any]) -> bool:
    return all(value is None or (isinstance(value, str) and not value.strip()) for value in cells)


def _read_header(cells: list[Any], table: Table) -> tuple[dict[int, tuple[str, str]], list[RowError]]:
    """Column index -> (field, header as written), and the header's errors."""
    columns, errors, seen = {}, [], set()
    accepted = "; ".join("/".join(headers) for headers in table.columns.values())
    for index, value in enumerate(cells):
        header = "" if value is None else str(value).strip()
        if not header:
            continue
        field = table.field_of(header)
        if field is None:
            message = Bilingual(
                f"unknown column '{header}'; accepted: {accepted}", f"无法识别的列“{header}”，可用列名：{accepted}"
            )
        elif field in seen:
            message = Bilingual(f"column for {field} appears twice", f"“{table.columns[field][0]}”列重复")
        else:
            seen.add(field)
            columns[index] = (field, header)
            continue
        errors.append(RowError(HEADER_ROW, field, header, message))
    for field in table.required_fields:
        if field not in seen:
            shown = table.columns[field][0]
            message = Bilingual(f"missing column for {field} ({shown})", f"缺少“{shown}”列")
            errors.append(RowError(HEADER_ROW, field, None, message))
    return columns, errors


def _read_row(
    number: int, cells: list[Any], columns: dict[int, tuple[str, str]], table: Table
) -> tuple[dict[str, Any], list[RowError]]:
    row, errors = {}, []
    for index, value in enumerate(cells):
        if index not in columns:
            if value is not None and str(value).strip():
                message = Bilingual(f"cell {index + 1} is outside the named columns", f"第{index + 1}列没有列名")
                errors.append(RowError(number, None, None, message))
            continue
        field, header = columns[index]
        try:
            text = _cell_text(value)
        except _Unreadable as problem:
            errors.append(RowError(number, field, header, problem.message))
            continue
        if len(text) > MAX_CELL_CHARS:
            message = Bilingual(
                f"cell is longer than {MAX_CELL_CHARS} characters", f"单元格内容超过{MAX_CELL_CHARS}个字符"
            )
            errors.append(RowError(number, field, header, message))
        elif text:
            row[field] = table.typed(field, text)
    return row, errors


def _validated(
    number: int, row: dict[str, Any], validate_row: RowValidator, headers: dict[str, str], unread: set[str | None]
) -> tuple[dict[str, Any] | None, list[RowError]]:
    """Validate a row; fields whose cell could not be read already have their error."""
    clean, messages = validate_row(row)
    errors = [
        RowError(number, field, headers.get(field), as_bilingual(message))
        for field, field_messages in messages.items()
        if field not in unread
        for message in (field_messages if isinstance(field_messages, list) else [field_messages])
    ]
    return clean, errors


def _repeats(numbered: list[tuple[int, dict[str, Any]]], unique: Unique, header: str | None) -> list[RowError]:
    errors: list[RowError] = []
    first_row: dict[str, int] = {}
    for number, record in numbered:
        key = unique.key(record)
        if key in unique.known:
            message = unique.already_known
        elif key in first_row:
            message = unique.repeats.format(row=first_row[key])
        else:
            first_row[key] = number
            continue
        errors.append(RowError(number, unique.field, header, message))
    return errors


def _capped(errors: list[RowError]) -> tuple[RowError, ...]:
    if len(errors) <= MAX_REPORTED_ERRORS:
        return tuple(errors)
    more = len(errors) - MAX_REPORTED_ERRORS
    note = RowError(None, None, None, Bilingual(f"{more} more errors not shown", f"另有{more}处错误未列出"))
    return (*errors[:MAX_REPORTED_ERRORS], note)


def _read(content: bytes, table: Table, validate_row: RowValidator, unique: Unique | None) -> TableImport:
    rows = enumerate(_rows(content), start=HEADER_ROW)
    header = next(rows, None)
    if header is None or _is_blank(header[1]):
        raise _Unreadable(Bilingual("the first row must hold the column names", "第一行应为列名"))
    columns, errors = _read_header(header[1], table)
    if errors:
        return TableImport((), tuple(errors))
    headers = {field: written for field, written in columns.values()}
    numbered, count = [], 0
    for number, cells in rows:
        if _is_blank(cells):
            continue
        count += 1
        if count > MAX_ROWS:
            raise _Unreadable(Bilingual(f"the file has more than {MAX_ROWS} rows", f"文件超过{MAX_ROWS}行"))
        row, read_errors = _read_row(number, cells, columns, table)
        clean, row_errors = _validated(number, row, validate_row, headers, {e.field for e in read_errors})
        if clean is not None and not read_errors:
            numbered.append((number, clean))
        errors += read_errors + row_errors
    if not count:
        raise _Unreadable(table.nothing_read)
    if unique is not None:
        errors += _repeats(numbered, unique, headers.get(unique.field))
    errors.sort(key=lambda e: -1 if e.row is None else e.row)  # every error here has its row
    if errors:
        return TableImport((), _capped(errors))
    return TableImport(tuple(record for _, record in numbered), ())
