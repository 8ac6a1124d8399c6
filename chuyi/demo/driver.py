"""A whole selection round driven through the public HTTP API only, as the portals would
drive it (`make demo`, `python -m chuyi demo`).

The province registers institutions (an XLSX register) and experts (XLSX lists), funding
rules and budgets; opens one call per chosen category; institutions draft and submit
applications; prefecture bureaus (and HRSS sponsors for technician schools) recommend
within their caps and decline the rest; the province confirms eligibility, runs the expert
assignment; every expert writes simulated reviews (hidden quality and leniency, so the
calibration has something to recover); the province publishes the ranking and the public
notice; one objection is filed and upheld (the reserve moves up); after the window the
selection is finalized, the funding service allocates, and some projects pass (or are told
to rectify) their mid-term review by the province's direct record. The round belongs to 2022;
then the action's years to 2025, in fast forward (chuyi/demo/years.py): annual progress reports
each year (in 2022 one returned and refiled, one left missing), a 2023 mid-term expert panel on
one call's projects (one fails and leaves, its money withheld and clawed back, its place back in
the category), a 2023 round of that category on the freed place (`later_round`), the 2025
acceptance panel and the 2024 supervision table of the prefectures. The reference finance
consumer receives every funding event and must end with the funding service's own figures;
inboxes show the notifications.

`run_demo(config)` returns a `DemoResult` with what every step answered; any answer the
round did not expect raises `DemoError`, naming the step, the request and the problem.
Bulk steps run on a thread pool, with a progress bar on stderr when it is a terminal.
Creating POSTs carry an Idempotency-Key; 429 and 503 answers are retried after their
Retry-After, and so are 504s where sending twice does it once (GET, PUT, keyed POSTs): the
client is `api.py`, the output `console.py`, the files it uploads `documents.py`; what the round
plans and keeps is `plan.py`, its money steps `money.py`, its summary `summary.py`. The
round ends with a summary table and the progress report (GET /v1/reports/progress).
"""

from __future__ import annotations

import io
import itertools
import random
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TextIO

import requests
from pypdf import PdfReader

from services.common.actor import Actor
from chuyi.demo.api import (
    FINANCE,
    PROVINCE,
    Api,
    DemoError,
    expert_actor,
    institution_actor,
    pages,
    parallel,
    problem_message,
    recommender_actor,
    sleep_until,
    utcnow,
    wait_for,
)
from chuyi.demo.console import CHINA, Console, wan
from chuyi.demo.documents import application_form, expert_list, institution_register
from chuyi.demo.generator import DemoApplication, DemoData, generate, resolve, review_comment, simulated_scores
from chuyi.demo.money import allocate, drop_queue, funding_setup, read_funding, reconcile, record_milestones
from chuyi.demo.plan import (
    EXPERT_FILE_ROWS,
    FIRST_YEAR,
    LATER_ROUND_APPLICATIONS,
    REVIEW_DEADLINE,
    REVIEW_WRITERS_PER_CALL,
    CallRound,
    DemoConfig,
    DemoResult,
    competitive_quota,
    expert_signature,
    spread,
)
from chuyi.demo.summary import print_summary
from chuyi.demo.years import panel_call, run_years, supervision
from examples.finance_consumer.consumer import FinanceConsumer
from services.applications.domain.messages import rfc3339

# ---------------------------------------------------------------- the round


