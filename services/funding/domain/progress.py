"""Supervision: the funded projects' money and milestones, summed per (category, prefecture).

Per source: `allocated` is the awards; `disbursed` what was released to the projects
(including what a failed milestone later clawed back); `clawed_back` what came back.
`milestones_passed` counts the passed mid-term reviews and acceptances, `milestones_failed`
the failed ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.contracts.funding import MILESTONES, SOURCES
from services.funding.domain.milestones import ProjectFunding


@dataclass(frozen=True)
class FundedProject:
    prefecture: str
    funding: ProjectFunding
    passed: tuple[str, ...]  # the milestones it passed, each at most once
    failed: tuple[str, ...] = ()  # the milestones it failed


@dataclass
class _Cell:
    projects: int = 0
    allocated: Counter[str] = field(default_factory=Counter)
    disbursed: Counter[str] = field(default_factory=Counter)
    clawed_back: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    def add(self, project: FundedProject) -> None:
        self.projects += 1
        self.allocated.update(project.funding.award.by_source)
        for source, where in project.funding.position().items():
            self.disbursed[source] += where["released"] + where["clawed_back"]
            self.clawed_back[source] += where["clawed_back"]
        self.passed.update(project.passed)
        self.failed.update(project.failed)


def _by_source(amounts: Counter[str]) -> dict[str, int]:
    return {source: amounts[source] for source in SOURCES}


def progress_cells(projects: Iterable[FundedProject]) -> list[dict[str, Any]]:
    """One cell per (category, prefecture) with funded projects, in that order: its project
    count, allocated / disbursed / clawed_back fen by source, and milestones passed and failed."""
    cells: dict[tuple[str, str], _Cell] = {}
    for project in projects:
        cells.setdefault((project.funding.category, project.prefecture), _Cell()).add(project)
    return [
        {
            "category": category,
            "prefecture": prefecture,
            "projects": cell.projects,
            "allocated": _by_source(cell.allocated),
            "disbursed": _by_source(cell.disbursed),
            "clawed_back": _by_source(cell.clawed_back),
            "milestones_passed": {milestone: cell.passed[milestone] for milestone in MILESTONES},
            "milestones_failed": {milestone: cell.failed[milestone] for milestone in MILESTONES},
        }
        for (category, prefecture), cell in sorted(cells.items())
    ]
