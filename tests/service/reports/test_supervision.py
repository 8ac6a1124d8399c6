"""The yearly supervision of the prefectures through the gateway: the structural duties read
from the institution register, the province's rubric. The stack is shared: the rows compared
are those this module makes (a county of its own; backbone colleges, which no other test registers)."""

import uuid

import pytest

from tests.service.applications.support import World

pytestmark = pytest.mark.service

YEAR = 2024


def supervision(world: World, client=None, **params) -> dict:
    answer = (client or world.province).get(
        world.stack.url("/v1/reports/supervision"), params={"year": YEAR, **params}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return {row["prefecture"]: row for row in answer.json()["prefectures"]}


def duty(row: dict, name: str) -> dict:
    return next(d for d in row["duties"] if d["duty"] == name)


def test_a_county_without_a_public_secondary_school_and_a_prefecture_without_a_backbone_college_are_flagged(stack):
    world = World(stack)
    county = f"督导县{uuid.uuid4().hex[:6]}"
    world.institution(
        name="督导民办中职学校",
        type="secondary_vocational",
        prefecture="张家界市",
        county=county,
        sponsor="张家界市教育局",
        ownership="private",
    )
    college = world.institution(
        name="湘潭骨干职业技术学院",
        type="higher_vocational",
        prefecture="湘潭市",
        county="雨湖区",
        sponsor="湘潭市人民政府",
        backbone=True,
    )
    assert (college["ownership"], college["backbone"]) == ("public", True)  # public: read from its credit code

    rows = supervision(world)
    zhangjiajie, xiangtan = rows["张家界市"], rows["湘潭市"]
    assert county in duty(zhangjiajie, "public_secondary_in_every_county")["counties_without"]
    assert {"backbone_college", "public_secondary_in_every_county"} <= set(zhangjiajie["duties_missed"])
    assert duty(xiangtan, "backbone_college")["met"] is True
    assert sorted(row["rank"] for row in rows.values()) == list(range(1, 15))

    bureau = world.stack.client("prefecture", prefecture="张家界市")
    assert list(supervision(world, bureau)) == ["张家界市"]  # a bureau sees its own row only

    refused = world.province.post  # a backbone flag on a secondary school is refused at the edge, naming the field
    answer = refused(
        world.stack.url("/v1/institutions"),
        json={
            "name": "某中职学校",
            "type": "secondary_vocational",
            "prefecture": "张家界市",
            "county": county,
            "sponsor": "张家界市教育局",
            "credit_code": college["credit_code"],
            "backbone": True,
        },
        timeout=30,
    )
    assert answer.status_code == 422 and "backbone" in answer.json()["errors"]


def test_the_province_sets_the_years_rubric_and_a_rubric_not_summing_to_100_is_refused(stack):
    world = World(stack)
    url = world.stack.url("/v1/reports/supervision/rubric")
    weights = {"projects": 0, "local_money": 0, "milestones": 0, "reports": 0, "duties": 100}
    bad = world.province.put(url, json={"year": YEAR, "weights": {**weights, "duties": 90}}, timeout=30)
    assert bad.status_code == 422 and " / " in bad.json()["errors"]["weights"][0]  # 中文 / English
    assert (
        world.stack.client("prefecture", prefecture="长沙市")
        .put(url, json={"year": YEAR, "weights": weights}, timeout=30)
        .status_code
        == 403
    )
    assert world.province.put(url, json={"year": YEAR, "weights": weights}, timeout=30).status_code == 200
    answer = world.province.get(world.stack.url("/v1/reports/supervision"), params={"year": YEAR}, timeout=30).json()
    assert answer["weights"] == weights and answer["weights_set_by_province"] is True
    assert all(row["score"] == round(100 * row["measures"]["duties"], 1) for row in answer["prefectures"])
