"""The catalogue and the institution register, through the gateway."""

import io

import openpyxl
import pytest

from tests.service.applications.support import CHANGSHA, HENGYANG, PROVINCIAL_HRSS, credit_code, institution_body

pytestmark = pytest.mark.service


def test_the_programmes_are_the_16_categories_of_the_notice_with_quotas_to_2025(world, stack):
    for role, scope in [
        ("institution", {"institution_id": "inst_x"}),
        ("expert", {"expert_id": "e1"}),
        ("hrss", {"sponsor": PROVINCIAL_HRSS}),
    ]:
        assert world.get(stack.client(role, **scope), "/v1/programmes").status_code == 200
    items = {p["code"]: p for p in world.ok(world.get(world.province, "/v1/programmes"))["items"]}
    assert len(items) == 16
    assert sum(p["quota"] for p in items.values()) == 1492
    assert items["hv-group"]["name_zh"] == "楚怡高水平高职高专专业群"
    assert (items["hv-group"]["quota"], items["hv-group"]["quota_year"]) == (100, 2025)
    assert items["tech-school"]["institution_types"] == ["technician"]
    assert items["sv-prefecture"]["one_per_prefecture"] is True
    assert items["innovation-team"]["applicant"] == "team"
    assert "team_members" in items["master-teacher"]["required_fields"]
    assert all(isinstance(p["selected_count"], int) for p in items.values())


def test_a_registered_institution_reads_back_unchanged_with_its_recommender(world):
    body = institution_body(
        name="湘西民族职业技术学院（吉首校区）",
        prefecture="湘西土家族苗族自治州",
        county="吉首市",
        credit_code=credit_code().lower(),
    )
    response = world.post(world.province, "/v1/institutions", body)
    created = world.ok(response, 201)
    fetched = world.ok(world.get(world.province, response.headers["Location"]))
    assert fetched == created
    assert fetched["name"] == "湘西民族职业技术学院（吉首校区）"
    assert "湘西民族职业技术学院".encode() in world.get(world.province, response.headers["Location"]).content
    assert fetched["credit_code"] == body["credit_code"].upper()
    assert fetched["recommender"] == {"kind": "prefecture_bureau", "authority": "湘西土家族苗族自治州"}


def test_a_credit_code_is_registered_once(world, stack):
    body = institution_body()
    world.institution(**body)
    again = world.post(world.province, "/v1/institutions", {**body, "name": "另一所学校"})
    assert again.status_code == 409
    assert again.json()["type"] == "urn:chuyi:problem:duplicate-credit-code"
    assert stack.db("applications").institutions.count_documents({"credit_code": body["credit_code"]}) == 1


@pytest.mark.parametrize(
    "change, field",
    [
        ({"type": 5}, "type"),
        ({"type": "university"}, "type"),
        ({"prefecture": "广州市"}, "prefecture"),
        ({"credit_code": "12430100000000011Y"}, "credit_code"),
        ({"credit_code": "1243010000000001"}, "credit_code"),
        ({"name": "学" * 101}, "name"),
        ({"name": {"$gt": ""}}, "name"),
        ({"county": None}, "county"),
        ({"$where": "1"}, "$where"),
    ],
)
def test_bad_institution_fields_are_named_and_nothing_is_registered(world, stack, change, field):
    body = {**institution_body(), **change}
    before = stack.db("applications").institutions.count_documents({})
    response = world.post(world.province, "/v1/institutions", body)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]
    assert stack.db("applications").institutions.count_documents({}) == before


def test_only_the_province_registers(world):
    school = world.institution()
    for session in (world.as_institution(school), world.bureau(), world.hrss()):
        assert world.post(session, "/v1/institutions", institution_body()).status_code == 403


