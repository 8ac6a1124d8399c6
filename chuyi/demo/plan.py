"""What a demo round plans and keeps: its settings (`DemoConfig`), the funding rules and budget
sources it uses, each call's record as the steps fill it (`CallRound`), the whole round's result
(`DemoResult`), and the pure rules the driver plans by (quotas, spreads, awards, budgets)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path


from chuyi.demo.console import WAN, YUAN
from chuyi.demo.generator import DemoApplication, DemoData
from chuyi.demo.years import Years

DEFAULT_CATEGORIES = ("hv-school", "sv-prefecture", "master-teacher", "innovation-team", "training-base")
FIRST_YEAR = 2022  # the action year of the first round; the years after it run to 2025
LATER_ROUND_APPLICATIONS = 8  # the later round is small: it offers only the places freed
# The review service applies a call's reviews one after the other (the call is one transaction's
# subject): more writers on one call only queue up there, and the last of them time out.
REVIEW_WRITERS_PER_CALL = 2
EXPERT_FILE_ROWS = 500  # experts per uploaded list, so no single import runs long
REVIEW_DEADLINE = timedelta(hours=2)
TRANCHES = [
    {"trigger": "approval", "percent": 40},
    {"trigger": "mid_term", "percent": 30},
    {"trigger": "acceptance", "percent": 30},
]
# The funding rule of each demo category (fen); others get DEFAULT_RULE. A project that fails a
# milestone returns everything it was paid (claw-back "all"), so the years show a claw-back.
FUNDING_RULES: dict[str, dict] = {
    "hv-school": {
        "award": {
            "method": "tiers",
            "tiers": [
                {"from_rank": 1, "to_rank": 2, "amount": 2000 * WAN},
                {"from_rank": 3, "to_rank": None, "amount": 1500 * WAN},
            ],
        },
        "sources": {"provincial_special": 6, "local_government": 3, "social": 1},
        "tranches": TRANCHES,
        "clawback": "all",
    },
    "sv-prefecture": {
        "award": {"method": "share", "percent": 80, "cap": 3000 * WAN},
        "sources": {"provincial_special": 5, "local_special_bond": 3, "local_government": 2},
        "tranches": TRANCHES,
        "clawback": "all",
    },
    "master-teacher": {
        "award": {"method": "tiers", "tiers": [{"from_rank": 1, "to_rank": None, "amount": 20 * WAN}]},
        "sources": {"provincial_special": 1},
        "tranches": [{"trigger": "approval", "percent": 50}, {"trigger": "mid_term", "percent": 50}],
        "clawback": "all",
    },
    "innovation-team": {
        "award": {"method": "share", "percent": 100, "cap": 80 * WAN},
        "sources": {"provincial_special": 7, "local_government": 3},
        "tranches": TRANCHES,
        "clawback": "all",
    },
    "training-base": {
        "award": {"method": "share", "percent": 70, "cap": None},
        "sources": {"provincial_special": 4, "local_government": 3, "social": 3},
        "tranches": TRANCHES,
        "clawback": "all",
    },
}
DEFAULT_RULE = {
    "award": {"method": "share", "percent": 80, "cap": None},
    "sources": {"provincial_special": 7, "local_government": 3},
    "tranches": TRANCHES,
    "clawback": "all",
}


@dataclass(frozen=True)
class DemoConfig:
    """Where the platform is, and how big a round to run."""

    base_url: str
    jwt_secret: str
    amqp_uri: str
    finance_db: Path
    finance_queue: str = "finance.demo"
    seed: int = 2025
    institutions: int = 400
    experts: int = 2000
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    applications_per_call: int = 24
    concurrency: int = 8
    notice_seconds: float = 15.0
    window_seconds: float | None = None  # the calls' application window; None: from the number of applications
    # The province closes each call early once every application is in and decided (POST
    # /v1/calls/{id}/close), instead of waiting out the window for the timer to close it.
    close_early: bool = False

    def __post_init__(self):
        problems = [
            f"{name} must be at least {least}, not {value}"
            for name, value, least in (
                ("applications_per_call", self.applications_per_call, 1),
                ("concurrency", self.concurrency, 1),
                ("notice_seconds", self.notice_seconds, 1),
                ("window_seconds", self.window_seconds or 10, 10),
            )
            if value < least
        ]
        if not self.categories:
            problems.append("categories must name at least one category")
        if problems:
            raise ValueError("; ".join(problems))


# ---------------------------------------------------------------- the round's records


@dataclass
class CallRound:
    """One call of the round and what each step answered for it."""

    key: str
    category: str
    body: dict
    id: str = ""
    quota: int = 0
    applications: list[DemoApplication] = field(default_factory=list)  # the ones sent
    submitted: dict[str, dict] = field(default_factory=dict)  # application id -> as submitted
    recommended: dict[str, dict] = field(default_factory=dict)
    declined: dict[str, dict] = field(default_factory=dict)
    eligible: dict[str, dict] = field(default_factory=dict)
    ineligible: dict[str, dict] = field(default_factory=dict)
    assignment_runs: list[dict] = field(default_factory=list)
    reviews: dict[str, dict] = field(default_factory=dict)  # assignment id -> the review answer
    ranking: dict | None = None  # as published
    notice: dict | None = None
    objection: dict | None = None  # as resolved
    selection: dict | None = None  # as finalized
    allocation: dict | None = None
    rule: dict | None = None
    milestones: list[dict] = field(default_factory=list)
    funding: dict[str, dict] = field(default_factory=dict)  # project id -> GET /v1/projects/{id}/funding

    @property
    def rubric(self) -> list[dict]:
        return self.body["review_plan"]["rubric"]

    @property
    def assignments(self) -> list[dict]:
        return [a for run in self.assignment_runs for a in run["assigned"]]

    @property
    def selected(self) -> list[dict]:
        return [e for e in self.ranking["entries"] if e["within_quota"]] if self.ranking else []

    @property
    def approved(self) -> list[dict]:
        return self.selection["approved"] if self.selection else []


@dataclass
class DemoResult:
    config: DemoConfig
    data: DemoData
    institution_ids: dict[str, str]  # demo key -> id
    expert_ids: dict[str, str]
    calls: list[CallRound]
    skipped: dict[str, str]  # category -> why no call was run
    reconciliation: dict[str, dict]  # the finance consumer's, for this round's projects
    inboxes: dict[str, dict]  # whose -> {"actor": Actor, "items": their messages, newest first}
    progress_report: dict  # GET /v1/reports/progress at the end of the round
    projects: dict[str, list[dict]]  # institution name -> its projects, as it lists them (GET /v1/projects)
    expert_copy: dict | None = None  # an expert's watermarked 申报书: expert, filename, bytes, stamp
    years: Years | None = None  # the years after the round: reports, the mid-term panel, supervision
    seconds: float = 0.0
    requests: int = 0


# ---------------------------------------------------------------- planning rules (no I/O)


def expert_signature(expert: Mapping) -> tuple:
    """What tells one expert of the pool from another without the ID number (never answered)."""
    return (
        expert["name"],
        expert["institution_id"],
        expert["prefecture"],
        tuple(sorted(expert["fields"])),
        tuple(sorted(expert["categories"])),
        expert["load_cap"],
        expert.get("available", True),
    )


def spread(applications: Sequence[DemoApplication], limit: int, prefecture_of: Mapping[str, str]):
    """At most `limit` applications, taken from the prefectures in turn, in their own order."""
    if len(applications) <= limit:
        return list(applications)
    queues = defaultdict(list)
    for position, application in enumerate(applications):
        queues[prefecture_of[application.institution]].append((position, application))
    taken = []
    for round_ in itertools.zip_longest(*queues.values()):
        taken += [item for item in round_ if item is not None]
    return [application for _, application in sorted(taken[:limit], key=lambda item: item[0])]


def competitive_quota(category: str, call: Mapping, applications: int) -> int:
    """Half of the applications, so every call ranks some behind its line (the reserve);
    sv-prefecture keeps one school per prefecture."""
    if category == "sv-prefecture":
        return call["quota"]
    return max(1, applications // 2)


def award_of(rule: Mapping, rank: int, request_fen: int) -> int:
    """What the rule awards the project at `rank` that asked for `request_fen`."""
    award = rule["award"]
    if award["method"] == "tiers":
        return next(
            t["amount"]
            for t in award["tiers"]
            if t["from_rank"] <= rank and (t["to_rank"] is None or rank <= t["to_rank"])
        )
    share = request_fen * award["percent"] // 100
    return share if award.get("cap") is None else min(share, award["cap"])


def budget_needed(rule: Mapping, quota: int, budget_max_fen: int) -> dict[str, int]:
    """Per source, enough for `quota` projects at the most the rule can award (rounded up to the yuan)."""
    award = rule["award"]
    if award["method"] == "tiers":
        most = max(t["amount"] for t in award["tiers"])
    else:
        most = award_of(rule, 1, budget_max_fen)
    weights = rule["sources"]
    whole = sum(weights.values())
    return {source: -(-quota * most * weight // (whole * YUAN)) * YUAN + YUAN for source, weight in weights.items()}
