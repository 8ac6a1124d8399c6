"""A small world for the review tests: calls and applications published as the
applications service would, experts created through the API, and the same records in
the assignment module's terms for its independent checker (`check_assignment`), built
from what the test sent, never from what the service stored."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from services.common.identity import person_key
from services.common.personal import resident_id_check_digit
from services.review.domain.assignment import Application, AssignmentPolicy, Expert, check_assignment
from services.review.domain.conflicts import SAME_PREFECTURE_CATEGORIES
from tests.support.servers import wait_until

RUBRIC = [
    {"code": "plan", "name": "建设方案", "weight": 60, "max_score": 100},
    {"code": "base", "name": "建设基础", "weight": 40, "max_score": 50},
]
_serials = itertools.count(1)


def resident_id() -> str:
    """A valid resident ID number (GB 11643), new on every call."""
    n = next(_serials) + uuid.uuid4().int % 10_000 * 1000
    first17 = f"430102{1950 + n // 1000 % 60}{1 + n // 60_000 % 12:02d}{1 + n // 720_000 % 28:02d}{n % 1000:03d}"
    return first17 + resident_id_check_digit(first17)


def short_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def rfc3339(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def soon(**delta) -> str:
    return rfc3339(datetime.now(timezone.utc) + timedelta(**delta))


@dataclass
class Call:
    id: str
    category: str
    k: int
    quota: int
    same_prefecture: bool
    own_institution_applied: bool
    applications: dict[str, Application] = field(default_factory=dict)
    applied: set[str] = field(default_factory=set)
    budgets: dict[str, int] = field(default_factory=dict)

    def policy(self) -> AssignmentPolicy:
        """The conflict rules as the issue states them, for the independent checker."""
        same_prefecture = self.same_prefecture and self.category in SAME_PREFECTURE_CATEGORIES
        return AssignmentPolicy(
            reviewers_per_application=self.k,
            same_prefecture_conflict=same_prefecture,
            own_institution_applied_conflict=self.own_institution_applied,
        )


class World:
    def __init__(self, stack, applications, province):
        self.stack, self.applications, self.province = stack, applications, province
        self.pool: dict[str, Expert] = {}
        self.calls: list[Call] = []

    def url(self, path: str) -> str:
        return self.stack.url(path)

    # ---------------------------------------------------------------- applications' side

    def open_call(
        self,
        category: str,
        *,
        quota: int = 2,
        k: int = 2,
        prefecture_cap: int = 5,
        same_prefecture: bool = True,
        own_institution_applied: bool = False,
    ) -> Call:
        call = Call(short_id("call"), category, k, quota, same_prefecture, own_institution_applied)
        self.calls.append(call)
        now = datetime.now(timezone.utc)
        self.applications.publish(
            "call_opened",
            call.id,
            {
                "call_id": call.id,
                "category": category,
                "title": f"2026年度{category}遴选",
                "opens_at": rfc3339(now - timedelta(days=30)),
                "closes_at": rfc3339(now - timedelta(minutes=1)),
                "quota": quota,
                "prefecture_cap": prefecture_cap,
                "per_institution_limit": 1,
                "budget_min_fen": 0,
                "budget_max_fen": 10**10,
                "review_plan": {
                    "reviewers_per_application": k,
                    "rubric": RUBRIC,
                    "conflict_same_prefecture": same_prefecture,
                    "conflict_own_institution_applied": own_institution_applied,
                },
                "funding_rule": "rule-tiered-2026",
            },
        )
        return call

    def apply(
        self,
        call: Call,
        *,
        institution_id: str | None = None,
        prefecture: str = "长沙市",
        team: tuple[str, ...] = (),
        fields: tuple[str, ...] = ("51",),
        keywords: tuple[str, ...] = ("智能制造",),
        eligible: bool = True,
        budget_fen: int = 5_000_000_00,
        minutes_ago: int = 60,
    ) -> str:
        """An application submitted and checked; `team`: the members' resident ID numbers."""
        app_id, institution_id = short_id("app"), institution_id or short_id("inst")
        ref = {
            "application_id": app_id,
            "call_id": call.id,
            "institution_id": institution_id,
            "prefecture": prefecture,
            "category": call.category,
        }
        submitted = rfc3339(datetime.now(timezone.utc) - timedelta(minutes=minutes_ago))
        title = f"{institution_id}的建设项目"
        self.applications.publish(
            "application_submitted",
            app_id,
            {
                **ref,
                "title": title,
                "submitted_at": submitted,
                "recommender": {"kind": "prefecture_bureau", "authority": prefecture},
            },
        )
        self.applications.publish(
            "eligibility_checked",
            app_id,
            {
                **ref,
                "eligible": eligible,
                "overridden": False,
                "decided_by": "province:auto",
                "reason": None,
                "findings": [
                    {"rule": "institution_type", "passed": eligible, "reason_zh": "类型符合", "reason_en": "type fits"}
                ],
                "applicant": {
                    "institution_name": f"{institution_id}职业技术学院",
                    "institution_type": "higher_vocational",
                    "county": None,
                    "title": title,
                    "summary": "建设内容摘要",
                    "industry_fields": list(fields),
                    "keywords": list(keywords),
                    "team_person_keys": [person_key(n) for n in team],
                    "budget_request_fen": budget_fen,
                    "submitted_at": submitted,
                },
            },
        )
        call.applied.add(institution_id)
        if eligible:
            call.applications[app_id] = Application(
                app_id, institution_id, prefecture, call.category, fields, keywords, {person_key(n) for n in team}
            )
            call.budgets[app_id] = budget_fen
        return app_id

    def withdraw(self, call: Call, app_id: str) -> None:
        application = call.applications.pop(app_id)
        self.applications.publish(
            "application_withdrawn",
            app_id,
            {
                "application_id": app_id,
                "call_id": call.id,
                "institution_id": application.institution_id,
                "prefecture": application.prefecture,
                "category": call.category,
                "from_state": "recommended",
                "reason": "申报单位撤回",
            },
        )

    def close(self, call: Call) -> None:
        """Close the call once the review service has every eligible application of it."""
        db = self.stack.db("review")
        wait_until(
            lambda: db.candidates.count_documents({"call_id": call.id, "status": "eligible"}) == len(call.applications),
            timeout=30,
            what=f"the applications of {call.id}",
        )
        self.applications.publish(
            "call_closed",
            call.id,
            {
                "call_id": call.id,
                "category": call.category,
                "closed_at": rfc3339(datetime.now(timezone.utc)),
                "submitted_count": len(call.applied),
            },
        )
        wait_until(
            lambda: db.calls.find_one({"_id": call.id, "closed_at": {"$exists": True}}),
            timeout=30,
            what=f"{call.id} to close",
        )

    # ---------------------------------------------------------------- experts, through the API

    def expert(
        self,
        categories: tuple[str, ...],
        *,
        institution_id: str | None = None,
        prefecture: str = "株洲市",
        fields: tuple[str, ...] = ("51",),
        keywords: tuple[str, ...] = ("智能制造",),
        cap: int = 5,
        conflict_institutions: tuple[str, ...] = (),
        conflict_people: tuple[str, ...] = (),
        id_number: str | None = None,
    ) -> str:
        id_number = id_number or resident_id()
        body = {
            "name": f"专家{uuid.uuid4().hex[:4]}",
            "id_number": id_number,
            "institution_id": institution_id or short_id("inst"),
            "institution_name": "某高校",
            "prefecture": prefecture,
            "fields": list(fields),
            "keywords": list(keywords),
            "categories": list(categories),
            "conflict_institution_ids": list(conflict_institutions),
            "conflict_id_numbers": list(conflict_people),
            "load_cap": cap,
        }
        answer = self.province.post(self.url("/v1/experts"), json=body, timeout=30)
        assert answer.status_code == 201, answer.text
        expert_id = answer.json()["id"]
        self.pool[expert_id] = Expert(
            expert_id,
            body["institution_id"],
            prefecture,
            person_key(id_number),
            cap,
            fields,
            keywords,
            categories,
            conflict_institutions,
            {person_key(n) for n in conflict_people},
        )
        return expert_id

    def as_expert(self, expert_id: str):
        return self.stack.client("expert", expert_id=expert_id)

    # ---------------------------------------------------------------- assignment

    def run(self, call: Call, **body) -> dict:
        body.setdefault("review_deadline", soon(hours=1))
        answer = self.province.post(self.url(f"/v1/calls/{call.id}/assignments"), json=body, timeout=60)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def assignments(self, call: Call, **filters) -> list[dict]:
        items, cursor = [], None
        while True:
            params = {"call_id": call.id, "limit": 100, **filters, **({"cursor": cursor} if cursor else {})}
            page = self.province.get(self.url("/v1/assignments"), params=params, timeout=30)
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return items

    def standing(self, call: Call) -> list[tuple[str, str]]:
        return [
            (a["application_id"], a["expert_id"])
            for a in self.assignments(call)
            if a["status"] in ("assigned", "reviewed")
        ]

    def violations(self, call: Call, pairs) -> list:
        """The assignment module's independent checker over `pairs`, on the world's own records."""
        return check_assignment(
            list(call.applications.values()), list(self.pool.values()), call.policy(), pairs, call.applied
        )
