import codecs
import io

import openpyxl
import pytest
from marshmallow import ValidationError

from services.applications.schemas import import_institutions
from services.contracts.applications_api import InstitutionIn

ZH_HEADER = ["名称", "类型", "市州", "县市区", "主管部门", "统一社会信用代码"]
EN_HEADER = ["name", "type", "prefecture", "county", "sponsor", "credit_code"]


def csv_bytes(rows, encoding="utf-8", bom=False) -> bytes:
    text = "\r\n".join(",".join(cells) for cells in rows) + "\r\n"
    return (codecs.BOM_UTF8 if bom else b"") + text.encode(encoding)


def xlsx_bytes(rows) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for cells in rows:
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def school(new_credit_code):
    def make(
        name="长沙职业技术学院",
        kind="高职专科",
        prefecture="长沙市",
        county="长沙县",
        sponsor="长沙市人民政府",
        code=None,
    ):
        return [name, kind, prefecture, county, sponsor, code or new_credit_code()]

    return make


def messages(result):
    return [(e["row"], e["field"], e["message_en"]) for e in result.report()["errors"]]


def test_csv_with_bom_and_chinese_headers_imports_every_row(school):
    first, second = school(), school(name="新化县楚怡工业学校", kind="中职", prefecture="娄底市", county="新化县")
    result = import_institutions(csv_bytes([ZH_HEADER, first, second], bom=True))
    assert result.ok
    assert [i["name"] for i in result.institutions] == ["长沙职业技术学院", "新化县楚怡工业学校"]
    assert [i["type"] for i in result.institutions] == ["higher_vocational", "secondary_vocational"]
    assert result.report() == {"ok": True, "imported": 2, "errors": []}


def test_csv_without_bom_english_headers_any_case_and_lower_case_code(school):
    row = school(kind="technician")
    row[5] = row[5].lower()
    result = import_institutions(csv_bytes([[h.upper() for h in EN_HEADER], row]))
    assert result.ok
    assert result.institutions[0]["credit_code"] == row[5].upper()


def test_broken_xlsx_rows_are_reported_row_by_row_and_nothing_is_imported(school, standards):
    good = school()
    wrong_check = school(name="株洲职业技术学院", prefecture="株洲市")
    wrong_check[5] = wrong_check[5][:17] + ("0" if wrong_check[5][17] != "0" else "1")
    rows = [
        ZH_HEADER,
        good,  # row 2
        wrong_check,  # row 3
        [None] * 6,  # row 4: blank, skipped
        school(name="某学校", prefecture="长沙"),  # row 5: not a prefecture name
        school(name="重复学校", code=good[5]),  # row 6: same code as row 2
        ["", "中职", "岳阳市", "岳阳县", "岳阳市教育局", school()[5]],  # row 7: no name
    ]
    result = import_institutions(xlsx_bytes(rows))
    assert not result.ok
    assert result.institutions == ()
    report = result.report()
    assert report["imported"] == 0
    assert {
        "row": 3,
        "field": "credit_code",
        "column": "统一社会信用代码",
        "message_zh": "统一社会信用代码校验位（第18位）错误",
        "message_en": "credit code check digit (character 18) is wrong",
    } in report["errors"]
    assert [(r, f) for r, f, _ in messages(result)] == [
        (3, "credit_code"),
        (5, "prefecture"),
        (6, "credit_code"),
        (7, "name"),
    ]
    assert "row 2" in messages(result)[2][2]
    assert all(e["message_zh"] != e["message_en"] for e in report["errors"])


def test_rows_are_checked_by_the_same_schema_as_single_creation(school):
    row = school(kind="大学", prefecture="长沙")
    result = import_institutions(csv_bytes([EN_HEADER, row]))
    with pytest.raises(ValidationError) as single:
        InstitutionIn().load(dict(zip(EN_HEADER, row)))
    assert {e.field: [e.message] for e in result.errors} == single.value.messages


def test_already_registered_codes_are_refused(school):
    row = school()
    result = import_institutions(csv_bytes([ZH_HEADER, row]), known_credit_codes={row[5].lower()})
    assert messages(result) == [(2, "credit_code", "an institution with this credit code is already registered")]


def test_a_register_without_rows_says_so():
    (error,) = import_institutions(csv_bytes([ZH_HEADER])).errors
    assert (error.row, error.message.en, error.message.zh) == (
        None,
        "the file has no institutions",
        "文件中没有单位数据",
    )
