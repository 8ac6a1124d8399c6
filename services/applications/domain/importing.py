"""Importing an institution register from a CSV or XLSX file, all or nothing.

The file is read into rows keyed by field (headers in Chinese or English), every row is
checked by the caller's row validator (the same schema as a single creation), and the
result is either every institution or a row-by-row error report in both languages.
Row numbers are the spreadsheet's: the header is row 1.
"""
from __future__ import annotations

import codecs
import csv
import io
import unicodedata
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import openpyxl

from services.applications.domain import credit_code
from services.applications.domain.institutions import INSTITUTION_TYPES
from services.applications.domain.messages import Bilingual

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_XLSX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ROWS = 5000
MAX_CELL_CHARS = 500
MAX_REPORTED_ERRORS = 500
HEADER_ROW = 1

#: Accepted headers for each field (English ones match case-insensitively).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("名称", "学校名称", "单位名称", "name"),
    "type": ("类型", "办学类型", "type"),
    "prefecture": ("市州", "prefecture"),
    "county": ("县市区", "county"),
    "sponsor": ("主管部门", "sponsor"),
    "credit_code": ("统一社会信用代码", "credit_code"),
}
_FIELD_BY_HEADER = {header.lower(): field for field, headers in COLUMNS.items() for header in headers}
#: Institution types may be written with their Chinese name in a file.
TYPE_BY_LABEL = {label: code for code, label in INSTITUTION_TYPES.items()}

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls
_EXACT_FLOAT_LIMIT = 10**15  # spreadsheets keep 15 significant digits

RowValidator = Callable[[dict[str, str]], tuple[dict | None, Mapping[str, list[str]]]]


@dataclass(frozen=True)
class RowError:
    row: int | None
    field: str | None
    column: str | None
    message: Bilingual

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "column": self.column, **self.message.as_dict()}


@dataclass(frozen=True)
class ImportResult:
    institutions: tuple[dict, ...]
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def report(self) -> dict:
        return {
            "ok": self.ok,
            "imported": len(self.institutions),
            "errors": [e.as_dict() for e in self.errors],
        }


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


_UNREADABLE_XLSX = Bilingual("the file is not a readable XLSX workbook", "文件不是可读取的XLSX工作簿")


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


def _read_header(cells: list[Any]) -> tuple[dict[int, tuple[str, str]], list[RowError]]:
    """Column index -> (field, header as written), and the header's errors."""
    columns, errors, seen = {}, [], {}
    accepted = "; ".join("/".join(headers) for headers in COLUMNS.values())
    for index, value in enumerate(cells):
        header = "" if value is None else str(value).strip()
        if not header:
            continue
        field = _FIELD_BY_HEADER.get(_header_key(header))
        if field is None:
            errors.append(
                RowError(
                    HEADER_ROW,
                    None,
                    header,
                    Bilingual(f"unknown column '{header}'; accepted: {accepted}", f"无法识别的列“{header}”，可用列名：{accepted}"),
                )
            )
        elif field in seen:
            errors.append(
                RowError(
                    HEADER_ROW,
                    field,
                    header,
                    Bilingual(f"column for {field} appears twice", f"“{COLUMNS[field][0]}”列重复"),
                )
            )
        else:
            seen[field] = header
            columns[index] = (field, header)
    errors += [
        RowError(
            HEADER_ROW,
            field,
            None,
            Bilingual(f"missing column for {field} ({headers[0]})", f"缺少“{headers[0]}”列"),
        )
        for field, headers in COLUMNS.items()
        if field not in seen
    ]
    return columns, errors


def _read_row(number: int, cells: list[Any], columns: dict[int, tuple[str, str]]) -> tuple[dict[str, str], list[RowError]]:
    raw, errors = {}, []
    for index, value in enumerate(cells):
        if index not in columns:
            if value is not None and str(value).strip():
                errors.append(
                    RowError(
                        number,
                        None,
                        None,
                        Bilingual(f"cell {index + 1} is outside the named columns", f"第{index + 1}列没有列名"),
                    )
                )
            continue
        field, header = columns[index]
        try:
            text = _cell_text(value)
        except _Unreadable as problem:
            errors.append(RowError(number, field, header, problem.message))
            continue
        if len(text) > MAX_CELL_CHARS:
            errors.append(
                RowError(
                    number,
                    field,
                    header,
                    Bilingual(
                        f"cell is longer than {MAX_CELL_CHARS} characters",
                        f"单元格内容超过{MAX_CELL_CHARS}个字符",
                    ),
                )
            )
        elif text:
            raw[field] = TYPE_BY_LABEL.get(text, text) if field == "type" else text
    return raw, errors


