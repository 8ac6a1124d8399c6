import json
from datetime import datetime

import pytest
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import ValidationError

from services.contracts import applications_api
from services.contracts.applications_api import (
    ApplicationIn,
    ApplicationOut,
    ApplicationPatch,
    DeclineIn,
    EligibilityOverrideIn,
    InstitutionIn,
    InstitutionOut,
    ProgrammeOut,
)
from services.contracts.catalogue import CATEGORY_FIELDS, COMMON_OPTIONAL_FIELDS, CORE_FIELDS, catalogue
from services.common.bilingual import Bilingual, localise_errors


def errors_of(schema, payload):
    with pytest.raises(ValidationError) as caught:
        schema.load(payload)
    return caught.value.messages


def every_message(messages):
    if isinstance(messages, dict):
        for value in messages.values():
            yield from every_message(value)
    elif isinstance(messages, list):
        for value in messages:
            yield from every_message(value)
    else:
        yield messages


@pytest.fixture
def studio(team_member, new_credit_code):
    return {
        "call_id": "call-2026-studio",
        "title": "湘绣技艺楚怡名师大师工作室",
        "summary": "传承湘绣技艺，校企共建。\n第二段。",
        "construction_plan": "一、建设目标\n\t1. 培养学徒",
        "yearly_targets": [{"year": 2026, "target": "完成工作室建设"}, {"year": 2027, "target": "培养学徒30名"}],
        "budget_request_fen": 50_000_000,
        "performance_indicators": {"学徒人数": "30", "技能大赛获奖": "省级一等奖2项"},
        "team_members": [
            team_member(),
            team_member(name="王芳", id_number="11010519491231002X", phone="+86 139 0731 0000"),
        ],
        "enterprise_partner": {"name": "湖南湘绣城有限公司", "credit_code": new_credit_code()},
    }


def test_application_fields_match_the_catalogue_field_names():
    assert set(ApplicationIn().fields) == {"call_id", *CORE_FIELDS, *COMMON_OPTIONAL_FIELDS, *CATEGORY_FIELDS}


def test_a_draft_needs_only_its_call_and_title():
    assert ApplicationIn().load({"call_id": "c1", "title": "专业群"}) == {"call_id": "c1", "title": "专业群"}
    assert set(errors_of(ApplicationIn(), {})) == {"call_id", "title"}


def test_chinese_text_round_trips_unchanged(studio):
    loaded = ApplicationIn().load(studio)
    dumped = ApplicationOut().dump(loaded)
    for key in ("title", "summary", "construction_plan", "yearly_targets", "performance_indicators"):
        assert dumped[key] == studio[key]
    assert json.loads(json.dumps(dumped, ensure_ascii=False))["title"] == "湘绣技艺楚怡名师大师工作室"


def test_personal_identifiers_are_normalised_kept_out_of_reprs_and_masked_on_output(studio):
    loaded = ApplicationIn().load(studio)
    member = loaded["team_members"][1]
    assert member["phone"] == "13907310000"
    assert member["id_number"] == "11010519491231002X"
    assert "11010519491231002X" not in repr(loaded) and "13907310000" not in repr(loaded)
    out = ApplicationOut().dump(loaded)["team_members"][1]
    assert (out["id_number"], out["phone"]) == ("110***********002X", "139****0000")


def test_bad_personal_identifiers_are_never_echoed(studio, team_member):
    studio["team_members"] = [team_member(id_number="430102198001011235", phone="2380013800")]
    with pytest.raises(ValidationError) as caught:
        ApplicationIn().load(studio)
    error = caught.value.messages["team_members"][0]
    assert set(error) == {"id_number", "phone"}
    text = json.dumps(caught.value.messages, ensure_ascii=False) + json.dumps(
        localise_errors(caught.value.messages, "zh"), ensure_ascii=False
    )
    assert "430102198001011235" not in text and "1235" not in text and "2380013800" not in text
    assert "check digit" in error["id_number"][0]


def test_the_same_person_twice_is_refused(studio, team_member):
    studio["team_members"] = [team_member(), team_member(name="李华二")]
    assert errors_of(ApplicationIn(), studio)["team_members"] == ["The same person is listed twice."]


@pytest.mark.parametrize(
    "field, value",
    [
        ("title", "题" * 201),
        ("summary", "摘" * 2001),
        ("construction_plan", "方" * 20_001),
        ("yearly_targets", [{"year": 2026, "target": "目" * 1001}]),
        ("performance_indicators", {"指" * 101: "1"}),
        ("performance_indicators", {"指标": "值" * 501}),
        ("enterprise_partner", {"name": "企" * 201, "credit_code": "91350100M000100Y43"}),
    ],
)
def test_oversized_text_is_a_field_error(studio, field, value):
    studio[field] = value
    messages = errors_of(ApplicationIn(), studio)
    assert list(messages) == [field]
    assert any("Longer than maximum length" in m for m in every_message(messages[field]))


