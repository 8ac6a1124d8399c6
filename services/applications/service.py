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
import functools
import os

from nameko.rpc import rpc
from nameko.timer import timer

from services.applications.domain.messages import (
    ApplicationLimitReached,
    Bilingual,
    CallNotOpen,
    DecisionReasonRequired,
    DecisionsClosed,
    DomainError,
    DuplicateCreditCode,
    FieldsRefused,
    NotEditable,
    NotFound,
    NotRecommender,
    NotRegistered,
    QuotaExceeded,
    RecommendationCapReached,
    WindowClosed,
)
from services.applications.domain.access import INSTITUTION_ROLE, PROVINCE_ROLE
from services.applications.domain.recommendation import HRSS_ROLE, PREFECTURE_ROLE, Actor
from services.applications.schemas import (
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
    ImportReportOut,
    InstitutionIn,
    InstitutionOut,
    InstitutionPageOut,
    InstitutionQuery,
    ProgrammeListOut,
    import_institutions,
)
from services.common.messaging import handles
from services.common.providers import ChuyiService, MongoStore
from services.common.replies import Refused, bilingual, created, idempotent, ok, problem, replying
from services.common.statemachine import ReasonRequired, TransitionNotAllowed
from services.common.store import utcnow
from services.review.events import EVENTS as REVIEW_EVENTS

from .store import ApplicationsStore

CALL_TIMER_INTERVAL_S = float(os.environ.get("CALL_TIMER_INTERVAL_S", "1.0"))
PROVINCE, INSTITUTION, RECOMMENDERS = (PROVINCE_ROLE,), (INSTITUTION_ROLE,), (PREFECTURE_ROLE, HRSS_ROLE)
SUPERVISORS = (PROVINCE_ROLE, PREFECTURE_ROLE)

# Each refusal of the domain: its status and problem type (the most specific class wins).
REFUSALS: dict[type[DomainError], tuple[int, str]] = {
    NotFound: (404, "not-found"),
    NotRegistered: (403, "institution-not-registered"),
    NotRecommender: (403, "not-recommender"),
    WindowClosed: (409, "window-closed"),
    CallNotOpen: (409, "call-not-open"),
    DecisionsClosed: (409, "decisions-closed"),
    QuotaExceeded: (409, "quota-exceeded"),
    ApplicationLimitReached: (409, "application-limit-reached"),
    NotEditable: (409, "not-editable"),
    RecommendationCapReached: (409, "recommendation-cap-reached"),
    DuplicateCreditCode: (409, "duplicate-credit-code"),
    DecisionReasonRequired: (422, "reason-required"),
    FieldsRefused: (422, "invalid-fields"),
}


def now():
    """The current UTC time to the millisecond, as MongoDB keeps it: a reply and a later read agree."""
    moment = utcnow()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _errors(messages) -> dict[str, list[str]]:
    return {field: [bilingual(m) for m in field_messages] for field, field_messages in messages.items()}


def as_refused(exc: Exception) -> Refused:
    """A refusal of the domain or of a state machine as the problem the caller gets."""
    if isinstance(exc, TransitionNotAllowed):
        message = Bilingual(str(exc), f"当前状态“{exc.from_state}”下不能执行“{exc.event}”")
        return Refused(409, bilingual(message), type="transition-not-allowed")
    if isinstance(exc, ReasonRequired):
        message = Bilingual(f"'{exc.event}' needs a reason", "须说明理由")
        return Refused(422, bilingual(message), errors=_errors({"reason": [message]}), type="reason-required")
    status, kind = next(REFUSALS[cls] for cls in type(exc).__mro__ if cls in REFUSALS)
    errors = getattr(exc, "errors", None)
    if isinstance(exc, DecisionReasonRequired):
        errors = {"reason": [exc.message]}
    return Refused(status, bilingual(exc.message), errors=_errors(errors) if errors else None, type=kind)


