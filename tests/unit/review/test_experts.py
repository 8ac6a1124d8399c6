"""The expert pool: the schema (ID numbers become person keys), importing a pool from CSV
or XLSX with a row-by-row bilingual report, and what the assignment sees."""

import io

import openpyxl
import pytest
from marshmallow import ValidationError

from services.common.identity import person_key
from services.common.personal import resident_id_check_digit
from services.review.domain.assignment import check_assignment
from services.review.domain.experts import call_policy, pairs_to_void, pool_expert, review_application, split_list
from services.review.schemas import import_experts
from services.contracts.review_api import ExpertIn, ExpertOut


def resident_id(serial: int) -> str:
    first17 = f"43010219800101{serial:03d}"
    return first17 + resident_id_check_digit(first17)


ALICE, BOB, CAROL = resident_id(1), resident_id(2), resident_id(3)
HEADER = "姓名,身份证号,单位编号,市州,专业大类,关键词,评审类别,回避人员身份证号,评审上限,是否可评审"


def expert(**changes):
    return {
        "name": "王专家",
        "id_number": ALICE,
        "institution_id": "inst-1",
        "prefecture": "长沙市",
        "fields": ["51"],
        "categories": ["hv-group"],
        "load_cap": 5,
        **changes,
    }


def csv(*rows, header=HEADER, encoding="utf-8"):
    return "\n".join([header, *rows]).encode(encoding)


def test_an_expert_keeps_person_keys_never_id_numbers():
    loaded = ExpertIn().load(expert(conflict_id_numbers=[BOB, BOB.lower()]))
    assert loaded["person_key"] == person_key(ALICE)
    assert loaded["conflict_person_keys"] == [person_key(BOB)]
    assert ALICE not in str(loaded) and BOB not in str(loaded)
    shown = ExpertOut().dump({**loaded, "_id": "exp_1"})
    assert shown["declared_conflict_people"] == 1
    assert ALICE not in str(shown) and person_key(ALICE) not in str(shown)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"fields": ["99"]}, "fields"),
        ({"fields": []}, "fields"),
        ({"categories": ["no-such"]}, "categories"),
        ({"prefecture": "北京市"}, "prefecture"),
        ({"load_cap": 0}, "load_cap"),
        ({"load_cap": "5"}, "load_cap"),
        ({"id_number": "430102198001010010"}, "id_number"),
        ({"available": "yes"}, "available"),
        ({"salary": 1}, "salary"),
    ],
)
def test_bad_expert_fields_are_named(change, field):
    with pytest.raises(ValidationError) as caught:
        ExpertIn().load(expert(**change))
    assert field in caught.value.messages


def test_split_list_takes_chinese_and_ascii_separators():
    assert split_list("智能制造；工业机器人、 物联网,大数据，;") == ["智能制造", "工业机器人", "物联网", "大数据"]


def test_a_csv_pool_is_read_with_chinese_labels_and_lists():
    content = csv(
        f"王专家,{ALICE},inst-1,长沙市,电子与信息大类;46,智能制造、机器人,楚怡高水平高职高专专业群,{BOB},8,是",
        f"李专家,{CAROL},inst-2,株洲市,51,,hv-group;sv-specialty,,3,否",
    )
    result = import_experts(content, known_person_keys=set())
    assert result.ok, result.report()
    first, second = result.experts
    assert (first["fields"], first["keywords"], first["categories"]) == (
        ["51", "46"],
        ["智能制造", "机器人"],
        ["hv-group"],
    )
    assert (first["conflict_person_keys"], first["load_cap"], first["available"]) == ([person_key(BOB)], 8, True)
    assert (second["categories"], second["available"], second["keywords"]) == (["hv-group", "sv-specialty"], False, [])


def test_gb18030_csv_with_english_headers():
    header = "name,id_number,institution_id,prefecture,fields,categories,load_cap"
    content = csv(f"赵专家,{ALICE},inst-1,湘西土家族苗族自治州,51,hv-group,2", header=header, encoding="gb18030")
    result = import_experts(content, known_person_keys=set())
    assert result.ok and result.experts[0]["prefecture"] == "湘西土家族苗族自治州"


def test_an_xlsx_pool_is_read():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "身份证号", "单位编号", "市州", "专业大类", "评审类别", "评审上限"])
    sheet.append(["钱专家", ALICE, "inst-9", "岳阳市", "51", "hv-group", 4])
    buffer = io.BytesIO()
    book.save(buffer)
    result = import_experts(buffer.getvalue(), known_person_keys=set())
    assert result.ok and result.experts[0]["load_cap"] == 4


