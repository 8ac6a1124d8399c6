"""Conflicts of interest (回避) and the other rules that keep an expert off an application.

Every rule is hard: an excluded pair is never assigned.

Conflicts of interest (`conflict_reasons`):
- same institution (同单位): the expert works at the applying institution;
- same prefecture (同市州): for the categories in SAME_PREFECTURE_CATEGORIES (school-,
  group- and base-level) unless the call's policy turns it on or off for all;
- declared institution: the expert declared a conflict with the applying institution;
- declared person: the expert declared a conflict with a member of the applying team;
- team member: the expert is in the applying team;
- own institution applied: the expert's institution applied in the same call, when the
  call's policy says so.

Qualification (`exclusion_reasons` adds these to the conflicts): the expert is
available and may review the application's category.

Two implementations on purpose: the readable per-pair functions are the rule as written
and what the independent checker (`assignment.check_assignment`) uses; `ExclusionMask`
is the bulk form the solver uses over millions of pairs. Tests hold them equal.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

from services.review.domain.affinity import entries_in_block, incidence, join_on_key

if TYPE_CHECKING:  # assignment imports this module: its records are named for the annotations only
    from services.review.domain.assignment import Application, AssignmentPolicy, Expert

SAME_PREFECTURE_CATEGORIES = frozenset(
    {
        "heritage-base",
        "vu-school",
        "hv-school",
        "sv-excellent",
        "sv-prefecture",
        "tech-school",
        "vu-group",
        "hv-group",
        "sv-specialty",
        "tech-specialty",
        "training-base",
        "edu-group",
    }
)
PERSON_CATEGORIES = frozenset({"master-teacher", "innovation-team", "master-studio", "workshop"})
CATEGORIES = SAME_PREFECTURE_CATEGORIES | PERSON_CATEGORIES

EXCLUDED = -1.0  # the score of an excluded pair in a block; real scores are >= 0


def same_prefecture_applies(policy: AssignmentPolicy, category: str) -> bool:
    """Whether the same-prefecture conflict holds for an application of `category`."""
    if policy.same_prefecture_conflict is None:
        return category in SAME_PREFECTURE_CATEGORIES
    return policy.same_prefecture_conflict


def conflict_reasons(
    application: Application,
    expert: Expert,
    policy: AssignmentPolicy,
    applied_institution_ids: Collection[str] = frozenset(),
) -> list[str]:
    """Why `expert` has a conflict of interest with `application` (empty when none).

    `applied_institution_ids`: the institutions that applied in the same call.
    """
    reasons = []
    if expert.institution_id == application.institution_id:
        reasons.append(f"same institution (同单位) {expert.institution_id}")
    if same_prefecture_applies(policy, application.category) and expert.prefecture == application.prefecture:
        reasons.append(f"same prefecture (同市州) {expert.prefecture} for category {application.category}")
    if application.institution_id in expert.conflict_institution_ids:
        reasons.append(f"declared conflict with institution {application.institution_id}")
    declared_people = expert.conflict_person_ids & application.team_person_ids
    if declared_people:
        reasons.append(f"declared conflict with team member(s) {', '.join(sorted(declared_people))}")
    if expert.person_id in application.team_person_ids:
        reasons.append(f"member of the applying team ({expert.person_id})")
    if policy.own_institution_applied_conflict and expert.institution_id in applied_institution_ids:
        reasons.append(f"own institution {expert.institution_id} applied in this call")
    return reasons


def exclusion_reasons(
    application: Application,
    expert: Expert,
    policy: AssignmentPolicy,
    applied_institution_ids: Collection[str] = frozenset(),
) -> list[str]:
    """Why `expert` may not review `application`: qualification, then conflicts of interest."""
    reasons = []
    if not expert.available:
        reasons.append("expert unavailable")
    if application.category not in expert.categories:
        reasons.append(f"expert may not review category {application.category}")
    return reasons + conflict_reasons(application, expert, policy, applied_institution_ids)


class ExclusionMask:
    """`exclusion_reasons` in bulk, over positions in `applications` × `experts`.

    `extra_pairs` (application positions, expert positions) are excluded too: declined
    pairs, experts of an institution already on the application.
    """

    def __init__(
        self,
        applications: Sequence[Application],
        experts: Sequence[Expert],
        policy: AssignmentPolicy,
        applied_institution_ids: Collection[str],
        extra_pairs: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self._n_experts = len(experts)
        institutions: dict[str, int] = {}
        prefectures: dict[str, int] = {}
        people: dict[str, int] = {}
        categories: dict[str, int] = {}
        app_institution = incidence([(a.institution_id,) for a in applications], institutions)
        exp_institution = incidence([(e.institution_id,) for e in experts], institutions)
        self._app_prefecture = incidence([(a.prefecture,) for a in applications], prefectures)[1]
        self._exp_prefecture = incidence([(e.prefecture,) for e in experts], prefectures)[1]
        self._app_category = incidence([(a.category,) for a in applications], categories)[1]
        self._same_prefecture = np.array([same_prefecture_applies(policy, a.category) for a in applications], bool)
        # Rows for the applications' categories only; an expert's other categories do not matter.
        may_review = np.zeros((len(categories), len(experts)), bool)
        expert_row, category = incidence([e.categories for e in experts], categories)
        known = category < len(may_review)
        may_review[category[known], expert_row[known]] = True
        applied = np.array(
            [policy.own_institution_applied_conflict and e.institution_id in applied_institution_ids for e in experts],
            bool,
        )
        available = np.array([e.available for e in experts], bool)
        self._qualified = may_review & (available & ~applied)[None, :]
        declared_people = incidence([e.conflict_person_ids for e in experts], people)
        expert_person = incidence([(e.person_id,) for e in experts], people)
        team = incidence(
            [a.team_person_ids for a in applications], people, grow=False
        )  # only the experts' people matter
        pairs = [
            join_on_key(*app_institution, *exp_institution),
            join_on_key(*app_institution, *incidence([e.conflict_institution_ids for e in experts], institutions)),
            join_on_key(*team, *declared_people),
            join_on_key(*team, *expert_person),
        ]
        if extra_pairs is not None:
            pairs.append(extra_pairs)
        self._keys = np.sort(np.concatenate([app * self._n_experts + exp for app, exp in pairs]))

    def qualified(self, application: int) -> np.ndarray:
        """Bool over experts: available, not barred as a whole, may review this application's category."""
        qualified: np.ndarray = self._qualified[self._app_category[application]]
        return qualified

    def apply(self, scores: np.ndarray, rows: np.ndarray, columns: np.ndarray, column_of_expert: np.ndarray) -> None:
        """Set the excluded entries of a `rows` × `columns` score block to EXCLUDED, in place.

        `rows` ascending; `column_of_expert[e]` is expert e's column or -1.
        """
        row_category = self._app_category[rows]
        for category in np.unique(row_category):
            barred = np.flatnonzero(~self._qualified[category][columns])
            if len(barred):
                scores[np.ix_(np.flatnonzero(row_category == category), barred)] = EXCLUDED
        row_prefecture = np.where(self._same_prefecture[rows], self._app_prefecture[rows], -1)
        column_prefecture = self._exp_prefecture[columns]
        for prefecture in np.unique(row_prefecture[row_prefecture >= 0]):
            same = np.flatnonzero(column_prefecture == prefecture)
            scores[np.ix_(np.flatnonzero(row_prefecture == prefecture), same)] = EXCLUDED
        row, column, _ = entries_in_block(self._keys, self._n_experts, rows, column_of_expert)
        scores[row, column] = EXCLUDED
