"""The action's years after the first round (`make demo`), in fast forward and through the
public HTTP API only (issue 13; docs/reports.md, docs/panels.md, docs/projects.md,
docs/supervision.md):

- the round's year (2022): every project's annual progress report against that year's target,
  one returned with a reason and refiled, one left missing (reminded, then listed overdue);
- the next year (2023): a mid-term expert panel on one call's projects (one fails and leaves,
  its money withheld and clawed back, its place back in the category), and that year's round
  of the category offering the freed place (a new call, selected and funded); the year's reports;
- the year after (2024): the reports, and the supervision of the prefectures;
- the last year (2025): the acceptance panel (验收) of the projects that passed mid-term.

`run_years` is called by `run_demo` (driver.py) after the first round's allocation, with the
round, its calls and how to run a later round; it prints one line per step, as the round
does, and answers a `Years` record of what every step answered. Any answer it did not expect
raises DemoError.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chuyi.demo.api import (
    FINANCE,
    PROVINCE,
    DemoError,
    expert_actor,
    institution_actor,
    pages,
    problem_message,
    recommender_actor,
    sleep_until,
    utcnow,
    wait_for,
)
from chuyi.demo.console import CHINA, table, wan
from chuyi.demo.documents import evidence_file
from chuyi.demo.generator import review_comment, simulated_scores
from services.applications.domain.messages import rfc3339

if TYPE_CHECKING:  # the driver imports this module
    from chuyi.demo.driver import Round
    from chuyi.demo.plan import CallRound

# The panel's rubric (中期检查评分细则).
PANEL_RUBRIC = [
    {"code": "progress", "name": "建设任务完成度", "weight": 40, "max_score": 100},
    {"code": "money", "name": "资金到位与执行", "weight": 30, "max_score": 100},
    {"code": "results", "name": "建设成效与示范引领", "weight": 30, "max_score": 100},
]
PANEL_REVIEWERS = 3
PANEL_REVIEW_DEADLINE = timedelta(hours=2)
ACCEPTED = 2  # projects the acceptance panel takes (those that passed mid-term first)
# A funded project delivers about what its application promised (its hidden quality), never
# below the pass line (75 of 100); the one whose construction lagged delivers far less.
DELIVERY_FLOOR, DELIVERY_LIFT, LAG = 0.82, 0.05, 0.45
# How long the reporting window stays open: enough to file, review and accept every report.
REPORT_WINDOW_BASE_S, REPORT_WINDOW_PER_PROJECT_S = 10.0, 0.4


@dataclass
class Years:
    """What the years' steps answered."""

    year: int = 0
    window: dict | None = None  # the reporting window (as opened, or found open from an earlier run)
    reports: dict[str, dict] = field(default_factory=dict)  # project id -> its report, as last answered
    returned: dict | None = None  # the report returned with a reason (as refiled)
    evidence: dict | None = None  # the evidence file (佐证材料) its institution added before refiling
    unfiled: str | None = None  # the project left without a report
    reminded: list[dict] = field(default_factory=list)  # the unfiled institution's annual_report_due messages
    overdue: dict | None = None  # GET /v1/report-windows/{id}/overdue after the deadline
    panel_call: str | None = None  # the category whose mid-term review is the panel's
    panel: dict | None = None  # GET /v1/panels/{id} once every result is confirmed
    panel_run: dict | None = None  # the assignment run
    panel_reviews: int = 0
    acceptance: dict | None = None  # the acceptance panel (GET /v1/panels/{id}) once confirmed
    lagging: str | None = None  # the project whose construction lagged (deterministic: the call's last rank)
    failed: dict = field(default_factory=dict)  # project id -> {"funding": ..., "project": ...} of each failed one
    places: dict | None = None  # {"category", "before", "after"}: GET /v1/programmes' available
    later_calls: list = field(default_factory=list)  # the next year's round on the freed places (CallRound)
    reused: dict | None = None  # {"category", "available"}: GET /v1/programmes' available after that round
    later_reports: dict[int, dict[str, dict]] = field(default_factory=dict)  # year -> project id -> its report
    supervision: dict | None = None  # GET /v1/reports/supervision?year= (supervision_year)
    exports: dict[str, int] = field(default_factory=dict)  # format -> bytes of the download

    @property
    def supervision_year(self) -> int:
        return self.year + 2

    @property
    def results(self) -> Counter:
        return Counter(r["result"] for r in (self.panel or {}).get("results", []) if r.get("result"))

    def summary(self) -> str:
        reports = list(self.reports.values())
        accepted = sum(r["state"] == "accepted" for r in reports)
        late = sum(bool(r["late"]) for r in reports)
        results = self.results
        acceptance = (
            (
                f"acceptance panel: {sum(r.get('result') == 'pass' for r in self.acceptance['results'])} of "
                f"{len(self.acceptance['results'])} accepted; "
            )
            if self.acceptance
            else ""
        )
        places = (
            (f", {self.places['after'] - self.places['before']} place(s) of {self.places['category']} returned")
            if self.places
            else ""
        )
        later = "".join(
            f"; {year}: {len(filed)} reports accepted" for year, filed in sorted(self.later_reports.items())
        )
        reused = (
            f"; the {self.year + 1} round of {self.reused['category']} selected "
            f"{sum(len(c.approved) for c in self.later_calls)} project(s) on the freed place(s)"
            if self.reused
            else ""
        )
        return (
            f"The years ({self.year}-{self.year + 3}): {self.year}: {len(reports)} annual reports filed, "
            f"{accepted} accepted, {late} late, {len((self.overdue or {}).get('missing', []))} missing{later}; "
            f"mid-term panel ({self.panel_call}): {results['pass']} pass, {results['rectify']} rectify, "
            f"{results['fail']} fail; {acceptance}{len(self.failed)} project(s) left{places}{reused}."
        )


