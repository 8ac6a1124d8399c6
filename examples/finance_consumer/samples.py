"""A realistic stream of funding events, made by the funding domain and wrapped in the
platform's CloudEvents envelope: every event type, numbered per subject as the outbox
numbers them. For tests and for trying a consumer without the whole platform.

    python -m examples.finance_consumer.samples > events.jsonl
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from services.common.envelope import new_event
from services.funding.domain.allocation import allocate
from services.funding.domain.awards import ApprovedProject
from services.funding.domain.milestones import record_milestone, withdraw
from services.contracts.funding_rules import AwardTier, FundingRule, TieredAward, TrancheSpec

START = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
RULE = FundingRule(
    TieredAward((AwardTier(1, 3, 500_000_000), AwardTier(4, None, 300_000_000))),  # 5,000,000 / 3,000,000 yuan
    {"provincial_special": 3, "local_government": 2},
    (TrancheSpec("approval", 40), TrancheSpec("mid_term", 30), TrancheSpec("acceptance", 30)),
    "beyond_approval",
)
PROJECTS = [
    ApprovedProject("proj-0001", 1, 600_000_000),
    ApprovedProject("proj-0002", 2, 550_000_000),
    ApprovedProject("proj-0003", 4, 350_000_000),
]
#: (project index, milestone, result, reason): p1 rectifies then passes everything,
#: p2 passes mid-term and fails acceptance, p3 is withdrawn before its mid-term review.
MILESTONES = [
    (0, "mid_term", "rectify", "实训设备采购滞后，限期整改"),
    (1, "mid_term", "pass", None),
    (2, None, "withdrawn", "学校申请撤销：建设任务未启动"),
    (0, "mid_term", "pass", None),
    (1, "acceptance", "fail", "验收未通过：实训基地未建成"),
    (0, "acceptance", "pass", None),
]


def scenario():
    """The domain's FinanceEvents, in the order a service would stage them, and the
    projects' funding states at the end."""
    year, category = 2026, "hv-group"
    plenty = {source: 10_000_000_000 for source in RULE.sources}
    allocation = allocate(
        "call-2026-hv-group", year, category, RULE, PROJECTS, plenty, actor="province:admin", at=START
    )
    events = list(allocation.events)
    fundings = [change.funding for change in allocation.changes]
    for step, (i, milestone, result, reason) in enumerate(MILESTONES, start=1):
        at = START + timedelta(days=180 * step)
        if result == "withdrawn":
            change = withdraw(fundings[i], actor="province:admin", reason=reason, at=at)
        else:
            change = record_milestone(fundings[i], milestone, result, actor="province:admin", reason=reason, at=at)
        fundings[i] = change.funding
        events += change.events
    short = {"provincial_special": 500_000_000, "local_government": 1_000_000_000}
    events.append(
        allocate("call-2027-workshop", 2027, "workshop", RULE, PROJECTS, short, actor="province:admin", at=START).event
    )
    return events, fundings


def sample_events() -> list[dict]:
    """CloudEvent envelopes (dicts), with deterministic ids and per-subject sequences."""
    sequences: dict[str, int] = {}
    envelopes = []
    events, _ = scenario()
    for event in events:
        sequence = sequences[event.subject] = sequences.get(event.subject, 0) + 1
        envelopes.append(
            new_event(
                "funding",
                event.name,
                event.subject,
                event.data,
                sequence=sequence,
                event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"chuyi:{event.subject}:{sequence}")),
                correlation_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"chuyi:{event.subject}")),
                time=START,
            ).to_dict()
        )
    return envelopes


if __name__ == "__main__":
    for envelope in sample_events():
        print(json.dumps(envelope, ensure_ascii=False))
