"""Conflict-free assignment of experts to applications (专家分配): what an assignment is and what
makes one valid.

Input: the call's applications and the expert pool as plain records (`Application`,
`Expert`), the call's `AssignmentPolicy`. Output: an `AssignmentResult`. Pure; no I/O.


The problem. Each application needs `reviewers_per_application` experts (k); an expert
takes at most `cap` applications; an application gets at most one expert from any one
institution; no excluded pair (conflicts of interest and qualification, see
`conflicts`) is ever assigned. Among the assignments that fill the most slots, we want
the one with the greatest total affinity (see `affinity`), with the load spread.

`flow.assign` finds one (a min-cost flow: `flow`); `check_assignment` checks any, rule by rule
in plain Python with no solver code, so that it can referee the solver.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from services.review.domain.affinity import normalize_term
from services.review.domain.conflicts import CATEGORIES, exclusion_reasons


def _text(owner: str, name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{owner}.{name} must be a non-empty string, got {value!r}")
    return value


def _terms(owner: str, name: str, values: object) -> frozenset[str]:
    """A set of non-empty strings; keywords in their comparable form."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError(f"{owner}.{name} must be a set of strings, got {values!r}")
    terms = [_text(owner, name, value) for value in values]
    return frozenset(map(normalize_term, terms) if name == "keywords" else terms)


def _category(owner: str, name: str, value: object) -> str:
    if not isinstance(value, str) or value not in CATEGORIES:
        raise ValueError(f"{owner}.{name} must be a category code, one of {sorted(CATEGORIES)}, got {value!r}")
    return value


def _setup(record: object, texts: tuple[str, ...], sets: tuple[str, ...]) -> None:
    owner = type(record).__name__
    for name in texts:
        _text(owner, name, getattr(record, name))
    for name in sets:
        object.__setattr__(record, name, _terms(owner, name, getattr(record, name)))


@dataclass(frozen=True)
class Application:
    """An application to review. Sets may be given as any iterable of strings."""

    id: str
    institution_id: str
    prefecture: str
    category: str
    fields: frozenset[str] = frozenset()
    keywords: frozenset[str] = frozenset()
    team_person_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _setup(self, ("id", "institution_id", "prefecture"), ("fields", "keywords", "team_person_ids"))
        _category("Application", "category", self.category)


@dataclass(frozen=True)
class Expert:
    """An expert of the pool. `cap`: the most applications they take in this call."""

    id: str
    institution_id: str
    prefecture: str
    person_id: str
    cap: int
    fields: frozenset[str] = frozenset()
    keywords: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    conflict_institution_ids: frozenset[str] = frozenset()
    conflict_person_ids: frozenset[str] = frozenset()
    available: bool = True

    def __post_init__(self) -> None:
        _setup(
            self,
            ("id", "institution_id", "prefecture", "person_id"),
            ("fields", "keywords", "categories", "conflict_institution_ids", "conflict_person_ids"),
        )
        for category in self.categories:
            _category("Expert", "categories", category)
        if isinstance(self.cap, bool) or not isinstance(self.cap, int) or self.cap < 0:
            raise ValueError(f"Expert.cap must be an integer >= 0, got {self.cap!r}")
        if not isinstance(self.available, bool):
            raise ValueError(f"Expert.available must be a boolean, got {self.available!r}")


@dataclass(frozen=True)
class AssignmentPolicy:
    """The call's assignment plan.

    same_prefecture_conflict: None applies the same-prefecture conflict to the
    SAME_PREFECTURE_CATEGORIES only; True or False applies it to every or no application.
    own_institution_applied_conflict: an expert whose institution applied in the call
    has a conflict with all of it. seed: breaks ties between equally good experts.
    top_n / top_m: the first candidates, each application's top_n experts and each
    expert's top_m applications; the pool priced afterwards holds each application's
    `flow.POOL_PER_TOP_N` · top_n best (None for top_n: every eligible pair, the dense problem).
    load_spread: the most, in affinity points, one assignment may pay for spreading.
    """

    reviewers_per_application: int
    same_prefecture_conflict: bool | None = None
    own_institution_applied_conflict: bool = False
    seed: int = 0
    top_n: int | None = 8
    top_m: int = 16
    load_spread: float = 0.5

    def __post_init__(self) -> None:
        for name, low in (("reviewers_per_application", 1), ("seed", 0), ("top_n", 1), ("top_m", 0)):
            value = getattr(self, name)
            if name == "top_n" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                other = " or None" if name == "top_n" else ""
                raise ValueError(f"AssignmentPolicy.{name} must be an integer >= {low}{other}, got {value!r}")
        if self.same_prefecture_conflict not in (None, True, False):
            raise ValueError(
                "AssignmentPolicy.same_prefecture_conflict must be true, false or null, "
                f"got {self.same_prefecture_conflict!r}"
            )
        if not isinstance(self.own_institution_applied_conflict, bool):
            raise ValueError(
                "AssignmentPolicy.own_institution_applied_conflict must be a boolean, "
                f"got {self.own_institution_applied_conflict!r}"
            )
        spread = self.load_spread
        if isinstance(spread, bool) or not isinstance(spread, int | float) or not 0 <= spread <= 10:
            raise ValueError(f"AssignmentPolicy.load_spread must be a number of points in [0, 10], got {spread!r}")


