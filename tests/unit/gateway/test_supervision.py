"""The yearly supervision table: measures, duties, the rubric's score and the rank."""

import io
from datetime import datetime, timezone

from openpyxl import load_workbook

from services.gateway.supervision import compose_supervision, score
from tests.unit.gateway.helpers import bearer

AT = datetime(2024, 12, 31, tzinfo=timezone.utc)
NO_MONEY = {"provincial_special": 0, "local_special_bond": 0, "local_government": 0, "social": 0}


def prefecture(name, *, backbone=1, counties=(("甲县", 1),), projects=None, rebuilt=1) -> dict:
    return {
        "prefecture": name,
        "projects": projects or {"sv-prefecture": rebuilt},
        "rebuilt_schools": rebuilt,
        "backbone_colleges": backbone,
        "counties": [{"county": c, "institutions": 2, "public_secondary": n} for c, n in counties],
    }


def cell(name, allocated, disbursed, passed=1, failed=0) -> dict:
    return {
        "prefecture": name,
        "category": "sv-prefecture",
        "allocated": {**NO_MONEY, "local_government": allocated},
        "disbursed": {**NO_MONEY, "local_government": disbursed},
        "milestones_passed": {"mid_term": passed, "acceptance": 0},
        "milestones_failed": {"mid_term": failed, "acceptance": 0},
    }


def facts(*prefectures, weights=None) -> dict:
    return {"year": 2024, "weights": weights, "projects_in_province": 14, "prefectures": list(prefectures)}


def test_a_prefecture_without_a_backbone_college_or_a_county_without_a_public_school_misses_its_duties():
    report = compose_supervision(
        facts(prefecture("长沙市"), prefecture("邵阳市", backbone=0, counties=(("甲县", 1), ("隆回县", 0)))),
        [cell("长沙市", 100, 100), cell("邵阳市", 100, 100)],
        AT,
    )
    changsha, shaoyang = report["prefectures"]
    assert (changsha["prefecture"], changsha["rank"], changsha["duties_missed"]) == ("长沙市", 1, [])
    assert shaoyang["duties_missed"] == ["backbone_college", "public_secondary_in_every_county"]
    county_duty = next(d for d in shaoyang["duties"] if d["duty"] == "public_secondary_in_every_county")
    assert county_duty["counties_without"] == ["隆回县"]
    assert shaoyang["measures"]["duties"] == round(1 / 3, 4) and shaoyang["score"] < changsha["score"]


def test_the_score_weighs_only_what_can_be_measured_and_follows_the_provinces_rubric():
    assert score({"a": 50, "b": 50}, {"a": 1.0, "b": None}) == 100.0  # nothing to measure for b yet
    assert score({"a": 50, "b": 50}, {"a": 1.0, "b": 0.0}) == 50.0
    money_only = {"projects": 0, "local_money": 100, "milestones": 0, "reports": 0, "duties": 0}
    report = compose_supervision(
        facts(prefecture("长沙市"), prefecture("岳阳市"), weights=money_only),
        [cell("长沙市", 1000, 250), cell("岳阳市", 1000, 750)],
        AT,
    )
    assert [(r["prefecture"], r["score"]) for r in report["prefectures"]] == [("岳阳市", 75.0), ("长沙市", 25.0)]
    assert report["weights_set_by_province"] is True


def test_the_ranked_table_downloads_as_a_workbook_of_text_cells_and_as_a_pdf(client, rpc):
    rpc.on(
        "applications",
        "supervision_facts",
        lambda year, actor: {"status": 200, "body": facts(prefecture("长沙市"), prefecture("=邵阳市", backbone=0))},
    )
    rpc.on("funding", "progress_report", lambda actor: {"status": 200, "body": {"cells": [cell("长沙市", 10, 5)]}})
    province = bearer("province")
    answer = client.get("/v1/reports/supervision?year=2024", headers=province)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert [r["prefecture"] for r in answer.get_json()["prefectures"]] == ["长沙市", "=邵阳市"]
    book = load_workbook(io.BytesIO(client.get("/v1/reports/supervision?year=2024&format=xlsx", headers=province).data))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("名次", "市州", "得分") and rows[2][1] == "'=邵阳市"  # a formula stays text
    assert "未达成" in rows[2]
    document = client.get("/v1/reports/supervision?year=2024&format=pdf", headers=province)
    assert document.status_code == 200 and document.data.startswith(b"%PDF")
    assert client.get("/v1/reports/supervision?year=2019", headers=province).status_code == 422
    assert client.get("/v1/reports/supervision?year=2024", headers=bearer("finance")).status_code == 403