def panel_call(calls: Sequence[CallRound]) -> CallRound | None:
    """The call whose mid-term review goes to a panel: the first with a mid-term tranche and at
    least three projects (so one can fail and others pass)."""
    return next(
        (c for c in calls if len(c.approved) >= 3 and any(t["trigger"] == "mid_term" for t in c.rule["tranches"])), None
    )


def delivery(quality: float, lagging: bool) -> float:
    """The share of full marks an unbiased panel expert gives a project at mid-term."""
    if lagging:
        return max(0.05, min(quality, 0.8) - LAG)
    return min(0.97, max(DELIVERY_FLOOR, quality + DELIVERY_LIFT))


def target_status(share: float) -> str:
    return "met" if share >= 0.8 else "partly_met" if share >= 0.6 else "not_met"


def run_years(
    round_: Round,
    calls: Sequence[CallRound],
    panel: CallRound | None,
    later_round: Callable[[str, int], list[CallRound]],
) -> Years:
    """The years after `round_` (see the module); `later_round(category, places)` runs the next
    year's round of a category offering that many places, answering its calls once allocated."""
    years = Years()
    projects = _projects(round_, calls)
    years.year = max(p["year"] for p in projects.values())
    quality = _quality(round_, calls)
    if panel is not None:
        years.panel_call = panel.category
        years.lagging = sorted(panel.allocation["awards"], key=lambda a: a["rank"])[-1]["project_id"]
    annual_reports(round_, calls, projects, quality, years)
    if panel is not None:
        mid_term_panel(round_, panel, quality, years)
    if years.failed:
        round_.say(f"{years.year + 1}: a round of {years.panel_call} offers the {len(years.failed)} place(s) freed")
        years.later_calls = later_round(years.panel_call, len(years.failed))
        years.reused = {"category": years.panel_call, "available": _available(round_, years.panel_call)}
        round_.say(
            f"the freed place is taken: GET /v1/programmes shows {years.panel_call} with "
            f"{years.reused['available']} place(s) available again (was {years.places['after']})"
        )
        projects.update(_projects(round_, years.later_calls))
        quality.update(_quality(round_, years.later_calls))
    standing = {p: project for p, project in projects.items() if p not in years.failed}
    for year in (years.year + 1, years.year + 2):
        years.later_reports[year] = every_report_accepted(round_, standing, quality, year)
    if panel is not None:
        acceptance_panel(round_, panel, quality, years)
    return years