def test_each_sees_only_its_own_part_of_the_register(world):
    changsha = world.institution()
    hengyang = world.institution(name="衡阳财经工业职业技术学院", prefecture=HENGYANG, county="衡阳县")
    technician = world.institution(name="长沙技师学院", type="technician", sponsor="长沙市人力资源和社会保障局")
    own = world.as_institution(changsha)
    assert world.get(own, f"/v1/institutions/{changsha['id']}").status_code == 200
    assert world.get(own, f"/v1/institutions/{hengyang['id']}").status_code == 404
    assert world.get(world.bureau(CHANGSHA), f"/v1/institutions/{hengyang['id']}").status_code == 404
    assert world.get(world.bureau(HENGYANG), f"/v1/institutions/{hengyang['id']}").status_code == 200
    sponsor = world.hrss("长沙市人力资源和社会保障局")
    assert world.get(sponsor, f"/v1/institutions/{technician['id']}").status_code == 200
    assert world.get(sponsor, f"/v1/institutions/{changsha['id']}").status_code == 404
    assert world.get(world.hrss(), f"/v1/institutions/{technician['id']}").status_code == 404
    listed = world.ok(world.get(world.bureau(HENGYANG), "/v1/institutions", params={"limit": 100}))["items"]
    assert {i["prefecture"] for i in listed} == {HENGYANG}
    assert world.ok(world.get(own, "/v1/institutions"))["items"] == [changsha]
    assert world.ok(world.get(own, "/v1/institutions", params={"prefecture": HENGYANG}))["items"] == []


def test_the_register_is_listed_page_by_page(world):
    sponsor = f"测试人社局{credit_code()}"
    made = [world.institution(type="technician", sponsor=sponsor)["id"] for _ in range(5)]
    session, seen, cursor = world.hrss(sponsor), [], None
    while True:
        page = world.ok(
            world.get(session, "/v1/institutions", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        )
        seen += [i["id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == made
    assert world.get(session, "/v1/institutions", params={"limit": 0}).status_code == 422


def csv_file(rows: list[list[str]], header=("名称", "类型", "市州", "县市区", "主管部门", "统一社会信用代码")) -> bytes:
    lines = [",".join(header)] + [",".join(row) for row in rows]
    return ("\ufeff" + "\n".join(lines) + "\n").encode("utf-8")


def xlsx_file(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["name", "type", "prefecture", "county", "sponsor", "credit_code"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(world, content: bytes, filename: str):
    return world.province.post(
        world.stack.url("/v1/institutions:import"), files={"file": (filename, content)}, timeout=60
    )


def test_a_csv_register_is_imported_whole(world):
    codes = [credit_code() for _ in range(3)]
    rows = [
        ["长沙航空职业技术学院", "高职专科", CHANGSHA, "雨花区", "湖南省教育厅", codes[0]],
        ["衡阳技师学院", "技工院校", HENGYANG, "珠晖区", PROVINCIAL_HRSS, codes[1]],
        ["娄底中等职业学校", "secondary_vocational", "娄底市", "娄星区", "娄底市教育局", codes[2]],
    ]
    report = world.ok(upload(world, csv_file(rows), "学校名单.csv"), 201)
    assert (report["ok"], report["imported"], report["errors"]) == (True, 3, [])
    technician = world.ok(world.get(world.province, f"/v1/institutions/{report['institution_ids'][1]}"))
    assert (technician["name"], technician["type"], technician["credit_code"]) == (
        "衡阳技师学院",
        "technician",
        codes[1],
    )


def test_an_xlsx_with_broken_rows_imports_nothing_and_says_what_is_wrong_row_by_row(world, stack):
    good, taken = credit_code(), world.institution()["credit_code"]
    rows = [
        ["湖南铁道职业技术学院", "higher_vocational", "株洲市", "天元区", "湖南省教育厅", good],
        ["坏学校", "university", "广州市", "某区", "某局", "12430100000000011Y"],
        ["重复学校", "higher_vocational", CHANGSHA, "岳麓区", "湖南省教育厅", taken],
        ["长数字学校", "higher_vocational", CHANGSHA, "岳麓区", "湖南省教育厅", 124301000000000000.0],
    ]
    response = upload(world, xlsx_file(rows), "register.xlsx")
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "urn:chuyi:problem:import-rejected"
    errors = problem["errors"]
    assert set(errors) == {
        "rows.3.type",
        "rows.3.prefecture",
        "rows.3.credit_code",
        "rows.4.credit_code",
        "rows.5.credit_code",
    }
    assert "已登记" in errors["rows.4.credit_code"][0] and "already registered" in errors["rows.4.credit_code"][0]
    assert "文本格式" in errors["rows.5.credit_code"][0]
    assert stack.db("applications").institutions.count_documents({"credit_code": good}) == 0


def test_a_file_that_is_no_register_is_refused_plainly(world):
    response = upload(world, b"PK\x03\x04 not really a zip", "register.xlsx")
    assert response.status_code == 422
    assert "XLSX" in response.json()["errors"]["file"][0]
