"""Annual progress reports (年度建设进展报告): the rules, pure.

The province opens a reporting window for an action year with a deadline (`due_at`). Every
project standing that year (its call's year is the window's or earlier, established before
the deadline, not failed) owes one report. Its institution may start it as a draft (to gather
its evidence files before filing; a draft is not filed and counts as missing), and files it against the plan's
targets for that year, each met, partly met or not met with evidence; the project's
recommending authority (its prefecture bureau, or the HRSS sponsor of a technician school)
endorses it or returns it with a reason (the institution refiles); the province accepts an
endorsed report, or returns it with a reason. Timeliness is the first filing's: filed by
`due_at` is on time, after it late; a report returned and refiled keeps its first filing's
timeliness (the return was the authority's act, not a delay of the institution).

See docs/reports.md for where this lives and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from services.common.errors import DomainError
from services.applications.domain.messages import Bilingual, FieldsRefused, NotRecommender, rfc3339
from services.applications.domain.projects import LEFT
from services.common.actor import Actor
from services.applications.domain.recommendation import may_recommend
from services.common.statemachine import StateMachine, Transition, creation_entry
from services.contracts.applications import DEFAULT_REMIND_HOURS, REPORT_STATES, TARGET_STATUSES
from services.contracts.reference import Recommender

DRAFT, SUBMITTED, RETURNED, ENDORSED, ACCEPTED = REPORT_STATES

REPORT_MACHINE = StateMachine(
    "annual_report",
    REPORT_STATES,
    [
        # The institution files a draft it started (a report filed without a draft starts submitted).
        Transition("file", {DRAFT}, SUBMITTED),
        # The recommending authority sends it back (from submitted), or the province (from endorsed).
        Transition("return", {SUBMITTED, ENDORSED}, RETURNED, requires_reason=True),
        # The institution files it again, changed as the reason asked.
        Transition("refile", {RETURNED}, SUBMITTED),
        # The recommending authority vouches for it.
        Transition("endorse", {SUBMITTED}, ENDORSED),
        # The province accepts it: the year's report is settled.
        Transition("accept", {ENDORSED}, ACCEPTED),
    ],
)

#: How each target of the year stands, as the institution reports it.
MET, PARTLY_MET, NOT_MET = TARGET_STATUSES  # its codes, in order

#: How a due project's report stands for the listing of late and missing reports.
MISSING, LATE, ON_TIME = "missing", "late", "on_time"

PROVINCE_ROLE = "province"


class WindowNotOpen(DomainError):
    """No reporting window for that year, or it has not opened yet."""

    status, kind = 409, "window-not-open"


class WindowExists(DomainError):
    """The year already has its reporting window."""

    status, kind = 409, "window-exists"


class AlreadyFiled(DomainError):
    """The project's report for the year exists: refile it once returned."""

    status, kind = 409, "already-filed"


def already_filed(year: int, state: str | None) -> AlreadyFiled:
    """The year's report exists: a draft is filed, a filed one refiled once returned."""
    if state == DRAFT:
        return AlreadyFiled(
            Bilingual(
                f"the project's report for {year} is already started as a draft: file it",
                f"该项目{year}年度报告草稿已存在，请直接报送",
            )
        )
    return AlreadyFiled(
        Bilingual(
            f"the project's report for {year} is already filed: refile it once it is returned",
            f"该项目{year}年度报告已报送；被退回后可重新报送",
        )
    )


class NotDue(DomainError):
    """The project owes no report for the year (a later call's, or it has left the action)."""

    status, kind = 409, "not-due"


def report_id(project_id: str, year: int) -> str:
    """One report per project and year: the id says which, so a second filing collides."""
    return f"rpt_{year}_{project_id}"


# ------------------------------------------------------------------ windows


def millis(moment: datetime) -> datetime:
    """A time as MongoDB keeps it (to the millisecond), so that an answer and a later read agree."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def check_window_terms(year: int, opens_at: datetime, due_at: datetime, now: datetime) -> None:
    """A window's deadline comes after its opening and is still ahead. Raises FieldsRefused."""
    if due_at <= opens_at:
        raise FieldsRefused(
            {
                "due_at": [
                    Bilingual(
                        f"must be after opens_at ({rfc3339(opens_at)})",
                        f"截止时间应晚于开放时间（{rfc3339(opens_at)}）",
                    )
                ]
            }
        )
    if due_at <= now:
        raise FieldsRefused({"due_at": [Bilingual("must be in the future", "截止时间应晚于当前时间")]})
    if due_at.year < year:
        raise FieldsRefused(
            {
                "due_at": [
                    Bilingual(
                        f"a report on {year} cannot be due before {year}", f"{year}年度报告的截止时间不能早于{year}年"
                    )
                ]
            }
        )


