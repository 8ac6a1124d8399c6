"""The applications service's nameko entrypoints: the catalogue, institutions, calls,
applications, recommendation and eligibility; the timer that opens and closes calls; and
review's progress, followed from its events.

Eligibility workflow: submitting runs the automatic rules and stores their findings on
the application (shown with it) without deciding anything; the recommending authority
recommends or declines; the province then confirms the findings or overrides them with a
reason, and only that decision emits `eligibility_checked` (eligible or not). Review so
receives only applications a person has recommended and checked, each once.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from urllib.parse import quote

from services.common.rpc import rpc
from nameko.timer import timer
from nameko.web.handlers import http
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from services.applications.domain.messages import Bilingual
from services.applications.domain.access import INSTITUTION_ROLE, PROVINCE_ROLE
from services.contracts.reference import ACTION_YEARS
from services.applications.domain.guides import GUIDES
from services.applications.domain.materials import ANNUAL_REPORT, APPLICATION, Owner
from services.common.actor import Actor
from services.applications.domain.recommendation import HRSS_ROLE, PREFECTURE_ROLE
from services.applications.schemas import import_institutions
from services.contracts.applications_api import (
    AnnualReportDraftIn,
    AnnualReportFileIn,
    AnnualReportIn,
    AnnualReportOut,
    AnnualReportPageOut,
    AnnualReportQuery,
    DeadlineExtensionIn,
    OverdueOut,
    ReportWindowIn,
    ReportWindowListOut,
    ReportWindowOut,
    ApplicationIn,
    ApplicationOut,
    ApplicationPageOut,
    ApplicationPatch,
    ApplicationQuery,
    CallIn,
    CallOut,
    CallPageOut,
    CallQuery,
    DecisionIn,
    DeclineIn,
    EligibilityOverrideIn,
    ExtensionIn,
    ImportReportOut,
    InstitutionIn,
    InstitutionOut,
    InstitutionPageOut,
    InstitutionQuery,
    MaterialListOut,
    MaterialOut,
    ProgrammeListOut,
    ProjectOut,
    ProjectPageOut,
    ProjectQuery,
    SupervisionWeightsIn,
    SupervisionWeightsOut,
)
from services.applications.usecases import applications as application_cases
from services.applications.usecases import calls as call_cases
from services.applications.usecases import catalogue as catalogue_cases
from services.applications.usecases import institutions as institution_cases
from services.applications.usecases import projects as project_cases
from services.applications.usecases import reports as report_cases
from services.applications.usecases import selection as selection_cases
from services.applications.usecases import supervision as supervision_cases
from services.common.errors import DomainError
from services.common.messaging import handles
from services.common.providers import ChuyiService, MongoStore
from services.common.replies import (
    Refused,
    bilingual,
    created,
    idempotent,
    ok,
    problem,
    refusal_problem,
    replying,
    require_role,
)
from services.common.signed_actor import HEADER as ACTOR_HEADER
from services.common.signed_actor import BadSignature, internal_secret, verify
from services.common.clock import utcnow
from services.contracts.funding_events import EVENTS as FUNDING_EVENTS
from services.contracts.review_events import EVENTS as REVIEW_EVENTS

from .store import ApplicationsStore, as_answer
from .usecases import materials

CALL_TIMER_INTERVAL_S = float(os.environ.get("CALL_TIMER_INTERVAL_S", "1.0"))
REPORT_REMINDER_CHECK_S = float(os.environ.get("REPORT_REMINDER_CHECK_S", "60"))
ORPHAN_SWEEP_S = float(os.environ.get("MATERIALS_ORPHAN_SWEEP_S", "3600"))
log = logging.getLogger(__name__)
PROVINCE, INSTITUTION, RECOMMENDERS = (PROVINCE_ROLE,), (INSTITUTION_ROLE,), (PREFECTURE_ROLE, HRSS_ROLE)
SUPERVISORS = (PROVINCE_ROLE, PREFECTURE_ROLE)

LIMITS = materials.limits_from_env()
INTERNAL_SECRET = internal_secret()


# Every entrypoint answers by the reply contract, the domain's refusals as problems.
answering = replying(GUIDES)
# One instance for every reply: building the schema and its nested ones costs several dumps, and a
# marshmallow 4 schema keeps no state between calls.
APPLICATION_OUT = ApplicationOut()


def _import_errors(result) -> dict[str, list[str]]:
    """The row-by-row report as field errors: `rows.<row>.<field or column>`, or `file`."""
    errors: dict[str, list[str]] = {}
    for error in result.errors:
        key = "file" if error.row is None else f"rows.{error.row}.{error.field or error.column or 'row'}"
        errors.setdefault(key, []).append(bilingual(error.message))
    return errors


def _page(schema, items_and_cursor) -> dict:
    items, next_cursor = items_and_cursor
    return ok(schema.dump({"items": items, "next_cursor": next_cursor}))


def _query(schema, query: dict) -> dict:
    loaded = schema.load({key: value for key, value in query.items() if value is not None})
    return {"limit": loaded.pop("limit"), "cursor": loaded.pop("cursor", None), **loaded}


class ApplicationsService(ChuyiService):
    name = "applications"
    store = MongoStore(ApplicationsStore)

    # ------------------------------------------------------------ catalogue

    @rpc
    @answering
    def list_programmes(self, actor):
        return ok(ProgrammeListOut().dump({"items": catalogue_cases.programmes(self.store)}))

    # ------------------------------------------------------------ institutions

    @rpc
    @answering
    @idempotent
    def create_institution(self, actor, institution):
        data = InstitutionIn().load(institution)
        who = require_role(actor, PROVINCE)
        return lambda: created(InstitutionOut().dump(institution_cases.register(self.store, data, who, utcnow())))

    @rpc
    @answering
    @idempotent
    def import_institutions(self, actor, filename, content_b64):
        try:
            content = base64.b64decode(content_b64, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(422, "The file is not base64.", errors={"file": ["not base64"]}) from None
        who = require_role(actor, PROVINCE)

        def command():
            result = import_institutions(content, self.store.credit_codes())
            if not result.ok:
                return problem(
                    422,
                    f"The file was refused with {len(result.errors)} error(s); nothing was imported.",
                    errors=_import_errors(result),
                    type="import-rejected",
                )
            ids = institution_cases.register_all(self.store, result.institutions, who, utcnow())
            return created(ImportReportOut().dump({**result.report(), "institution_ids": ids}))

        return command

    @rpc
    @answering
    def get_institution(self, actor, institution_id):
        return ok(InstitutionOut().dump(self.store.institution(institution_id, Actor.from_claims(actor))))

    @rpc
    @answering
    def list_institutions(self, actor, **query):
        return _page(
            InstitutionPageOut(),
            self.store.institutions_page(Actor.from_claims(actor), **_query(InstitutionQuery(), query)),
        )

    # ------------------------------------------------------------ calls

    @rpc
    @answering
    @idempotent
    def create_call(self, actor, call):
        data = CallIn().load(call)
        who = require_role(actor, PROVINCE)
        return lambda: created(CallOut().dump(call_cases.create(self.store, data, who, utcnow())))

    @rpc
    @answering
    @idempotent
    def open_call(self, actor, call_id):
        who = require_role(actor, PROVINCE)
        return lambda: ok(CallOut().dump(call_cases.open_early(self.store, call_id, who, utcnow())))

    @rpc
    @answering
    def get_call(self, actor, call_id):
        return ok(CallOut().dump(self.store.call(call_id, Actor.from_claims(actor))))

    @rpc
    @answering
    def list_calls(self, actor, **query):
        return _page(CallPageOut(), self.store.calls_page(Actor.from_claims(actor), **_query(CallQuery(), query)))

    @rpc
    @answering
    def close_call_early(self, actor, call_id, decision):
        reason = DecisionIn().load(decision).get("reason")
        return ok(
            CallOut().dump(call_cases.close_early(self.store, call_id, require_role(actor, PROVINCE), reason, utcnow()))
        )

    @rpc
    @answering
    def extend_call(self, actor, call_id, extension):
        data = ExtensionIn().load(extension)
        return ok(
            CallOut().dump(
                call_cases.extend(
                    self.store, call_id, require_role(actor, PROVINCE), data["closes_at"], data.get("reason"), utcnow()
                )
            )
        )

    @rpc
    @answering
    def cancel_call(self, actor, call_id, decision):
        reason = DeclineIn().load(decision)["reason"]
        return ok(
            CallOut().dump(call_cases.cancel(self.store, call_id, require_role(actor, PROVINCE), reason, utcnow()))
        )

    @timer(interval=CALL_TIMER_INTERVAL_S)
    def open_and_close_calls(self):
        call_cases.advance_due(self.store, utcnow())

    # ------------------------------------------------------------ applications

    @rpc
    @answering
    @idempotent
    def create_application(self, actor, application):
        data = ApplicationIn().load(application)
        who = require_role(actor, INSTITUTION)
        return lambda: created(APPLICATION_OUT.dump(application_cases.open_draft(self.store, data, who, utcnow())))

    @rpc
    @answering
    def update_application(self, actor, application_id, changes):
        data = ApplicationPatch().load(changes)
        return ok(
            APPLICATION_OUT.dump(
                application_cases.update_draft(
                    self.store, application_id, data, require_role(actor, INSTITUTION), utcnow()
                )
            )
        )

    @rpc
    @answering
    @idempotent
    def submit_application(self, actor, application_id):
        who = require_role(actor, INSTITUTION)
        return lambda: ok(APPLICATION_OUT.dump(application_cases.submit(self.store, application_id, who, utcnow())))

    @rpc
    @answering
    @idempotent
    def withdraw_application(self, actor, application_id, decision):
        reason = DecisionIn().load(decision).get("reason")
        who = require_role(actor, INSTITUTION)
        return lambda: ok(
            APPLICATION_OUT.dump(application_cases.withdraw(self.store, application_id, who, reason, utcnow()))
        )

    @rpc
    @answering
    @idempotent
    def recommend_application(self, actor, application_id, decision):
        reason = DecisionIn().load(decision).get("reason")
        who = require_role(actor, RECOMMENDERS)
        return lambda: ok(
            APPLICATION_OUT.dump(application_cases.recommend(self.store, application_id, who, reason, utcnow()))
        )

    @rpc
    @answering
    @idempotent
    def decline_application(self, actor, application_id, decision):
        reason = DeclineIn().load(decision)["reason"]
        who = require_role(actor, RECOMMENDERS)
        return lambda: ok(
            APPLICATION_OUT.dump(application_cases.decline(self.store, application_id, who, reason, utcnow()))
        )

    @rpc
    @answering
    @idempotent
    def decide_eligibility(self, actor, application_id, decision):
        data = EligibilityOverrideIn().load(decision)
        who = require_role(actor, PROVINCE)
        return lambda: ok(
            APPLICATION_OUT.dump(
                application_cases.decide_eligibility(
                    self.store, application_id, who, data["eligible"], data.get("reason"), utcnow()
                )
            )
        )

    @rpc
    @answering
    def get_application(self, actor, application_id):
        return ok(APPLICATION_OUT.dump(application_cases.show(self.store, application_id, Actor.from_claims(actor))))

    @rpc
    @answering
    def list_applications(self, actor, **query):
        return _page(
            ApplicationPageOut(),
            self.store.applications_page(Actor.from_claims(actor), **_query(ApplicationQuery(), query)),
        )

    # ------------------------------------------------------------ materials
    # The bytes come and go over the internal HTTP entrypoints, streamed, never over the bus;
    # the gateway has checked the token and role and signs the actor into ACTOR_HEADER.

    @http("POST", "/internal/applications/<application_id>/materials")
    def file_material(self, request: Request, application_id):
        return _upload(self.store, request, Owner(APPLICATION, application_id), "")

    @http("GET", "/internal/applications/<application_id>/materials/<material_id>")
    def read_material(self, request: Request, application_id, material_id):
        return _download(self.store, request, Owner(APPLICATION, application_id), material_id)

    @http("POST", "/internal/annual-reports/<report_id>/materials")
    def file_report_material(self, request: Request, report_id):
        return _upload(self.store, request, Owner(ANNUAL_REPORT, report_id), "evidence")

    @http("GET", "/internal/annual-reports/<report_id>/materials/<material_id>")
    def read_report_material(self, request: Request, report_id, material_id):
        return _download(self.store, request, Owner(ANNUAL_REPORT, report_id), material_id)

    @timer(interval=ORPHAN_SWEEP_S)
    def sweep_orphan_blobs(self):
        swept = materials.sweep_orphans(self.store, utcnow())
        if swept:
            log.info("materials: swept %d blob(s) left by uploads that died", swept)

    @rpc
    @answering
    def list_materials(self, actor, application_id):
        return self._list_materials(actor, Owner(APPLICATION, application_id))

    @rpc
    @answering
    def remove_material(self, actor, application_id, material_id):
        return self._remove_material(actor, Owner(APPLICATION, application_id), material_id)

    @rpc
    @answering
    def list_report_materials(self, actor, report_id):
        return self._list_materials(actor, Owner(ANNUAL_REPORT, report_id))

    @rpc
    @answering
    def remove_report_material(self, actor, report_id, material_id):
        return self._remove_material(actor, Owner(ANNUAL_REPORT, report_id), material_id)

    def _list_materials(self, actor, owner: Owner):
        items = materials.list_materials(self.store, Actor.from_claims(actor), owner, utcnow())
        return ok(MaterialListOut().dump({"items": items}))

    def _remove_material(self, actor, owner: Owner, material_id):
        materials.remove_material(self.store, require_role(actor, INSTITUTION), owner, material_id, utcnow())
        return ok({})

    # ------------------------------------------------------------ review's progress

    @handles("review", "experts_assigned")
    def experts_assigned(self, event):
        data = REVIEW_EVENTS["experts_assigned"].load(event.data)
        selection_cases.experts_assigned(self.store, data, utcnow(), _because(event))

    @handles("review", "assignment_declined")
    def assignment_declined(self, event):
        data = REVIEW_EVENTS["assignment_declined"].load(event.data)
        selection_cases.assignment_declined(self.store, data)

    @handles("review", "notice_published")
    def notice_published(self, event):
        data = REVIEW_EVENTS["notice_published"].load(event.data)
        selection_cases.notice_published(self.store, data["call_id"], utcnow(), _because(event))

    @handles("review", "selection_finalized")
    def selection_finalized(self, event):
        data = REVIEW_EVENTS["selection_finalized"].load(event.data)
        selection_cases.selection_finalized(self.store, data, utcnow(), _because(event))

    # ------------------------------------------------------------ projects

    @rpc
    @answering
    def get_project(self, actor, project_id):
        return ok(ProjectOut().dump(self.store.project(project_id, Actor.from_claims(actor))))

    @rpc
    @answering
    def list_projects(self, actor, **query):
        return _page(
            ProjectPageOut(), self.store.projects_page(Actor.from_claims(actor), **_query(ProjectQuery(), query))
        )

    @rpc
    @answering
    @idempotent
    def give_place_to_reserve(self, actor, project_id):
        province = require_role(actor, PROVINCE)

        def command():
            successor = project_cases.give_place_to_reserve(self.store, project_id, province, utcnow())
            return created(ProjectOut().dump(self.store.project(successor["_id"], province)))

        return command

    @handles("funding", "funds_allocated")
    def funds_allocated(self, event):
        data = FUNDING_EVENTS["funds_allocated"].load(event.data)
        project_cases.funds_allocated(self.store, data, utcnow(), _because(event))

    @handles("funding", "project_failed", "project_withdrawn")
    def project_left(self, event):
        project_cases.project_left(self.store, event.name, FUNDING_EVENTS[event.name].load(event.data), utcnow())

    @handles("funding", "tranche_released", "tranche_withheld")
    def tranche_moved(self, event):
        data = FUNDING_EVENTS[event.name].load(event.data)
        project_cases.tranche_moved(self.store, event.name, data, utcnow())

    # ------------------------------------------------------------ annual progress reports

    @rpc
    @answering
    @idempotent
    def open_report_window(self, actor, window):
        data = ReportWindowIn().load(window)
        who = require_role(actor, PROVINCE)
        return lambda: created(
            ReportWindowOut().dump(as_answer(report_cases.open_window(self.store, data, who, utcnow())))
        )

    @rpc
    @answering
    def list_report_windows(self, actor):
        return ok(ReportWindowListOut().dump({"items": [as_answer(w) for w in self.store.report_windows()]}))

    @rpc
    @answering
    def get_report_window(self, actor, window_id):
        return ok(ReportWindowOut().dump(as_answer(self.store.report_window(window_id))))

    @rpc
    @answering
    def extend_report_window(self, actor, window_id, extension):
        data = DeadlineExtensionIn().load(extension)
        return ok(
            ReportWindowOut().dump(
                as_answer(
                    report_cases.extend_window(
                        self.store,
                        window_id,
                        require_role(actor, PROVINCE),
                        data["due_at"],
                        data.get("reason"),
                        utcnow(),
                    )
                )
            )
        )

    @rpc
    @answering
    def overdue_reports(self, actor, window_id):
        return ok(
            OverdueOut().dump(
                report_cases.list_overdue(self.store, require_role(actor, SUPERVISORS), window_id, utcnow())
            )
        )

    @rpc
    @answering
    @idempotent
    def start_annual_report(self, actor, project_id, report):
        year = AnnualReportDraftIn().load(report)["year"]
        who = require_role(actor, INSTITUTION)
        return lambda: created(
            AnnualReportOut().dump(as_answer(report_cases.start_report(self.store, who, project_id, year, utcnow())))
        )

    @rpc
    @answering
    @idempotent
    def file_annual_report(self, actor, project_id, report):
        data = AnnualReportFileIn().load(report)
        who = require_role(actor, INSTITUTION)
        return lambda: created(
            AnnualReportOut().dump(as_answer(report_cases.file_report(self.store, who, project_id, data, utcnow())))
        )

    @rpc
    @answering
    @idempotent
    def refile_annual_report(self, actor, report_id, report):
        data = AnnualReportIn().load(report)
        who = require_role(actor, INSTITUTION)
        return lambda: ok(
            AnnualReportOut().dump(as_answer(report_cases.refile_report(self.store, who, report_id, data, utcnow())))
        )

    def _decide_report(self, actor, roles, report_id, event, reason):
        who = require_role(actor, roles)
        return lambda: ok(
            AnnualReportOut().dump(as_answer(report_cases.decide(self.store, who, report_id, event, reason, utcnow())))
        )

    @rpc
    @answering
    @idempotent
    def endorse_annual_report(self, actor, report_id, decision):
        reason = DecisionIn().load(decision).get("reason")
        return self._decide_report(actor, RECOMMENDERS, report_id, "endorse", reason)

    @rpc
    @answering
    @idempotent
    def return_annual_report(self, actor, report_id, decision):
        reason = DeclineIn().load(decision)["reason"]
        return self._decide_report(actor, RECOMMENDERS + PROVINCE, report_id, "return", reason)

    @rpc
    @answering
    @idempotent
    def accept_annual_report(self, actor, report_id, decision):
        reason = DecisionIn().load(decision).get("reason")
        return self._decide_report(actor, PROVINCE, report_id, "accept", reason)

    @rpc
    @answering
    def get_annual_report(self, actor, report_id):
        return ok(AnnualReportOut().dump(as_answer(self.store.annual_report(report_id, Actor.from_claims(actor)))))

    @rpc
    @answering
    def list_annual_reports(self, actor, **query):
        return _page(
            AnnualReportPageOut(),
            self.store.reports_page(Actor.from_claims(actor), **_query(AnnualReportQuery(), query)),
        )

    @timer(interval=REPORT_REMINDER_CHECK_S)
    def remind_reports(self):
        """Reminders before a deadline; after it, each bureau told of its missing reports."""
        at = utcnow()
        report_cases.remind(self.store, at)
        report_cases.announce_missing(self.store, at)

    # ------------------------------------------------------------ supervision

    @rpc
    @answering
    def progress_report(self, actor):
        """Quotas and approved applications per category and prefecture: every prefecture for
        the province, its own for a prefecture bureau."""
        return ok(self.store.progress(require_role(actor, SUPERVISORS)))

    @rpc
    @answering
    def supervision_facts(self, actor, year):
        """The register's and the projects' facts per prefecture for the year's supervision:
        every prefecture for the province, its own for a prefecture bureau."""
        return ok(supervision_cases.facts(self.store, require_role(actor, SUPERVISORS), _action_year(year), utcnow()))

    @rpc
    @answering
    def set_supervision_weights(self, actor, rubric):
        data = SupervisionWeightsIn().load(rubric)
        who = require_role(actor, PROVINCE)
        return ok(
            SupervisionWeightsOut().dump(
                supervision_cases.set_weights(self.store, data["year"], data["weights"], who, utcnow())
            )
        )


def _action_year(year) -> int:
    if not (isinstance(year, int) and not isinstance(year, bool) and year in ACTION_YEARS):
        first, last = ACTION_YEARS[0], ACTION_YEARS[-1]
        rule = bilingual(
            Bilingual(f"Must be one of the action's years {first}-{last}.", f"应为{first}至{last}年之一。")
        )
        raise Refused(422, rule, errors={"year": [rule]})
    return year


def _because(event) -> str:
    """The audit reason of a move that follows another service's event."""
    return f"{event.type} {event.id}"