def _quality(round_: Round, calls: Sequence[CallRound]) -> dict[str, float]:
    """Each project's hidden quality (its application's), by project id."""
    return {round_.ids[a.key]: a.quality for c in calls for a in c.applications if a.key in round_.ids}


def _projects(round_: Round, calls: Sequence[CallRound]) -> dict[str, dict]:
    """Every project of the round, as the province reads it (once applications has it)."""
    ids = [a["application_id"] for c in calls for a in sorted(c.approved, key=lambda a: a["rank"])]

    def read(project_id: str) -> dict:
        def found():
            reply = round_.api.get("read the projects", f"/v1/projects/{project_id}", expect=(200, 404))
            return reply.body if reply.status == 200 else None

        return wait_for(f"project {project_id}", found)

    return dict(zip(ids, round_.each("reading the projects", ids, read)))


# ---------------------------------------------------------------- annual reports


def annual_reports(
    round_: Round, calls: Sequence[CallRound], projects: dict[str, dict], quality: dict[str, float], years: Years
) -> None:
    api, year = round_.api, years.year
    step = "annual reports"
    # One project stays unfiled, so the overdue listing has its missing entry: the last of a call
    # whose mid-term review is not the panel's (a failed project would owe no report anyway).
    others = [c for c in calls if c.category != years.panel_call] or list(calls)
    years.unfiled = sorted(others[-1].approved, key=lambda a: a["rank"])[-1]["application_id"]
    filing = [p for p in projects if p != years.unfiled]
    years.window, opened = _report_window(round_, year, len(projects))
    due = datetime.fromisoformat(years.window["due_at"].replace("Z", "+00:00"))
    round_.say(
        f"annual reports {year}: the province opened the reporting window, due "
        f"{due.astimezone(CHINA):%H:%M:%S} (UTC+8)"
        + ("" if opened else " (opened by an earlier run: reports after it are late)")
        + f"; {len(projects)} projects owe a report"
    )

    def file(project_id: str) -> dict:
        return _file_report(
            round_,
            year,
            project_id,
            projects[project_id],
            delivery(quality.get(project_id, 0.7), project_id == years.lagging),
        )

    for report in round_.each("filing annual reports", filing, file):
        years.reports[report["project_id"]] = report
    statuses = Counter(a["status"] for r in years.reports.values() for a in r["assessments"])
    round_.say(
        f"annual reports: {len(years.reports)} filed by "
        f"{len({projects[p]['institution_id'] for p in years.reports})} institutions against their {year} "
        f"targets (met {statuses['met']}, partly met {statuses['partly_met']}, not met {statuses['not_met']})"
    )

    # The recommending authorities: one report is returned with a reason and refiled, every one endorsed.
    fresh = [p for p, r in years.reports.items() if r["state"] == "submitted"]
    if fresh:
        first = fresh[0]
        report, project = years.reports[first], projects[first]
        authority = recommender_actor(project["recommender"])
        api.post(
            step,
            f"/v1/annual-reports/{report['id']}/return",
            authority,
            {"reason": "佐证材料不足：请补充年度资金执行明细和合作企业协议。"},
        )
        institution = institution_actor(project["institution_id"])
        name = f"{year}年度资金执行明细及合作企业协议.pdf"
        sheet = evidence_file(
            project["institution_name"],
            f"{year}年度资金执行明细及合作企业协议",
            [f"项目：{project['plan']['title']}", "一、年度资金执行明细（见附表）", "二、合作企业协议（盖章页）"],
        )
        years.evidence = api.send(
            step,
            "POST",
            f"/v1/annual-reports/{report['id']}/materials",
            institution,
            params={"kind": "evidence", "filename": name},
            data=sheet,
            expect=(201,),
        ).body
        refiled = api.post(
            step,
            f"/v1/annual-reports/{report['id']}/refile",
            institution,
            {
                "summary": report["summary"] + "已补充资金执行明细和合作协议。",
                "assessments": [
                    {k: a[k] for k in ("target_index", "status")}
                    | {"evidence": a["evidence"] + f"（补充：见佐证材料《{name}》）"}
                    for a in report["assessments"]
                ],
            },
        ).body
        years.reports[first] = years.returned = refiled

    _endorse_and_accept(round_, years.reports, projects, fresh)
    authorities = {projects[p]["recommender"]["authority"] for p in fresh}
    returned = (
        (
            f"; one returned with a reason ({years.returned['return_reason']}), given its evidence file "
            f"({years.evidence['filename']}, {years.evidence['size']:,} bytes), refiled "
            f"(filing {years.returned['filings']}) and endorsed"
        )
        if years.returned
        else ""
    )
    round_.say(
        f"annual reports: {len(fresh)} endorsed by {len(authorities)} recommending authorities{returned}; "
        f"{sum(r['state'] == 'accepted' for r in years.reports.values())} accepted by the province"
    )

    # The unfiled institution is reminded before the deadline (the applications service's timer looks
    # every REPORT_REMINDER_CHECK_S: `make demo` sets 5 s). Looked for once the deadline has passed,
    # so that its delivery overlaps the wait.
    unfiled = projects[years.unfiled]
    institution = institution_actor(unfiled["institution_id"])
    opened_now = utcnow() < due
    sleep_until(round_.console, "reporting deadline", due + timedelta(seconds=1))

    def reminded():  # of this project (the institution may have others, reminded before they filed)
        items = pages(api, "read the inbox", "/v1/inbox", institution)
        return [i for i in items if i["kind"] == "annual_report_due" and unfiled["plan"]["title"] in i["title"]]

    if opened_now:
        try:
            years.reminded = wait_for(f"the reminder to {unfiled['institution_name']}", reminded, timeout=30)
            round_.say(
                f"reminder: {unfiled['institution_name']} had not filed and was reminded before the deadline "
                f"(annual_report_due: {years.reminded[0]['title']})"
            )
        except DemoError:
            round_.say(
                f"reminder: none reached {unfiled['institution_name']} before the deadline (the applications "
                f"service looks every REPORT_REMINDER_CHECK_S seconds, 60 unless set; `make demo` sets 5)"
            )
    overdue = api.get(step, f"/v1/report-windows/{years.window['id']}/overdue").body
    years.overdue = overdue
    mine = [m for m in overdue["missing"] if m["project_id"] in projects]
    late = [r for r in overdue["late"] if r["project_id"] in projects]
    round_.say(
        f"overdue listing (GET /v1/report-windows/{years.window['id']}/overdue): {len(mine)} missing "
        f"({', '.join(m['institution_name'] + ' 《' + m['title'] + '》' for m in mine) or 'none'}), "
        f"{len(late)} filed late; past due at {utcnow().astimezone(CHINA):%H:%M:%S} (UTC+8)"
    )


