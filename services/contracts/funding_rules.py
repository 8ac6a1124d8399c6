"""A call's funding rule, as the province writes it through the API and the funding service
applies it: how much each approved project gets, from which sources, in which tranches, and
what a failed milestone claws back. A contract, so that the gateway refuses a rule the
funding service would (calls name a rule by its id).

- award: either fixed amounts per tier of rank (`TieredAward`), or a share of the
  project's request, optionally capped (`ShareAward`, rounded down to the fen);
- sources: integer weights per funding source (e.g. provincial 3 : local government 2
  is `{"provincial_special": 3, "local_government": 2}`); the award is split across
  them by largest remainder (see `money`);
- tranches: at most one per trigger (`approval`, `mid_term`, `acceptance`), in that
  order, whole percentages summing to 100;
- clawback: what a failed milestone takes back of the money already released:
  `none` (keep it all), `beyond_approval` (everything released after the approval
  tranche: the default), `all` (everything released). Unreleased tranches are always
  withheld on a fail.

`FundingRule` checks itself when built and raises `InvalidRule` with every problem,
keyed by the dotted path of the field (`award.tiers.1.from_rank`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from services.contracts.funding import CLAWBACK_POLICIES, SOURCES, TRIGGERS


class InvalidRule(ValueError):
    """`errors`: {dotted field path: [messages]}."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(f"invalid funding rule: {errors}")
        self.errors = errors


class RankNotCovered(ValueError):
    """An approved project's rank is beyond the last tier of a tiered award."""


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class AwardTier:
    """Ranks `from_rank`..`to_rank` (inclusive; `None`: and every rank after) get `amount` fen."""

    from_rank: int
    to_rank: int | None
    amount: int

    def covers(self, rank: int) -> bool:
        return self.from_rank <= rank and (self.to_rank is None or rank <= self.to_rank)

    def as_dict(self) -> dict[str, Any]:
        return {"from_rank": self.from_rank, "to_rank": self.to_rank, "amount": self.amount}


@dataclass(frozen=True)
class TieredAward:
    tiers: tuple[AwardTier, ...]
    method = "tiers"

    def amount(self, rank: int, request: int) -> int:
        for tier in self.tiers:
            if tier.covers(rank):
                return tier.amount
        raise RankNotCovered(f"rank {rank} is beyond the last funded rank {self.tiers[-1].to_rank}")

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "tiers": [tier.as_dict() for tier in self.tiers]}

    def problems(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        if not self.tiers:
            return {"award.tiers": ["at least one tier is required"]}
        expected_from: int | None = 1  # None once a tier is open-ended or malformed: nothing sensible follows
        for i, tier in enumerate(self.tiers):
            path = f"award.tiers.{i}"
            if expected_from is not None and tier.from_rank != expected_from:
                found[f"{path}.from_rank"] = [
                    f"must be {expected_from}: tiers start at rank 1 and follow each other without gap or overlap"
                ]
            if tier.to_rank is None and i < len(self.tiers) - 1:
                found[f"{path}.to_rank"] = ["only the last tier may be open-ended"]
            elif tier.to_rank is not None and not (
                _is_int(tier.to_rank) and _is_int(tier.from_rank) and tier.to_rank >= tier.from_rank
            ):
                found[f"{path}.to_rank"] = ["must be an integer >= from_rank"]
            if not _is_int(tier.amount) or tier.amount <= 0:
                found[f"{path}.amount"] = ["must be a positive integer number of fen"]
            expected_from = tier.to_rank + 1 if _is_int(tier.to_rank) else None
        return found


@dataclass(frozen=True)
class ShareAward:
    """`percent` % of the request (rounded down to the fen), at most `cap` fen if set."""

    percent: int
    cap: int | None = None
    method = "share"

    def amount(self, rank: int, request: int) -> int:
        share = request * self.percent // 100
        return share if self.cap is None else min(share, self.cap)

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "percent": self.percent, "cap": self.cap}

    def problems(self) -> dict[str, list[str]]:
        found = {}
        if not _is_int(self.percent) or not 1 <= self.percent <= 100:
            found["award.percent"] = ["must be an integer from 1 to 100"]
        if self.cap is not None and (not _is_int(self.cap) or self.cap <= 0):
            found["award.cap"] = ["must be a positive integer number of fen"]
        return found


@dataclass(frozen=True)
class TrancheSpec:
    trigger: str
    percent: int


@dataclass(frozen=True)
class FundingRule:
    award: TieredAward | ShareAward
    sources: Mapping[str, int]
    tranches: tuple[TrancheSpec, ...]
    clawback: str = "beyond_approval"

    def __post_init__(self) -> None:
        errors = {**self.award.problems(), **_source_problems(self.sources), **_tranche_problems(self.tranches)}
        if self.clawback not in CLAWBACK_POLICIES:
            errors["clawback"] = [f"must be one of {list(CLAWBACK_POLICIES)}"]
        if errors:
            raise InvalidRule(errors)
        # canonical source order, so no split depends on the order the keys came in
        object.__setattr__(self, "sources", {s: self.sources[s] for s in SOURCES if s in self.sources})
        object.__setattr__(self, "tranches", tuple(self.tranches))

    def as_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready data, in the shape `funding_api.FundingRuleSchema` loads back."""
        return {
            "award": self.award.as_dict(),
            "sources": dict(self.sources),
            "tranches": [{"trigger": t.trigger, "percent": t.percent} for t in self.tranches],
            "clawback": self.clawback,
        }


def _source_problems(sources: Mapping[str, int]) -> dict[str, list[str]]:
    if not sources:
        return {"sources": ["at least one funding source is required"]}
    found = {}
    for source, weight in sources.items():
        if source not in SOURCES:
            found[f"sources.{source}"] = [f"unknown funding source; expected one of {list(SOURCES)}"]
        elif not _is_int(weight) or weight <= 0:
            found[f"sources.{source}"] = ["weight must be a positive integer"]
    return found


def _tranche_problems(tranches: tuple[TrancheSpec, ...]) -> dict[str, list[str]]:
    if not tranches:
        return {"tranches": ["at least one tranche is required"]}
    found = {}
    for i, spec in enumerate(tranches):
        if spec.trigger not in TRIGGERS:
            found[f"tranches.{i}.trigger"] = [f"must be one of {list(TRIGGERS)}"]
        if not _is_int(spec.percent) or not 1 <= spec.percent <= 100:
            found[f"tranches.{i}.percent"] = ["must be an integer from 1 to 100"]
    if found:
        return found
    order = [TRIGGERS.index(spec.trigger) for spec in tranches]
    if order != sorted(set(order)):
        found["tranches"] = [f"at most one tranche per trigger, in the order {list(TRIGGERS)}"]
    total = sum(spec.percent for spec in tranches)
    if total != 100:
        found.setdefault("tranches", []).append(f"percentages must sum to 100, got {total}")
    return found
