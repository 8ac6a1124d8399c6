"""The applications service's MongoDB repository: the only code that knows its collections.

Collections: `institutions`, `calls`, `applications`; `counters` (places taken against a
limit, one document per call and institution or call and recommending authority);
`category_quotas` (per category: selected so far, and held by calls not finalized);
`selections` (approved applications, from review's selection_finalized).

Every limit that concurrent requests race for (an institution's applications in a call,
an authority's recommendations, a category's quota) is a counter document written inside
the request's transaction: two transactions that both write it conflict, the loser is
retried and then sees the new count.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import BulkWriteError

from services.applications.domain import access
from services.applications.domain.applications import (
    APPLICATION_MACHINE,
    CONTENDING_STATES,
    DRAFT as APPLICATION_DRAFT,
    ELIGIBLE,
    IN_REVIEW,
    RECOMMENDED,
    SUBMITTED_STATES,
    application_limit,
    check_can_open_draft,
    check_editable,
    check_fields_used,
    check_submittable,
)
from services.applications.domain.calls import (
    CALL_MACHINE,
    DRAFT,
    FINALIZED,
    IN_REVIEW as CALL_IN_REVIEW,
    NOTICED,
    OPEN,
    catch_up,
    check_accepting_applications,
    check_call_quota,
    check_decisions_open,
    due_events,
)
from services.applications.domain.catalogue import Catalogue, Category, catalogue
from services.applications.domain.eligibility import (
    EligibilityContext,
    Finding,
    applicant_snapshot,
    check_eligibility,
    decide_eligibility,
)
from services.applications.domain.institutions import Institution, Recommender
from services.applications.domain.messages import (
    Bilingual,
    DuplicateCreditCode,
    NotFound,
    NotRegistered,
    UnknownReference,
    rfc3339,
)
from services.applications.domain.recommendation import Actor, check_may_recommend, check_recommendation_cap
from services.applications.events import EVENTS
from services.common.personal import protect
from services.common.store import BaseStore

TIMER_ACTOR = "system:timer"
REVIEW_ACTOR = "system:review"
_DUE_CALLS_BATCH = 100
DUPLICATE_KEY = 11000


def new_id(prefix: str) -> str:
    """Opaque, and in creation order (the ObjectId leads with its second), so pages follow it."""
    return f"{prefix}_{ObjectId()}"


def _not_found(what_en: str, what_zh: str) -> NotFound:
    return NotFound(Bilingual(f"no such {what_en}", f"{what_zh}不存在"))


def _out(doc: Mapping | None) -> dict | None:
    """A stored document as the service answers it: `_id` becomes `id`."""
    if doc is None:
        return None
    record = {key: value for key, value in doc.items() if key != "_id"}
    return {"id": doc["_id"], **record}


def _scoped(actor: Actor, filters: Mapping, names: Mapping[str, str] | None = None) -> dict | None:
    """The filters narrowed to the actor's scope (`names` maps scope names to fields);
    None when nothing can match."""
    scope = access.scope(actor)
    if scope is None:
        return None
    query = dict(filters)
    for name, value in scope.items():
        field = (names or {}).get(name, name)
        if query.get(field, value) != value:
            return None
        query[field] = value
    return query


class ApplicationsStore(BaseStore):
    indexes = {
        "institutions": [
            IndexModel([("credit_code", ASCENDING)], name="credit_code_unique", unique=True),
            IndexModel([("prefecture", ASCENDING), ("_id", ASCENDING)], name="by_prefecture"),
            IndexModel([("recommender_key", ASCENDING), ("_id", ASCENDING)], name="by_recommender"),
        ],
        "calls": [
            IndexModel([("state", ASCENDING), ("opens_at", ASCENDING)], name="due_to_open"),
            IndexModel([("state", ASCENDING), ("closes_at", ASCENDING)], name="due_to_close"),
            IndexModel([("category", ASCENDING), ("_id", ASCENDING)], name="by_category"),
        ],
        "applications": [
            IndexModel([("call_id", ASCENDING), ("state", ASCENDING)], name="by_call_and_state"),
            IndexModel([("call_id", ASCENDING), ("institution_id", ASCENDING)], name="by_call_and_institution"),
            IndexModel([("call_id", ASCENDING), ("prefecture", ASCENDING)], name="by_call_and_prefecture"),
            IndexModel([("institution_id", ASCENDING), ("_id", ASCENDING)], name="by_institution"),
            IndexModel([("prefecture", ASCENDING), ("_id", ASCENDING)], name="by_prefecture"),
            IndexModel([("recommender_key", ASCENDING), ("_id", ASCENDING)], name="by_recommender"),
        ],
        "counters": [],
        "category_quotas": [],
        "selections": [IndexModel([("category", ASCENDING), ("prefecture", ASCENDING)], name="by_category_prefecture")],
    }
    events = EVENTS
    catalogue: Catalogue = catalogue()

    # ------------------------------------------------------------ plumbing

    def _one(self, collection: str, query: Mapping) -> dict | None:
        return self.db[collection].find_one(query, session=self.session)

    def _count(self, collection: str, query: Mapping) -> int:
        return self.db[collection].count_documents(query, session=self.session)

    def _page(self, collection: str, query: dict, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        if cursor:
            query = {**query, "_id": {"$gt": cursor}}
        docs = list(self.db[collection].find(query, session=self.session).sort("_id", ASCENDING).limit(limit + 1))
        next_cursor = docs[limit - 1]["_id"] if len(docs) > limit else None
        return [_out(doc) for doc in docs[:limit]], next_cursor

    def _take(self, counter: str, limit: int) -> int:
        """Take one of `limit` places of `counter`. Returns how many were taken before: at
        `limit` or more, none was free and nothing was taken."""
        s = self.session
        self.db.counters.update_one({"_id": counter}, {"$setOnInsert": {"taken": 0}}, upsert=True, session=s)
        before = self.db.counters.find_one_and_update(
            {"_id": counter, "taken": {"$lt": limit}}, {"$inc": {"taken": 1}},
            return_document=ReturnDocument.BEFORE, session=s)
        return before["taken"] if before else self._one("counters", {"_id": counter})["taken"]

    def _release(self, counter: str) -> None:
        self.db.counters.update_one({"_id": counter, "taken": {"$gt": 0}}, {"$inc": {"taken": -1}}, session=self.session)

    def _move(self, collection: str, doc: dict, machine, event: str, actor: str, at: datetime,
              reason: str | None = None, changes: Mapping | None = None) -> dict:
        """Apply a state machine event to a stored record, with its audit entry in `history`."""
        state, entry = machine.apply(doc["state"], event, actor, reason, at)
        updates = {"state": state, **(changes or {})}
        self.db[collection].update_one(
            {"_id": doc["_id"], "state": doc["state"]},
            {"$set": updates, "$push": {"history": entry.as_dict()}}, session=self.session)
        return {**doc, **updates, "history": [*doc.get("history", []), entry.as_dict()]}

    # ------------------------------------------------------------ catalogue

    def programmes(self) -> list[dict]:
        counts = {doc["_id"]: doc.get("selected", 0) for doc in self.db.category_quotas.find({}, session=self.session)}
        return [{**category.as_dict(), "quota_year": self.catalogue.quota_year,
                 "selected_count": counts.get(category.code, 0)} for category in self.catalogue]

    def _quota_counter(self, category: str) -> dict:
        self.db.category_quotas.update_one(
            {"_id": category}, {"$setOnInsert": {"selected": 0, "held": 0}}, upsert=True, session=self.session)
        return self._one("category_quotas", {"_id": category})

    def _hold_quota(self, category: Category, quota: int) -> None:
        counter = self._quota_counter(category.code)
        check_call_quota(category, quota, counter["selected"], counter["held"])
        self.db.category_quotas.update_one({"_id": category.code}, {"$inc": {"held": quota}}, session=self.session)

    # ------------------------------------------------------------ institutions

    def _institution_doc(self, data: Mapping, actor: Actor, at: datetime) -> dict:
        institution = Institution.from_record(data)
        return {"_id": new_id("inst"), **data, "recommender_key": institution.recommender.key,
                "created_at": at, "created_by": actor.audit_name}

    def _insert_institutions(self, docs: list[dict]) -> None:
        try:
            self.db.institutions.insert_many(docs, ordered=True, session=self.session)
        except BulkWriteError as exc:
            if not any(error["code"] == DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                raise
            raise DuplicateCreditCode(Bilingual(
                "an institution with this credit code is already registered", "该统一社会信用代码的单位已登记")) from None

    def add_institution(self, data: Mapping, actor: Actor, at: datetime) -> dict:
        doc = self._institution_doc(data, actor, at)
        self.atomic(lambda: self._insert_institutions([doc]))
        return _out(doc)

    def add_institutions(self, rows: Iterable[Mapping], actor: Actor, at: datetime) -> list[str]:
        """All in one transaction: every row, or none."""
        docs = [self._institution_doc(row, actor, at) for row in rows]
        self.atomic(lambda: self._insert_institutions(docs))
        return [doc["_id"] for doc in docs]

    def credit_codes(self) -> list[str]:
        return [doc["credit_code"] for doc in self.db.institutions.find({}, {"credit_code": 1}, session=self.session)]

    def institution(self, institution_id: str, actor: Actor) -> dict:
        """Raises NotFound when it does not exist or `actor` may not see it."""
        doc = self._one("institutions", {"_id": institution_id})
        if doc is None or not access.may_see(actor, {**doc, "institution_id": doc["_id"]}):
            raise _not_found("institution", "单位")
        return _out(doc)

    def institutions_page(self, actor: Actor, limit: int, cursor: str | None, **filters) -> tuple[list[dict], str | None]:
        query = _scoped(actor, filters, {"institution_id": "_id"})
        return self._page("institutions", query, limit, cursor) if query is not None else ([], None)

    # ------------------------------------------------------------ calls

    def add_call(self, data: Mapping, actor: Actor, at: datetime) -> dict:
        category = self.catalogue[data["category"]]
        doc = {"_id": new_id("call"), **data, "state": DRAFT, "history": [], "created_at": at,
               "created_by": actor.audit_name}

        def work():
            self._hold_quota(category, data["quota"])
            self.db.calls.insert_one(doc, session=self.session)
            return self._advance(doc, at)
        return _out(self.atomic(work))

    @staticmethod
    def _sees_drafts(actor: Actor) -> bool:
        return actor.role == access.PROVINCE_ROLE

    def call(self, call_id: str, actor: Actor) -> dict:
        """Drafts are the province's own until they open. Raises NotFound."""
        doc = self._call_doc(call_id)
        if doc["state"] == DRAFT and not self._sees_drafts(actor):
            raise _not_found("call", "遴选批次")
        return _out(doc)

    def calls_page(self, actor: Actor, limit: int, cursor: str | None, **filters) -> tuple[list[dict], str | None]:
        if not self._sees_drafts(actor):
            if filters.get("state") == DRAFT:
                return [], None
            filters.setdefault("state", {"$ne": DRAFT})
        return self._page("calls", filters, limit, cursor)

    def open_call(self, call_id: str, actor: Actor, at: datetime) -> dict:
        """The province opens a draft call before its opens_at: the window starts now."""
        def work():
            doc = self._call_doc(call_id)
            opens_at = min(doc["opens_at"], at)
            moved = self._move_call(doc, "open", actor.audit_name, at, "opened early by the province",
                                    {"opens_at": opens_at})
            return self._advance(moved, at)
        return _out(self.atomic(work))

    def _call_doc(self, call_id: str) -> dict:
        doc = self._one("calls", {"_id": call_id})
        if doc is None:
            raise _not_found("call", "遴选批次")
        return doc

    def _advance(self, doc: dict, at: datetime) -> dict:
        """Apply the timer's due events (open, close) to a call."""
        for event in due_events(doc["state"], doc["opens_at"], doc["closes_at"], at):
            doc = self._move_call(doc, event, TIMER_ACTOR, at)
        return doc

    def _move_call(self, doc: dict, event: str, actor: str, at: datetime, reason: str | None = None,
                   changes: Mapping | None = None) -> dict:
        moved = self._move("calls", doc, CALL_MACHINE, event, actor, at, reason, changes)
        if moved["state"] == OPEN:
            self.emit("call_opened", moved["_id"], self._call_opened(moved))
        elif event == "close":
            submitted = self._count("applications", {"call_id": moved["_id"], "state": {"$in": list(SUBMITTED_STATES)}})
            self.emit("call_closed", moved["_id"], {"call_id": moved["_id"], "category": moved["category"],
                                                    "closed_at": rfc3339(at), "submitted_count": submitted})
        return moved

    @staticmethod
    def _call_opened(doc: Mapping) -> dict:
        terms = ("category", "title", "quota", "prefecture_cap", "per_institution_limit", "budget_min_fen",
                 "budget_max_fen", "review_plan", "funding_rule")
        return {"call_id": doc["_id"], "opens_at": rfc3339(doc["opens_at"]), "closes_at": rfc3339(doc["closes_at"]),
                **{key: doc[key] for key in terms}}

    def advance_due_calls(self, at: datetime) -> int:
        """Open and close the calls whose time has come (the timer's work). Returns how many moved.
        Each call moves in its own transaction, from its state re-read there, so replicas
        running the timer at once move it once."""
        due = list(self.db.calls.find({"$or": [{"state": DRAFT, "opens_at": {"$lte": at}},
                                               {"state": OPEN, "closes_at": {"$lte": at}}]},
                                      {"_id": 1}).limit(_DUE_CALLS_BATCH))
        for ref in due:
            self.atomic(lambda: self._advance(self._call_doc(ref["_id"]), at))
        return len(due)

    # ------------------------------------------------------------ applications

    def _application_doc(self, application_id: str, actor: Actor) -> dict:
        doc = self._one("applications", {"_id": application_id})
        if doc is None or not access.may_see(actor, doc):
            raise _not_found("application", "申报")
        return doc

    def application(self, application_id: str, actor: Actor) -> dict:
        """The application; until the province decides its eligibility, with the automatic
        findings as they stand now (others' recommendations and declines change them)."""
        doc = self._application_doc(application_id, actor)
        if doc["state"] in ("submitted", "recommended"):
            call = self._call_doc(doc["call_id"])
            doc = {**doc, "eligibility_findings": [f.as_dict() for f in self._findings(doc, call, self._institution_of(doc))]}
        return _out(doc)

    def applications_page(self, actor: Actor, limit: int, cursor: str | None, **filters) -> tuple[list[dict], str | None]:
        query = _scoped(actor, filters)
        return self._page("applications", query, limit, cursor) if query is not None else ([], None)

    @staticmethod
    def _content(data: Mapping) -> dict:
        content = dict(data)
        if "team_members" in content:
            content["team_members"] = [protect(member) for member in content["team_members"]]
        return content

    def add_application(self, data: Mapping, actor: Actor, at: datetime) -> dict:
        """A draft for the call `data["call_id"]` by the actor's institution."""
        def work():
            call = self._one("calls", {"_id": data["call_id"]})
            if call is None or (call["state"] == DRAFT and not self._sees_drafts(actor)):
                raise UnknownReference({"call_id": [Bilingual("no such call", "遴选批次不存在")]})
            institution = self._one("institutions", {"_id": actor.institution_id})
            if institution is None:
                raise NotRegistered(Bilingual(
                    "your institution is not in the register: ask the province to register it",
                    "本单位尚未登记，请联系省级主管部门登记"))
            check_accepting_applications(call["state"], call["opens_at"], call["closes_at"], at)
            category = self.catalogue[call["category"]]
            check_fields_used(category, data)
            check_can_open_draft(category, call["per_institution_limit"], self._take(
                f"{call['_id']}:institution:{institution['_id']}",
                application_limit(category, call["per_institution_limit"])))
            subject = Institution.from_record(institution)
            doc = {
                "_id": new_id("app"), **self._content({k: v for k, v in data.items() if k != "call_id"}),
                "call_id": call["_id"], "category": category.code, "institution_id": institution["_id"],
                "institution_name": subject.name, "prefecture": subject.prefecture,
                "recommender": subject.recommender.as_dict(), "recommender_key": subject.recommender.key,
                "state": APPLICATION_DRAFT, "history": [], "eligibility_findings": [], "eligibility_decision": None,
                "submitted_at": None, "created_at": at, "updated_at": at, "created_by": actor.audit_name,
            }
            self.db.applications.insert_one(doc, session=self.session)
            return doc
        return _out(self.atomic(work))

    def _open_call_of(self, doc: Mapping, at: datetime) -> dict:
        call = self._call_doc(doc["call_id"])
        check_accepting_applications(call["state"], call["opens_at"], call["closes_at"], at)
        return call

    def update_application(self, application_id: str, changes: Mapping, actor: Actor, at: datetime) -> dict:
        def work():
            doc = self._application_doc(application_id, actor)
            check_editable(doc["state"])
            self._open_call_of(doc, at)
            check_fields_used(self.catalogue[doc["category"]], changes)
            updates = {**self._content(changes), "updated_at": at}
            self.db.applications.update_one({"_id": doc["_id"], "state": doc["state"]}, {"$set": updates},
                                            session=self.session)
            return {**doc, **updates}
        return _out(self.atomic(work))

    def _institution_of(self, doc: Mapping) -> Institution:
        return Institution.from_record(self._one("institutions", {"_id": doc["institution_id"]}))

    def _findings(self, doc: Mapping, call: Mapping, institution: Institution) -> tuple[Finding, ...]:
        """The automatic eligibility rules on the application as it stands, against its call and
        the institution as registered now."""
        category = self.catalogue[call["category"]]
        one_per_prefecture = category.one_per_prefecture
        context = EligibilityContext(
            category=category, institution=institution, application=doc,
            budget_min_fen=call["budget_min_fen"], budget_max_fen=call["budget_max_fen"],
            per_institution_limit=call["per_institution_limit"],
            others_of_institution=self._others_in(doc, "institution_id", SUBMITTED_STATES),
            others_of_prefecture=self._others_in(doc, "prefecture", CONTENDING_STATES) if one_per_prefecture else 0,
            prefecture_already_selected=one_per_prefecture and self._one(
                "selections", {"category": category.code, "prefecture": institution.prefecture}) is not None,
        )
        return check_eligibility(context)

    def _others_in(self, doc: Mapping, field: str, states: Iterable[str]) -> int:
        """How many other applications of the call with the same `field` are in `states`. (Only
        the equalities go to the server, so that its index on (call_id, field) serves them.)"""
        others = self.db.applications.find({"call_id": doc["call_id"], field: doc[field]}, {"state": 1},
                                           session=self.session)
        return sum(other["_id"] != doc["_id"] and other["state"] in states for other in others)

    @staticmethod
    def _ref(doc: Mapping) -> dict:
        return {key: doc[key] for key in ("call_id", "institution_id", "prefecture", "category")} | {
            "application_id": doc["_id"]}

    def submit(self, application_id: str, actor: Actor, at: datetime) -> dict:
        def work():
            doc = self._application_doc(application_id, actor)
            call = self._open_call_of(doc, at)
            APPLICATION_MACHINE.apply(doc["state"], "submit", actor.audit_name, None, at)  # refuse before checking content
            check_submittable(doc)
            findings = [f.as_dict() for f in self._findings(doc, call, self._institution_of(doc))]
            moved = self._move("applications", doc, APPLICATION_MACHINE, "submit", actor.audit_name, at, changes={
                "eligibility_findings": findings, "submitted_at": at, "updated_at": at})
            self.emit("application_submitted", doc["_id"], {**self._ref(doc), "title": doc["title"],
                                                            "submitted_at": rfc3339(at), "recommender": doc["recommender"]})
            return moved
        return _out(self.atomic(work))

    def withdraw(self, application_id: str, actor: Actor, reason: str | None, at: datetime) -> dict:
        def work():
            doc = self._application_doc(application_id, actor)
            moved = self._move("applications", doc, APPLICATION_MACHINE, "withdraw", actor.audit_name, at, reason,
                               {"updated_at": at})
            self._release(f"{doc['call_id']}:institution:{doc['institution_id']}")
            if doc["state"] == RECOMMENDED:
                self._release(f"{doc['call_id']}:recommender:{doc['recommender_key']}")
            self.emit("application_withdrawn", doc["_id"], {**self._ref(doc), "from_state": doc["state"],
                                                            "reason": moved["history"][-1]["reason"]})
            return moved
        return _out(self.atomic(work))

    def _decide(self, application_id: str, actor: Actor, event: str, reason: str | None, at: datetime,
                take_place) -> dict:
        doc = self._application_doc(application_id, actor)
        check_may_recommend(actor, Recommender(**doc["recommender"]))
        call = self._call_doc(doc["call_id"])
        check_decisions_open(call["state"])
        APPLICATION_MACHINE.apply(doc["state"], event, actor.audit_name, reason, at)  # refuse before taking a place
        take_place(doc, call)
        moved = self._move("applications", doc, APPLICATION_MACHINE, event, actor.audit_name, at, reason,
                           {"updated_at": at})
        name = "application_recommended" if event == "recommend" else "application_declined"
        self.emit(name, doc["_id"], {**self._ref(doc), "by": actor.audit_name, "reason": moved["history"][-1]["reason"]})
        return moved

    def recommend(self, application_id: str, actor: Actor, reason: str | None, at: datetime) -> dict:
        def take_place(doc, call):
            cap = call["prefecture_cap"]
            check_recommendation_cap(cap, self._take(f"{call['_id']}:recommender:{doc['recommender_key']}", cap))
        return _out(self.atomic(lambda: self._decide(application_id, actor, "recommend", reason, at, take_place)))

    def decline(self, application_id: str, actor: Actor, reason: str, at: datetime) -> dict:
        return _out(self.atomic(lambda: self._decide(application_id, actor, "decline", reason, at, lambda *_: None)))

    def decide_eligibility(self, application_id: str, actor: Actor, eligible: bool, reason: str | None,
                           at: datetime) -> dict:
        def work():
            doc = self._application_doc(application_id, actor)
            call = self._call_doc(doc["call_id"])
            check_decisions_open(call["state"])
            institution = self._institution_of(doc)
            findings = self._findings(doc, call, institution)
            decision = decide_eligibility(findings, eligible, actor.audit_name, reason, at)
            moved = self._move("applications", doc, APPLICATION_MACHINE, decision.event, actor.audit_name, at,
                               decision.reason, {"eligibility_findings": [f.as_dict() for f in findings],
                                                 "eligibility_decision": decision.as_dict(), "updated_at": at})
            self.emit("eligibility_checked", doc["_id"], {
                **self._ref(doc), "eligible": decision.eligible, "overridden": decision.overridden,
                "decided_by": decision.actor, "reason": decision.reason,
                "findings": [f.as_dict() for f in findings],
                "applicant": applicant_snapshot(institution, doc, doc["submitted_at"]),
            })
            return moved
        return _out(self.atomic(work))

    # ------------------------------------------------------------ review's progress (event handlers)

    def _follow_review(self, call_id: str, target: str, at: datetime, why: str) -> dict | None:
        """Walk a call on to `target`; returns the call, or None when it is not ours.
        Runs inside the handler's transaction."""
        doc = self._one("calls", {"_id": call_id})
        if doc is None:
            return None
        for event in catch_up(doc["state"], target):
            doc = self._move_call(doc, event, REVIEW_ACTOR, at, why)
        return doc

    def experts_assigned(self, call_id: str, application_ids: Iterable[str], at: datetime, why: str) -> None:
        self._follow_review(call_id, CALL_IN_REVIEW, at, why)
        for doc in self.db.applications.find({"_id": {"$in": sorted(set(application_ids))}, "state": ELIGIBLE},
                                             session=self.session):
            self._move("applications", doc, APPLICATION_MACHINE, "start_review", REVIEW_ACTOR, at, why,
                       {"updated_at": at})

    def notice_published(self, call_id: str, at: datetime, why: str) -> None:
        self._follow_review(call_id, NOTICED, at, why)

    def selection_finalized(self, data: Mapping, at: datetime, why: str) -> None:
        """Count the approved per category, settle the call and every eligible application of it.
        A call is finalized once: a repeated selection for it changes nothing."""
        call = self._one("calls", {"_id": data["call_id"]})
        if call is not None and call["state"] == FINALIZED:
            return
        self._follow_review(data["call_id"], FINALIZED, at, why)
        approved = {entry["application_id"]: entry for entry in data["approved"]}
        self._quota_counter(data["category"])
        self.db.category_quotas.update_one({"_id": data["category"]}, {"$inc": {
            "selected": len(approved), "held": -call["quota"] if call else 0}}, session=self.session)
        for application_id, entry in approved.items():
            self.db.selections.update_one({"_id": application_id}, {"$set": {
                "call_id": data["call_id"], "category": data["category"], "prefecture": entry["prefecture"],
                "institution_id": entry["institution_id"], "rank": entry["rank"], "selected_at": at}},
                upsert=True, session=self.session)
        for doc in self.db.applications.find({"call_id": data["call_id"], "state": {"$in": [ELIGIBLE, IN_REVIEW]}},
                                             session=self.session):
            event = "approve" if doc["_id"] in approved else "pass_over"
            self._move("applications", doc, APPLICATION_MACHINE, event, REVIEW_ACTOR, at, why, {"updated_at": at})

    # ------------------------------------------------------------ supervision

    def progress(self, actor: Actor) -> dict:
        """The catalogue's quotas, and the approved applications (review's selections) per
        category and prefecture within the actor's scope."""
        scope = _scoped(actor, {})
        counts = [] if scope is None else self.db.selections.aggregate([
            {"$match": scope},
            {"$group": {"_id": {"category": "$category", "prefecture": "$prefecture"}, "approved": {"$sum": 1}}},
        ], session=self.session)
        return {
            "quota_year": self.catalogue.quota_year,
            "categories": [{"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "quota": c.quota}
                           for c in self.catalogue],
            "approved": sorted(({**doc["_id"], "approved": doc["approved"]} for doc in counts),
                               key=lambda cell: (cell["category"], cell["prefecture"])),
        }
