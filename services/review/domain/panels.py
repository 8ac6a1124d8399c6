"""Expert panels for the mid-term review (中期检查) and the acceptance (验收) of projects.

A panel is the selection machinery applied to projects: the province opens it for one
milestone over a set of projects (or every standing project of a category and year),
experts are assigned without conflict of interest by the same solver and the same rules
as for applications (`assignment.assign`, `conflicts`), each expert scores each of their
projects on the panel's rubric (`reviews.Rubric`), the scores are calibrated for expert
leniency (`calibration.calibrate`), and the panel proposes a result per project from its
calibrated score and the panel's thresholds:

- pass (通过): calibrated score >= ``pass_from`` (default 75.00);
- rectify (限期整改): ``rectify_from`` <= score < ``pass_from`` (default 60.00), with a
  deadline ``rectify_days`` after the province confirms (default 90 days);
- fail (不通过): below ``rectify_from``.

The province confirms each proposed result (it is then final), or overrides it with
another result, which needs a reason. A confirmed result goes to funding as the
milestone's result (event ``panel_result_confirmed``), exactly as the province's direct
record would. Pure: no I/O.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.common.bilingual import Bilingual
from services.common.statemachine import StateMachine, Transition
from services.contracts.review import DEFAULT_PASS_FROM, DEFAULT_RECTIFY_FROM, PANEL_STATES
from services.review.domain.assignment import Application, AssignmentPolicy
from services.review.domain.calibration import Calibration, ReviewScore, calibrate
from services.common.errors import FieldErrors
from services.review.domain.reviews import reviews_complete

MILESTONES = ("mid_term", "acceptance")
RESULTS = ("pass", "rectify", "fail")
MILESTONE_ZH = {"mid_term": "中期检查", "acceptance": "验收"}
RESULT_ZH = {"pass": "通过", "rectify": "限期整改", "fail": "不通过"}

#: A panel: experts are assigned (again, after a decline or a change), they review, the
#: panel proposes its results, and the panel closes once the province confirmed them all.
PANEL = StateMachine(
    "panel",
    PANEL_STATES,
    [
        Transition("assign", {"open", "reviewing"}, "reviewing"),
        Transition("propose", {"reviewing"}, "proposed"),
        Transition("close", {"proposed"}, "closed"),
    ],
)
#: One project's result in a panel: proposed by the panel, then confirmed by the province as
#: proposed, or overridden with another result and a reason.
PANEL_RESULT = StateMachine(
    "panel result",
    ["proposed", "confirmed"],
    [
        Transition("confirm", {"proposed"}, "confirmed"),
        Transition("override", {"proposed"}, "confirmed", requires_reason=True),
    ],
)
#: A project as review knows it: standing until it fails a milestone or is withdrawn (撤销).
STANDING, FAILED, WITHDRAWN = "standing", "failed", "withdrawn"


@dataclass(frozen=True)
class Thresholds:
    """Calibrated score thresholds in hundredths of a point (0..10000)."""

    pass_from: int = DEFAULT_PASS_FROM
    rectify_from: int = DEFAULT_RECTIFY_FROM

    def __post_init__(self) -> None:
        errors: dict[str, list[Bilingual]] = {}
        for name in ("pass_from", "rectify_from"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10000:
                errors[f"thresholds.{name}"] = [
                    Bilingual(
                        "must be a whole number of hundredths from 0 to 10000", "须为0至10000之间的整数（百分之一分）"
                    )
                ]
        if not errors and self.rectify_from > self.pass_from:
            errors["thresholds.rectify_from"] = [
                Bilingual(
                    "must not be above pass_from: a score passes from pass_from, is to rectify from rectify_from",
                    "不得高于通过线pass_from：得分不低于通过线为通过，不低于整改线为限期整改",
                )
            ]
        if errors:
            raise FieldErrors(errors)

    def result(self, calibrated_hundredths: int) -> str:
        if calibrated_hundredths >= self.pass_from:
            return "pass"
        if calibrated_hundredths >= self.rectify_from:
            return "rectify"
        return "fail"


def rule_text(thresholds: Thresholds) -> Bilingual:
    """The thresholds as a sentence, for the proposal and the reason funding records."""
    p, r = thresholds.pass_from / 100, thresholds.rectify_from / 100
    return Bilingual(
        f"pass from {p:.2f}, rectify from {r:.2f}, fail below {r:.2f}",
        f"{p:.2f}分及以上通过，{r:.2f}分及以上限期整改，低于{r:.2f}分不通过",
    )


# ---------------------------------------------------------------- which projects


def _refusal(en: str, zh: str) -> list[Bilingual]:
    return [Bilingual(en, zh)]


def select_projects(
    known: Mapping[str, Mapping[str, Any]],
    milestone: str,
    *,
    project_ids: Sequence[str] | None = None,
    category: str | None = None,
    year: int | None = None,
    busy: Mapping[str, str] | None = None,
) -> list[str]:
    """The projects a new panel for `milestone` takes: `project_ids`, or every standing project
    of `category` (and `year`) not yet through the milestone. `known` are review's project
    records by id (`state`, `category`, `year`, `results`: {milestone: confirmed result});
    `busy`: project id -> the open panel of the same milestone it is already in.
    Raises FieldErrors naming the field and the rule."""
    busy = dict(busy or {})
    if milestone not in MILESTONES:
        raise FieldErrors(
            {"milestone": _refusal(f"must be one of {', '.join(MILESTONES)}", f"须为{'、'.join(MILESTONES)}之一")}
        )
    if bool(project_ids) == (category is not None):
        raise FieldErrors(
            {
                "project_ids": _refusal(
                    "give either project_ids or a category (and a year), not both nor neither",
                    "须指定项目清单project_ids或类别category（及年度year）之一",
                )
            }
        )
    if project_ids:
        errors: dict[str, list[Bilingual]] = {}
        for i, project_id in enumerate(project_ids):
            why = _why_not(known.get(project_id), project_id, milestone, busy)
            if why:
                errors[f"project_ids.{i}"] = why
        if len(set(project_ids)) != len(project_ids):
            errors["project_ids"] = _refusal("a project is listed twice", "项目清单中有重复项目")
        if errors:
            raise FieldErrors(errors)
        return list(project_ids)
    chosen = sorted(
        pid
        for pid, p in known.items()
        if p.get("category") == category
        and (year is None or p.get("year") == year)
        and not _why_not(p, pid, milestone, busy)
    )
    if not chosen:
        raise FieldErrors(
            {
                "category": _refusal(
                    f"no standing project of {category}{f' {year}' if year else ''} awaits its {milestone} review",
                    f"{category}{f'（{year}年）' if year else ''}没有待{MILESTONE_ZH[milestone]}的在建项目",
                )
            }
        )
    return chosen


def _why_not(
    project: Mapping[str, Any] | None, project_id: str, milestone: str, busy: Mapping[str, str]
) -> list[Bilingual] | None:
    if project is None:
        return _refusal(
            f"there is no project {project_id} (not established, or not heard of yet)",
            f"不存在项目 {project_id}（未立项或尚未同步）",
        )
    if project.get("state") == FAILED:
        return _refusal(
            f"project {project_id} has failed a milestone and left the action",
            f"项目 {project_id} 已因考核未通过退出楚怡行动",
        )
    if project.get("state") == WITHDRAWN:
        return _refusal(
            f"project {project_id} has been withdrawn and left the action", f"项目 {project_id} 已撤销，退出楚怡行动"
        )
    results = project.get("results") or {}
    if results.get(milestone) == "pass":
        return _refusal(
            f"project {project_id} has passed its {milestone} review already",
            f"项目 {project_id} 的{MILESTONE_ZH[milestone]}已通过",
        )
    if milestone == "acceptance" and results.get("mid_term") not in (None, "pass"):
        return _refusal(
            f"project {project_id} has not passed its mid-term review", f"项目 {project_id} 中期检查尚未通过，不能验收"
        )
    if project_id in busy:
        return _refusal(
            f"project {project_id} is already in panel {busy[project_id]} for its {milestone} review",
            f"项目 {project_id} 已在专家组 {busy[project_id]} 的{MILESTONE_ZH[milestone]}中",
        )
    return None


# ---------------------------------------------------------------- assignment, in the assignment's terms


def panel_project(project: Mapping[str, Any]) -> Application:
    """A project as the assignment takes it: its institution, prefecture and category (the
    conflict rules), and the approved application's fields, keywords and team when known."""
    return Application(
        id=project["_id"],
        institution_id=project["institution_id"],
        prefecture=project["prefecture"],
        category=project["category"],
        fields=project.get("industry_fields") or frozenset(),
        keywords=project.get("keywords") or frozenset(),
        team_person_ids=project.get("team_person_keys") or frozenset(),
    )


