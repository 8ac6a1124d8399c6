"""Applications: drafts, limits, edits, submission in the window, withdrawal, history, personal
data and scoping, through the gateway."""

import pytest

from services.common.identity import person_key
from tests.service.applications.support import (
    CHANGSHA,
    HENGYANG,
    application_body,
    from_now,
    resident_id,
    team_member,
)

pytestmark = pytest.mark.service


@pytest.fixture
def school(world):
    return world.institution()


@pytest.fixture
def call(world):
    return world.call("hv-group")


def test_a_draft_is_made_for_the_institution_of_the_token_and_reads_back_unchanged(world, school, call):
    body = application_body(
        call["id"],
        title="湘江新区智能网联汽车专业群（第二期）",
        performance_indicators={"合作企业": "≥20家", "技能证书通过率": "95%"},
    )
    response = world.post(world.as_institution(school), "/v1/applications", body)
    draft = world.ok(response, 201)
    assert response.headers["Location"].endswith(f"/v1/applications/{draft['id']}")
    assert (draft["state"], draft["institution_id"], draft["prefecture"]) == ("draft", school["id"], CHANGSHA)
    for key in (
        "title",
        "summary",
        "construction_plan",
        "yearly_targets",
        "industry_fields",
        "keywords",
        "performance_indicators",
        "budget_request_fen",
    ):
        assert draft[key] == body[key]
    assert world.application(draft["id"]) == {**draft, "materials": []}, "the page adds the materials it lists"


