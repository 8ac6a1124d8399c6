"""The progress report: composed from the applications and funding services' answers, per
category and per prefecture, scoped to the caller, as JSON or XLSX; and the dashboard page."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from openpyxl import load_workbook

from services.contracts.catalogue import catalogue
from services.contracts.reference import PREFECTURES
from services.funding.domain.money import SOURCES
from services.gateway.progress import PROVINCE_SCOPE, compose_report
from services.gateway.routing import XLSX
from tests.unit.gateway.fake_rpc import problem
from tests.unit.gateway.helpers import CHANGSHA, HENGYANG, bearer

AT = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
CATALOGUE = [{"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "quota": c.quota} for c in catalogue()]
APPROVED = [
    {"category": "hv-group", "prefecture": CHANGSHA, "approved": 3},
    {"category": "hv-group", "prefecture": HENGYANG, "approved": 2},
    {"category": "workshop", "prefecture": CHANGSHA, "approved": 1},
]


def by_source(**amounts) -> dict:
    return {source: amounts.get(source, 0) for source in SOURCES}


FUNDING = [
    {
        "category": "hv-group",
        "prefecture": CHANGSHA,
        "projects": 3,
        "allocated": by_source(provincial_special=3_000_000, social=600_000),
        "disbursed": by_source(provincial_special=1_200_000, social=240_000),
        "clawed_back": by_source(),
        "milestones_passed": {"mid_term": 2, "acceptance": 1},
    },
    {
        "category": "hv-group",
        "prefecture": HENGYANG,
        "projects": 1,
        "allocated": by_source(provincial_special=1_000_000, local_special_bond=500_000),
        "disbursed": by_source(provincial_special=700_000, local_special_bond=350_000),
        "clawed_back": by_source(provincial_special=300_000),
        "milestones_passed": {"mid_term": 1, "acceptance": 0},
    },
]


def approvals(cells=APPROVED) -> dict:
    return {"quota_year": 2025, "categories": CATALOGUE, "approved": cells}


def scoped(cells: list[dict], actor: dict) -> list[dict]:
    """What a service answers: a prefecture bureau's own cells only."""
    return [c for c in cells if actor["role"] == "province" or c["prefecture"] == actor["prefecture"]]


@pytest.fixture(autouse=True)
def services(rpc):
    rpc.on("applications", "progress_report", lambda actor: {"status": 200, "body": approvals(scoped(APPROVED, actor))})
    rpc.on("funding", "progress_report", lambda actor: {"status": 200, "body": {"cells": scoped(FUNDING, actor)}})


def row(rows: list[dict], key: str, value: str) -> dict:
    (found,) = [r for r in rows if r[key] == value]
    return found


# ---------------------------------------------------------------- composition (pure)


def test_the_province_sees_every_category_with_its_quota_and_every_prefecture():
    report = compose_report(PROVINCE_SCOPE, approvals(), {"cells": FUNDING}, AT)
    assert [c["code"] for c in report["categories"]] == [c.code for c in catalogue()]
    assert [p["prefecture"] for p in report["prefectures"]] == list(PREFECTURES)
    hv_group = row(report["categories"], "code", "hv-group")
    assert (hv_group["quota"], hv_group["approved"], hv_group["funded_projects"]) == (100, 5, 4)
    assert hv_group["allocated"] == {
        "currency": "CNY",
        "total": 5_100_000,
        "by_source": by_source(provincial_special=4_000_000, local_special_bond=500_000, social=600_000),
    }
    assert hv_group["disbursed"]["total"] == 2_490_000 and hv_group["clawed_back"]["total"] == 300_000
    assert hv_group["milestones_passed"] == {"mid_term": 3, "acceptance": 1}
    untouched = row(report["categories"], "code", "master-teacher")
    assert (untouched["quota"], untouched["approved"], untouched["allocated"]["total"]) == (300, 0, 0)


