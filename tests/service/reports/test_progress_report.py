"""The progress report through the gateway, composed from the applications service (approved
against the quota) and the funding service (money by source, milestones), on projects
approved by review's `selection_finalized` as the review service publishes it.

The stack is shared by the whole session: the figures compared are those of rows no other
test moves (CATEGORY, and the prefectures below), before and after this module's seed."""

import io

import pytest
from openpyxl import load_workbook

from services.gateway.rpc import ClusterRpcClient
from services.gateway.routing import XLSX
from tests.service.reports.support import CATEGORY, Reports

pytestmark = pytest.mark.service

ZHANGJIAJIE, XIANGXI = "张家界市", "湘西土家族苗族自治州"
AWARD = 1_000_000


@pytest.fixture(scope="module")
def reports(stack):
    return Reports(stack)


@pytest.fixture(scope="module")
def seeded(reports):
    """Three approved projects (two in 张家界市, one in 湘西州), one of which passed its mid-term review;
    with the report as it was before."""
    before = reports.report()
    approved = reports.seed([ZHANGJIAJIE, ZHANGJIAJIE, XIANGXI], AWARD)
    reports.pass_mid_term(approved[0]["application_id"])
    return before, approved


def prefecture_row(report: dict, prefecture: str) -> dict:
    return next(p for p in report["prefectures"] if p["prefecture"] == prefecture)


def moved(before: dict, after: dict, measure: str) -> dict:
    return {
        source: after[measure]["by_source"][source] - before[measure]["by_source"][source]
        for source in after[measure]["by_source"]
    }


def test_the_province_sees_approved_against_the_quota_money_by_source_and_milestones(reports, seeded):
    before, approved = seeded
    after = reports.report()
    assert after["scope"] == "province" and after["quota_year"] == 2025
    was, now = reports.category(before), reports.category(after)
    assert (now["name_zh"], now["quota"]) == ("楚怡教师教学创新团队", 400)
    assert now["approved"] - was["approved"] == 3 and now["funded_projects"] - was["funded_projects"] == 3
    assert moved(was, now, "allocated") == {
        "provincial_special": 2_250_000,
        "local_special_bond": 0,
        "local_government": 0,
        "social": 750_000,
    }
    # Each project's approval tranche (40 %), and the mid-term tranche (30 %) of the one that passed.
    assert sum(moved(was, now, "disbursed").values()) == 3 * 400_000 + 300_000
    released = [reports.funding.project(a["application_id"])["released"]["by_source"] for a in approved]
    assert moved(was, now, "disbursed") == {
        source: sum(r.get(source, 0) for r in released) for source in now["disbursed"]["by_source"]
    }
    assert now["milestones_passed"]["mid_term"] - was["milestones_passed"]["mid_term"] == 1
    assert now["milestones_passed"]["acceptance"] == was["milestones_passed"]["acceptance"]


def test_each_prefecture_row_counts_its_own_projects(reports, seeded):
    before, _ = seeded
    after = reports.report()
    assert len(after["prefectures"]) == 14
    for prefecture, count in ((ZHANGJIAJIE, 2), (XIANGXI, 1)):
        was, now = prefecture_row(before, prefecture), prefecture_row(after, prefecture)
        assert now["approved"] - was["approved"] == count
        assert now["approved_by_category"][CATEGORY] - was["approved_by_category"][CATEGORY] == count
        assert now["allocated"]["total"] - was["allocated"]["total"] == count * AWARD
    assert sum(p["approved"] for p in after["prefectures"]) == after["totals"]["approved"]


def test_a_prefecture_bureau_sees_its_own_prefecture_only(reports, seeded, stack):
    own = reports.report(stack.client("prefecture", prefecture=ZHANGJIAJIE))
    province = reports.report()
    assert own["scope"] == ZHANGJIAJIE
    assert own["prefectures"] == [prefecture_row(province, ZHANGJIAJIE)]
    assert reports.category(own)["approved"] == prefecture_row(province, ZHANGJIAJIE)["approved_by_category"][CATEGORY]
    assert own["totals"]["allocated"] == prefecture_row(province, ZHANGJIAJIE)["allocated"]


def test_the_services_scope_the_rows_themselves(stack, seeded):
    """Behind the gateway too: a prefecture bureau's cells are its own, another role is refused."""
    rpc = ClusterRpcClient(stack.amqp_uri, pool_size=1, timeout=10, context_data=dict)
    try:
        bureau = {"sub": "bureau-1", "role": "prefecture", "prefecture": XIANGXI}
        for service, cells in (("applications", "approved"), ("funding", "cells")):
            reply = rpc.call(service, "progress_report", actor=bureau)
            assert reply["status"] == 200 and reply["body"][cells]
            assert {cell["prefecture"] for cell in reply["body"][cells]} == {XIANGXI}
            refused = rpc.call(
                service, "progress_report", actor={"sub": "i-1", "role": "institution", "institution_id": "inst-1"}
            )
            assert refused["status"] == 403
    finally:
        rpc.close()


def test_the_xlsx_export_shows_what_the_json_shows(reports, seeded, stack):
    response = reports.province.get(stack.url("/v1/reports/progress"), params={"format": "xlsx"}, timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == XLSX
    report = reports.report()
    book = load_workbook(io.BytesIO(response.content))
    header, *rows = book["按类别"].iter_rows(values_only=True)
    row = dict(zip(header, next(r for r in rows if r[0] == CATEGORY)))
    category = reports.category(report)
    assert (row["类别"], row["2025年目标"], row["已立项"]) == ("楚怡教师教学创新团队", 400, category["approved"])
    assert row["下达资金·省财政专项补助（分）"] == category["allocated"]["by_source"]["provincial_special"]
    assert row["已拨付合计（分）"] == category["disbursed"]["total"]
    header, *rows = book["按市州"].iter_rows(values_only=True)
    row = dict(zip(header, next(r for r in rows if r[0] == ZHANGJIAJIE)))
    assert row["已立项"] == prefecture_row(report, ZHANGJIAJIE)["approved"]
    assert row["中期检查通过"] == prefecture_row(report, ZHANGJIAJIE)["milestones_passed"]["mid_term"]
