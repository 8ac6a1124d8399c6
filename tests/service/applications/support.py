"""Data and steps for the applications service's tests through the gateway.

Every test makes its own institutions (random valid credit codes) and calls, so tests share
the session's stack without seeing each other's records.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from services.common.credit_code import check_digit, organisation_check_digit
from tests.support.events import publish_once
from tests.support.servers import wait_until

CHANGSHA, HENGYANG, LOUDI = "长沙市", "衡阳市", "娄底市"
PROVINCIAL_HRSS = "湖南省人力资源和社会保障厅"
RUBRIC = [
    {"code": "foundation", "name": "建设基础", "weight": 30, "max_score": 100},
    {"code": "plan", "name": "建设方案", "weight": 50, "max_score": 100},
    {"code": "support", "name": "保障措施", "weight": 20, "max_score": 100},
]


def credit_code() -> str:
    """A fresh valid code of a public institution (事业单位, 12) in Changsha (430100)."""
    body = f"{random.randrange(10**8):08d}"
    first17 = "12430100" + body + organisation_check_digit(body)
    return first17 + check_digit(first17)


def resident_id(first17: str = "43010219800101123") -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def from_now(seconds: float) -> str:
    return rfc3339(datetime.now(timezone.utc) + timedelta(seconds=seconds))


def institution_body(**overrides) -> dict:
    return {
        "name": "长沙职业技术学院",
        "type": "higher_vocational",
        "prefecture": CHANGSHA,
        "county": "长沙县",
        "sponsor": "长沙市人民政府",
        "credit_code": credit_code(),
        **overrides,
    }


def call_body(category: str = "hv-group", **overrides) -> dict:
    return {
        "category": category,
        "title": "2026年楚怡高水平高职高专专业群遴选",
        "opens_at": from_now(-60),
        "closes_at": from_now(3600),
        "quota": 1,
        "prefecture_cap": 3,
        "budget_min_fen": 100_000_00,
        "budget_max_fen": 5_000_000_00,
        "review_plan": {"reviewers_per_application": 3, "rubric": RUBRIC},
        "funding_rule": "tiered-v1",
        **overrides,
    }


def application_body(call_id: str, **overrides) -> dict:
    return {
        "call_id": call_id,
        "title": "智能制造专业群建设",
        "summary": "对接湖南工程机械产业集群。\n校企共建。",
        "construction_plan": "一、建设目标\n\t1. 建成国内一流专业群",
        "budget_request_fen": 2_000_000_00,
        "yearly_targets": [{"year": 2026, "target": "完成实训基地建设"}, {"year": 2027, "target": "通过中期检查"}],
        "industry_fields": ["46", "51"],
        "keywords": ["工程机械", "智能制造"],
        **overrides,
    }


def team_member(**overrides) -> dict:
    return {
        "name": "李华",
        "title": "教授",
        "role": "负责人",
        "id_number": resident_id(),
        "phone": "13800138000",
        **overrides,
    }


class World:
    """Acting through the gateway as the province, institutions, bureaus and HRSS sponsors."""

    def __init__(self, stack):
        self.stack = stack
        self.province = stack.client("province")

    def post(self, session, path: str, body=None, **kwargs):
        return session.post(self.stack.url(path), json=body, timeout=30, **kwargs)

    def get(self, session, path: str, **kwargs):
        return session.get(self.stack.url(path), timeout=30, **kwargs)

    def patch(self, session, path: str, body, **kwargs):
        return session.patch(self.stack.url(path), json=body, timeout=30, **kwargs)

    def ok(self, response, status: int = 200) -> dict:
        assert response.status_code == status, response.text
        return response.json()

    def institution(self, **overrides) -> dict:
        return self.ok(self.post(self.province, "/v1/institutions", institution_body(**overrides)), 201)

    def as_institution(self, institution: dict):
        return self.stack.client("institution", institution_id=institution["id"])

    def bureau(self, prefecture: str = CHANGSHA):
        return self.stack.client("prefecture", prefecture=prefecture)

    def hrss(self, sponsor: str = PROVINCIAL_HRSS):
        return self.stack.client("hrss", sponsor=sponsor)

    def call(self, category: str = "hv-group", **overrides) -> dict:
        return self.ok(self.post(self.province, "/v1/calls", call_body(category, **overrides)), 201)

    def draft(self, institution: dict, call: dict, **overrides) -> dict:
        body = application_body(call["id"], **overrides)
        return self.ok(self.post(self.as_institution(institution), "/v1/applications", body), 201)

    def submitted(self, institution: dict, call: dict, **overrides) -> dict:
        draft = self.draft(institution, call, **overrides)
        return self.ok(self.post(self.as_institution(institution), f"/v1/applications/{draft['id']}/submit"))

    def recommended(self, institution: dict, call: dict, recommender=None, **overrides) -> dict:
        application = self.submitted(institution, call, **overrides)
        path = f"/v1/applications/{application['id']}/recommend"
        return self.ok(self.post(recommender or self.bureau(institution["prefecture"]), path, {}))

    def eligible(self, institution: dict, call: dict, recommender=None, **overrides) -> dict:
        application = self.recommended(institution, call, recommender, **overrides)
        path = f"/v1/applications/{application['id']}/eligibility"
        return self.ok(self.post(self.province, path, {"eligible": True}))

    def application(self, application_id: str) -> dict:
        return self.ok(self.get(self.province, f"/v1/applications/{application_id}"))

    def wait_for_call_state(self, call_id: str, state: str, timeout: float = 20) -> dict:
        return wait_until(
            lambda: (c := self.ok(self.get(self.province, f"/v1/calls/{call_id}")))["state"] == state and c,
            timeout=timeout,
            what=f"call {call_id} to be {state}",
        )

    def selected(
        self,
        call: dict,
        winners: list[dict],
        reserve: list[dict] = (),
        funding_rule: str = "tiered-v1",
        at: datetime | None = None,
    ) -> None:
        """The call closed early and finalized by review (at `at`, by default now) with `winners`
        approved and `reserve` behind the line, each in rank order."""
        self.ok(self.post(self.province, f"/v1/calls/{call['id']}/close", {}))
        publish_review_event(
            self.stack.amqp_uri,
            "selection_finalized",
            call["id"],
            1,
            {
                "call_id": call["id"],
                "category": call["category"],
                "funding_rule": funding_rule,
                "quota": call["quota"],
                "approved": [
                    {
                        "application_id": a["id"],
                        "institution_id": a["institution_id"],
                        "prefecture": a["prefecture"],
                        "rank": rank,
                        "title": a["title"],
                        "budget_request_fen": a["budget_request_fen"],
                    }
                    for rank, a in enumerate(winners, 1)
                ],
                "reserve": [
                    {
                        "application_id": a["id"],
                        "prefecture": a["prefecture"],
                        "rank": len(winners) + position,
                        "reserve_position": position,
                    }
                    for position, a in enumerate(reserve, 1)
                ],
            },
            time=at,
        )
        self.wait_for_call_state(call["id"], "finalized")

    def inbox_kinds(self, session) -> list[str]:
        return [m["kind"] for m in self.ok(self.get(session, "/v1/inbox", params={"limit": 100}))["items"]]

    def published(self, subject: str, name: str, timeout: float = 20) -> dict:
        """The data of the event `name` of `subject`, once the outbox relay has published it."""
        outbox = self.stack.db("applications").outbox
        entry = wait_until(
            lambda: outbox.find_one({"subject": subject, "name": name, "sent_at": {"$ne": None}}),
            timeout=timeout,
            what=f"{name} of {subject} to be published",
        )
        return entry["event"]["data"]

    def events_of(self, subject: str) -> list[str]:
        return [e["name"] for e in self.stack.db("applications").outbox.find({"subject": subject}).sort("sequence", 1)]


def publish_review_event(
    amqp_uri: str, name: str, subject: str, sequence: int, data: dict, time: datetime | None = None
) -> None:
    """An event as the review service emits it (its contract: services/review/events.py)."""
    publish_once(amqp_uri, name, subject, data, sequence=sequence, time=time)
