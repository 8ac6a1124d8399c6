"""Ranking within quotas (排名): the cut line, per-prefecture constraints, the reserve list.

Order (a strict total order, so the same input always gives the same ranking):

1. higher calibrated score,
2. then higher raw mean score,
3. then lower uncertainty (standard error; an unknown one counts as the largest),
4. then earlier submission time,
5. then the application id (lexicographic).

The cut walks down that order and selects an entry while the call's quota is not full
and its prefecture is below the policy's cap. An entry not selected stays in the
ranking, in order, on the reserve list, with what held it back: ``prefecture_cap`` if
its prefecture had already reached the cap when the walk got to it, else ``quota``.
This greedy walk picks the best-scoring selection the quota and caps allow (they form
a matroid). ``sv-prefecture`` calls select the best application of each prefecture
(cap 1, quota up to 14).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from services.review.domain.calibration import Calibration, CalibratedScore, ReviewScore, calibrate
from services.common.errors import FieldErrors
from services.review.domain.reviews import utc

TIE_RULE = (
    "higher calibrated score, then higher raw mean, then lower uncertainty, "
    "then earlier submission, then application id"
)
HELD_BY_QUOTA = "quota"
HELD_BY_PREFECTURE_CAP = "prefecture_cap"
ONE_PER_PREFECTURE_CATEGORY = "sv-prefecture"


@dataclass(frozen=True)
class RankEntry:
    application_id: str
    prefecture: str
    calibrated_hundredths: int
    raw_mean_hundredths: int
    stderr_hundredths: int | None
    submitted_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "submitted_at", utc(self.submitted_at, "submitted_at"))

    @classmethod
    def from_calibrated(cls, score: CalibratedScore, *, prefecture: str, submitted_at: datetime) -> RankEntry:
        return cls(
            application_id=score.application_id,
            prefecture=prefecture,
            calibrated_hundredths=score.calibrated_hundredths,
            raw_mean_hundredths=score.raw_mean_hundredths,
            stderr_hundredths=score.stderr_hundredths,
            submitted_at=submitted_at,
        )

    def order_key(self) -> tuple[int, int, float, datetime, str]:
        stderr = float("inf") if self.stderr_hundredths is None else self.stderr_hundredths
        return (
            -self.calibrated_hundredths,
            -self.raw_mean_hundredths,
            stderr,
            self.submitted_at,
            self.application_id,
        )


@dataclass(frozen=True)
class QuotaPolicy:
    """Constraints of a call beyond its quota: ``prefecture_cap`` = at most that many
    selected applications per prefecture (``None``: no cap)."""

    prefecture_cap: int | None = None
    one_each: bool = False  # the cap is also a floor: every prefecture should have exactly one

    def __post_init__(self) -> None:
        cap = self.prefecture_cap
        if cap is not None and (type(cap) is not int or cap < 1):
            raise FieldErrors({"prefecture_cap": ["must be a whole number of at least 1"]})

    @classmethod
    def for_call(cls, category: str, prefecture_cap: int | None = None) -> QuotaPolicy:
        """The policy of a call in ``category`` that may set its own cap; ``sv-prefecture``
        always has cap 1 (one rebuilt school per prefecture)."""
        if category == ONE_PER_PREFECTURE_CATEGORY:
            if prefecture_cap not in (None, 1):
                raise FieldErrors({"prefecture_cap": [f"{category} selects exactly one per prefecture: cap is 1"]})
            return cls(prefecture_cap=1, one_each=True)
        return cls(prefecture_cap=prefecture_cap)


@dataclass(frozen=True)
class RankedEntry:
    entry: RankEntry
    rank: int  # 1-based position in the order above
    within_quota: bool
    held_back_by: str | None  # None, HELD_BY_QUOTA or HELD_BY_PREFECTURE_CAP
    reserve_position: int | None  # 1-based position on the reserve list

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {
            "application_id": e.application_id,
            "prefecture": e.prefecture,
            "rank": self.rank,
            "within_quota": self.within_quota,
            "held_back_by": self.held_back_by,
            "reserve_position": self.reserve_position,
            "calibrated_hundredths": e.calibrated_hundredths,
            "raw_mean_hundredths": e.raw_mean_hundredths,
            "stderr_hundredths": e.stderr_hundredths,
        }


@dataclass(frozen=True)
class Ranking:
    entries: tuple[RankedEntry, ...]  # in rank order
    quota: int
    policy: QuotaPolicy

    @property
    def selected(self) -> tuple[RankedEntry, ...]:
        return tuple(e for e in self.entries if e.within_quota)

    @property
    def reserve(self) -> tuple[RankedEntry, ...]:
        return tuple(e for e in self.entries if not e.within_quota)

    @property
    def selected_ids(self) -> tuple[str, ...]:
        return tuple(e.entry.application_id for e in self.selected)

    @property
    def shortfall(self) -> int:
        """Places of the quota left empty (too few applications, or caps)."""
        return self.quota - len(self.selected)

    def to_record(self) -> dict[str, Any]:
        """Plain data that ``from_record`` ranks again into this same ranking."""
        return {
            "quota": self.quota,
            "prefecture_cap": self.policy.prefecture_cap,
            "one_each": self.policy.one_each,
            "entries": [asdict(e.entry) for e in self.entries],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], leaving: Iterable[str] = ()) -> Ranking:
        """The ranking of ``to_record``, re-run without the ``leaving`` applications."""
        policy = QuotaPolicy(record["prefecture_cap"], record["one_each"])
        ranking = rank([RankEntry(**e) for e in record["entries"]], record["quota"], policy)
        return ranking.without(leaving) if leaving else ranking

    def without(self, application_ids: Iterable[str]) -> Ranking:
        """The cut re-run without these applications, under the same quota and policy:
        the reserve moves up."""
        leaving = set(application_ids)
        remaining = [e.entry for e in self.entries if e.entry.application_id not in leaving]
        return rank(remaining, self.quota, self.policy)


def rank(entries: Iterable[RankEntry], quota: int, policy: QuotaPolicy = QuotaPolicy()) -> Ranking:
    """Rank one call's entries and draw the cut line. Raises ``FieldErrors`` for a
    negative quota or a duplicate application id."""
    if type(quota) is not int or quota < 0:
        raise FieldErrors({"quota": ["must be a whole number of at least 0"]})
    ordered = sorted(entries, key=RankEntry.order_key)
    duplicates = sorted(app_id for app_id, n in Counter(e.application_id for e in ordered).items() if n > 1)
    if duplicates:
        raise FieldErrors({"entries": [f"duplicate application ids: {', '.join(duplicates)}"]})
    per_prefecture: Counter[str] = Counter()
    ranked = []
    selected_count = reserve_count = 0
    for position, entry in enumerate(ordered, start=1):
        capped = policy.prefecture_cap is not None and (per_prefecture[entry.prefecture] >= policy.prefecture_cap)
        if capped:
            held_back_by = HELD_BY_PREFECTURE_CAP
        elif selected_count >= quota:
            held_back_by = HELD_BY_QUOTA
        else:
            held_back_by = None
            per_prefecture[entry.prefecture] += 1
            selected_count += 1
        reserve_count += held_back_by is not None
        ranked.append(
            RankedEntry(
                entry=entry,
                rank=position,
                within_quota=held_back_by is None,
                held_back_by=held_back_by,
                reserve_position=reserve_count if held_back_by else None,
            )
        )
    return Ranking(entries=tuple(ranked), quota=quota, policy=policy)


def rank_reviews(
    reviews: Iterable[ReviewScore],
    applicants: Mapping[str, tuple[str, datetime]],
    quota: int,
    policy: QuotaPolicy,
) -> tuple[Calibration, Ranking]:
    """Calibrate one call's submitted reviews and rank the applications they score.
    ``applicants``: application id -> (prefecture, submission time)."""
    calibration = calibrate(reviews)
    entries = [
        RankEntry.from_calibrated(score, prefecture=applicants[app][0], submitted_at=applicants[app][1])
        for app, score in calibration.scores.items()
    ]
    return calibration, rank(entries, quota, policy)


@dataclass(frozen=True)
class PrefectureResult:
    """How one prefecture fares against the call's per-prefecture constraint."""

    prefecture: str
    ranked: int  # its applications in the ranking
    selected: int
    cap: int | None
    rule: str | None  # "exactly_one", "cap" or None (no constraint)
    satisfied: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prefecture_results(ranking: Ranking, prefectures: Iterable[str] = ()) -> list[PrefectureResult]:
    """Per prefecture (those in the ranking, and ``prefectures`` besides, e.g. all 14 for
    a one-per-prefecture call), in order of first appearance: its counts and whether the
    constraint holds. One each holds only when exactly one is selected, so a prefecture
    without an eligible application, or left out by the quota, shows as unsatisfied."""
    policy = ranking.policy
    ranked: Counter[str] = Counter(e.entry.prefecture for e in ranking.entries)
    selected: Counter[str] = Counter(e.entry.prefecture for e in ranking.selected)
    names = list(dict.fromkeys([*(e.entry.prefecture for e in ranking.entries), *prefectures]))
    rule = "exactly_one" if policy.one_each else ("cap" if policy.prefecture_cap is not None else None)
    results = []
    for name in names:
        if rule == "exactly_one":
            satisfied = selected[name] == 1
        else:
            satisfied = policy.prefecture_cap is None or selected[name] <= policy.prefecture_cap  # rule None or cap
        results.append(PrefectureResult(name, ranked[name], selected[name], policy.prefecture_cap, rule, satisfied))
    return results
