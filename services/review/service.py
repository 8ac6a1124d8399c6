"""The review service's nameko entrypoints: the expert pool, assignment, reviews,
calibration and ranking, the public notice, objections and the final selection; and the
mid-term and acceptance panels over projects (docs/panels.md).

Entrypoints only: each checks the caller's role, loads its input with the schema, calls one
use case (`usecases/`: experts, assignment, reviews, selection, candidates, panels) and
answers by the RPC reply contract (`services.common.replies`). The rules are in `domain/`,
the collections in `store.py`.

Test and demo aid: with `CHUYI_ALLOW_SHORT_NOTICE=1` in the environment the province may
close a notice window sooner than its working days (any future instant); unset, as in
production, a window can only be lengthened.
"""

from __future__ import annotations

import base64
import binascii
import os
import socket
from datetime import timedelta

from marshmallow import ValidationError
from nameko.timer import timer

from services.common.rpc import rpc

from services.contracts.applications_events import EVENTS as APPLICATION_EVENTS
from services.common.messaging import handles
from services.common.providers import ChuyiService, MongoStore
from services.common.actor import audit_name
from services.common.replies import created, idempotent, ok, replying, require_role
from services.common.clock import utcnow
from services.contracts import review_api
from services.review import schemas
from services.contracts.review import OBJECTORS
from services.review.domain.guides import GUIDES
from services.review.store import ReviewStore
from services.review.usecases import assignment, candidates, experts, jobs, reviews, selection
from services.review.usecases import panels as panel_cases
from services.contracts.funding_events import EVENTS as FUNDING_EVENTS

ALLOW_SHORT_NOTICE = "CHUYI_ALLOW_SHORT_NOTICE"
# How often the service looks for rectification deadlines that have passed.
RECTIFY_CHECK_S = float(os.environ.get("RECTIFY_CHECK_S", "60"))
# A call of more open applications than this is assigned by a job in the background.
ASSIGN_INLINE_MAX_APPLICATIONS = int(os.environ.get("ASSIGN_INLINE_MAX_APPLICATIONS", "20000"))
# How often a replica looks for an assignment job to run; how long a job's claim stands without
# a progress write (one phase of a national solve may take minutes) before another replica
# takes the job over.
ASSIGN_JOB_POLL_S = float(os.environ.get("ASSIGN_JOB_POLL_S", "2"))
ASSIGN_JOB_STALE_S = float(os.environ.get("ASSIGN_JOB_STALE_S", "900"))
# "off": this service's replicas leave assignment jobs to the job runner (`AssignmentJobRunner`),
# a deployment of its own sized for a national solve (gigabytes, minutes of a core).
ASSIGN_JOBS = os.environ.get("ASSIGN_JOBS", "on")
JOB_HOLDER = f"{socket.gethostname()}:{os.getpid()}"
# Every entrypoint answers by the reply contract, the domain's refusals as problems; a state
# machine's refusal is explained by its guide (domain/guides.py).
answering = replying(GUIDES)


