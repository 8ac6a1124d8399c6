"""Annual progress reports (年度建设进展报告): the province opens a year's window, institutions
file against the year's targets, the recommending authority endorses or returns, the province
accepts; late and missing reports are listed, and institutions are reminded before the deadline.
Each command is one unit of work: load, decide with the domain (`domain/reports.py`), save and
emit in the store's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.applications.domain import access
from services.applications.domain.messages import Bilingual, NotFound, rfc3339
from services.common.actor import Actor
from services.applications.domain.reports import (
    DRAFT,
    REPORT_MACHINE,
    check_deadline_extension,
    check_decider,
    check_due,
    check_window_open,
    content_of,
    draft_record,
    event_data,
    extension_entry,
    first_filing,
    millis,
    missing_by_prefecture,
    overdue,
    reminder_due,
    reminder_event,
    reminder_key,
    report_id,
    report_record,
    window_record,
)
from services.applications.store import new_id

#: What each decision is announced as.
DECISION_EVENTS = {
    "return": "annual_report_returned",
    "endorse": "annual_report_endorsed",
    "accept": "annual_report_accepted",
}


def open_window(store, data: Mapping, actor: Actor, at: datetime) -> dict:
    """The province opens the year's reporting window (one per year)."""
    doc = window_record(new_id("rwin"), data, actor.audit_name, at)

    def work():
        store.insert_report_window(doc)
        store.emit(
            "report_window_opened",
            doc["_id"],
            {
                "window_id": doc["_id"],
                "year": doc["year"],
                "title": doc["title"],
                "opens_at": rfc3339(doc["opens_at"]),
                "due_at": rfc3339(doc["due_at"]),
            },
        )
        return doc

    return store.atomic(work)


def extend_window(store, window_id: str, actor: Actor, due_at: datetime, reason: str | None, at: datetime) -> dict:
    """The province moves a deadline that has not passed to a later one; those not filed yet are
    reminded again as the new deadline nears."""
    due_at = millis(due_at)

    def work():
        window = store.report_window(window_id)
        check_deadline_extension(window, due_at, at)
        entry = extension_entry(window, due_at, actor.audit_name, at, reason)
        extended = store.extend_report_window(window, entry)
        store.emit(
            "report_window_extended",
            window["_id"],
            {
                "window_id": window["_id"],
                "year": window["year"],
                "due_at": rfc3339(entry["to_due_at"]),
                "previous_due_at": rfc3339(entry["from_due_at"]),
                "reason": entry["reason"],
            },
        )
        return extended

    return store.atomic(work)


def start_report(store, actor: Actor, project_id: str, year: int, at: datetime) -> dict:
    """The institution starts its project's report for the year as a draft, to gather its
    evidence files before filing it."""

    def work():
        project = store.scoped_project_doc(project_id, actor)
        window = check_window_open(store.report_window_of_year(year), year, at)
        check_due(project, window)
        doc = draft_record(project, window, actor.audit_name, at)
        store.insert_report(doc)
        return doc

    return store.atomic(work)


def file_report(store, actor: Actor, project_id: str, data: Mapping, at: datetime) -> dict:
    """The institution files its project's report for the year (its draft, if it started one):
    every target of the year assessed; late when after the deadline."""

    def work():
        project = store.scoped_project_doc(project_id, actor)
        window = check_window_open(store.report_window_of_year(data["year"]), data["year"], at)
        check_due(project, window)
        content = content_of(project, window["year"], data)
        draft = store.report_doc(report_id(project["_id"], window["year"]))
        if draft is not None and draft["state"] == DRAFT:
            doc = store.move_report(
                draft,
                "file",
                actor.audit_name,
                at,
                f"filed for {window['year']}",
                {**first_filing(window, content, at), "updated_at": at},
            )
        else:
            doc = report_record(project, window, content, actor.audit_name, at)
            store.insert_report(doc)
        store.emit("annual_report_filed", doc["_id"], event_data(doc, by=actor.audit_name, reason=None))
        return doc

    return store.atomic(work)