def panel_policy(panel: Mapping[str, Any]) -> AssignmentPolicy:
    """The panel's plan as an assignment policy: its experts per project, the same-prefecture
    rule as the call's (by category unless the panel turns it on or off for all), never the
    call-wide own-institution rule (a panel has no applicants); seeded by the panel id."""
    return AssignmentPolicy(
        reviewers_per_application=panel["reviewers_per_project"],
        same_prefecture_conflict=panel.get("conflict_same_prefecture"),
        own_institution_applied_conflict=False,
        seed=zlib.crc32(panel["_id"].encode()) & 0x7FFFFFFF,
    )


# ---------------------------------------------------------------- the proposal


@dataclass(frozen=True)
class ProposedResult:
    project_id: str
    review_count: int
    raw_mean_hundredths: int
    calibrated_hundredths: int
    band_low_hundredths: int | None
    band_high_hundredths: int | None
    result: str


class NotReady(Exception):
    """The panel cannot propose yet: `message` says why, in both languages."""

    def __init__(self, message: Bilingual):
        self.message = message
        super().__init__(message.en)


def ready_to_propose(
    standing_by_project: Mapping[str, Iterable[str]],
    reviewers_per_project: int,
    *,
    now: datetime,
    deadline: datetime | None,
) -> None:
    """Every project's reviews are in (its plan's number, every standing one reviewed), or the
    review deadline has passed and every project has at least one review. Raises NotReady."""
    statuses = {pid: list(s) for pid, s in standing_by_project.items()}
    if all(reviews_complete(s, reviewers_per_project) for s in statuses.values()):
        return
    if deadline is not None and now >= deadline:
        unscored = sorted(pid for pid, s in statuses.items() if "reviewed" not in s)
        if not unscored:
            return
        raise NotReady(
            Bilingual(
                f"the deadline has passed but project(s) {', '.join(unscored)} have no review: "
                "assign experts again (POST /v1/panels/{id}/assignments)",
                f"评审已截止，但项目 {'、'.join(unscored)} 没有任何评审意见：请重新分配专家",
            )
        )
    outstanding = sum(
        sum(1 for x in s if x != "reviewed") + max(0, reviewers_per_project - len(s)) for s in statuses.values()
    )
    raise NotReady(
        Bilingual(
            f"{outstanding} review(s) are not in and the review deadline has not passed",
            f"尚有{outstanding}份评审意见未提交，且评审尚未截止",
        )
    )