class ReviewService(ChuyiService):
    name = "review"
    store = MongoStore(ReviewStore)

    # ------------------------------------------------------------ experts

    @rpc
    @answering
    @idempotent
    def create_expert(self, actor, expert):
        require_role(actor, ("province",))
        data = review_api.ExpertIn().load(expert)
        return lambda: created(review_api.ExpertOut().dump(experts.add_expert(self.store, data, audit_name(actor))))

    @rpc
    @answering
    @idempotent
    def import_experts(self, actor, filename, content_b64):
        require_role(actor, ("province",))
        schemas.UploadIn().load({"filename": filename, "content_b64": content_b64})
        try:
            content = base64.b64decode(content_b64, validate=True)
        except binascii.Error:
            raise ValidationError({"file": ["Not valid base64."]}) from None
        return lambda: created(
            review_api.ExpertImportOut().dump(experts.import_experts(self.store, filename, content, audit_name(actor)))
        )

    @rpc
    @answering
    def list_experts(self, actor, **query):
        require_role(actor, ("province",))
        query = schemas.ExpertListIn().load(query)
        limit, cursor = query.pop("limit"), query.pop("cursor", None)
        filters = {{"category": "categories", "field": "fields"}.get(k, k): v for k, v in query.items()}
        items, next_cursor = self.store.page("experts", filters, limit, cursor)
        return ok(review_api.ExpertPageOut().dump({"items": items, "next_cursor": next_cursor}))

    # ------------------------------------------------------------ assignment

    @rpc
    @answering
    @idempotent
    def run_assignment(self, actor, call_id, run=None):
        require_role(actor, ("province",))
        data = review_api.AssignmentRunIn().load(run or {})

        def command():
            kind, body = jobs.request_run(
                self.store,
                call_id,
                data.get("review_deadline"),
                data["background"],
                audit_name(actor),
                utcnow(),
                ASSIGN_INLINE_MAX_APPLICATIONS,
            )
            if kind == "job":
                return ok(review_api.AssignmentJobOut().dump(body), 202)
            return created(review_api.AssignmentRunOut().dump(body))

        return command

    @rpc
    @answering
    def get_assignment_job(self, actor, job_id):
        require_role(actor, ("province",))
        return ok(review_api.AssignmentJobOut().dump(jobs.get_job(self.store, job_id)))

    @timer(interval=ASSIGN_JOB_POLL_S)
    def run_assignment_jobs(self):
        """Claim and run one assignment job, if any is waiting, unless ASSIGN_JOBS is off (the
        job runner's deployment runs them). The solve runs in a native thread
        (`services.common.compute.off_the_loop`), so this replica goes on answering requests
        and events meanwhile."""
        if ASSIGN_JOBS != "off":
            _run_next_job(self.store)

    @rpc
    @answering
    def list_assignments(self, actor, **query):
        require_role(actor, ("province", "expert"))
        query = schemas.AssignmentListIn().load(query)
        limit, cursor = query.pop("limit"), query.pop("cursor", None)
        if actor["role"] == "expert":
            query["expert_id"] = actor["expert_id"]
        items, next_cursor = self.store.page("assignments", query, limit, cursor)
        return ok(review_api.AssignmentPageOut().dump({"items": items, "next_cursor": next_cursor}))

    @rpc
    @answering
    @idempotent
    def decline_assignment(self, actor, assignment_id, decline):
        require_role(actor, ("expert",))
        reason = review_api.AssignmentDeclineIn().load(decline)["reason"]
        mine = assignment.own_assignment(self.store, actor, assignment_id)  # another expert's is 404, before the key
        return lambda: ok(
            review_api.AssignmentDeclineOut().dump(
                assignment.decline_assignment(self.store, mine, reason, audit_name(actor), utcnow())
            )
        )

    # ------------------------------------------------------------ reviews

    @rpc
    @answering
    def put_review(self, actor, assignment_id, review):
        require_role(actor, ("expert",))
        sheet = review_api.ReviewIn().load(review)
        return ok(
            review_api.ReviewOut().dump(
                reviews.put_review(self.store, actor, assignment_id, sheet, audit_name(actor), utcnow())
            )
        )

    @rpc
    @answering
    def get_review(self, actor, assignment_id):
        require_role(actor, ("expert", "province"))
        return ok(review_api.ReviewOut().dump(reviews.get_review(self.store, actor, assignment_id, utcnow())))

    # ------------------------------------------------------------ ranking

    @rpc
    @answering
    def get_ranking(self, actor, call_id):
        require_role(actor, ("province",))
        return ok(review_api.RankingOut().dump(selection.get_ranking(self.store, call_id)))

    @rpc
    @answering
    @idempotent
    def publish_ranking(self, actor, call_id):
        require_role(actor, ("province",))
        return lambda: ok(
            review_api.RankingOut().dump(selection.publish_ranking(self.store, call_id, audit_name(actor), utcnow()))
        )

    # ------------------------------------------------------------ notice and selection

    @rpc
    @answering
    @idempotent
    def publish_notice(self, actor, call_id, notice=None):
        require_role(actor, ("province",))
        terms = review_api.NoticeIn().load(notice or {})
        allow_short_window = os.environ.get(ALLOW_SHORT_NOTICE) == "1"

        def command():
            body = selection.publish_notice(
                self.store, call_id, terms, audit_name(actor), utcnow(), allow_short_window=allow_short_window
            )
            return created({"id": body["call_id"], **review_api.NoticeOut().dump(body)})

        return command

    @rpc
    @answering
    def get_notice(self, call_id, actor=None):
        return ok(review_api.NoticeOut().dump(selection.get_notice(self.store, call_id, utcnow())))

    @rpc
    @answering
    @idempotent
    def file_objection(self, actor, call_id, objection):
        require_role(actor, OBJECTORS)
        data = review_api.ObjectionIn().load(objection)
        return lambda: created(
            review_api.ObjectionOut().dump(
                selection.file_objection(self.store, call_id, data, actor, audit_name(actor), utcnow())
            )
        )

    @rpc
    @answering
    @idempotent
    def resolve_objection(self, actor, objection_id, resolution):
        require_role(actor, ("province",))
        data = review_api.ResolveIn().load(resolution)
        return lambda: ok(
            review_api.ObjectionOut().dump(
                selection.resolve_objection(self.store, objection_id, data, audit_name(actor), utcnow())
            )
        )

    @rpc
    @answering
    @idempotent
    def finalize_selection(self, actor, call_id):
        require_role(actor, ("province",))
        return lambda: ok(
            review_api.SelectionOut().dump(
                selection.finalize_selection(self.store, call_id, audit_name(actor), utcnow())
            )
        )

    # ------------------------------------------------------------ panels (mid-term review, acceptance)

    @rpc
    @answering
    @idempotent
    def open_panel(self, actor, panel):
        require_role(actor, ("province",))
        data = review_api.PanelIn().load(panel)
        return lambda: created(
            review_api.PanelOut().dump(panel_cases.open_panel(self.store, data, audit_name(actor), utcnow()))
        )

    @rpc
    @answering
    def list_panels(self, actor, **query):
        require_role(actor, ("province",))
        query = schemas.PanelListIn().load(query)
        limit, cursor = query.pop("limit"), query.pop("cursor", None)
        items, next_cursor = self.store.page("panels", query, limit, cursor)
        items = [panel_cases.with_rule(p) for p in items]
        return ok(review_api.PanelPageOut().dump({"items": items, "next_cursor": next_cursor}))

    @rpc
    @answering
    def get_panel(self, actor, panel_id):
        require_role(actor, ("province",))
        return ok(review_api.PanelOut().dump(panel_cases.get_panel(self.store, panel_id)))

    @rpc
    @answering
    @idempotent
    def assign_panel(self, actor, panel_id):
        require_role(actor, ("province",))
        return lambda: created(
            review_api.PanelRunOut().dump(panel_cases.assign_panel(self.store, panel_id, audit_name(actor), utcnow()))
        )

    @rpc
    @answering
    def list_panel_assignments(self, actor, **query):
        require_role(actor, ("province", "expert"))
        query = schemas.PanelAssignmentListIn().load(query)
        limit, cursor = query.pop("limit"), query.pop("cursor", None)
        if actor["role"] == "expert":
            query["expert_id"] = actor["expert_id"]
        items, next_cursor = self.store.page("panel_assignments", query, limit, cursor)
        return ok(review_api.PanelAssignmentPageOut().dump({"items": items, "next_cursor": next_cursor}))

    @rpc
    @answering
    def put_panel_review(self, actor, assignment_id, review):
        require_role(actor, ("expert",))
        sheet = review_api.ReviewIn().load(review)
        return ok(
            review_api.PanelAssignmentOut().dump(
                panel_cases.put_panel_review(self.store, actor, assignment_id, sheet, audit_name(actor), utcnow())
            )
        )

    @rpc
    @answering
    @idempotent
    def decline_panel_assignment(self, actor, assignment_id, decline):
        require_role(actor, ("expert",))
        reason = review_api.AssignmentDeclineIn().load(decline)["reason"]
        return lambda: ok(
            review_api.PanelDeclineOut().dump(
                panel_cases.decline_panel_assignment(
                    self.store, actor, assignment_id, reason, audit_name(actor), utcnow()
                )
            )
        )

    @rpc
    @answering
    @idempotent
    def propose_panel(self, actor, panel_id):
        require_role(actor, ("province",))
        return lambda: ok(
            review_api.PanelOut().dump(panel_cases.propose_results(self.store, panel_id, audit_name(actor), utcnow()))
        )

    @rpc
    @answering
    @idempotent
    def confirm_panel_result(self, actor, panel_id, project_id, confirmation=None):
        require_role(actor, ("province",))
        data = review_api.PanelConfirmIn().load(confirmation or {})
        return lambda: ok(
            review_api.PanelResultOut().dump(
                panel_cases.confirm_result(self.store, panel_id, project_id, data, audit_name(actor), utcnow())
            )
        )

    @timer(interval=RECTIFY_CHECK_S)
    def tell_rectifications_due(self):
        panel_cases.tell_rectifications_due(self.store, utcnow())

    @handles("applications", "project_established")
    def project_established(self, event):
        panel_cases.project_established(self.store, APPLICATION_EVENTS["project_established"].load(event.data))

    @handles("funding", "project_failed")
    def project_failed(self, event):
        panel_cases.project_failed(self.store, FUNDING_EVENTS["project_failed"].load(event.data))

    @handles("funding", "tranche_released")
    def tranche_released(self, event):
        panel_cases.tranche_released(self.store, FUNDING_EVENTS["tranche_released"].load(event.data))

    @handles("funding", "project_withdrawn")
    def project_withdrawn(self, event):
        panel_cases.project_withdrawn(self.store, FUNDING_EVENTS["project_withdrawn"].load(event.data))

    # ------------------------------------------------------------ events from applications

    @handles("applications", "call_opened")
    def call_opened(self, event):
        candidates.call_opened(self.store, APPLICATION_EVENTS["call_opened"].load(event.data))

    @handles("applications", "call_closed")
    def call_closed(self, event):
        candidates.call_closed(self.store, APPLICATION_EVENTS["call_closed"].load(event.data))

    @handles("applications", "application_submitted")
    def application_submitted(self, event):
        candidates.application_submitted(self.store, APPLICATION_EVENTS["application_submitted"].load(event.data))

    @handles("applications", "eligibility_checked")
    def eligibility_checked(self, event):
        candidates.eligibility_checked(self.store, APPLICATION_EVENTS["eligibility_checked"].load(event.data), utcnow())

    @handles("applications", "application_withdrawn")
    def application_withdrawn(self, event):
        candidates.application_withdrawn(
            self.store, APPLICATION_EVENTS["application_withdrawn"].load(event.data), utcnow()
        )


def _run_next_job(store: ReviewStore) -> None:
    """Claim and run one assignment job (`jobs.run_next_job`); its progress writes are the claim's heartbeat."""
    jobs.run_next_job(store, JOB_HOLDER, utcnow, timedelta(seconds=ASSIGN_JOB_STALE_S))


class AssignmentJobRunner(ChuyiService):
    """Review's assignment jobs, and nothing else: `python -m chuyi serve review-jobs`. A
    deployment of its own, with the memory and CPU of a national solve, while the review
    service's replicas (ASSIGN_JOBS=off) keep answering requests within their small limits.
    It works on review's database and relays review's outbox."""

    name = "review_jobs"
    store = MongoStore(ReviewStore, owner="review")

    @timer(interval=ASSIGN_JOB_POLL_S)
    def run_assignment_jobs(self):
        _run_next_job(self.store)
