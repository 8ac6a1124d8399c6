"""Reading records from CSV and XLSX files: the kernel's reader, with a small table of its own."""

import codecs
import io

import openpyxl
import pytest

from services.common import tabular
from services.common.bilingual import Bilingual
from services.common.tabular import Table, Unique, read_table

TABLE = Table(
    {"name": ("名称", "name"), "code": ("代码", "code"), "note": ("备注", "note")},
    Bilingual("the file has no things", "文件中没有数据"),
    required=("name", "code"),
    typed=lambda field, text: text.upper() if field == "code" else text,
)
HEADER = ["名称", "代码"]


def csv_bytes(rows, encoding="utf-8", bom=False) -> bytes:
    text = "\r\n".join(",".join(cells) for cells in rows) + "\r\n"
    return (codecs.BOM_UTF8 if bom else b"") + text.encode(encoding)


def xlsx_bytes(rows) -> bytes:
    workbook = openpyxl.Workbook()
    for cells in rows:
        workbook.active.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def validate_row(row: dict) -> tuple[dict | None, dict]:
    if "name" not in row:
        return None, {"name": [Bilingual("Missing data for required field.", "缺少必填字段。")]}
    if not row.get("code", "").isalnum():
        return None, {"code": ["letters and digits only"]}
    return row, {}


def read(content: bytes, **kwargs):
    return read_table(content, TABLE, validate_row, **kwargs)


def messages(result):
    return [(e["row"], e["field"], e["message_en"]) for e in result.report()["errors"]]


def test_rows_become_records_keyed_by_field_in_file_order():
    result = read(
        csv_bytes([["NAME", "代码", "note"], ["长沙", "a1", ""], ["", "", ""], ["株洲", "b2", "第二行"]], bom=True)
    )
    assert result.ok and result.report() == {"ok": True, "imported": 2, "errors": []}
    assert result.records == ({"name": "长沙", "code": "A1"}, {"name": "株洲", "code": "B2", "note": "第二行"})


def test_gb18030_csv_is_read():
    result = read(csv_bytes([HEADER, ["湘西土家族苗族自治州", "x1"]], encoding="gb18030"))
    assert result.records == ({"name": "湘西土家族苗族自治州", "code": "X1"},)


def test_every_bad_row_is_reported_in_both_languages_and_nothing_is_kept():
    result = read(csv_bytes([HEADER, ["长沙", "a1"], ["", "b2"], ["株洲", "c-3"]]))
    assert result.records == ()
    assert messages(result) == [(3, "name", "Missing data for required field."), (4, "code", "letters and digits only")]
    assert [e.message.zh for e in result.errors] == ["缺少必填字段。", "letters and digits only"]
    assert [e.column for e in result.errors] == ["名称", "代码"]


def test_a_unique_key_repeated_or_already_kept_is_named_with_its_row():
    unique = Unique(
        "code",
        key=lambda record: record["code"],
        known={"K9"},
        already_known=Bilingual("already kept", "已存在"),
        repeats=Bilingual("repeats row {row}", "与第{row}行重复"),
    )
    result = read(csv_bytes([HEADER, ["长沙", "a1"], ["株洲", "k9"], ["湘潭", "A1"]]), unique=unique)
    assert messages(result) == [(3, "code", "already kept"), (4, "code", "repeats row 2")]
    assert result.errors[-1].message.zh == "与第2行重复"


def test_a_number_cell_that_lost_digits_is_named():
    result = read(xlsx_bytes([HEADER, ["长沙", 9.13501e17]]))
    assert messages(result) == [(2, "code", "the cell holds a number that has lost digits: format the column as text")]


def test_integer_cells_become_text():
    assert read(xlsx_bytes([HEADER, ["长沙", 12345]])).records == ({"name": "长沙", "code": "12345"},)


@pytest.mark.parametrize(
    "header, expected",
    [
        (HEADER + ["工资"], [(1, None, "unknown column '工资'")]),
        (HEADER[:1], [(1, "code", "missing column for code (代码)")]),
        (HEADER + ["name"], [(1, "name", "column for name appears twice")]),
    ],
)
def test_header_errors(header, expected):
    result = read(csv_bytes([header, ["长沙", "a1", "x"][: len(header)]]))
    assert [(r, f, m[: len(expected[0][2])]) for r, f, m in messages(result)] == expected


def test_cell_beyond_the_named_columns_is_an_error():
    assert messages(read(csv_bytes([HEADER, ["长沙", "a1", "多余"]]))) == [
        (2, None, "cell 3 is outside the named columns")
    ]


def test_oversized_cell_is_an_error_once():
    result = read(csv_bytes([HEADER, ["学" * (tabular.MAX_CELL_CHARS + 1), "a1"]]))
    assert messages(result) == [(2, "name", f"cell is longer than {tabular.MAX_CELL_CHARS} characters")]


def test_too_many_rows(monkeypatch):
    monkeypatch.setattr(tabular, "MAX_ROWS", 2)
    result = read(csv_bytes([HEADER, ["长沙", "a1"], ["株洲", "b2"], ["湘潭", "c3"]]))
    assert messages(result) == [(None, None, "the file has more than 2 rows")]


def test_too_large_file(monkeypatch):
    content = csv_bytes([HEADER, ["长沙", "a1"]])
    monkeypatch.setattr(tabular, "MAX_FILE_BYTES", len(content) - 1)
    assert messages(read(content))[0][2].startswith("the file is larger than")


def test_error_report_is_capped(monkeypatch):
    monkeypatch.setattr(tabular, "MAX_REPORTED_ERRORS", 2)
    result = read(csv_bytes([HEADER] + [["长沙", "-"]] * 4))
    assert len(result.errors) == 3
    assert result.errors[-1].message.en == "2 more errors not shown"


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "the first row must hold the column names"),
        (csv_bytes([HEADER]), "the file has no things"),
        (b"PK\x03\x04 not really a zip", "the file is not a readable XLSX workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "Excel 97-2003 (.xls) files are not accepted"),
        (b"\xff\xfe\xff\xfe", "neither UTF-8 nor GB18030"),
    ],
)
def test_unreadable_files_get_one_clear_error(content, problem):
    result = read(content)
    assert not result.ok
    (error,) = result.errors
    assert error.row is None
    assert problem in error.message.en
    assert error.message.zh