def every_report_accepted(
    round_: Round, projects: dict[str, dict], quality: dict[str, float], year: int
) -> dict[str, dict]:
    """A later year's reports without a story: the window opens, every project files against that
    year's target, its authority endorses and the province accepts. Project id -> its report."""
    window, _ = _report_window(round_, year, len(projects))
    reports = {
        r["project_id"]: r
        for r in round_.each(
            f"filing {year} reports",
            list(projects),
            lambda p: _file_report(round_, year, p, projects[p], delivery(quality.get(p, 0.7), False)),
        )
    }
    _endorse_and_accept(round_, reports, projects, [p for p, r in reports.items() if r["state"] == "submitted"])
    round_.say(
        f"annual reports {year} (window {window['id']}): {len(reports)} filed, "
        f"{sum(r['state'] == 'accepted' for r in reports.values())} endorsed and accepted"
    )
    return reports


def _report_window(round_: Round, year: int, projects: int) -> tuple[dict, bool]:
    """The year's reporting window, due in a few seconds per project; and whether this run opened
    it (an earlier demo on the same stack may have)."""
    api, step = round_.api, "annual reports"
    due = utcnow() + timedelta(seconds=REPORT_WINDOW_BASE_S + REPORT_WINDOW_PER_PROJECT_S * projects)
    reply = api.post(
        step,
        "/v1/report-windows",
        PROVINCE,
        {"year": year, "due_at": rfc3339(due), "title": f"{year}年度楚怡行动建设进展报告"},
        create=True,
        expect=(201, 409),
    )
    if reply.status == 201:
        return reply.body, True
    window = next(w for w in api.get(step, "/v1/report-windows").body["items"] if w["year"] == year)
    if datetime.fromisoformat(window["due_at"].replace("Z", "+00:00")) < utcnow():
        raise DemoError(
            f"step {step!r}: the {year} reporting window was opened by an earlier demo on this database and its "
            f"deadline ({window['due_at']}) has passed, so this round's projects, established after it, owe it no "
            f"report (one window per year). Run the demo on a fresh database: make down && rm -rf var/mongo && make demo"
        )
    return window, False


