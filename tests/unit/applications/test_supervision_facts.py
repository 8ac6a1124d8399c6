"""The register's structural duties and the projects, per prefecture, as supervision reads them."""

from services.applications.domain.supervision import prefecture_facts

PUBLIC_CODE, PRIVATE_CODE = "12430100MB1234562J", "52430100MJ1234561R"


def school(county: str, type_="secondary_vocational", prefecture="长沙市", **fields) -> dict:
    return {"type": type_, "prefecture": prefecture, "county": county, "credit_code": PUBLIC_CODE, **fields}


def test_a_county_with_only_a_private_secondary_school_has_no_public_one():
    (facts,) = prefecture_facts(
        ["长沙市"],
        [
            school("长沙县"),
            school("宁乡市", ownership="private"),
            school("浏阳市", credit_code=PRIVATE_CODE),
            school("浏阳市", type_="higher_vocational"),
        ],
        [],
        2024,
    )
    assert facts["counties"] == [
        {"county": "宁乡市", "institutions": 1, "public_secondary": 0},
        {"county": "浏阳市", "institutions": 2, "public_secondary": 0},  # ownership read from the credit code
        {"county": "长沙县", "institutions": 1, "public_secondary": 1},
    ]


def test_backbone_colleges_and_projects_up_to_the_year_count_per_prefecture():
    institutions = [
        school("芙蓉区", type_="higher_vocational", backbone=True),
        school("岳阳县", type_="higher_vocational", prefecture="岳阳市"),
    ]
    projects = [
        {"prefecture": "长沙市", "category": "sv-prefecture", "year": 2023},
        {"prefecture": "长沙市", "category": "workshop", "year": 2025},
        {"prefecture": "岳阳市", "category": "workshop", "year": 2022},
        {"prefecture": "株洲市", "category": "workshop", "year": 2022},
    ]
    changsha, yueyang = prefecture_facts(["长沙市", "岳阳市"], institutions, projects, 2024)
    assert (changsha["backbone_colleges"], changsha["projects"], changsha["rebuilt_schools"]) == (
        1,
        {"sv-prefecture": 1},
        1,
    )
    assert (yueyang["backbone_colleges"], yueyang["projects"], yueyang["rebuilt_schools"]) == (0, {"workshop": 1}, 0)