def content_disposition(filename: str) -> str:
    """An attachment named for every client: an ASCII fallback and the UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _upload(store, request: Request, owner: Owner, default_kind: str) -> Response:
    """Files the request's body with `owner`, streamed; the kind and name are in the query."""

    def upload(actor):
        body = request.environ["wsgi.input"]  # eventlet's input: reads a chunked body too
        try:
            material = materials.file_material(
                store,
                actor,
                owner,
                request.args.get("kind") or default_kind,
                request.args.get("filename", ""),
                body,
                LIMITS,
                utcnow(),
            )
        except DomainError:  # Refused among them
            for _ in materials.chunks(body):  # read the rest, so the sender sees the answer
                pass
            raise
        return _json(201, MaterialOut().dump(material))

    return _over_http(request, upload, INSTITUTION)


def _download(store, request: Request, owner: Owner, material_id: str) -> Response:
    """The material as a download: its name, ETag and Range answers."""

    def download(actor):
        found = materials.open_material(store, actor, owner, material_id, utcnow())
        response = Response(
            wrap_file(request.environ, found.stream), direct_passthrough=True, mimetype=found.material["media_type"]
        )
        response.headers["Content-Disposition"] = content_disposition(found.material["filename"])
        response.headers["Cache-Control"] = "private, no-store" if found.etag is None else "private"
        if found.etag:
            response.set_etag(found.etag)
        response.content_length = found.size
        try:
            return response.make_conditional(request, accept_ranges=True, complete_length=found.size)
        except RequestedRangeNotSatisfiable:
            response.close()
            answer = problem(
                416,
                bilingual(
                    Bilingual(
                        f"The Range header must ask for one range within the file's {found.size} bytes "
                        f"(bytes=first-last, bytes=first- or bytes=-count).",
                        f"Range 请求头须为文件 {found.size} 字节之内的一个范围（bytes=起-止、bytes=起- 或 bytes=-末尾字节数）",
                    )
                ),
                type="urn:chuyi:problem:range-not-satisfiable",
            )
            refused = _json(416, {**answer["problem"], "status": 416})
            refused.headers["Content-Range"] = f"bytes */{found.size}"
            refused.mimetype = "application/problem+json"
            return refused

    return _over_http(request, download, None)


def _json(status: int, body) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def _over_http(request: Request, handle, roles: tuple[str, ...] | None) -> Response:
    """Runs an internal HTTP entrypoint for the actor the gateway signed, with refusals as problems."""
    try:
        try:
            claims = verify(request.headers.get(ACTOR_HEADER), INTERNAL_SECRET)
        except BadSignature as exc:
            raise Refused(401, f"The internal actor header is not valid: {exc}.") from None
        actor = require_role(claims, roles) if roles else Actor.from_claims(claims)
        return handle(actor)
    except Exception as exc:
        answer = refusal_problem(exc, GUIDES)
        if answer is None:
            raise
    return _json(answer["status"], answer["problem"])