def _file_report(round_: Round, year: int, project_id: str, project: dict, share: float) -> dict:
    """The institution files its project's report of `year`, each target of the year judged by the
    share of the work done; an earlier run's report of the same project and year is read instead."""
    api, step = round_.api, "annual reports"
    targets = [t for t in project["plan"]["yearly_targets"] if t["year"] == year]
    status = target_status(share)
    body = {
        "year": year,
        "summary": f"{year}年度，《{project['plan']['title']}》按建设方案推进，"
        f"完成年度建设任务约{round(share * 100)}%。",
        "assessments": [
            {
                "target_index": i,
                "status": status,
                "evidence": f"年度目标“{t['target'][:60]}”：见建设台账与资金执行明细（{status}）。",
            }
            for i, t in enumerate(targets)
        ],
    }
    actor = institution_actor(project["institution_id"])
    reply = api.post(step, f"/v1/projects/{project_id}/annual-reports", actor, body, create=True, expect=(201, 409))
    if reply.status == 409 and reply.body.get("type", "").endswith("already-filed"):
        return api.get(step, f"/v1/annual-reports/rpt_{year}_{project_id}", actor).body
    if reply.status == 409:
        raise DemoError(f"step {step!r}: filing the report of {project_id} was refused: {reply.body}")
    return reply.body


def _endorse_and_accept(
    round_: Round, reports: dict[str, dict], projects: dict[str, dict], submitted: Sequence[str]
) -> None:
    """Each submitted report endorsed by its recommending authority, then every endorsed report
    accepted by the province; `reports` (project id -> report) follows their answers."""
    api, step = round_.api, "annual reports"

    def endorse(project_id: str) -> dict:
        authority = recommender_actor(projects[project_id]["recommender"])
        return api.post(
            step, f"/v1/annual-reports/{reports[project_id]['id']}/endorse", authority, {"reason": "同意报送。"}
        ).body

    for report in round_.each("endorsing reports", list(submitted), endorse):
        reports[report["project_id"]] = report

    def accept(project_id: str) -> dict:
        return api.post(step, f"/v1/annual-reports/{reports[project_id]['id']}/accept", PROVINCE, {}).body

    endorsed = [p for p, r in reports.items() if r["state"] == "endorsed"]
    for report in round_.each("accepting reports", endorsed, accept):
        reports[report["project_id"]] = report


# ---------------------------------------------------------------- the mid-term panel


MILESTONE_NAMES = {"mid_term": ("中期检查", "mid-term"), "acceptance": ("验收", "acceptance")}