def window_record(window_id: str, data: Mapping[str, Any], actor: str, at: datetime) -> dict[str, Any]:
    opens_at, due_at = millis(data.get("opens_at") or at), millis(data["due_at"])
    check_window_terms(data["year"], opens_at, due_at, at)
    return {
        "_id": window_id,
        "year": data["year"],
        "title": data.get("title") or f"{data['year']}年度建设进展报告",
        "opens_at": opens_at,
        "due_at": due_at,
        "remind_hours": data.get("remind_hours") or DEFAULT_REMIND_HOURS,
        "created_at": at,
        "created_by": actor,
        "extensions": [],
        "missing_announced_at": None,
    }


class DeadlinePassed(DomainError):
    """The window's deadline has passed: it can no longer be moved (reports filed after it are late)."""

    status, kind = 409, "deadline-passed"


def check_deadline_extension(window: Mapping[str, Any], new_due_at: datetime, now: datetime) -> None:
    """A deadline is moved before it passes, and only later. Raises DeadlinePassed or FieldsRefused."""
    if now >= window["due_at"]:
        raise DeadlinePassed(
            Bilingual(
                f"the deadline {rfc3339(window['due_at'])} has passed: it can no longer be extended",
                f"报送截止时间{rfc3339(window['due_at'])}已过，不能再延期",
            )
        )
    if new_due_at <= window["due_at"]:
        raise FieldsRefused(
            {
                "due_at": [
                    Bilingual(
                        f"must be later than the current deadline {rfc3339(window['due_at'])}",
                        f"应晚于现截止时间{rfc3339(window['due_at'])}",
                    )
                ]
            }
        )


def extension_entry(
    window: Mapping[str, Any], new_due_at: datetime, actor: str, at: datetime, reason: str | None
) -> dict[str, Any]:
    """The audit entry of a moved deadline (who, when, from, to, why)."""
    return {
        "event": "extend",
        "from_due_at": window["due_at"],
        "to_due_at": new_due_at,
        "actor": actor,
        "at": at,
        "reason": reason or f"extended from {rfc3339(window['due_at'])} to {rfc3339(new_due_at)}",
    }


def window_exists(year: int) -> WindowExists:
    return WindowExists(
        Bilingual(f"the reporting window for {year} is already open", f"{year}年度报告填报已开放，不能重复开放")
    )


def check_window_open(window: Mapping[str, Any] | None, year: int, now: datetime) -> Mapping[str, Any]:
    """Filing needs the year's window to have opened (filing after its deadline is late, not refused)."""
    if window is None:
        raise WindowNotOpen(Bilingual(f"no reporting window is open for {year}", f"{year}年度报告填报尚未开放"))
    if now < window["opens_at"]:
        raise WindowNotOpen(
            Bilingual(
                f"the reporting window for {year} opens at {rfc3339(window['opens_at'])}",
                f"{year}年度报告填报将于{rfc3339(window['opens_at'])}开放",
            )
        )
    return window


# ------------------------------------------------------------------ who owes a report


def is_due(project: Mapping[str, Any], window: Mapping[str, Any]) -> bool:
    """Whether `project` owes a report in `window`: of a call of the window's year or before,
    established by the deadline, and not gone (a failed or withdrawn project has left the action)."""
    return (
        project["year"] <= window["year"] and project["state"] not in LEFT and project["created_at"] <= window["due_at"]
    )


def check_due(project: Mapping[str, Any], window: Mapping[str, Any]) -> None:
    if project["state"] in LEFT:
        raise NotDue(
            Bilingual(
                "the project has left the action: it owes no more reports", "项目已退出楚怡行动，无需再报送年度报告"
            )
        )
    if not is_due(project, window):
        raise NotDue(
            Bilingual(f"the project owes no report for {window['year']}", f"该项目无需报送{window['year']}年度报告")
        )