class Round:
    """One selection round of an action year: its calls from opening to allocation. A later round
    shares the first one's client and ids (the same institutions and experts)."""

    def __init__(self, config: DemoConfig, console: Console, year: int, earlier: "Round | None" = None):
        self.config, self.console, self.year = config, console, year
        self.expert_copy: dict | None = None  # what an expert's download of a 申报书 answered
        self.api = earlier.api if earlier else Api(config.base_url, config.jwt_secret, uuid.uuid4().hex[:12])
        self.ids: dict[str, str] = earlier.ids if earlier else {}  # every demo key -> its id
        self.skipped: dict[str, str] = {}
        self.data: DemoData | None = None

    def say(self, message: str) -> None:
        self.console.say(message)

    def each(self, label: str, items: Sequence, work: Callable) -> list:
        return parallel(self.console, label, items, work, self.config.concurrency)

    # ------------------------------------------------------------ setup

    def wait_ready(self) -> None:
        def ready() -> bool:
            try:
                return requests.get(self.api.base_url + "/readyz", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(f"the gateway at {self.api.base_url} to be ready (`make up` starts it)", ready, timeout=90)
        self.say(f"platform ready at {self.api.base_url}")

    def world(self) -> DemoData:
        self.data = data = generate(
            self.config.seed, self.config.institutions, self.config.experts, opens_at=utcnow(), action_year=self.year
        )
        offered = [c.body["category"] for c in data.calls]
        unknown = [c for c in self.config.categories if c not in offered]
        if unknown:
            raise DemoError(
                f"no demo call for {', '.join(unknown)} at this size (categories with applicants: {', '.join(offered)})"
            )
        total = sum(len(data.applications[c.key]) for c in data.calls)
        self.say(
            f"demo world (seed {data.seed}): {len(data.institutions)} institutions, {len(data.experts)} experts, "
            f"{total} applications in {len(data.calls)} categories; the {self.year} round runs "
            f"{', '.join(self.config.categories)}"
        )
        return data

    def register_institutions(self, data: DemoData) -> dict[str, str]:
        """The province's register: the institutions not registered yet, as one XLSX import."""
        step = "register institutions"
        known = {i["credit_code"]: i["id"] for i in pages(self.api, step, "/v1/institutions")}
        missing = [i for i in data.institutions if i.body["credit_code"] not in known]
        if missing:
            report = self.api.post(
                step,
                "/v1/institutions:import",
                PROVINCE,
                create=True,
                expect=(201,),
                files={"file": ("楚怡行动申报单位名册.xlsx", institution_register(missing))},
            ).body
            known.update(zip((i.body["credit_code"] for i in missing), report["institution_ids"]))
        ids = {i.key: known[i.body["credit_code"]] for i in data.institutions}
        self.ids.update(ids)
        self.say(
            f"institutions: {len(missing)} imported from an XLSX register"
            + (f", {len(data.institutions) - len(missing)} registered already" if len(missing) < len(ids) else "")
        )
        return ids

    def register_experts(self, data: DemoData) -> dict[str, str]:
        """The expert pool: the experts not in it yet, as XLSX lists of EXPERT_FILE_ROWS."""
        step = "import experts"
        pool = defaultdict(list)
        for expert in pages(self.api, step, "/v1/experts"):
            pool[expert_signature(expert)].append(expert["id"])
        ids, missing = {}, []
        for expert in data.experts:
            body = resolve(expert.body, self.ids)
            found = pool.get(expert_signature(body))
            if found:
                ids[expert.key] = found.pop(0)
            else:
                missing.append((expert.key, body))
        batches = [missing[i : i + EXPERT_FILE_ROWS] for i in range(0, len(missing), EXPERT_FILE_ROWS)]

        def upload(batch: list[tuple[str, dict]]) -> None:
            content = expert_list([body for _, body in batch])
            report = self.api.post(
                step,
                "/v1/experts:import",
                PROVINCE,
                create=True,
                expect=(201,),
                files={"file": ("评审专家名单.xlsx", content)},
            ).body
            ids.update(zip((key for key, _ in batch), report["expert_ids"]))

        for batch in batches:  # one at a time: each import checks the whole pool for duplicates
            upload(batch)
        self.ids.update(ids)
        self.say(
            f"experts: {len(missing)} imported from {len(batches)} XLSX list(s)"
            + (f", {len(data.experts) - len(missing)} in the pool already" if len(missing) < len(ids) else "")
        )
        return ids

    # ------------------------------------------------------------ calls

    def plan_calls(
        self,
        data: DemoData,
        categories: Sequence[str] | None = None,
        places: int | None = None,
        applications: int | None = None,
    ) -> list[CallRound]:
        """A call per category (the config's unless given), offering at most `places`, with at
        most `applications` (the config's applications_per_call unless given)."""
        by_category = {c.body["category"]: c for c in data.calls}
        left = self.quota_left()
        calls = []
        for category in categories or self.config.categories:
            call = by_category[category]
            kept = spread(
                data.applications[call.key],
                applications or self.config.applications_per_call,
                {i.key: i.body["prefecture"] for i in data.institutions},
            )
            quota = min(
                call.body["quota"],
                left[category],
                competitive_quota(category, call.body, len(kept)),
                places or left[category],
            )
            if quota < 1:
                self.skipped[category] = f"no quota left ({left[category]} of the category's quota is free)"
                continue
            calls.append(CallRound(call.key, category, dict(call.body), quota=quota, applications=kept))
        for category, why in self.skipped.items():
            self.say(f"call {category} skipped: {why}")
        if not calls:
            raise DemoError(
                "every category of the round has used up its quota on this stack; start from an empty "
                "database (`make down`, remove var/mongo) or choose other --categories"
            )
        return calls

    def quota_left(self) -> dict[str, int]:
        """Per category: its quota less what is selected and what unfinished calls hold."""
        step = "read the catalogue"
        programmes = self.api.get(step, "/v1/programmes").body["items"]
        held = Counter()
        for call in pages(self.api, step, "/v1/calls"):
            if call["state"] != "finalized":
                held[call["category"]] += call["quota"]
        return {p["code"]: p["quota"] - p["selected_count"] - held[p["code"]] for p in programmes}

    def open_calls(self, calls: list[CallRound]) -> datetime:
        """Create every call, opening now and closing after the window; answers the close."""
        step = "open calls"
        opens = utcnow()
        closes = opens + timedelta(seconds=self.window_seconds(calls))
        for call in calls:
            call.body.update(
                opens_at=rfc3339(opens),
                closes_at=rfc3339(closes),
                quota=call.quota,
                required_materials=["application_form"],
            )
            call.id = self.api.post(step, "/v1/calls", PROVINCE, call.body, create=True, expect=(201,)).body["id"]
            self.ids[call.key] = call.id
            self.api.post(step, f"/v1/calls/{call.id}/open", expect=(200, 409))  # 409: its timer opened it first
            state = self.api.get(step, f"/v1/calls/{call.id}").body["state"]
            if state != "open":
                raise DemoError(f"step {step!r}: call {call.id} is {state}, not open")
        self.say(
            f"calls opened: {', '.join(f'{c.category} (quota {c.quota})' for c in calls)}; "
            f"applications until {closes.astimezone(CHINA):%H:%M:%S} (UTC+8)"
        )
        return closes

    def window_seconds(self, calls: list[CallRound]) -> float:
        if self.config.window_seconds:
            return self.config.window_seconds
        applications = sum(len(c.applications) for c in calls)
        return 15 + 2 * len(calls) + 0.25 * applications

    # ------------------------------------------------------------ applications

    def apply(self, calls: list[CallRound], closes: datetime) -> None:
        step = "draft and submit applications"
        work = [(call, application) for call in calls for application in call.applications]

        def submit(item: tuple[CallRound, DemoApplication]) -> tuple[CallRound, dict]:
            call, application = item
            institution = institution_actor(self.ids[application.institution])
            body = resolve(application.body, self.ids)
            draft = self.api.post(step, "/v1/applications", institution, body, create=True, expect=(201,)).body
            self.ids[application.key] = draft["id"]
            name = self.institution_names.get(application.institution, "")
            self.api.send(
                step,
                "POST",
                f"/v1/applications/{draft['id']}/materials",
                institution,
                params={"kind": "application_form", "filename": f"{name}申报书.pdf"},
                data=application_form(name, body),
                expect=(201,),
            )
            reply = self.api.post(step, f"/v1/applications/{draft['id']}/submit", institution, expect=(200, 409))
            if reply.status == 409 and utcnow() >= closes:
                raise DemoError(
                    f"step {step!r}: the calls' window closed before every application was in; this "
                    f"machine is slower than the demo assumed: run it with a longer --window-seconds"
                )
            if reply.status == 409:
                raise DemoError(
                    problem_message(step, "POST", f"/v1/applications/{draft['id']}/submit", institution, reply)
                )
            return call, reply.body

        for call, submitted in self.each("submitting applications", work, submit):
            call.submitted[submitted["id"]] = submitted
        self.say(
            f"applications: {sum(len(c.submitted) for c in calls)} drafted, each with its 申报书 (PDF), and "
            f"submitted by {len({a['institution_id'] for c in calls for a in c.submitted.values()})} institutions"
        )

    @property
    def institution_names(self) -> dict[str, str]:
        return {institution.key: institution.body["name"] for institution in self.data.institutions}

    def recommend(self, calls: list[CallRound]) -> None:
        """Each recommending authority recommends up to the call's cap, in the order the
        applications came in, and declines the rest."""
        step = "recommend"
        decisions = []
        for call in calls:
            by_authority = defaultdict(list)
            for application in call.submitted.values():
                by_authority[(application["recommender"]["kind"], application["recommender"]["authority"])].append(
                    application
                )
            for applications in by_authority.values():
                cap = call.body["prefecture_cap"]
                decisions += [(call, a, n < cap) for n, a in enumerate(applications)]

        def decide(item: tuple[CallRound, dict, bool]) -> tuple[CallRound, dict, bool]:
            call, application, recommend = item
            actor = recommender_actor(application["recommender"])
            if recommend:
                path, body = f"/v1/applications/{application['id']}/recommend", {"reason": "符合申报条件，同意推荐。"}
            else:
                path, body = (
                    f"/v1/applications/{application['id']}/decline",
                    {"reason": f"本批次推荐名额（{call.body['prefecture_cap']}个）已用完，择优推荐其他申报。"},
                )
            return call, self.api.post(step, path, actor, body).body, recommend

        for call, answer, recommended in self.each("recommending", decisions, decide):
            (call.recommended if recommended else call.declined)[answer["id"]] = answer
        bureaus = {a["recommender"]["authority"] for c in calls for a in c.submitted.values()}
        self.say(
            f"recommendations: {sum(len(c.recommended) for c in calls)} recommended, "
            f"{sum(len(c.declined) for c in calls)} declined by {len(bureaus)} authorities"
        )

    def check_eligibility(self, calls: list[CallRound]) -> None:
        """The province confirms what the automatic rules find. The findings an application
        shows are those of its submission, and the rules run again on the decision (a
        declined neighbour no longer counts against a one-per-prefecture candidate): a
        confirmation the rules now contradict is refused as an override without a reason,
        and the province confirms their outcome instead."""
        step = "eligibility"
        work = [(call, a) for call in calls for a in call.recommended.values()]

        def decide(item: tuple[CallRound, dict]) -> tuple[CallRound, dict]:
            call, application = item
            path = f"/v1/applications/{application['id']}/eligibility"
            shown = all(f["passed"] for f in application["eligibility_findings"])
            reply = self.api.post(step, path, PROVINCE, {"eligible": shown}, expect=(200, 422))
            if reply.status == 422 and not reply.body.get("type", "").endswith("reason-required"):
                raise DemoError(problem_message(step, "POST", path, PROVINCE, reply))
            if reply.status == 422:
                reply = self.api.post(step, path, PROVINCE, {"eligible": not shown})
            return call, reply.body

        for call, answer in self.each("checking eligibility", work, decide):
            (call.eligible if answer["eligibility_decision"]["eligible"] else call.ineligible)[answer["id"]] = answer
        self.say(
            f"eligibility: {sum(len(c.eligible) for c in calls)} eligible, {sum(len(c.ineligible) for c in calls)} not"
        )

    def close_early(self, calls: list[CallRound]) -> datetime:
        """Every application is in and decided: the province ends the windows now; answers the close."""
        for call in calls:
            self.api.post(
                "close calls early",
                f"/v1/calls/{call.id}/close",
                PROVINCE,
                {"reason": "every application is in and its authority has decided"},
                expect=(200, 409),  # 409: its timer closed it first
            )
        self.say(f"calls closed early by the province at {utcnow().astimezone(CHINA):%H:%M:%S} (UTC+8)")
        return utcnow()

    def wait_closed(self, calls: list[CallRound], closes: datetime) -> None:
        sleep_until(self.console, "application window", closes)
        for call in calls:
            wait_for(
                f"call {call.id} to close",
                lambda: self.api.get("close calls", f"/v1/calls/{call.id}").body["state"] != "open",
            )
        self.say("calls closed")

    # ------------------------------------------------------------ review

    def assign(self, calls: list[CallRound]) -> None:
        step = "assign experts"
        deadline = rfc3339(utcnow() + REVIEW_DEADLINE)
        for call in calls:
            wait_for(
                f"the review service to hold the {len(call.eligible)} eligible applications of {call.id}",
                lambda: self._review_knows(call),
            )
            run = wait_for(
                f"the review service to see {call.id} closed", lambda: self._assignment_run(step, call, deadline)
            )
            call.assignment_runs.append(run)
            quality = run["quality"]
            short = f"; {len(run['unfilled'])} application(s) short of experts" if run["unfilled"] else ""
            self.say(
                f"assignment {call.category}: {len(run['assigned'])} reviews to "
                f"{quality['load']['experts_used']} experts, coverage {quality['coverage']:.0%}, "
                f"mean affinity {quality['mean_affinity'] or 0:.2f}, solved in {run['seconds']:.2f}s{short}"
            )

    def _review_knows(self, call: CallRound) -> bool:
        ranking = self.api.get("assign experts", f"/v1/calls/{call.id}/ranking").body
        return {u["application_id"] for u in ranking["unscored"]} == set(call.eligible)

    def _assignment_run(self, step: str, call: CallRound, deadline: str) -> dict | None:
        reply = self.api.post(
            step,
            f"/v1/calls/{call.id}/assignments",
            PROVINCE,
            {"review_deadline": deadline},
            create=True,
            expect=(201, 409),
        )
        if reply.status == 409 and "still open" in reply.body.get("detail", ""):
            return None  # the call_closed event has not reached the review service yet
        if reply.status == 409:
            raise DemoError(problem_message(step, "POST", f"/v1/calls/{call.id}/assignments", PROVINCE, reply))
        return reply.body

    def expert_reads_materials(self, calls: list[CallRound]) -> None:
        """One assigned expert downloads the 申报书 of an application assigned to them: a copy
        stamped with their name and the time (the watermark is checked in the PDF's text)."""
        step = "an expert reads the materials"
        assignment = next((a for call in calls for a in call.assignments if a["status"] == "assigned"), None)
        if assignment is None:
            return
        names = {self.ids[e.key]: e.body["name"] for e in self.data.experts if e.key in self.ids}
        expert = Actor(
            "expert",
            names.get(assignment["expert_id"], f"demo-{assignment['expert_id']}"),
            expert_id=assignment["expert_id"],
        )
        path = f"/v1/applications/{assignment['application_id']}/materials"

        def listed():  # the expert's access comes with review's experts_assigned event
            reply = self.api.get(step, path, expert, expect=(200, 404))
            return reply.body["items"] if reply.status == 200 else None

        form = next(
            m for m in wait_for("the expert's access to the materials", listed) if m["kind"] == "application_form"
        )
        copy = self.api.download(step, form["download"], expert)
        stamp = f"仅供评审使用 · {expert.sub}"
        if stamp not in PdfReader(io.BytesIO(copy)).pages[0].extract_text():
            raise DemoError(f"step {step!r}: the expert's copy of {form['filename']} carries no watermark {stamp!r}")
        self.expert_copy = {"expert": expert.sub, "filename": form["filename"], "bytes": len(copy), "stamp": stamp}
        self.say(
            f"materials: expert {expert.sub} downloaded {form['filename']} ({len(copy):,} bytes), "
            f"stamped {stamp} · the time"
        )

    def review(self, calls: list[CallRound]) -> None:
        """Every assigned expert scores: the application's hidden quality, shifted by the
        expert's leniency (none for an expert of the pool the demo did not bring), plus the
        noise of one judgement."""
        step = "write reviews"
        quality = {self.ids[a.key]: a.quality for c in calls for a in c.applications if a.key in self.ids}
        leniency = {self.ids[e.key]: e.leniency for e in self.data.experts}
        open_ = [[(call, a) for a in call.assignments if a["status"] == "assigned"] for call in calls]
        work = [item for turn in itertools.zip_longest(*open_) for item in turn if item]  # the calls in turn
        writers = {call.id: threading.BoundedSemaphore(REVIEW_WRITERS_PER_CALL) for call in calls}

        def write(item: tuple[CallRound, dict]) -> tuple[CallRound, dict]:
            call, assignment = item
            rng = random.Random(f"{self.config.seed}/{assignment['application_id']}/{assignment['expert_id']}")
            scores = simulated_scores(
                call.rubric, quality[assignment["application_id"]], leniency.get(assignment["expert_id"], 0.0), rng
            )
            body = {"scores": scores, "comments": review_comment(call.rubric, scores, rng)}
            path = f"/v1/assignments/{assignment['id']}/review"
            with writers[call.id]:
                return call, self.api.send(step, "PUT", path, expert_actor(assignment["expert_id"]), body=body).body

        for call, answer in self.each("reviewing", work, write):
            call.reviews[answer["assignment_id"]] = answer
        self.say(
            f"reviews: {sum(len(c.reviews) for c in calls)} written by "
            f"{len({a['expert_id'] for c in calls for a in c.assignments})} experts"
        )

    def rank(self, calls: list[CallRound]) -> None:
        step = "publish the ranking"
        for call in calls:
            draft = self.api.get(step, f"/v1/calls/{call.id}/ranking").body
            if draft["outstanding_reviews"]:
                self._close_reviews(call)
            call.ranking = self.api.post(step, f"/v1/calls/{call.id}/ranking").body
            calibration = call.ranking["calibration"]
            offsets = sorted(o["offset_hundredths"] for o in calibration["expert_offsets"])
            spread = f", expert offsets {offsets[0] / 100:+.1f}..{offsets[-1] / 100:+.1f} points" if offsets else ""
            self.say(
                f"ranking {call.category}: {len(call.ranking['entries'])} ranked, {len(call.selected)} within "
                f"the quota of {call.quota}, {len(call.ranking['reserve'])} on the reserve list{spread}"
            )

    def _close_reviews(self, call: CallRound) -> None:
        """Some slots found no expert: move the review deadline to a moment from now, write
        whatever that run assigns, and let the deadline pass (the ranking then publishes)."""
        step = "close the reviews"
        deadline = utcnow() + timedelta(seconds=20)
        run = self.api.post(
            step,
            f"/v1/calls/{call.id}/assignments",
            PROVINCE,
            {"review_deadline": rfc3339(deadline)},
            create=True,
            expect=(201,),
        ).body
        call.assignment_runs.append(run)
        self.say(
            f"{call.category}: {run['quality']['slots'] - run['quality']['filled']} review slot(s) found no "
            f"expert; the review deadline moves to {deadline.astimezone(CHINA):%H:%M:%S} (UTC+8) so the "
            f"ranking can be published with the reviews in"
        )
        if run["assigned"]:
            self.review([call])
        sleep_until(self.console, f"review deadline {call.category}", deadline + timedelta(seconds=1))

    def publish_notices(self, calls: list[CallRound]) -> datetime:
        step = "publish the public notice"
        closes = utcnow() + timedelta(seconds=self.config.notice_seconds)
        for call in calls:
            reply = self.api.post(
                step,
                f"/v1/calls/{call.id}/notice",
                PROVINCE,
                {"closes_at": rfc3339(closes)},
                create=True,
                expect=(201, 422),
            )
            if reply.status == 422:
                raise DemoError(
                    problem_message(step, "POST", f"/v1/calls/{call.id}/notice", PROVINCE, reply)
                    + "\n  hint: the demo closes the notice window within seconds, which the review "
                    "service allows only when it runs with CHUYI_ALLOW_SHORT_NOTICE=1 (as `make demo` "
                    "starts it); if the stack was started by `make up`, run `make down` then `make demo`"
                )
            call.notice = self.api.get(step, f"/v1/calls/{call.id}/notice", None).body  # public: no token
        self.say(
            f"public notices published ({sum(len(c.notice['selected']) for c in calls)} selected); "
            f"objections until {closes.astimezone(CHINA):%H:%M:%S} (UTC+8), e.g. "
            f"{self.api.base_url}/v1/calls/{calls[0].id}/notice"
        )
        return closes

    def object_and_uphold(self, calls: list[CallRound]) -> None:
        """The institution first on a reserve list objects to a selected application of
        its call; the province upholds it: that application leaves, the reserve moves up."""
        step = "objection"
        call = next((c for c in calls if c.ranking["reserve"] and c.selected), None)
        if call is None:
            self.say("objection: no call has a reserve list, so none is filed")
            return
        entries = {e["application_id"]: e for e in call.ranking["entries"]}
        target = call.selected[len(call.selected) // 2]
        objector = institution_actor(entries[call.ranking["reserve"][0]]["institution_id"])
        filed = self.api.post(
            step,
            f"/v1/calls/{call.id}/objections",
            objector,
            {
                "application_id": target["application_id"],
                "grounds": "经查，该申报书所列校企合作项目与实际情况不符，建设基础数据不实。",
            },
            create=True,
            expect=(201,),
        ).body
        call.objection = self.api.post(
            step,
            f"/v1/objections/{filed['id']}/resolve",
            PROVINCE,
            {"decision": "upheld", "reason": "经核查，异议属实，取消该项目入选资格，由候补项目依次递补。"},
        ).body
        call.notice = self.api.get(step, f"/v1/calls/{call.id}/notice", None).body
        promoted = ", ".join(entries[a]["title"] for a in call.objection["promoted"]) or "none"
        self.say(
            f"objection upheld in {call.category}: 《{target['title']}》 removed, promoted from the reserve: "
            f"《{promoted}》"
        )

    def finalize(self, calls: list[CallRound], notice_closes: datetime) -> None:
        step = "finalize"
        sleep_until(self.console, "public notice window", notice_closes)
        for call in calls:
            refused = []

            def finalized(call=call, refused=refused) -> dict | None:
                reply = self.api.post(step, f"/v1/calls/{call.id}/finalize", expect=(200, 409))
                refused.append(reply.body.get("detail"))
                return reply.body if reply.status == 200 else None

            try:
                call.selection = wait_for(f"the notice window of {call.id} to close", finalized, timeout=60)
            except DemoError as late:
                raise DemoError(f"{late}; finalizing was last refused with: {refused[-1]}") from None
        self.say(f"selections finalized (立项): {sum(len(c.approved) for c in calls)} projects approved")

    def select(self, calls: list[CallRound], *, showcase: bool) -> None:
        """The selection of `calls`, from opening to allocation. The `showcase` round also has an
        expert read the application materials and an objection upheld during the notice."""
        closes = self.open_calls(calls)
        self.apply(calls, closes)
        self.recommend(calls)
        self.check_eligibility(calls)
        if self.config.close_early:
            closes = self.close_early(calls)
        self.wait_closed(calls, closes)
        self.assign(calls)
        if showcase:
            self.expert_reads_materials(calls)
        self.review(calls)
        self.rank(calls)
        notice_closes = self.publish_notices(calls)
        if showcase:
            self.object_and_uphold(calls)
        self.finalize(calls, notice_closes)
        allocate(self, calls)

    # ------------------------------------------------------------ notifications and report

    def inboxes(self, calls: list[CallRound]) -> dict[str, dict]:
        """A few inboxes, once the notifications each should hold have arrived."""
        first = calls[0]
        project = first.submitted[first.approved[0]["application_id"]]
        bureau = next(
            a["recommender"]
            for c in calls
            for a in c.recommended.values()
            if a["recommender"]["kind"] == "prefecture_bureau"
        )
        reviewer = first.assignments[0]
        expected = {
            "the province": (
                PROVINCE,
                {"ranking_published", "objection_resolved"}
                if any(c.objection for c in calls)
                else {"ranking_published"},
            ),
            f"institution {project['institution_name']}": (
                institution_actor(project["institution_id"]),
                {"selection_finalized", "funds_allocated", "tranche_released"},
            ),
            f"expert {reviewer['expert_name']}": (expert_actor(reviewer["expert_id"]), {"experts_assigned"}),
            f"bureau {bureau['authority']}": (recommender_actor(bureau), {"application_submitted"}),
            "finance": (FINANCE, {"funds_allocated"}),
        }
        found = {}
        for label, (actor, kinds) in expected.items():

            def arrived(actor=actor, kinds=kinds) -> dict | None:
                items = pages(self.api, "read the inbox", "/v1/inbox", actor)
                return {"actor": actor, "items": items} if kinds <= {i["kind"] for i in items} else None

            found[label] = wait_for(f"the notifications of {label} ({', '.join(sorted(kinds))})", arrived)
        return found

    def projects(self, calls: list[CallRound]) -> dict[str, list[dict]]:
        """Each institution with an approved application, listing its own projects once they
        have all been established and funded."""
        expected: dict[str, set[str]] = {}
        for call in calls:
            for approved in call.approved:
                expected.setdefault(approved["institution_id"], set()).add(approved["application_id"])
        found = {}
        for institution_id, ids in sorted(expected.items()):

            def listed(actor=institution_actor(institution_id), ids=ids) -> list[dict] | None:
                items = pages(self.api, "list own projects", "/v1/projects", actor)
                done = {p["id"] for p in items if p["award"] is not None}
                return items if ids <= done else None

            items = wait_for(f"the projects of institution {institution_id}", listed)
            found[items[0]["institution_name"]] = items
        return found


# ---------------------------------------------------------------- the whole round


def run_demo(config: DemoConfig, out: TextIO = sys.stdout, bars: TextIO = sys.stderr) -> DemoResult:
    """Run a whole round against the platform at `config.base_url`; print its steps and
    summary on `out`. Raises DemoError on any answer the round did not expect."""
    console = Console(out, bars)
    round_ = Round(config, console, FIRST_YEAR)
    round_.wait_ready()
    data = round_.world()
    institution_ids = round_.register_institutions(data)
    expert_ids = round_.register_experts(data)
    calls = round_.plan_calls(data)
    funding_setup(round_, calls)
    config.finance_db.parent.mkdir(parents=True, exist_ok=True)
    consumer = FinanceConsumer(config.amqp_uri, config.finance_db, queue=config.finance_queue)
    consumer.start(timeout=30)
    console.say(
        f"finance consumer listening on funding.events (queue {config.finance_queue}, book {config.finance_db})"
    )
    try:
        round_.select(calls, showcase=True)
        panel = panel_call(calls)
        record_milestones(round_, calls, panel)
        console.say(
            f"the years, in fast forward: annual reports each year, a mid-term panel, a {FIRST_YEAR + 1} round "
            f"on the places it frees, acceptance, supervision"
        )
        years = run_years(round_, calls, panel, lambda category, places: later_round(round_, category, places))
        every_call = calls + years.later_calls
        read_funding(round_, every_call)
        reconciliation = wait_for(
            "the finance consumer to reconcile with the funding service", lambda: reconcile(consumer, every_call)
        )
        problems = consumer.discrepancies() + [r["errors"] for r in consumer.rejected()]
        if problems:
            raise DemoError(f"the finance consumer found problems: {problems}")
        console.say(
            f"finance consumer reconciled {len(reconciliation)} projects with the funding service: "
            f"{wan(sum(v['allocated'] for p in reconciliation.values() for v in p.values()))} 万元 allocated, "
            f"{wan(sum(v['released'] for p in reconciliation.values() for v in p.values()))} 万元 released"
        )
    finally:
        consumer.stop()
        drop_queue(config.amqp_uri, config.finance_queue)
    supervision(round_, years)
    inboxes = round_.inboxes(calls)
    report = round_.api.get("progress report", "/v1/reports/progress").body
    projects = round_.projects(every_call)
    result = DemoResult(
        config,
        data,
        institution_ids,
        expert_ids,
        calls,
        round_.skipped,
        reconciliation,
        inboxes,
        report,
        projects,
        round_.expert_copy,
        years,
        time.monotonic() - console.started,
        round_.api.sent,
    )
    print_summary(console, result)
    return result


def later_round(first: Round, category: str, places: int) -> list[CallRound]:
    """The next action year's round of one category, offering the places that projects of the
    first round freed when they left: the same institutions and experts, a new call and new
    applications, from opening to allocation."""
    round_ = Round(first.config, first.console, first.year + 1, earlier=first)
    data = round_.world()
    round_.register_institutions(data)
    round_.register_experts(data)
    calls = round_.plan_calls(data, (category,), places=places, applications=LATER_ROUND_APPLICATIONS)
    funding_setup(round_, calls)
    round_.select(calls, showcase=False)
    return calls