def mid_term_panel(round_: Round, call: CallRound, quality: dict[str, float], years: Years) -> None:
    api, step = round_.api, "mid-term panel"
    project_ids = [a["project_id"] for a in sorted(call.allocation["awards"], key=lambda a: a["rank"])]
    before = _available(round_, call.category)
    years.panel, years.panel_run, confirmed, fundings = _panel(
        round_, call, "mid_term", project_ids, quality, years.lagging, years.year + 1
    )
    years.panel_reviews = len(years.panel_run["assigned"])
    for c in confirmed:
        if c["result"] != "fail":
            continue
        project_id = c["project_id"]

        def left(project_id=project_id):
            project = api.get(step, f"/v1/projects/{project_id}").body
            return project if project["state"] == "failed" else None

        years.failed[project_id] = {
            "funding": fundings[project_id],
            "project": wait_for(f"project {project_id} to leave (project_failed)", left),
            "result": c,
        }
    results = years.results
    round_.say(
        f"confirmed by the province: {results['pass']} pass (mid-term tranche released), "
        f"{results['rectify']} rectify (held), {results['fail']} fail"
    )
    for gone in years.failed.values():
        money = gone["funding"]
        round_.say(
            f"failed: 《{gone['project']['plan']['title']}》 (calibrated "
            f"{gone['result'].get('calibrated_hundredths', 0) / 100:.2f}) leaves: "
            f"{wan(money['withheld']['total'])} 万元 withheld, {wan(money['clawed_back']['total'])} 万元 "
            f"clawed back; project {gone['project']['state']}"
        )
    if years.failed:
        after = wait_for(
            f"{call.category}'s place to return to GET /v1/programmes",
            lambda: (n := _available(round_, call.category)) >= before + len(years.failed) and n,
        )
        years.places = {"category": call.category, "before": before, "after": after}
        round_.say(
            f"dynamic adjustment (动态调整): GET /v1/programmes shows {call.category} with {after} place(s) "
            f"available (was {before}): the place is back for a later call"
        )


def acceptance_panel(round_: Round, call: CallRound, quality: dict[str, float], years: Years) -> None:
    """Acceptance (验收) of the best projects that passed their mid-term panel (at most two)."""
    passed = [r["project_id"] for r in years.panel["results"] if r["result"] == "pass"][:ACCEPTED]
    if not passed:
        return
    years.acceptance, _, _, _ = _panel(round_, call, "acceptance", passed, quality, None, years.year + 3)


def _panel(
    round_: Round,
    call: CallRound,
    milestone: str,
    project_ids: list[str],
    quality: dict[str, float],
    lagging: str | None,
    year: int,
) -> tuple[dict, dict, list[dict], dict[str, dict]]:
    """One panel from opening to every result confirmed and recorded by funding: the panel as
    closed, its assignment run, the confirmations and each project's funding afterwards."""
    api = round_.api
    zh, en = MILESTONE_NAMES[milestone]
    step = f"{en} panel"
    body = {
        "milestone": milestone,
        "title": f"{year}年{call.body['title'].split('年', 1)[-1]}项目{zh}",
        "project_ids": project_ids,
        "rubric": PANEL_RUBRIC,
        "reviewers_per_project": PANEL_REVIEWERS,
        "review_deadline": rfc3339(utcnow() + PANEL_REVIEW_DEADLINE),
    }
    refused = []

    def opened():  # 422 until review has heard of every project (project_established) and its mid-term result
        reply = api.post(step, "/v1/panels", PROVINCE, body, create=True, expect=(201, 422))
        refused.append(reply.body)
        return reply.body if reply.status == 201 else None

    try:
        panel = wait_for(f"the review service to take the projects for the {en} panel", opened)
    except DemoError as late:
        raise DemoError(f"{late}; the panel was last refused with: {refused[-1]}") from None
    run = api.post(step, f"/v1/panels/{panel['id']}/assignments", PROVINCE, create=True, expect=(201,)).body
    quality_line = run["quality"]
    short = f"; {len(run['unfilled'])} project(s) short of experts" if run["unfilled"] else ""
    round_.say(
        f"{en} panel {call.category}: {len(project_ids)} projects, {len(run['assigned'])} assignments "
        f"to {quality_line['load']['experts_used']} experts, conflict-free (回避), coverage "
        f"{quality_line['coverage']:.0%}{short}"
    )

    leniency = {round_.ids[e.key]: e.leniency for e in round_.data.experts if e.key in round_.ids}
    writers = threading.BoundedSemaphore(2)  # one panel is one subject: more writers only queue

    def score(assignment: dict) -> dict:
        project = assignment["project_id"]
        rng = random.Random(f"{round_.config.seed}/{milestone}/{project}/{assignment['expert_id']}")
        share = delivery(quality.get(project, 0.7), project == lagging)
        scores = simulated_scores(PANEL_RUBRIC, share, leniency.get(assignment["expert_id"], 0.0), rng)
        review = {"scores": scores, "comments": review_comment(PANEL_RUBRIC, scores, rng)}
        with writers:
            return api.send(
                step,
                "PUT",
                f"/v1/panel-assignments/{assignment['id']}/review",
                expert_actor(assignment["expert_id"]),
                body=review,
            ).body

    reviews = len(round_.each(f"{en} panel reviews", run["assigned"], score))
    proposal = api.post(step, f"/v1/panels/{panel['id']}/proposal", PROVINCE, expect=(200, 409))
    if proposal.status == 409:
        raise DemoError(problem_message(step, "POST", f"/v1/panels/{panel['id']}/proposal", PROVINCE, proposal))
    proposed = Counter(r["proposed_result"] for r in proposal.body["results"])
    round_.say(
        f"{en} panel proposal (calibrated scores, {proposal.body['rule']}): {proposed['pass']} pass, "
        f"{proposed['rectify']} rectify, {proposed['fail']} fail; {reviews} reviews"
    )

    def confirm(result: dict) -> dict:
        return api.post(
            step, f"/v1/panels/{panel['id']}/projects/{result['project_id']}/confirm", PROVINCE, {}, create=True
        ).body

    confirmed = round_.each("confirming results", proposal.body["results"], confirm)
    closed = api.get(step, f"/v1/panels/{panel['id']}").body
    recorded_by = f"panel:{panel['id']}"

    def recorded(project_id: str) -> dict:  # funding records each confirmed result as the milestone's
        def seen():
            funding = api.get(step, f"/v1/projects/{project_id}/funding", FINANCE).body
            return funding if any(m.get("recorded_by") == recorded_by for m in funding["milestones"]) else None

        return wait_for(f"funding to record the panel's result for {project_id}", seen)

    ids = [c["project_id"] for c in confirmed]
    fundings = dict(zip(ids, round_.each("funding records the results", ids, recorded)))
    call.milestones += [
        {"project_id": c["project_id"], "milestone": milestone, "result": c["result"], "recorded_by": recorded_by}
        for c in confirmed
    ]
    if milestone == "acceptance":
        results = Counter(c["result"] for c in confirmed)
        tranche = sum(
            t["amount"]["total"]
            for f in fundings.values()
            for t in f["tranches"]
            if t["trigger"] == "acceptance" and t["state"] == "released"
        )
        round_.say(
            f"acceptance (验收) confirmed by the province: {results['pass']} pass, {results['rectify']} "
            f"rectify, {results['fail']} fail; acceptance tranches released: {wan(tranche)} 万元"
        )
    return closed, run, confirmed, fundings


