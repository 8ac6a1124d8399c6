"""What one approved project is awarded under a funding rule: the total, its split
across sources, and its tranches.

Each source's amount is split across the tranches by their percentages (largest
remainder, tranches in plan order), so every source's tranches add up to exactly that
source's award. A tranche's total is the sum of its per-source parts; it is within one
fen per source of `percent` % of the award.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.funding.domain.ledger import check_id
from services.funding.domain.money import check_fen, split_by_source, split_largest_remainder
from services.contracts.funding_rules import FundingRule, TrancheSpec


@dataclass(frozen=True)
class ApprovedProject:
    project_id: str
    rank: int
    request: int  # fen, what the application asked for

    def __post_init__(self) -> None:
        check_id(self.project_id, "project_id")
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"rank of {self.project_id} must be an integer >= 1, got {self.rank!r}")
        check_fen(self.request, f"request of {self.project_id}", positive=True)


@dataclass(frozen=True)
class Tranche:
    index: int  # 1-based position in the plan
    trigger: str
    percent: int
    by_source: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


@dataclass(frozen=True)
class ProjectAward:
    project_id: str
    rank: int
    by_source: Mapping[str, int]
    tranches: tuple[Tranche, ...]

    @property
    def total(self) -> int:
        return sum(self.by_source.values())

    def tranche(self, index: int) -> Tranche:
        return self.tranches[index - 1]


def plan_tranches(by_source: Mapping[str, int], specs: tuple[TrancheSpec, ...]) -> tuple[Tranche, ...]:
    percents = [spec.percent for spec in specs]
    parts = {source: split_largest_remainder(amount, percents) for source, amount in by_source.items()}
    return tuple(
        Tranche(i + 1, spec.trigger, spec.percent, {s: parts[s][i] for s in by_source}) for i, spec in enumerate(specs)
    )


def award_project(rule: FundingRule, project: ApprovedProject, place_rank: int | None = None) -> ProjectAward:
    """`place_rank`: the rank whose tier the project is awarded at, when it is not its own (a
    successor from the reserve list takes the place of a project that left). Raises
    `RankNotCovered` when a tiered rule has no tier for that rank."""
    by_source = split_by_source(rule.award.amount(place_rank or project.rank, project.request), rule.sources)
    return ProjectAward(project.project_id, project.rank, by_source, plan_tranches(by_source, rule.tranches))