class AssignedPair(NamedTuple):
    application_id: str
    expert_id: str
    affinity: float  # 0..1, in steps of 1/10 000


class Unfilled(NamedTuple):
    application_id: str
    missing: int
    reason: str
    code: str  # no_qualified_expert | conflicts | capacity


@dataclass(frozen=True)
class Feasibility:
    """Before solving: open slots against free capacity; notes say where it cannot cover."""

    demand: int
    capacity: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class LoadStats:
    """Loads after the assignment, standing ones included, over available experts with a cap."""

    experts_used: int
    experts_at_cap: int
    mean_load: float
    max_load: int
    max_utilization: float


@dataclass(frozen=True)
class AssignmentResult:
    pairs: list[AssignedPair]  # the new assignments only (not the fixed ones)
    unfilled: list[Unfilled]
    total_affinity: float  # of the new assignments
    load: LoadStats
    feasibility: Feasibility
    seconds: float
    candidate_pairs: int  # arcs the flow saw between experts and applications


class Violation(NamedTuple):
    rule: str
    application_id: str
    expert_id: str
    detail: str


@dataclass(frozen=True)
class Decline:
    """An expert declining an assigned application, with their reason."""

    application_id: str
    expert_id: str
    reason: str

    def __post_init__(self) -> None:
        _setup(self, ("application_id", "expert_id", "reason"), ())


def check_assignment(
    applications: Sequence[Application],
    experts: Sequence[Expert],
    policy: AssignmentPolicy,
    pairs: Iterable[tuple[str, str]],
    applied_institution_ids: Collection[str] | None = None,
    excluded_pairs: Iterable[tuple[str, str]] = (),
) -> list[Violation]:
    """The independent checker: every rule, pair by pair, in plain Python (no solver code).

    `pairs`: every standing assignment (fixed and new), as (application id, expert id, ...);
    `excluded_pairs`: declined pairs, which must not be among them.
    """
    by_app = {a.id: a for a in applications}
    by_expert = {e.id: e for e in experts}
    applied = applied_institutions(applications, applied_institution_ids)
    declined = {(app_id, expert_id) for app_id, expert_id, *_ in excluded_pairs}
    violations, seen = [], set()
    load: Counter[str] = Counter()
    reviewers: Counter[str] = Counter()
    institutions: defaultdict[str, set[str]] = defaultdict(set)
    for app_id, expert_id, *_ in pairs:
        application, expert = by_app.get(app_id), by_expert.get(expert_id)
        if application is None or expert is None:
            violations.append(Violation("unknown", app_id, expert_id, "unknown application or expert"))
            continue
        if (app_id, expert_id) in seen:
            violations.append(Violation("duplicate", app_id, expert_id, "assigned twice"))
        seen.add((app_id, expert_id))
        if (app_id, expert_id) in declined:
            violations.append(Violation("declined", app_id, expert_id, "the expert declined this application"))
        for reason in exclusion_reasons(application, expert, policy, applied):
            violations.append(Violation("excluded", app_id, expert_id, reason))
        if expert.institution_id in institutions[app_id]:
            violations.append(
                Violation("one_per_institution", app_id, expert_id, f"second expert from {expert.institution_id}")
            )
        institutions[app_id].add(expert.institution_id)
        load[expert_id] += 1
        reviewers[app_id] += 1
    for expert_id, count in load.items():
        if count > by_expert[expert_id].cap:
            violations.append(Violation("cap", "", expert_id, f"load {count} > cap {by_expert[expert_id].cap}"))
    for app_id, count in reviewers.items():
        if count > policy.reviewers_per_application:
            violations.append(Violation("plan", app_id, "", f"{count} experts > {policy.reviewers_per_application}"))
    return violations


def applied_institutions(
    applications: Sequence[Application], applied_institution_ids: Collection[str] | None
) -> frozenset[str]:
    if applied_institution_ids is None:
        return frozenset(a.institution_id for a in applications)
    return frozenset(applied_institution_ids)