def _available(round_: Round, category: str) -> int:
    items = round_.api.get("read the catalogue", "/v1/programmes").body["items"]
    return next(p["available"] for p in items if p["code"] == category)


# ---------------------------------------------------------------- supervision


def supervision(round_: Round, years: Years) -> None:
    api, year, step = round_.api, years.supervision_year, "supervision"
    years.supervision = api.get(step, "/v1/reports/supervision", PROVINCE, params={"year": year}).body
    for kind in ("xlsx", "pdf"):
        content = api.download(step, f"/v1/reports/supervision?year={year}&format={kind}", PROVINCE)
        years.exports[kind] = len(content)
    rows = years.supervision["prefectures"]
    round_.say(
        f"supervision {year} (GET /v1/reports/supervision?year={year}): {len(rows)} prefectures scored "
        f"and ranked; downloads: XLSX {years.exports['xlsx']:,} bytes, PDF {years.exports['pdf']:,} bytes"
    )
    round_.console.print(
        table(
            ["rank", "prefecture", "score", "projects", "duties met", "duties missed"],
            [
                [
                    r["rank"],
                    r["prefecture"],
                    f"{r['score']:.1f}",
                    r["projects"],
                    f"{sum(d['met'] for d in r['duties'])}/{len(r['duties'])}",
                    ", ".join(r["duties_missed"]) or "-",
                ]
                for r in rows[:5]
            ],
        )
    )
    base = api.base_url
    round_.console.print(
        f"  where to look: {base}/dashboard (its year selector: {year}), "
        f"{base}/v1/reports/supervision?year={year}&format=xlsx (or format=pdf), "
        f"with a province token (`python -m chuyi token province`)"
    )