def targets_of(project: Mapping[str, Any], year: int) -> list[str]:
    """The plan's targets for the year, in the plan's order."""
    return [t["target"] for t in (project.get("plan") or {}).get("yearly_targets") or () if t["year"] == year]


def assessed(targets: list[str], assessments: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each of the year's targets with the institution's assessment (by its index in the year's
    targets), every target exactly once. Raises FieldsRefused naming the field and the rule."""
    errors: dict[str, list[Bilingual]] = {}
    seen: dict[int, Mapping[str, Any]] = {}
    for position, item in enumerate(assessments):
        index = item["target_index"]
        if not 0 <= index < len(targets):
            errors[f"assessments.{position}.target_index"] = [
                Bilingual(
                    f"the plan has {len(targets)} target(s) for the year: an index from 0 to {len(targets) - 1}",
                    f"本年度计划共有{len(targets)}项目标，序号应为0至{len(targets) - 1}",
                )
            ]
        elif index in seen:
            errors[f"assessments.{position}.target_index"] = [
                Bilingual(f"target {index} is assessed twice", f"第{index}项目标重复填报")
            ]
        else:
            seen[index] = item
    missing = [i for i in range(len(targets)) if i not in seen]
    if missing and not errors:
        errors["assessments"] = [
            Bilingual(
                f"assess every target of the year; missing: {', '.join(map(str, missing))}",
                f"应逐项填报本年度目标完成情况；缺少第{'、'.join(map(str, missing))}项",
            )
        ]
    if errors:
        raise FieldsRefused(errors)
    return [
        {"target_index": i, "target": targets[i], "status": seen[i]["status"], "evidence": seen[i]["evidence"]}
        for i in range(len(targets))
    ]


def content_of(project: Mapping[str, Any], year: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """What a filing stores: the summary and each target of the year with its assessment."""
    return {"summary": data["summary"], "assessments": assessed(targets_of(project, year), data["assessments"])}


def first_filing(window: Mapping[str, Any], content: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """What a first filing sets: the content, when, and whether it is late (after the deadline)."""
    return {**content, "first_filed_at": at, "filed_at": at, "filings": 1, "late": at > window["due_at"]}


def _record(
    project: Mapping[str, Any], window: Mapping[str, Any], state: str, actor: str, at: datetime, reason: str
) -> dict[str, Any]:
    created = creation_entry(state, actor, at, reason)
    return {
        "_id": report_id(project["_id"], window["year"]),
        "project_id": project["_id"],
        "year": window["year"],
        "window_id": window["_id"],
        "due_at": window["due_at"],
        **{
            key: project[key]
            for key in (
                "institution_id",
                "institution_name",
                "prefecture",
                "recommender",
                "recommender_key",
                "category",
            )
        },
        "title": project["plan"]["title"],
        "state": state,
        "return_reason": None,
        "created_at": at,
        "history": [created.as_dict()],
    }


def report_record(
    project: Mapping[str, Any], window: Mapping[str, Any], content: Mapping[str, Any], actor: str, at: datetime
) -> dict[str, Any]:
    """A first filing without a draft: submitted, late if after the window's deadline."""
    return {
        **_record(project, window, SUBMITTED, actor, at, f"filed for {window['year']}"),
        **first_filing(window, content, at),
    }


def draft_record(project: Mapping[str, Any], window: Mapping[str, Any], actor: str, at: datetime) -> dict[str, Any]:
    """A report started, not filed: no content yet, and still missing for lateness until filed."""
    return {
        **_record(project, window, DRAFT, actor, at, f"drafted for {window['year']}"),
        "summary": "",
        "assessments": [],
        "first_filed_at": None,
        "filed_at": None,
        "filings": 0,
        "late": False,
    }


# ------------------------------------------------------------------ who decides


def check_decider(actor: Actor, report: Mapping[str, Any], event: str) -> None:
    """Endorse: the project's recommending authority. Return: that authority while it is
    submitted, the province once endorsed. Accept: the province (the route admits only it).
    Raises NotRecommender."""
    if event == "accept" or (event == "return" and report["state"] == ENDORSED):
        if actor.role == PROVINCE_ROLE:
            return
        raise NotRecommender(
            Bilingual(
                "only the province accepts an endorsed report or returns it",
                "已审核推荐的年度报告由省级主管部门验收或退回",
            )
        )
    if not may_recommend(actor, Recommender(**report["recommender"])):
        raise NotRecommender(
            Bilingual(
                "only the project's recommending authority endorses or returns its report: its prefecture bureau, "
                "or for a technician school its HRSS sponsor",
                "年度报告由项目的推荐单位审核或退回：所在市州教育行政部门；技工院校由其人力资源社会保障主管部门负责",
            )
        )


# ------------------------------------------------------------------ lateness, reminders, supervision


def standing_of(report: Mapping[str, Any] | None, window: Mapping[str, Any], now: datetime) -> str | None:
    """missing (the deadline passed without a filing), late (first filed after it), on_time, or
    None (not filed, and the deadline is still ahead)."""
    if report is None:
        return MISSING if now > window["due_at"] else None
    return LATE if report["late"] else ON_TIME


def overdue(
    window: Mapping[str, Any],
    projects: Iterable[Mapping[str, Any]],
    reports: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """The due projects without a report (`missing` once the deadline has passed, `outstanding`
    before it) and the reports filed late."""
    missing, late = [], []
    for project in projects:
        if not is_due(project, window):
            continue
        report = reports.get(project["_id"])
        entry = {
            "project_id": project["_id"],
            "title": project["plan"]["title"],
            "institution_id": project["institution_id"],
            "institution_name": project["institution_name"],
            "prefecture": project["prefecture"],
            "category": project["category"],
        }
        if report is None:
            missing.append(entry)
        elif report["late"]:
            late.append(
                {
                    **entry,
                    "report_id": report["_id"],
                    "first_filed_at": report["first_filed_at"],
                    "state": report["state"],
                }
            )
    return {
        "window_id": window["_id"],
        "year": window["year"],
        "due_at": window["due_at"],
        "past_due": now > window["due_at"],
        "missing": missing,
        "late": late,
    }


def reminder_key(window: Mapping[str, Any], project_id: str) -> str:
    """One reminder per window, project and deadline: a moved deadline is reminded of again."""
    return f"{window['_id']}:{project_id}:{rfc3339(window['due_at'])}"


def reminder_due(window: Mapping[str, Any], now: datetime) -> bool:
    """Whether the window's reminders are due: its deadline is ahead, within its reminding time."""
    return bool(window["opens_at"] <= now < window["due_at"] <= now + timedelta(hours=window["remind_hours"]))


def reminder_event(window: Mapping[str, Any], project: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The data of `annual_report_due` for a due project not filed yet."""
    return {
        "window_id": window["_id"],
        "year": window["year"],
        "due_at": rfc3339(window["due_at"]),
        "hours_left": max(0, int((window["due_at"] - now).total_seconds() // 3600)),
        "project_id": project["_id"],
        "title": project["plan"]["title"],
        "institution_id": project["institution_id"],
        "prefecture": project["prefecture"],
        "targets": targets_of(project, window["year"]),
    }


def missing_by_prefecture(listing: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The missing reports of an `overdue` listing, per prefecture (each bureau is told its own)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in listing["missing"]:
        groups.setdefault(entry["prefecture"], []).append(
            {key: entry[key] for key in ("project_id", "title", "institution_id", "institution_name")}
        )
    return groups


def timeliness(
    window: Mapping[str, Any] | None,
    projects: Iterable[Mapping[str, Any]],
    reports: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> dict[str, dict[str, int]]:
    """Per prefecture, the year's reports `due` and `on_time` for supervision. Before the deadline
    only the reports filed so far count (all on time); after it every due project counts, and a
    missing or late report is due and not on time."""
    due: Counter[str] = Counter()
    on_time: Counter[str] = Counter()
    if window is None:
        return {}
    past = now > window["due_at"]
    for project in projects:
        if not is_due(project, window):
            continue
        report = reports.get(project["_id"])
        if report is None and not past:
            continue
        due[project["prefecture"]] += 1
        on_time[project["prefecture"]] += report is not None and not report["late"]
    return {p: {"due": due[p], "on_time": on_time[p]} for p in due}


def event_data(report: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The data of the annual_report_* events: which report, whose, and where it stands."""
    return {
        "report_id": report["_id"],
        "project_id": report["project_id"],
        "year": report["year"],
        "title": report["title"],
        "institution_id": report["institution_id"],
        "prefecture": report["prefecture"],
        "recommender": dict(report["recommender"]),
        "state": report["state"],
        "late": report["late"],
        "filings": report["filings"],
        **extra,
    }