def test_a_prefecture_row_has_its_approved_per_category_and_its_money():
    report = compose_report(PROVINCE_SCOPE, approvals(), {"cells": FUNDING}, AT)
    changsha = row(report["prefectures"], "prefecture", CHANGSHA)
    assert changsha["approved"] == 4
    assert changsha["approved_by_category"]["hv-group"] == 3 and changsha["approved_by_category"]["workshop"] == 1
    assert sum(changsha["approved_by_category"].values()) == 4
    assert changsha["allocated"]["total"] == 3_600_000 and changsha["milestones_passed"]["mid_term"] == 2
    assert row(report["prefectures"], "prefecture", "娄底市")["approved"] == 0


def test_the_totals_add_up_the_rows():
    report = compose_report(PROVINCE_SCOPE, approvals(), {"cells": FUNDING}, AT)
    totals = report["totals"]
    assert totals["quota"] == sum(c.quota for c in catalogue())
    assert totals["approved"] == sum(c["approved"] for c in report["categories"]) == 6
    for measure in ("allocated", "disbursed", "clawed_back"):
        assert totals[measure]["total"] == sum(p[measure]["total"] for p in report["prefectures"])
    assert totals["funded_projects"] == 4


def test_a_prefecture_scope_has_its_own_row_only():
    report = compose_report(
        HENGYANG,
        approvals(scoped(APPROVED, {"role": "prefecture", "prefecture": HENGYANG})),
        {"cells": FUNDING[1:]},
        AT,
    )
    assert report["scope"] == HENGYANG
    assert [p["prefecture"] for p in report["prefectures"]] == [HENGYANG]
    assert row(report["categories"], "code", "hv-group")["approved"] == 2
    assert report["totals"]["approved"] == 2


def test_a_category_outside_the_catalogue_still_counts_in_a_row_of_its_own():
    cells = [*APPROVED, {"category": "think-tank", "prefecture": CHANGSHA, "approved": 1}]
    report = compose_report(PROVINCE_SCOPE, approvals(cells), {"cells": []}, AT)
    extra = report["categories"][-1]
    assert (extra["code"], extra["quota"], extra["approved"]) == ("think-tank", None, 1)
    assert report["totals"]["approved"] == 7


# ---------------------------------------------------------------- the route


def test_the_province_gets_the_report_as_json(client, rpc, as_province):
    response = client.get("/v1/reports/progress", headers=as_province)
    assert response.status_code == 200 and response.mimetype == "application/json"
    report = response.json
    assert report["scope"] == "province" and report["quota_year"] == 2025 and report["sources"] == list(SOURCES)
    assert row(report["categories"], "code", "hv-group")["name_zh"] == "楚怡高水平高职高专专业群"
    assert row(report["categories"], "code", "hv-group")["approved"] == 5
    assert len(report["prefectures"]) == 14
    assert report["generated_at"].endswith("+00:00")
    asked = [c for c in rpc.calls if c.method == "progress_report"]
    assert sorted(c.service for c in asked) == ["applications", "funding"]
    assert all(c.kwargs["actor"]["role"] == "province" for c in asked)


def test_a_prefecture_bureau_sees_only_its_own_prefecture(client, rpc):
    response = client.get("/v1/reports/progress", headers=bearer("prefecture", prefecture=HENGYANG))
    assert response.status_code == 200
    report = response.json
    assert report["scope"] == HENGYANG
    assert [p["prefecture"] for p in report["prefectures"]] == [HENGYANG]
    assert report["totals"]["approved"] == 2 and report["totals"]["allocated"]["total"] == 1_500_000
    assert all(call.kwargs["actor"]["prefecture"] == HENGYANG for call in rpc.calls if call.method == "progress_report")


@pytest.mark.parametrize(
    "role, scope", [("institution", {"institution_id": "i-1"}), ("expert", {"expert_id": "e"}), ("finance", {})]
)
def test_other_roles_may_not_see_the_report(client, rpc, role, scope):
    assert client.get("/v1/reports/progress", headers=bearer(role, **scope)).status_code == 403
    assert not [call for call in rpc.calls if call.method == "progress_report"]