@pytest.mark.parametrize("key", ["$gt", "$where", "a.b", "amount.$"])
def test_dollar_and_dotted_keys_are_refused_in_free_form_dicts(studio, key):
    studio["performance_indicators"] = {key: "1"}
    messages = errors_of(ApplicationIn(), studio)["performance_indicators"]
    assert messages == {key: {"key": ["Keys may not start with '$' or contain '.'."]}}


def test_operators_elsewhere_are_unknown_fields_or_wrong_types(studio):
    messages = errors_of(ApplicationIn(), {**studio, "$set": {"state": "eligible"}, "call_id": {"$ne": None}})
    assert messages["$set"] == ["Unknown field."]
    assert messages["call_id"] == ["Not a valid string."]
    studio["performance_indicators"] = {"指标": {"$gt": ""}}
    assert errors_of(ApplicationIn(), studio)["performance_indicators"] == {"指标": {"value": ["Not a valid string."]}}


def test_free_form_dict_is_bounded(studio):
    studio["performance_indicators"] = {f"指标{i}": "1" for i in range(51)}
    assert errors_of(ApplicationIn(), studio)["performance_indicators"] == ["At most 50 items."]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("budget_request_fen", "5000", "Not a valid integer."),
        ("budget_request_fen", 5000.0, "Not a valid integer."),
        ("budget_request_fen", -1, "Must be between 0 and 1000000000000."),
        ("title", "第一行\n第二行", "Must be a single line without control characters."),
        ("title", "", "Must not be empty."),
        ("summary", "含有\x00控制字符", "Must not contain control characters."),
        ("yearly_targets", [{"year": 2026, "target": "a"}, {"year": 2026, "target": "b"}], "Each year at most once."),
        ("yearly_targets", "2026", "Not a valid list."),
        ("lead_organisation", {"name": "湖南省人民政府", "kind": "ngo"}, None),
        ("enterprise_partner", "湖南湘绣城", "Invalid input type."),
        ("team_members", None, "Field may not be null."),
    ],
)
def test_strict_types_and_rules(studio, field, value, message):
    studio[field] = value
    messages = errors_of(ApplicationIn(), studio)
    assert list(messages) == [field]
    if message:
        assert message in every_message(messages[field])


def test_edu_group_organisations_are_typed(new_credit_code):
    payload = {
        "call_id": "c1",
        "title": "湖南现代农业职教集团",
        "lead_organisation": {"name": "湖南生物机电职业技术学院", "kind": "school", "credit_code": new_credit_code()},
        "member_organisations": [
            {"name": "湖南省农业农村厅", "kind": "government"},
            {"name": "湖南省农业科学院", "kind": "research_institute"},
            {"name": "袁隆平农业高科技股份有限公司", "kind": "enterprise"},
        ],
    }
    assert ApplicationIn().load(payload)["member_organisations"][1]["kind"] == "research_institute"
    payload["member_organisations"][0]["kind"] = "ngo"
    message = errors_of(ApplicationIn(), payload)["member_organisations"][0]["kind"][0]
    assert message.startswith("Must be one of: government, industry, enterprise, school, research_institute")
    assert "科研院所" in message.zh


def test_patch_replaces_given_fields_and_refuses_nothing_or_the_call():
    assert ApplicationPatch().load({"summary": ""}) == {"summary": ""}
    assert errors_of(ApplicationPatch(), {}) == {"_schema": ["Nothing to change."]}
    assert errors_of(ApplicationPatch(), {"call_id": "c2"}) == {"call_id": ["Unknown field."]}


def test_decisions_with_reasons():
    assert errors_of(DeclineIn(), {}) == {"reason": ["Missing data for required field."]}
    assert DeclineIn().load({"reason": "超出推荐名额"}) == {"reason": "超出推荐名额"}
    assert errors_of(EligibilityOverrideIn(), {"eligible": "true"}) == {"eligible": ["Not a valid boolean."]}
    assert errors_of(EligibilityOverrideIn(), {"eligible": 1}) == {"eligible": ["Not a valid boolean."]}
    assert EligibilityOverrideIn().load({"eligible": False, "reason": "材料不全"})["eligible"] is False


def test_institution_out_names_its_recommender(institution_row):
    technician = InstitutionIn().load(institution_row(type="technician", sponsor="湖南省人力资源和社会保障厅"))
    created = datetime(2026, 1, 5, 8, 0)  # as pymongo returns it: naive UTC
    out = InstitutionOut().dump({**technician, "id": "i1", "created_at": created})
    assert out["recommender"] == {"kind": "hrss", "authority": "湖南省人力资源和社会保障厅"}
    assert out["type_zh"] == "技工院校"
    assert out["created_at"] == "2026-01-05T08:00:00Z"