def test_every_bad_row_is_reported_with_row_column_and_both_languages_and_nothing_is_kept():
    content = csv(
        f"王专家,{ALICE},inst-1,长沙市,51,,hv-group,,5,是",
        "坏专家,430102198001010010,inst-2,北京市,99,,hv-group,,0,是",
        f"重复,{ALICE},inst-3,株洲市,51,,hv-group,,5,是",
    )
    result = import_experts(content, known_person_keys=set())
    assert not result.ok and result.experts == ()
    report = result.report()
    by_place = {(e["row"], e["column"]) for e in report["errors"]}
    assert {(3, "身份证号"), (3, "市州"), (3, "专业大类"), (3, "评审上限"), (4, "身份证号")} <= by_place
    duplicate = next(e for e in report["errors"] if e["row"] == 4)
    assert "row 2" in duplicate["message_en"] and "第2行" in duplicate["message_zh"]
    assert all(e["message_zh"] and e["message_en"] for e in report["errors"])
    assert "430102198001010010" not in str(report) and ALICE not in str(report)


def test_a_person_already_in_the_pool_is_refused():
    result = import_experts(
        csv(f"王专家,{ALICE},inst-1,长沙市,51,,hv-group,,5,是"), known_person_keys={person_key(ALICE)}
    )
    (error,) = result.errors
    assert (error.row, error.field) == (2, "id_number") and "已在专家库" in error.message.zh


@pytest.mark.parametrize(
    "header, words",
    [
        ("姓名,身份证号,单位编号,市州,专业大类,评审类别", "评审上限"),
        (HEADER + ",工资", "工资"),
        (HEADER + ",姓名", "twice"),
    ],
)
def test_header_problems_are_reported_on_row_one(header, words):
    result = import_experts(csv(f"王专家,{ALICE},inst-1,长沙市,51,hv-group", header=header), known_person_keys=set())
    assert not result.ok and all(e.row == 1 for e in result.errors)
    assert any(words in e.message.zh or words in e.message for e in result.errors)


@pytest.mark.parametrize(
    "content, words", [(b"", "column names"), (HEADER.encode(), "no experts"), (b"\xd0\xcf\x11\xe0rest", ".xls")]
)
def test_unreadable_files_say_why(content, words):
    (error,) = import_experts(content, known_person_keys=set()).errors
    assert error.row is None and words in error.message


# ---------------------------------------------------------------- what the assignment sees

CALL = {
    "_id": "call-1",
    "category": "hv-group",
    "review_plan": {
        "reviewers_per_application": 2,
        "conflict_same_prefecture": True,
        "conflict_own_institution_applied": True,
    },
}


def record(expert_id, institution_id, prefecture="株洲市", **changes):
    return {
        "_id": expert_id,
        "institution_id": institution_id,
        "prefecture": prefecture,
        "person_key": person_key(resident_id(int(expert_id[-1]))),
        "load_cap": 3,
        "fields": ["51"],
        "keywords": [],
        "categories": ["hv-group"],
        "conflict_institution_ids": [],
        "conflict_person_keys": [],
        "available": True,
        **changes,
    }


def candidate(app_id, institution_id, prefecture="长沙市"):
    return {
        "_id": app_id,
        "institution_id": institution_id,
        "prefecture": prefecture,
        "industry_fields": ["51"],
        "keywords": ["智能制造"],
        "team_person_keys": [],
    }


def test_the_call_plan_becomes_the_policy_and_a_rerun_seed():
    policy = call_policy(CALL)
    assert (
        policy.reviewers_per_application,
        policy.same_prefecture_conflict,
        policy.own_institution_applied_conflict,
    ) == (2, None, True)
    assert call_policy(CALL).seed == policy.seed
    off = {**CALL, "review_plan": {**CALL["review_plan"], "conflict_same_prefecture": False}}
    assert call_policy(off).same_prefecture_conflict is False


def test_standing_pairs_that_no_longer_stand_are_named():
    apps = [
        review_application(candidate("app-1", "inst-a"), "hv-group"),
        review_application(candidate("app-2", "inst-x"), "hv-group"),
    ]
    experts = [
        pool_expert(record("exp-1", "inst-x")),
        pool_expert(record("exp-2", "inst-y")),
        pool_expert(record("exp-3", "inst-z")),
    ]
    standing = [
        {"_id": "asg-1", "application_id": "app-1", "expert_id": "exp-1", "status": "reviewed"},  # inst-x applied since
        {"_id": "asg-2", "application_id": "app-1", "expert_id": "exp-2", "status": "assigned"},
        {"_id": "asg-3", "application_id": "app-gone", "expert_id": "exp-3", "status": "assigned"},
        {"_id": "asg-4", "application_id": "app-1", "expert_id": "exp-3", "status": "declined"},
    ]
    void = pairs_to_void(apps, experts, call_policy(CALL), standing, {"inst-a", "inst-x"})
    assert set(void) == {"asg-1", "asg-3"}
    assert "applied" in void["asg-1"] and "left" in void["asg-3"]
    kept = [("app-1", "exp-2")]
    assert check_assignment(apps, experts, call_policy(CALL), kept, {"inst-a", "inst-x"}) == []
