"""Supervision through the stack: approved projects seeded as the review service publishes
them (`selection_finalized`), funded by the funding service on it, and the progress report
read back through the gateway."""

from __future__ import annotations

import uuid

from tests.service.funding.support import Funding, fresh_year, mid_year, publish_selection, selection_finalized
from tests.support.servers import wait_until

#: No other service test finalizes selections in this category (quota 400), nor in the
#: prefectures the report tests use, so their rows move only with these tests' seeds.
CATEGORY = "innovation-team"
SHARES = {"provincial_special": 3, "social": 1}


class Reports:
    def __init__(self, stack):
        self.stack = stack
        self.funding = Funding(stack)
        self.province = stack.client("province")

    def report(self, client=None, **params) -> dict:
        answer = (client or self.province).get(self.stack.url("/v1/reports/progress"), params=params, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def category(self, report: dict, code: str = CATEGORY) -> dict:
        return next(c for c in report["categories"] if c["code"] == code)

    def seed(self, prefectures: list[str], request_fen: int) -> list[dict]:
        """One call of CATEGORY approving a project in each of `prefectures`, each awarded
        `request_fen` (split 3 : 1 between the provincial special fund and social money),
        its approval tranche (40 %) released. Returns once the report counts them."""
        before = self.category(self.report())
        rule = self.funding.rule({"method": "share", "percent": 100}, SHARES)
        year = fresh_year()
        self.funding.budget(year, CATEGORY, {source: 10**10 for source in SHARES})
        approved = [
            {
                "application_id": f"app_{uuid.uuid4().hex[:10]}",
                "institution_id": f"inst_{uuid.uuid4().hex[:8]}",
                "prefecture": prefecture,
                "rank": rank,
                "title": f"楚怡教师教学创新团队 {rank}",
                "budget_request_fen": request_fen,
            }
            for rank, prefecture in enumerate(prefectures, start=1)
        ]
        call_id = f"call_{uuid.uuid4().hex[:10]}"
        publish_selection(self.stack.amqp_uri, selection_finalized(call_id, CATEGORY, rule, approved), mid_year(year))
        self.funding.allocation(call_id, until=lambda allocation: allocation["status"] == "allocated")

        def counted() -> bool:
            now = self.category(self.report())
            return (now["approved"], now["funded_projects"]) == (
                before["approved"] + len(approved),
                before["funded_projects"] + len(approved),
            )

        wait_until(counted, timeout=30, what="the report to count the seeded projects")
        return approved

    def pass_mid_term(self, project_id: str) -> None:
        answer = self.funding.milestone(project_id, "mid_term", "pass")
        assert answer.status_code == 201, answer.text