def _as_bilingual(message: Any) -> Bilingual:
    return message if isinstance(message, Bilingual) else Bilingual(str(message), str(message))


def _validated(
    number: int, raw: dict[str, str], validate_row: RowValidator, headers: dict[str, str], unread: set
) -> tuple[dict | None, list[RowError]]:
    """Validate a row; fields whose cell could not be read already have their error."""
    clean, messages = validate_row(raw)
    errors = [
        RowError(number, field, headers.get(field), _as_bilingual(message))
        for field, field_messages in messages.items()
        if field not in unread
        for message in (field_messages if isinstance(field_messages, list) else [field_messages])
    ]
    return clean, errors


def _duplicate_errors(
    numbered: list[tuple[int, dict]], known_credit_codes: Collection[str], header: str | None
) -> list[RowError]:
    errors, first_row = [], {}
    for number, institution in numbered:
        code = institution["credit_code"]
        if code in known_credit_codes:
            errors.append(
                RowError(
                    number,
                    "credit_code",
                    header,
                    Bilingual("an institution with this credit code is already registered", "该统一社会信用代码的单位已登记"),
                )
            )
        elif code in first_row:
            errors.append(
                RowError(
                    number,
                    "credit_code",
                    header,
                    Bilingual(
                        f"credit code repeats the one in row {first_row[code]}",
                        f"统一社会信用代码与第{first_row[code]}行重复",
                    ),
                )
            )
        else:
            first_row[code] = number
    return errors


def _capped(errors: list[RowError]) -> tuple[RowError, ...]:
    if len(errors) <= MAX_REPORTED_ERRORS:
        return tuple(errors)
    more = len(errors) - MAX_REPORTED_ERRORS
    note = RowError(None, None, None, Bilingual(f"{more} more errors not shown", f"另有{more}处错误未列出"))
    return (*errors[:MAX_REPORTED_ERRORS], note)


def import_institutions(
    content: bytes, validate_row: RowValidator, known_credit_codes: Collection[str] = ()
) -> ImportResult:
    """Read a CSV (UTF-8 with or without BOM, or GB18030) or XLSX register.

    `validate_row(raw)` returns (clean institution, {}) or (None, {field: [messages]});
    `known_credit_codes` are those of institutions already registered. The result holds
    either every clean institution or only errors.
    """
    try:
        return _import(content, validate_row, known_credit_codes)
    except _Unreadable as problem:
        return ImportResult((), (RowError(None, None, None, problem.message),))


def _import(content: bytes, validate_row: RowValidator, known_credit_codes: Collection[str]) -> ImportResult:
    rows = enumerate(_rows(content), start=HEADER_ROW)
    header = next(rows, None)
    if header is None or _is_blank(header[1]):
        raise _Unreadable(Bilingual("the first row must hold the column names", "第一行应为列名"))
    columns, errors = _read_header(header[1])
    if errors:
        return ImportResult((), tuple(errors))
    headers = {field: written for field, written in columns.values()}
    numbered, count = [], 0
    for number, cells in rows:
        if _is_blank(cells):
            continue
        count += 1
        if count > MAX_ROWS:
            raise _Unreadable(Bilingual(f"the file has more than {MAX_ROWS} rows", f"文件超过{MAX_ROWS}行"))
        raw, read_errors = _read_row(number, cells, columns)
        clean, row_errors = _validated(number, raw, validate_row, headers, {e.field for e in read_errors})
        if clean is not None and not read_errors:
            numbered.append((number, clean))
        errors += read_errors + row_errors
    if not count:
        raise _Unreadable(Bilingual("the file has no institutions", "文件中没有单位数据"))
    normalised_known = {credit_code.normalise(code) for code in known_credit_codes}
    errors += _duplicate_errors(numbered, normalised_known, headers["credit_code"])
    errors.sort(key=lambda e: e.row)
    if errors:
        return ImportResult((), _capped(errors))
    return ImportResult(tuple(institution for _, institution in numbered), ())