def test_a_retried_creation_with_the_same_idempotency_key_makes_one_draft(world, school, call, stack):
    session, body = world.as_institution(school), application_body(call["id"])
    first = world.post(session, "/v1/applications", body, headers={"Idempotency-Key": "draft-once-1"})
    again = world.post(session, "/v1/applications", body, headers={"Idempotency-Key": "draft-once-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert stack.db("applications").applications.count_documents({"institution_id": school["id"]}) == 1


def test_a_submit_retried_with_its_idempotency_key_gets_the_first_answer_not_a_conflict(world, school, call, stack):
    draft, session = world.draft(school, call), world.as_institution(school)
    path = f"/v1/applications/{draft['id']}/submit"
    first = world.post(session, path, headers={"Idempotency-Key": "submit-once-1"})
    again = world.post(session, path, headers={"Idempotency-Key": "submit-once-1"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert world.post(session, path).status_code == 409, "without the key a second submit is refused as before"
    other = world.draft(school, world.call())
    reused = world.post(session, f"/v1/applications/{other['id']}/submit", headers={"Idempotency-Key": "submit-once-1"})
    assert reused.status_code == 422, "one key cannot submit two applications"


def test_a_draft_is_edited_until_it_is_submitted(world, school, call):
    draft = world.draft(school, call)
    path = f"/v1/applications/{draft['id']}"
    session = world.as_institution(school)
    edited = world.ok(world.patch(session, path, {"summary": "修订后的摘要：服务“三高四新”战略。", "keywords": []}))
    assert edited["summary"] == "修订后的摘要：服务“三高四新”战略。" and edited["keywords"] == []
    assert edited["title"] == draft["title"]
    world.ok(world.post(session, f"{path}/submit"))
    refused = world.patch(session, path, {"title": "再改"})
    assert refused.status_code == 409 and refused.json()["type"] == "urn:chuyi:problem:not-editable"
    assert world.application(draft["id"])["title"] == draft["title"]


def test_submission_needs_an_industry_field_and_records_who_when_from_and_to(world, school, call):
    body = {k: v for k, v in application_body(call["id"]).items() if k != "industry_fields"}
    draft = world.ok(world.post(world.as_institution(school), "/v1/applications", body), 201)
    path = f"/v1/applications/{draft['id']}/submit"
    refused = world.post(world.as_institution(school), path)
    assert refused.status_code == 422 and list(refused.json()["errors"]) == ["industry_fields"]
    assert "所属专业大类" in refused.json()["detail"]
    world.ok(world.patch(world.as_institution(school), f"/v1/applications/{draft['id']}", {"industry_fields": ["46"]}))
    submitted = world.ok(world.post(world.as_institution(school), path))
    assert submitted["state"] == "submitted" and submitted["submitted_at"]
    created, entry = submitted["history"]  # its history starts with its creation
    assert (created["event"], created["from_state"], created["to_state"]) == ("create", "new", "draft")
    assert created["actor"].startswith("institution:") and created["at"] == draft["created_at"]
    assert (entry["event"], entry["from_state"], entry["to_state"]) == ("submit", "draft", "submitted")
    assert entry["actor"].startswith("institution:") and entry["at"].endswith("Z")
    again = world.post(world.as_institution(school), path)
    assert again.status_code == 409 and again.json()["type"] == "urn:chuyi:problem:transition-not-allowed"
    zh, en = again.json()["detail"].split(" / ")  # the public state and what may still happen, in both languages
    assert en == (
        "Cannot submit the application (POST /v1/applications/{id}/submit): the application is submitted, "
        "awaiting its recommendation ('submitted'). No step leads from there to it."
    )
    assert (
        zh
        == "申报书当前已提交，等待推荐（submitted），不能提交申报书（POST /v1/applications/{id}/submit）。此后已无可行步骤。"
    )
    event = world.published(draft["id"], "application_submitted")
    assert event["recommender"] == {"kind": "prefecture_bureau", "authority": CHANGSHA}
    assert (event["call_id"], event["institution_id"], event["category"]) == (call["id"], school["id"], "hv-group")


def test_a_submission_after_the_window_closed_is_a_409_that_says_so(world, school):
    call = world.call("hv-group", closes_at=from_now(5))
    draft = world.draft(school, call)
    world.wait_for_call_state(call["id"], "closed")
    late = world.post(world.as_institution(school), f"/v1/applications/{draft['id']}/submit")
    assert late.status_code == 409
    assert late.json()["type"] == "urn:chuyi:problem:window-closed"
    assert "window has closed" in late.json()["detail"] and "申报时间已截止" in late.json()["detail"]
    assert world.application(draft["id"])["state"] == "draft"
    assert world.post(world.as_institution(school), "/v1/applications", application_body(call["id"])).status_code == 409


def test_a_withdrawal_keeps_its_reason_in_the_history_and_is_announced(world, school, call):
    application = world.submitted(school, call)
    path = f"/v1/applications/{application['id']}/withdraw"
    withdrawn = world.ok(world.post(world.as_institution(school), path, {"reason": "建设方案需大幅调整"}))
    assert withdrawn["state"] == "withdrawn"
    assert [(h["from_state"], h["to_state"], h["reason"]) for h in withdrawn["history"]][-1] == (
        "submitted",
        "withdrawn",
        "建设方案需大幅调整",
    )
    assert world.post(world.as_institution(school), path, {}).status_code == 409
    event = world.published(application["id"], "application_withdrawn")
    assert (event["from_state"], event["reason"]) == ("submitted", "建设方案需大幅调整")


def test_team_members_personal_numbers_are_never_answered_or_stored_unmasked(world, school, stack):
    call = world.call("innovation-team", per_institution_limit=2)
    ids = [resident_id(), resident_id("11010519491231002")]
    members = [
        team_member(id_number=ids[0]),
        team_member(name="王芳", role="成员", id_number=ids[1], phone="+86 139 0731 0000"),
    ]
    response = world.post(
        world.as_institution(school), "/v1/applications", application_body(call["id"], team_members=members)
    )
    draft = world.ok(response, 201)
    assert [m["id_number"] for m in draft["team_members"]] == [f"{i[:3]}{'*' * 11}{i[-4:]}" for i in ids]
    assert draft["team_members"][1]["phone"] == "139****0000"
    stored = stack.db("applications").applications.find_one({"_id": draft["id"]})
    text = str(stored) + response.text + world.get(world.province, f"/v1/applications/{draft['id']}").text
    assert not any(i in text for i in ids) and "13907310000" not in text and "13800138000" not in text
    assert [m["person_key"] for m in stored["team_members"]] == [person_key(i) for i in ids]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"title": {"$ne": None}}, "title"),
        ({"performance_indicators": {"$set": "1"}}, "performance_indicators"),
        ({"performance_indicators": {"a.b": "1"}}, "performance_indicators"),
        ({"budget_request_fen": 1.5}, "budget_request_fen"),
        ({"budget_request_fen": "200"}, "budget_request_fen"),
        ({"industry_fields": ["99"]}, "industry_fields"),
        ({"industry_fields": ["41", "42", "43", "44"]}, "industry_fields"),
        ({"keywords": ["词"] * 11}, "keywords"),
        ({"title": "标" * 201}, "title"),
        ({"summary": "摘" * 2001}, "summary"),
        ({"yearly_targets": [{"year": 2019, "target": "目标"}]}, "yearly_targets"),
        ({"team_members": [team_member(id_number="430102198001011235")]}, "team_members"),
    ],
)
def test_bad_application_fields_are_named_and_change_nothing(world, school, call, stack, change, field):
    before = stack.db("applications").applications.count_documents({})
    response = world.post(world.as_institution(school), "/v1/applications", application_body(call["id"], **change))
    assert response.status_code == 422, response.text
    assert any(name == field or name.startswith(f"{field}.") for name in response.json()["errors"])
    assert "430102198001011235" not in response.text
    assert stack.db("applications").applications.count_documents({}) == before


