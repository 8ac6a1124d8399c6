"""The funding service through its HTTP API, and review's `selection_finalized`
published exactly as the review service publishes it."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timezone

from services.funding.domain.ledger import Entry, check_ledger
from services.contracts.review_events import EVENTS as REVIEW_EVENTS
from tests.support.events import publish_once
from tests.support.servers import wait_until

#: Budget lines are shared by the whole stack: each test takes a budget year of its own.
_YEARS = itertools.count(2030)
#: The province's direct record of a milestone overrides the expert panels: it always says why.
DIRECT = "省级直接认定（未经专家组）"
PLAN = [
    {"trigger": "approval", "percent": 40},
    {"trigger": "mid_term", "percent": 30},
    {"trigger": "acceptance", "percent": 30},
]


def fresh_year() -> int:
    return next(_YEARS)


def mid_year(year: int) -> datetime:
    return datetime(year, 6, 1, 2, tzinfo=timezone.utc)


def selection_finalized(call_id: str, category: str, funding_rule: str, approved: list[dict]) -> dict:
    data = {
        "call_id": call_id,
        "category": category,
        "funding_rule": funding_rule,
        "quota": len(approved) + 5,
        "approved": approved,
    }
    REVIEW_EVENTS["selection_finalized"].load(data)  # fits review's contract
    return data


def publish_selection(amqp_uri: str, data: dict, at: datetime) -> None:
    """The call's selection_finalized, the first event of the call that reaches funding."""
    publish_once(amqp_uri, "selection_finalized", data["call_id"], data, time=at)


def approved_projects(requests: list[int], institution_id: str | None = None) -> list[dict]:
    return [
        {
            "application_id": f"app_{uuid.uuid4().hex[:10]}",
            "institution_id": institution_id or f"inst_{uuid.uuid4().hex[:8]}",
            "prefecture": "长沙市",
            "rank": rank,
            "title": f"楚怡专业群建设项目 {rank}",
            "budget_request_fen": request,
        }
        for rank, request in enumerate(requests, start=1)
    ]


class Funding:
    """The province and finance at the funding routes of one stack."""

    def __init__(self, stack):
        self.stack = stack
        self.province = stack.client("province")
        self.finance = stack.client("finance")

    def post(self, path: str, body: dict, key: str | None = None, client=None):
        headers = {"Idempotency-Key": key} if key else {}
        return (client or self.province).post(self.stack.url(path), json=body, headers=headers, timeout=60)

    def get(self, path: str, client=None, **params):
        return (client or self.province).get(self.stack.url(path), params=params, timeout=30)

    def rule(self, award: dict, sources: dict, clawback: str = "beyond_approval", tranches=None) -> str:
        answer = self.post(
            "/v1/funding-rules",
            {"award": award, "sources": sources, "tranches": tranches or PLAN, "clawback": clawback},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def budget(self, year: int, category: str, amounts: dict[str, int]) -> None:
        for source, amount in amounts.items():
            answer = self.post("/v1/budgets", {"year": year, "category": category, "source": source, "amount": amount})
            assert answer.status_code == 201, answer.text

    def lines(self, year: int, category: str) -> dict[str, dict]:
        answer = self.get("/v1/budgets", year=year, category=category)
        assert answer.status_code == 200, answer.text
        return {line["source"]: line for line in answer.json()["items"]}

    def finalize(
        self, category: str, rule_id: str, requests: list[int], at: datetime, institution_id: str | None = None
    ) -> tuple[str, list[dict]]:
        call_id = f"call_{uuid.uuid4().hex[:10]}"
        approved = approved_projects(requests, institution_id)
        publish_selection(self.stack.amqp_uri, selection_finalized(call_id, category, rule_id, approved), at)
        return call_id, approved

    def allocation(self, call_id: str, until=lambda allocation: True) -> dict:
        """The call's allocation once the funding service has its selection (and `until` holds)."""

        def arrived():
            answer = self.get(f"/v1/calls/{call_id}/allocation")
            return answer.status_code == 200 and until(answer.json()) and answer.json()

        return wait_until(arrived, timeout=30, what=f"the allocation of {call_id}")

    def project(self, project_id: str, client=None) -> dict:
        answer = self.get(f"/v1/projects/{project_id}/funding", client)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def milestone(self, project_id: str, milestone: str, result: str, reason: str | None = DIRECT):
        return self.post(
            f"/v1/projects/{project_id}/milestones", {"milestone": milestone, "result": result, "reason": reason}
        )

    def ledger(self, **filters) -> list[dict]:
        """Every entry, page by page."""
        entries, cursor = [], None
        while True:
            params = {**filters, "limit": 100, **({"cursor": cursor} if cursor else {})}
            answer = self.get("/v1/funding/ledger", self.finance, **params)
            assert answer.status_code == 200, answer.text
            entries += answer.json()["items"]
            cursor = answer.json()["next_cursor"]
            if cursor is None:
                return entries


def check_http_ledger(entries: list[dict]):
    """The domain's ledger check over entries as the ledger route shows them."""
    return check_ledger(
        Entry(
            e["movement"],
            e["debit"],
            e["credit"],
            e["amount"],
            e["source"],
            datetime.fromisoformat(e["at"]),
            e["project_id"],
            e["tranche"],
        )
        for e in entries
    )