def test_programme_out_lists_the_catalogue_with_progress():
    category = catalogue()["sv-prefecture"]
    out = ProgrammeOut().dump({**category.as_dict(), "quota_year": 2025, "selected_count": 3})
    assert out["quota"] == 14 and out["selected_count"] == 3 and out["one_per_prefecture"]
    assert out["required_fields"][0] == "title"


def test_every_error_message_is_bilingual(studio, team_member):
    payload = {
        **studio,
        "$where": 1,
        "title": "",
        "budget_request_fen": "1",
        "yearly_targets": [{"year": 1999}],
        "team_members": [team_member(id_number="1", phone="2")],
        "enterprise_partner": {"name": "企业", "credit_code": "91350100M000100Y44"},
        "performance_indicators": {"$x": "1"},
    }
    messages = errors_of(ApplicationIn(), payload)
    found = list(every_message(messages))
    assert len(found) >= 8
    assert all(isinstance(m, Bilingual) and m.zh != m.en for m in found)
    chinese = localise_errors(messages, "zh")
    assert chinese["$where"] == ["未知字段。"]
    assert chinese["enterprise_partner"]["credit_code"] == ["统一社会信用代码校验位（第18位）错误"]
    assert localise_errors(messages, "en")["title"] == ["Must not be empty."]


def test_schemas_generate_openapi_components():
    spec = APISpec(title="chuyi", version="1", openapi_version="3.1.0", plugins=[MarshmallowPlugin()])
    names = [
        "InstitutionIn",
        "InstitutionOut",
        "ImportReportOut",
        "ProgrammeOut",
        "CallIn",
        "CallOut",
        "ApplicationIn",
        "ApplicationPatch",
        "ApplicationOut",
        "DecisionIn",
        "DeclineIn",
        "EligibilityOverrideIn",
    ]
    for name in names:
        spec.components.schema(name, schema=getattr(applications_api, name))
    components = spec.to_dict()["components"]["schemas"]
    assert set(names) <= set(components)
    assert components["ApplicationIn"]["additionalProperties"] is False
    assert components["ApplicationIn"]["properties"]["title"]["maxLength"] == 200
    assert components["ApplicationIn"]["properties"]["performance_indicators"]["maxProperties"] == 50
    assert "fen" in components["CallIn"]["properties"]["budget_min_fen"]["description"]
    assert "湘西土家族苗族自治州" in components["InstitutionIn"]["properties"]["prefecture"]["enum"]


@pytest.mark.parametrize(
    "fields, message",
    [
        ([], "At least 1 item(s)."),
        (["41", "42", "43", "44"], "At most 3 items."),
        (["46", "46"], "Each at most once."),
    ],
)
def test_industry_fields_are_one_to_three_codes_of_the_vocabulary(fields, message):
    messages = errors_of(ApplicationIn(), {"call_id": "c1", "title": "专业群", "industry_fields": fields})
    assert message in list(every_message(messages["industry_fields"]))


def test_an_unknown_industry_field_is_named_with_the_chinese_labels():
    messages = errors_of(ApplicationIn(), {"call_id": "c1", "title": "专业群", "industry_fields": ["99"]})
    [message] = messages["industry_fields"][0]
    assert "46" in message and "装备制造大类" in message.zh


def test_keywords_are_at_most_ten_single_lines():
    assert errors_of(ApplicationIn(), {"call_id": "c1", "title": "t", "keywords": ["词"] * 11})["keywords"]
    assert errors_of(ApplicationIn(), {"call_id": "c1", "title": "t", "keywords": ["a\nb"]})["keywords"]
    assert ApplicationIn().load({"call_id": "c1", "title": "t", "keywords": ["湘绣", "非遗"]})["keywords"] == [
        "湘绣",
        "非遗",
    ]


def test_a_list_query_takes_numbers_as_query_text_within_bounds():
    assert applications_api.ApplicationQuery().load({"limit": "5", "state": "submitted"}) == {
        "limit": 5,
        "state": "submitted",
    }
    assert applications_api.ApplicationQuery().load({}) == {"limit": applications_api.DEFAULT_PAGE_SIZE}
    for bad in ({"limit": "0"}, {"limit": "101"}, {"state": "lost"}, {"cursor": "a b"}, {"call_id": {"$ne": 1}}):
        with pytest.raises(ValidationError):
            applications_api.ApplicationQuery().load(bad)


def test_stored_team_members_come_out_masked_whatever_they_hold():
    stored = {
        "team_members": [
            {
                "name": "李华",
                "title": "教授",
                "role": "负责人",
                "id_number": "11010519491231002X",
                "phone": "139****0000",
                "person_key": "k",
            }
        ]
    }
    [member] = ApplicationOut().dump(stored)["team_members"]
    assert member == {
        "name": "李华",
        "title": "教授",
        "role": "负责人",
        "id_number": "110***********002X",
        "phone": "139****0000",
    }