def refile_report(store, actor: Actor, report: str, data: Mapping, at: datetime) -> dict:
    """The institution files a returned report again, changed; it goes back to its authority."""

    def work():
        doc = store.scoped_report_doc(report, actor)
        REPORT_MACHINE.apply(doc["state"], "refile", actor.audit_name, None, at)  # refuse before checking content
        project = store.project_doc(doc["project_id"])
        check_due(project, store.report_window(doc["window_id"]))
        content = content_of(project, doc["year"], data)
        moved = store.move_report(
            doc,
            "refile",
            actor.audit_name,
            at,
            f"filing {doc['filings'] + 1}",
            {**content, "filed_at": at, "filings": doc["filings"] + 1, "updated_at": at},
        )
        store.emit("annual_report_filed", doc["_id"], event_data(moved, by=actor.audit_name, reason=None))
        return moved

    return store.atomic(work)


def decide(store, actor: Actor, report: str, event: str, reason: str | None, at: datetime) -> dict:
    """endorse or return (the project's recommending authority; the province returns an endorsed
    report), accept (the province)."""

    def work():
        doc = store.scoped_report_doc(report, actor)
        REPORT_MACHINE.apply(doc["state"], event, actor.audit_name, reason, at)  # the state's refusal comes first
        check_decider(actor, doc, event)
        changes: dict = {"updated_at": at}
        if event == "return":
            changes["return_reason"] = reason.strip()
        moved = store.move_report(doc, event, actor.audit_name, at, reason, changes)
        store.emit(
            DECISION_EVENTS[event],
            doc["_id"],
            event_data(moved, by=actor.audit_name, reason=moved["history"][-1]["reason"]),
        )
        return moved

    return store.atomic(work)


def list_overdue(store, actor: Actor, window_id: str, at: datetime) -> dict:
    """The window's missing and late reports within the actor's scope (province: all; a
    prefecture bureau: its prefecture's)."""
    window = store.report_window(window_id)
    scope = access.scope(actor)
    if scope is None:
        raise NotFound(Bilingual("no such reporting window", "年度报告填报批次不存在"))
    return overdue(window, store.due_projects(window, scope), store.reports_by_project(window["year"], scope), at)


def remind(store, at: datetime) -> int:
    """Reminds each institution whose project's report is not filed yet, once per window, when
    the deadline is within the window's reminding time. Returns how many were reminded."""
    count = 0
    for window in store.report_windows_running(at):
        if not reminder_due(window, at):
            continue
        done = store.reminded(window) | set(store.reports_by_project(window["year"], {}))
        for project in store.due_projects(window, {}):
            if project["_id"] in done:
                continue

            def work(project=project):
                if store.remember_reminder(reminder_key(window, project["_id"]), window, project["_id"], at):
                    store.emit(
                        "annual_report_due",
                        report_id(project["_id"], window["year"]),
                        reminder_event(window, project, at),
                    )
                    return 1
                return 0

            count += store.atomic(work)
    return count


def announce_missing(store, at: datetime) -> int:
    """Once a window's deadline has passed, each prefecture bureau is told once which of its
    projects have not reported (annual_reports_missing, one per prefecture with any). Returns how
    many were told."""
    told = 0
    for window in store.report_windows_past_due(at):

        def work(window=window):
            if not store.mark_missing_announced(window, at):  # another replica's timer took it
                return 0
            listing = overdue(window, store.due_projects(window, {}), store.reports_by_project(window["year"], {}), at)
            groups = missing_by_prefecture(listing)
            for prefecture, missing in sorted(groups.items()):
                store.emit(
                    "annual_reports_missing",
                    window["_id"],
                    {
                        "window_id": window["_id"],
                        "year": window["year"],
                        "due_at": rfc3339(window["due_at"]),
                        "prefecture": prefecture,
                        "missing": missing,
                    },
                )
            return len(groups)

        told += store.atomic(work)
    return told