def propose(
    project_ids: Sequence[str], reviews: Iterable[ReviewScore], thresholds: Thresholds
) -> tuple[list[ProposedResult], Calibration]:
    """The panel's proposal: each project's calibrated score (expert leniency corrected over
    the panel's reviews) and its result by the thresholds; and the calibration itself."""
    calibration = calibrate(list(reviews))
    missing = [pid for pid in project_ids if pid not in calibration.scores]
    if missing:
        raise NotReady(
            Bilingual(f"project(s) {', '.join(missing)} have no review", f"项目 {'、'.join(missing)} 没有评审意见")
        )
    results: list[ProposedResult] = []
    for pid in project_ids:
        s = calibration.scores[pid]
        results.append(
            ProposedResult(
                pid,
                s.review_count,
                s.raw_mean_hundredths,
                s.calibrated_hundredths,
                s.band_low_hundredths,
                s.band_high_hundredths,
                thresholds.result(s.calibrated_hundredths),
            )
        )
    return results, calibration


# ---------------------------------------------------------------- the province's confirmation


@dataclass(frozen=True)
class Decision:
    """The confirmed result of one project, and what funding records for it."""

    result: str
    overridden: bool
    reason: str | None  # the province's own words, when given
    rectify_by: datetime | None
    funding_reason: str  # the milestone's reason as funding records it (never empty)


def decide(
    proposed: Mapping[str, Any],
    milestone: str,
    panel_id: str,
    thresholds: Thresholds,
    *,
    result: str | None,
    reason: str | None,
    rectify_by: datetime | None,
    rectify_days: int,
    now: datetime,
) -> Decision:
    """The province confirms the panel's proposal (`proposed`: its `proposed_result` and
    `calibrated_hundredths`) as it is (`result` None or the same) or overrides it,
    which needs a reason (FieldErrors naming `reason`). A rectification gets its deadline:
    `rectify_by`, or `rectify_days` from now; it must lie ahead."""
    reason = (reason or "").strip() or None
    suggested = proposed["proposed_result"]
    final = result or suggested
    if final not in RESULTS:
        raise FieldErrors({"result": _refusal(f"must be one of {', '.join(RESULTS)}", f"须为{'、'.join(RESULTS)}之一")})
    overridden = final != suggested
    if overridden and not reason:
        raise FieldErrors(
            {
                "reason": _refusal(
                    f"required to override the panel's proposed result ({suggested}) with {final}",
                    f"改变专家组建议结论（{RESULT_ZH[suggested]}）为{RESULT_ZH[final]}时须说明理由",
                )
            }
        )
    deadline = None
    if final == "rectify":
        deadline = rectify_by or now + timedelta(days=rectify_days)
        if deadline <= now:
            raise FieldErrors({"rectify_by": _refusal("must be in the future", "整改期限须晚于当前时间")})
    elif rectify_by is not None:
        raise FieldErrors(
            {"rectify_by": _refusal("only a rectify result has a rectification deadline", "仅限期整改结论可设整改期限")}
        )
    score = proposed["calibrated_hundredths"] / 100
    text = (
        f"专家组 {panel_id} {MILESTONE_ZH[milestone]}结论：{RESULT_ZH[final]}（校准得分 {score:.2f}；"
        f"{rule_text(thresholds).zh}）"
    )
    if overridden:
        text += f"；省级改定（原建议：{RESULT_ZH[suggested]}）"
    if deadline is not None:
        text += f"；整改期限 {deadline.date().isoformat()}"
    if reason:
        text += f"；{reason}"
    return Decision(final, overridden, reason, deadline, text[:2000])