def test_without_a_token_the_report_is_401(client):
    assert client.get("/v1/reports/progress").status_code == 401


def test_a_service_refusal_is_passed_on(client, rpc, as_province):
    rpc.on("funding", "progress_report", lambda actor: problem(403, "Forbidden", "Not for you."))
    assert client.get("/v1/reports/progress", headers=as_province).status_code == 403


def workbook(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == XLSX
    assert response.headers["Content-Disposition"].startswith('attachment; filename="progress-report-')
    return load_workbook(io.BytesIO(response.data))


def sheet_rows(book, name: str) -> list[tuple]:
    return list(book[name].iter_rows(values_only=True))


@pytest.mark.parametrize("how", [{"query_string": {"format": "xlsx"}}, {"headers": {"Accept": XLSX}}])
def test_the_report_as_xlsx_has_the_same_figures_under_chinese_headers(client, as_province, how):
    report = client.get("/v1/reports/progress", headers=as_province).json
    book = workbook(
        client.get(
            "/v1/reports/progress",
            query_string=how.get("query_string"),
            headers={**as_province, **how.get("headers", {})},
        )
    )
    assert book.sheetnames == ["按类别", "按市州", "市州分类别立项", "说明"]
    header, *rows = sheet_rows(book, "按类别")
    assert header[:5] == ("类别代码", "类别", "2025年目标", "已立项", "已拨款项目")
    assert "下达资金·省财政专项补助（分）" in header and "中期检查通过" in header
    by_code = {r[0]: dict(zip(header, r)) for r in rows}
    hv_group = row(report["categories"], "code", "hv-group")
    assert by_code["hv-group"]["已立项"] == hv_group["approved"] == 5
    assert by_code["hv-group"]["2025年目标"] == 100
    assert by_code["hv-group"]["下达资金合计（分）"] == hv_group["allocated"]["total"]
    assert by_code["hv-group"]["已拨付·社会资金（分）"] == hv_group["disbursed"]["by_source"]["social"]
    assert by_code["hv-group"]["已收回合计（分）"] == 300_000
    total = dict(zip(header, rows[-1]))
    assert total["类别"] == "合计（全省）" and total["已立项"] == 6
    header, *rows = sheet_rows(book, "按市州")
    assert [r[0] for r in rows] == list(PREFECTURES)
    assert dict(zip(header, rows[0]))["已立项"] == 4  # 长沙市
    header, *rows = sheet_rows(book, "市州分类别立项")
    changsha = dict(zip(header, rows[0]))
    assert changsha["楚怡高水平高职高专专业群"] == 3 and changsha["楚怡工坊（教师技艺技能传承创新平台）"] == 1


def test_a_prefecture_bureau_s_workbook_holds_its_prefecture_only(client):
    book = workbook(client.get("/v1/reports/progress?format=xlsx", headers=bearer("prefecture", prefecture=CHANGSHA)))
    _, *rows = sheet_rows(book, "按市州")
    assert [r[0] for r in rows] == [CHANGSHA]
    assert sheet_rows(book, "按类别")[-1][1] == f"合计（{CHANGSHA}）"


def test_a_format_the_report_does_not_offer_is_a_422_naming_the_parameter(client, as_province):
    response = client.get("/v1/reports/progress?format=pdf", headers=as_province)
    assert response.status_code == 422 and "format" in response.json["errors"]


# ---------------------------------------------------------------- the dashboard page


def test_the_dashboard_page_is_served_without_a_token_and_loads_its_script(client):
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<script src="/dashboard.js">' in html and 'id="category-table"' in html and 'id="prefecture-table"' in html
    script = client.get("/dashboard.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert "/v1/reports/progress" in script.get_data(as_text=True)


def test_the_report_and_the_dashboard_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json["paths"]
    report = paths["/v1/reports/progress"]["get"]
    assert report["x-roles"] == ["prefecture", "province"]
    assert any(p.get("name") == "format" for p in report["parameters"])
    assert paths["/dashboard"]["get"]["security"] == []