def test_a_body_over_the_size_limit_is_a_413(world, school, call):
    response = world.post(
        world.as_institution(school), "/v1/applications", application_body(call["id"], construction_plan="案" * 600_000)
    )
    assert response.status_code == 413


def test_anothers_application_is_not_found_and_lists_are_scoped(world, call):
    mine, theirs = world.institution(), world.institution(prefecture=HENGYANG, county="衡山县")
    own = world.draft(mine, call)
    other = world.submitted(theirs, call)
    session = world.as_institution(mine)
    for response in (
        world.get(session, f"/v1/applications/{other['id']}"),
        world.patch(session, f"/v1/applications/{other['id']}", {"title": "改"}),
        world.post(session, f"/v1/applications/{other['id']}/withdraw", {}),
    ):
        assert response.status_code == 404
    assert [a["id"] for a in world.ok(world.get(session, "/v1/applications"))["items"]] == [own["id"]]
    injected = world.get(session, "/v1/applications", params={"institution_id[$ne]": "x"})
    assert injected.status_code == 422 and list(injected.json()["errors"]) == ["institution_id[$ne]"]
    assert world.ok(world.get(session, "/v1/applications", params={"institution_id": theirs["id"]}))["items"] == []
    bureau = world.ok(world.get(world.bureau(HENGYANG), "/v1/applications", params={"call_id": call["id"]}))["items"]
    assert [a["id"] for a in bureau] == [other["id"]]
    assert world.get(world.bureau(CHANGSHA), f"/v1/applications/{other['id']}").status_code == 404
    province = world.ok(
        world.get(world.province, "/v1/applications", params={"call_id": call["id"], "state": "submitted"})
    )
    assert [a["id"] for a in province["items"]] == [other["id"]]


def test_applications_are_listed_page_by_page(world, school):
    call = world.call("master-teacher", per_institution_limit=5)
    made = [world.draft(school, call, team_members=[team_member()])["id"] for _ in range(5)]
    session, seen, cursor = world.as_institution(school), [], None
    while True:
        params = {"limit": 2, "call_id": call["id"], **({"cursor": cursor} if cursor else {})}
        page = world.ok(world.get(session, "/v1/applications", params=params))
        assert len(page["items"]) <= 2
        seen += [a["id"] for a in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == made


def test_an_unregistered_institution_cannot_apply(world, call):
    stranger = world.stack.client("institution", institution_id="inst_not_registered")
    response = world.post(stranger, "/v1/applications", application_body(call["id"]))
    assert response.status_code == 403
    assert response.json()["type"] == "urn:chuyi:problem:institution-not-registered"