def answering(method):
    """An RPC method answering by the reply contract, with the domain's refusals as problems."""
    @functools.wraps(method)
    def refusing(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (DomainError, TransitionNotAllowed, ReasonRequired) as exc:
            raise as_refused(exc) from None
    return replying()(refusing)


def _acting(claims: dict, roles: tuple[str, ...]) -> Actor:
    """The actor of a command, which only `roles` may give (the gateway checks it first)."""
    actor = Actor.from_claims(claims)
    if actor.role not in roles:
        raise Refused(403, f"The role {actor.role} may not do this; it is for: {', '.join(roles)}.")
    return actor


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
        return ok(ProgrammeListOut().dump({"items": self.store.programmes()}))

    # ------------------------------------------------------------ institutions

    @rpc
    @answering
    def create_institution(self, actor, institution, idempotency_key=None, request_fingerprint=None):
        data = InstitutionIn().load(institution)
        who = _acting(actor, PROVINCE)
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, lambda: created(
            InstitutionOut().dump(self.store.add_institution(data, who, now()))))

    @rpc
    @answering
    def import_institutions(self, actor, filename, content_b64, idempotency_key=None, request_fingerprint=None):
        try:
            content = base64.b64decode(content_b64, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(422, "The file is not base64.", errors={"file": ["not base64"]}) from None
        who = _acting(actor, PROVINCE)

        def command():
            result = import_institutions(content, self.store.credit_codes())
            if not result.ok:
                return problem(422, f"The file was refused with {len(result.errors)} error(s); nothing was imported.",
                               errors=_import_errors(result), type="import-rejected")
            ids = self.store.add_institutions(result.institutions, who, now())
            return created(ImportReportOut().dump({**result.report(), "institution_ids": ids}))
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, command)

    @rpc
    @answering
    def get_institution(self, actor, institution_id):
        return ok(InstitutionOut().dump(self.store.institution(institution_id, Actor.from_claims(actor))))

    @rpc
    @answering
    def list_institutions(self, actor, **query):
        return _page(InstitutionPageOut(), self.store.institutions_page(
            Actor.from_claims(actor), **_query(InstitutionQuery(), query)))

    # ------------------------------------------------------------ calls

    @rpc
    @answering
    def create_call(self, actor, call, idempotency_key=None, request_fingerprint=None):
        data = CallIn().load(call)
        who = _acting(actor, PROVINCE)
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, lambda: created(
            CallOut().dump(self.store.add_call(data, who, now()))))

    @rpc
    @answering
    def open_call(self, actor, call_id):
        return ok(CallOut().dump(self.store.open_call(call_id, _acting(actor, PROVINCE), now())))

    @rpc
    @answering
    def get_call(self, actor, call_id):
        return ok(CallOut().dump(self.store.call(call_id, Actor.from_claims(actor))))

    @rpc
    @answering
    def list_calls(self, actor, **query):
        return _page(CallPageOut(), self.store.calls_page(Actor.from_claims(actor), **_query(CallQuery(), query)))

    @timer(interval=CALL_TIMER_INTERVAL_S)
    def open_and_close_calls(self):
        self.store.advance_due_calls(now())

    # ------------------------------------------------------------ applications

    @rpc
    @answering
    def create_application(self, actor, application, idempotency_key=None, request_fingerprint=None):
        data = ApplicationIn().load(application)
        who = _acting(actor, INSTITUTION)
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, lambda: created(
            ApplicationOut().dump(self.store.add_application(data, who, now()))))

    @rpc
    @answering
    def update_application(self, actor, application_id, changes):
        data = ApplicationPatch().load(changes)
        return ok(ApplicationOut().dump(
            self.store.update_application(application_id, data, _acting(actor, INSTITUTION), now())))

    @rpc
    @answering
    def submit_application(self, actor, application_id):
        return ok(ApplicationOut().dump(self.store.submit(application_id, _acting(actor, INSTITUTION), now())))

    @rpc
    @answering
    def withdraw_application(self, actor, application_id, decision):
        reason = DecisionIn().load(decision).get("reason")
        return ok(ApplicationOut().dump(
            self.store.withdraw(application_id, _acting(actor, INSTITUTION), reason, now())))

    @rpc
    @answering
    def recommend_application(self, actor, application_id, decision):
        reason = DecisionIn().load(decision).get("reason")
        return ok(ApplicationOut().dump(
            self.store.recommend(application_id, _acting(actor, RECOMMENDERS), reason, now())))

    @rpc
    @answering
    def decline_application(self, actor, application_id, decision):
        reason = DeclineIn().load(decision)["reason"]
        return ok(ApplicationOut().dump(
            self.store.decline(application_id, _acting(actor, RECOMMENDERS), reason, now())))

    @rpc
    @answering
    def decide_eligibility(self, actor, application_id, decision):
        data = EligibilityOverrideIn().load(decision)
        return ok(ApplicationOut().dump(self.store.decide_eligibility(
            application_id, _acting(actor, PROVINCE), data["eligible"], data.get("reason"), now())))

    @rpc
    @answering
    def get_application(self, actor, application_id):
        return ok(ApplicationOut().dump(self.store.application(application_id, Actor.from_claims(actor))))

    @rpc
    @answering
    def list_applications(self, actor, **query):
        return _page(ApplicationPageOut(), self.store.applications_page(
            Actor.from_claims(actor), **_query(ApplicationQuery(), query)))

    # ------------------------------------------------------------ review's progress

    @handles("review", "experts_assigned")
    def experts_assigned(self, event):
        data = REVIEW_EVENTS["experts_assigned"].load(event.data)
        self.store.experts_assigned(data["call_id"], [a["application_id"] for a in data["assignments"]],
                                    now(), _because(event))

    @handles("review", "notice_published")
    def notice_published(self, event):
        data = REVIEW_EVENTS["notice_published"].load(event.data)
        self.store.notice_published(data["call_id"], now(), _because(event))

    @handles("review", "selection_finalized")
    def selection_finalized(self, event):
        data = REVIEW_EVENTS["selection_finalized"].load(event.data)
        self.store.selection_finalized(data, now(), _because(event))

    # ------------------------------------------------------------ supervision

    @rpc
    @answering
    def progress_report(self, actor):
        """Quotas and approved applications per category and prefecture: every prefecture for
        the province, its own for a prefecture bureau."""
        return ok(self.store.progress(_acting(actor, SUPERVISORS)))


def _because(event) -> str:
    """The audit reason of a move that follows another service's event."""
    return f"{event.type} {event.id}"
