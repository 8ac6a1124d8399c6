"""Budgets: money set aside per year, catalogue category and funding source.

The rule the store enforces atomically: a reservation never makes a budget line's
available amount negative. The store does it with one conditional update per line,
`{_id: line, available: {$gte: amount}}` + `{$inc: {available: -amount}}`, all lines of
an allocation in one transaction; the pure rule and the shortfall are here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from services.contracts.funding import CATEGORIES, FIRST_YEAR, SOURCES
from services.funding.domain.money import check_fen

#: Asia/Shanghai: China Standard Time, UTC+8 all year (no daylight saving since 1991).
CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


def budget_year(at: datetime) -> int:
    """The budget year a moment falls in: its calendar year in China. A selection
    finalized on 31 December at 20:00 UTC (1 January, 04:00 in Changsha) is funded
    from the new year's budget."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a moment must be timezone-aware")
    return at.astimezone(CHINA).year


def funding_year(action_year: int | None, at: datetime) -> int:
    """The budget year that pays a call's projects: the call's action year (a 2022 call draws on
    2022's budget, whenever its selection is finalized or allocated); for a call without one
    (opened before calls had a year), the budget year of `at`."""
    return action_year if action_year is not None else budget_year(at)


def check_year_and_category(year: int, category: str) -> None:
    if isinstance(year, bool) or not isinstance(year, int) or year < FIRST_YEAR:
        raise ValueError(f"year must be an integer >= {FIRST_YEAR}, got {year!r}")
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of the catalogue codes {list(CATEGORIES)}, got {category!r}")


@dataclass(frozen=True)
class BudgetKey:
    """One budget line: (year, category, source)."""

    year: int
    category: str
    source: str

    def __post_init__(self) -> None:
        check_year_and_category(self.year, self.category)
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {list(SOURCES)}, got {self.source!r}")


def shortfall(available: Mapping[str, int], needed: Mapping[str, int]) -> dict[str, int]:
    """Per source in `needed`: how many fen are missing (0 where the budget is enough).

    A source absent from `available` has nothing available.
    """
    return {
        source: max(
            0, check_fen(amount, f"needed[{source}]") - check_fen(available.get(source, 0), f"available[{source}]")
        )
        for source, amount in needed.items()
    }


def fits(available: Mapping[str, int], needed: Mapping[str, int]) -> bool:
    """True when reserving `needed` leaves every source's available amount >= 0."""
    return not any(shortfall(available, needed).values())


def line_id(year: int, category: str, source: str) -> str:
    """The id of budget line (year, category, source): `2026:hv-group:provincial_special`."""
    key = BudgetKey(year, category, source)
    return f"{key.year}:{key.category}:{key.source}"
