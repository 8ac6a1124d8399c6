"""The review service's MongoDB repository: the only code that knows its collections.

- `experts`: the pool; `person_key` is unique (one expert per person).
- `calls`: this service's copy of each call (from `call_opened`), with its selection stage,
  the published ranking, the notice and the audit `history`. Every write that concerns a
  call's review (candidates, assignments, reviews, ranking, notice) increments its
  `version` in the same transaction, so two such writes on one call conflict and one is
  retried, and an assignment solved outside a transaction can check nothing moved.
- `candidates`: the call's applications under review (from `eligibility_checked`).
- `assignments`: one expert on one application, with the review embedded.
- `runs`: each assignment run and its quality.
- `assignment_jobs`: assignment runs in the background (a large call's): queued, then
  solving under one replica's claim (`claimed_by`, renewed by each progress write at
  `heartbeat_at`), then publishing its run (`run_id`), then done or failed (`problem`).
  `active_call_id` is set only until it ends, unique: one running job per call.
- `staged_assignments`: a job's assignments written before its run is saved, in the parts
  it publishes them in (`part`); published parts move to `assignments`. The call's
  `publishing_run_id` names the run being published.
- `projects`: this service's copy of each project (from applications' `project_established`,
  joined with its candidate record for the fields, keywords and team the conflict rules
  and the affinity need), its state (standing, or failed from funding's `project_failed`)
  and the milestone results its panels confirmed.
- `panels`: mid-term and acceptance panels (docs/panels.md), with each project's proposed
  and confirmed result and the audit `history`; `version` serialises changes of one panel.
- `panel_assignments`: one expert on one project of a panel, with the review embedded.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import datetime, timezone
from typing import TypeVar

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.common.bilingual import Bilingual
from services.common.errors import DomainError
from services.common.errors import NotFound as KernelNotFound
from services.common.clock import utcnow
from services.common import pages
from services.common.store import BaseStore
from services.review.domain.reviews import STANDING
from services.contracts.review_events import EVENTS

T = TypeVar("T")


class NotFound(KernelNotFound):
    """No such record (or none the actor may see); `message` says which, in both languages."""

    record = Bilingual("record", "记录")

    def __init__(self, record_id: str):
        super().__init__(
            Bilingual(f"There is no {self.record.en} {record_id}.", f"不存在{self.record.zh} {record_id}。")
        )


class CallNotFound(NotFound):
    """No call of that id has been opened (as far as this service has heard)."""

    record = Bilingual("call", "遴选批次")


class AssignmentNotFound(NotFound):
    record = Bilingual("assignment", "评审任务")


class ObjectionNotFound(NotFound):
    record = Bilingual("objection", "异议")


class PanelNotFound(NotFound):
    record = Bilingual("panel", "专家组")


class PanelAssignmentNotFound(NotFound):
    record = Bilingual("panel assignment", "专家组评审任务")


class ProjectNotFound(NotFound):
    record = Bilingual("project", "项目")


class DuplicateExpert(DomainError):
    """An expert with the same person key is already in the pool."""

    status, kind = 409, "duplicate-expert"

    def __init__(self):
        super().__init__(
            Bilingual("an expert with this ID number is already in the pool", "该身份证号的专家已在专家库中")
        )


class AssignmentJobNotFound(NotFound):
    record = Bilingual("assignment job", "分配任务")


class AssignmentJobRunning(DomainError):
    """The call already has an assignment job queued or solving."""

    status, kind = 409, "assignment-job-running"

    def __init__(self, job_id: str | None):
        self.job_id = job_id
        if job_id is None:  # it ended between the refused insert and the look for it
            message = Bilingual(
                "The call's assignment job ended just now; try again.", "该遴选批次的分配任务刚刚结束，请重试。"
            )
        else:
            message = Bilingual(
                f"The call's assignment job {job_id} is still running: follow it at /v1/assignment-jobs/{job_id}.",
                f"该遴选批次的分配任务 {job_id} 仍在进行：请在 /v1/assignment-jobs/{job_id} 查看进度。",
            )
        super().__init__(message)


class StaleSnapshot(Exception):
    """The call changed between reading it and writing what was decided from it."""


#: The states of a job a replica holds (under `claimed_by`).
HELD = ("solving", "publishing")
#: The heartbeat of a job let go of: older than any stale limit.
RELEASED = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ClaimLost(Exception):
    """Another replica has taken over the assignment job (this one's claim went stale)."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{ObjectId()}"


#: What the assignment reads of an expert (`domain.experts.pool_expert`).
POOL_FIELDS = dict.fromkeys(
    (
        "institution_id",
        "prefecture",
        "person_key",
        "load_cap",
        "fields",
        "keywords",
        "categories",
        "conflict_institution_ids",
        "conflict_person_keys",
        "available",
    ),
    1,
)
#: Experts read at once by `qualified_experts`.
EXPERT_BATCH = 5_000


class ReviewStore(BaseStore):
    indexes = {
        "experts": [
            IndexModel([("person_key", ASCENDING)], name="one_expert_per_person", unique=True),
            IndexModel([("prefecture", ASCENDING), ("_id", ASCENDING)], name="by_prefecture"),
            IndexModel([("fields", ASCENDING)], name="by_field"),
        ],
        "calls": [IndexModel([("notice.objections.objection_id", ASCENDING)], name="by_objection", sparse=True)],
        "candidates": [IndexModel([("call_id", ASCENDING), ("status", ASCENDING)], name="by_call")],
        "assignments": [
            IndexModel([("call_id", ASCENDING), ("_id", ASCENDING)], name="by_call"),
            IndexModel([("application_id", ASCENDING)], name="by_application"),
            IndexModel([("run_id", ASCENDING), ("_id", ASCENDING)], name="by_run"),
            IndexModel([("expert_id", ASCENDING), ("_id", ASCENDING)], name="by_expert"),
        ],
        "staged_assignments": [IndexModel([("run_id", ASCENDING), ("part", ASCENDING)], name="by_run_part")],
        "runs": [IndexModel([("call_id", ASCENDING)], name="by_call")],
        "assignment_jobs": [
            IndexModel([("state", ASCENDING), ("requested_at", ASCENDING)], name="by_state"),
            IndexModel([("active_call_id", ASCENDING)], name="one_running_per_call", unique=True, sparse=True),
        ],
        "projects": [IndexModel([("category", ASCENDING), ("year", ASCENDING)], name="by_category_year")],
        "panels": [IndexModel([("milestone", ASCENDING), ("status", ASCENDING)], name="by_milestone")],
        "panel_assignments": [
            IndexModel([("panel_id", ASCENDING), ("_id", ASCENDING)], name="by_panel"),
            IndexModel([("expert_id", ASCENDING), ("_id", ASCENDING)], name="by_expert"),
        ],
    }
    events = EVENTS

    # ------------------------------------------------------------ experts

    def add_experts(self, experts: list[dict], actor: str) -> list[dict]:
        """Insert experts (all or none). Raises DuplicateExpert."""
        now = utcnow()
        docs = [{"_id": new_id("exp"), **expert, "created_at": now, "created_by": actor} for expert in experts]

        def work():
            self.db.experts.insert_many(docs, session=self.session)
            return docs

        try:
            return self.atomic(work)
        except (DuplicateKeyError, BulkWriteError) as exc:
            if isinstance(exc, BulkWriteError) and exc.details["writeErrors"][0]["code"] != 11000:
                raise
            raise DuplicateExpert() from None

    def person_keys(self) -> set[str]:
        return {doc["person_key"] for doc in self.db.experts.find({}, {"person_key": 1})}

    def has_experts(self) -> bool:
        return self.db.experts.find_one({}, {"_id": 1}) is not None

    def experts(self, ids: Iterable[str] | None = None) -> list[dict]:
        query = {} if ids is None else {"_id": {"$in": list(ids)}}
        return list(self.db.experts.find(query).sort("_id", ASCENDING))

    def qualified_experts(self, category: str, sharing_fields: Collection[str] | None = None) -> Iterator[list[dict]]:
        """The available experts who may review `category` (no rule lets any other review it), in
        batches, with what the assignment reads of them (`pool_expert`); only those sharing one of
        `sharing_fields` if given: found by `by_field` alone, the category and availability
        checked here, as SecantusDB scans the collection for the query naming them too."""
        if sharing_fields is None:
            query: dict = {"categories": category, "available": True}
        else:
            query = {"fields": {"$in": sorted(sharing_fields)}}
        batch: list[dict] = []
        for doc in self.db.experts.find(query, POOL_FIELDS, session=self.session):
            if category in doc["categories"] and doc["available"]:
                batch.append(doc)
            if len(batch) == EXPERT_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def expert_loads(self, call_id: str, expert_ids: Iterable[str]) -> dict[str, int]:
        """The standing assignments each of `expert_ids` holds in the call (those holding none are
        left out). Found by expert alone, the call and status checked here: that query is answered
        from `by_expert` by MongoDB and by SecantusDB, which scans the collection once the call is
        named too."""
        loads: dict[str, int] = {}
        query = {"expert_id": {"$in": list(expert_ids)}}
        for doc in self.db.assignments.find(query, {"expert_id": 1, "call_id": 1, "status": 1}, session=self.session):
            if doc["call_id"] == call_id and doc["status"] in STANDING:
                loads[doc["expert_id"]] = loads.get(doc["expert_id"], 0) + 1
        return loads

    def page(self, collection: str, query: dict, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        """One page by ascending id after `cursor`, and the next cursor (None on the last page)."""
        return pages.page(self.db[collection], query, pages.BY_ID, limit, cursor)

    # ------------------------------------------------------------ calls and candidates (from events)

    def touch_call(self, call_id: str, update: dict | None = None) -> None:
        """Create the call's record if needed (an application's event may come first), apply
        `update` and move its version on."""
        update = dict(update or {})
        update["$inc"] = {**update.get("$inc", {}), "version": 1}
        touched = {path for operator in update.values() for path in operator}
        defaults = {"stage": "reviewing", "applied_institution_ids": [], "history": [], "left": []}
        update["$setOnInsert"] = {k: v for k, v in defaults.items() if k not in touched}
        self.db.calls.update_one({"_id": call_id}, update, upsert=True, session=self.session)

    def keep_candidate(self, application_id: str, fields: dict) -> dict | None:
        """Upsert the candidate; returns the record as it was before (None when new). A read and
        an update by _id in the event's transaction, not a findAndModify, which the embedded server
        answers by scanning every candidate (BaseStore.emit says more): a national call has 300 000."""
        before = self.db.candidates.find_one({"_id": application_id}, session=self.session)
        self.db.candidates.update_one({"_id": application_id}, {"$set": fields}, upsert=True, session=self.session)
        return before

    def candidate(self, application_id: str) -> dict | None:
        return self.db.candidates.find_one({"_id": application_id}, session=self.session)

    def count_candidates(self, call_id: str) -> int:
        return self.db.candidates.count_documents({"call_id": call_id, "status": "eligible"}, session=self.session)

    def candidates(self, call_id: str, status: str | None = "eligible") -> list[dict]:
        query = {"call_id": call_id} if status is None else {"call_id": call_id, "status": status}
        return list(self.db.candidates.find(query, session=self.session).sort("_id", ASCENDING))

    def set_candidate(self, application_id: str, fields: dict) -> None:
        self.db.candidates.update_one({"_id": application_id}, {"$set": fields}, session=self.session)

    # ------------------------------------------------------------ calls (commands)

    def call(self, call_id: str) -> dict:
        """An opened call. Raises CallNotFound."""
        call = self.db.calls.find_one({"_id": call_id}, session=self.session)
        if call is None or "category" not in call:
            raise CallNotFound(call_id)
        return call

    def known_call(self, call_id: str) -> dict | None:
        """The call's record as far as this service has heard of it (perhaps not yet opened:
        an application's event may come first), or None."""
        return self.db.calls.find_one({"_id": call_id}, session=self.session)

    def in_call(self, call_id: str, work: Callable[[dict], T]) -> T:
        """Run `work(call)` in one transaction, the call read inside it and its version moved
        on, so that concurrent changes of one call are applied one after the other. `work`
        writes through this store (`update_call`, `emit`, ...) and may run more than once."""

        def attempt():
            call = self.call(call_id)
            self.db.calls.update_one({"_id": call_id}, {"$inc": {"version": 1}}, session=self.session)
            return work(call)

        return self.atomic(attempt)

    def in_application(self, call_id: str, application_id: str, work: Callable[[dict], T]) -> T:
        """Like `in_call`, but serialising only the changes of one application (its reviews),
        so that experts of one call write at the same time. The call is read, not moved on:
        a change of the whole call that must exclude them (the ranking closing the reviews)
        moves every candidate of the call on with `close_candidates`."""

        def attempt():
            call = self.call(call_id)
            self.db.candidates.update_one({"_id": application_id}, {"$inc": {"version": 1}}, session=self.session)
            return work(call)

        return self.atomic(attempt)

    def close_candidates(self, call_id: str) -> None:
        """Conflict with every `in_application` transaction of the call still running."""
        self.db.candidates.update_many({"call_id": call_id}, {"$inc": {"version": 1}}, session=self.session)

    def update_call(
        self, call_id: str, set_fields: dict | None = None, history: Iterable[dict] = (), push: dict | None = None
    ) -> None:
        update: dict = {}
        if set_fields:
            update["$set"] = set_fields
        pushes = dict(push or {})
        history = list(history)
        if history:
            pushes["history"] = {"$each": history}
        if pushes:
            update["$push"] = pushes
        if update:
            self.db.calls.update_one({"_id": call_id}, update, session=self.session)

    def call_of_objection(self, objection_id: str) -> str:
        call = self.db.calls.find_one({"notice.objections.objection_id": objection_id}, {"_id": 1})
        if call is None:
            raise ObjectionNotFound(objection_id)
        return call["_id"]

    # ------------------------------------------------------------ assignments

    def assignment(self, assignment_id: str) -> dict:
        doc = self.db.assignments.find_one({"_id": assignment_id}, session=self.session)
        if doc is None:
            raise AssignmentNotFound(assignment_id)
        return doc

    def assignments(
        self, call_id: str | None = None, application_id: str | None = None, run_id: str | None = None
    ) -> list[dict]:
        given = (("call_id", call_id), ("application_id", application_id), ("run_id", run_id))
        query = {k: v for k, v in given if v is not None}
        return list(self.db.assignments.find(query, session=self.session).sort("_id", ASCENDING))

    def move_assignment(
        self, assignment_id: str, from_status: str, to_status: str, entry: dict, set_fields: dict | None = None
    ) -> None:
        """Move an assignment from `from_status` (else StaleSnapshot), with its audit entry."""
        done = self.db.assignments.update_one(
            {"_id": assignment_id, "status": from_status},
            {"$set": {"status": to_status, **(set_fields or {})}, "$push": {"history": entry}},
            session=self.session,
        )
        if not done.matched_count:
            raise StaleSnapshot(assignment_id)

    def save_run(
        self,
        call_id: str,
        version: int,
        run: dict,
        assignments: list[dict],
        moves: Iterable[tuple[str, str, str, dict, dict]],
        set_fields: dict,
        history: list[dict],
        events: Iterable[tuple[str, str, dict]],
    ) -> dict:
        """Store an assignment run decided from the call at `version` (else StaleSnapshot):
        the moves of standing assignments (declined, void), the new assignments, the run and
        its events, in one transaction (joining the caller's, if any)."""

        def work():
            done = self.db.calls.update_one(
                {"_id": call_id, "version": version},
                {"$inc": {"version": 1}, "$set": set_fields, "$push": {"history": {"$each": history}}},
                session=self.session,
            )
            if not done.matched_count:
                raise StaleSnapshot(call_id)
            for assignment_id, from_status, to_status, entry, fields in moves:
                self.move_assignment(assignment_id, from_status, to_status, entry, fields)
            if "review_deadline" in set_fields:  # a run may move the deadline of every standing assignment
                self.db.assignments.update_many(
                    {"call_id": call_id, "status": {"$in": list(STANDING)}},
                    {"$set": {"review_deadline": set_fields["review_deadline"]}},
                    session=self.session,
                )
            if assignments:
                self.db.assignments.insert_many(assignments, session=self.session)
            self.db.runs.insert_one(run, session=self.session)
            for name, subject, data in events:
                self.emit(name, subject, data)
            return run

        return self.atomic(work)

    def stage_assignments(self, assignments: list[dict]) -> None:
        """Write a job's assignments (each with its `part`) before its run is saved: unseen
        until published. Outside a transaction: a run's may be millions."""
        if assignments:
            self.db.staged_assignments.insert_many(assignments, ordered=False)

    def drop_staged(self, call_id: str, keep_run_id: str | None = None) -> None:
        """Forget the call's staged assignments of runs never saved (all but `keep_run_id`'s)."""
        self.db.staged_assignments.delete_many({"call_id": call_id, "run_id": {"$ne": keep_run_id}})

    def publish_part(self, run_id: str, part: int) -> list[dict]:
        """Move a part of the run's staged assignments to `assignments` and count it published
        in the run (`published_parts`; in the caller's transaction): the assignments moved."""
        done = self.db.runs.update_one(
            {"_id": run_id, "published_parts": part - 1}, {"$inc": {"published_parts": 1}}, session=self.session
        )
        if not done.matched_count:
            raise StaleSnapshot(run_id)
        docs = list(
            self.db.staged_assignments.find({"run_id": run_id, "part": part}, session=self.session).sort(
                "_id", ASCENDING
            )
        )
        self.db.staged_assignments.delete_many({"run_id": run_id, "part": part}, session=self.session)
        for doc in docs:
            del doc["part"]
        if docs:
            self.db.assignments.insert_many(docs, session=self.session)
        return docs

    def run(self, run_id: str) -> dict:
        doc = self.db.runs.find_one({"_id": run_id}, session=self.session)
        if doc is None:
            raise NotFound(run_id)
        return doc

    # ------------------------------------------------------------ assignment jobs

    def add_assignment_job(self, job: dict) -> dict:
        """Insert a queued job; AssignmentJobRunning when its call has one queued or solving.
        Not retried here: a duplicate key aborts the transaction this runs in (in MongoDB)."""
        try:
            self.db.assignment_jobs.insert_one({**job, "active_call_id": job["call_id"]}, session=self.session)
        except DuplicateKeyError:
            running = self.db.assignment_jobs.find_one({"active_call_id": job["call_id"]}, {"_id": 1})
            raise AssignmentJobRunning(running["_id"] if running else None) from None
        return job

    def assignment_job(self, job_id: str) -> dict:
        doc = self.db.assignment_jobs.find_one({"_id": job_id}, session=self.session)
        if doc is None:
            raise AssignmentJobNotFound(job_id)
        return doc

    def claim_assignment_job(self, holder: str, now: datetime, stale_before: datetime) -> dict | None:
        """Claim, for `holder`, a job whose holder has not written since `stale_before` (it
        died: the oldest such, solving or publishing), else the oldest queued job (it starts
        solving): the job as claimed, or None."""
        claim = {"claimed_by": holder, "heartbeat_at": now}
        stale = self.db.assignment_jobs.find_one_and_update(
            {"state": {"$in": list(HELD)}, "heartbeat_at": {"$lt": stale_before}},
            {"$set": claim, "$inc": {"claims": 1}},
            sort=[("requested_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
            session=self.session,
        )
        return stale or self.db.assignment_jobs.find_one_and_update(
            {"state": "queued"},
            {"$set": {**claim, "state": "solving", "started_at": now}, "$inc": {"claims": 1}},
            sort=[("requested_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
            session=self.session,
        )

    def assignment_job_progress(self, job_id: str, holder: str, progress: dict, now: datetime) -> bool:
        """Record the progress of a job `holder` still holds (and renew its claim); False if not."""
        return self.update_assignment_job(job_id, holder, {"progress": progress, "heartbeat_at": now})

    def release_assignment_job(self, job_id: str, holder: str) -> None:
        """Let go of a job `holder` holds, as if its claim had gone stale: the next claim takes it up."""
        self.db.assignment_jobs.update_one(
            {"_id": job_id, "state": {"$in": list(HELD)}, "claimed_by": holder},
            {"$set": {"heartbeat_at": RELEASED}},
            session=self.session,
        )

    def update_assignment_job(self, job_id: str, holder: str, fields: dict) -> bool:
        """Set `fields` of a job `holder` still holds; False if not. A job that ends (done or
        failed) no longer holds its call."""
        ends = fields.get("state") in ("done", "failed")
        done = self.db.assignment_jobs.update_one(
            {"_id": job_id, "state": {"$in": list(HELD)}, "claimed_by": holder},
            {"$set": fields, **({"$unset": {"active_call_id": ""}} if ends else {})},
            session=self.session,
        )
        return bool(done.matched_count)

    # ------------------------------------------------------------ projects (from events)

    def keep_project(self, project_id: str, fields: dict) -> None:
        """Create or update review's copy of a project; a new one starts standing."""
        self.db.projects.update_one(
            {"_id": project_id},
            {"$set": fields, "$setOnInsert": {"state": "standing", "results": {}}},
            upsert=True,
            session=self.session,
        )

    def set_project(self, project_id: str, fields: dict) -> bool:
        """Update a known project; False when review has not heard of it."""
        return bool(
            self.db.projects.update_one({"_id": project_id}, {"$set": fields}, session=self.session).matched_count
        )

    def rectifications_due(self, at: datetime) -> list[dict]:
        """Standing projects whose rectification deadline is past and not told of yet."""
        return list(
            self.db.projects.find(
                {"state": "standing", "rectify.by": {"$lte": at}, "rectify.told_at": None}, session=self.session
            ).sort("_id", ASCENDING)
        )

    def claim_rectification_notice(self, project_id: str, by: datetime, at: datetime) -> bool:
        """True the first time for the project's deadline `by`."""
        return bool(
            self.db.projects.update_one(
                {"_id": project_id, "rectify.by": by, "rectify.told_at": None},
                {"$set": {"rectify.told_at": at}},
                session=self.session,
            ).modified_count
        )

    def projects(self, query: dict | None = None) -> dict[str, dict]:
        return {d["_id"]: d for d in self.db.projects.find(query or {}, session=self.session).sort("_id", ASCENDING)}

    # ------------------------------------------------------------ panels

    def busy_projects(self, milestone: str) -> dict[str, str]:
        """Projects in an unfinished panel of `milestone` whose result is not confirmed yet:
        project id -> panel id."""
        busy = {}
        for panel in self.db.panels.find(
            {"milestone": milestone, "status": {"$ne": "closed"}},
            {"project_ids": 1, "results": 1},
            session=self.session,
        ):
            for project_id in panel["project_ids"]:
                if (panel.get("results") or {}).get(project_id, {}).get("status") != "confirmed":
                    busy[project_id] = panel["_id"]
        return busy

    def add_panel(self, panel: dict, events: Iterable[tuple[str, str, dict]]) -> dict:
        def work():
            self.db.panels.insert_one(panel, session=self.session)
            for name, subject, data in events:
                self.emit(name, subject, data)
            return panel

        return self.atomic(work)

    def panel(self, panel_id: str) -> dict:
        doc = self.db.panels.find_one({"_id": panel_id}, session=self.session)
        if doc is None:
            raise PanelNotFound(panel_id)
        return doc

    def in_panel(self, panel_id: str, work: Callable[[dict], T]) -> T:
        """Run `work(panel)` in one transaction, the panel read inside it and its version moved
        on, so that concurrent changes of one panel are applied one after the other."""

        def attempt():
            panel = self.panel(panel_id)
            self.db.panels.update_one({"_id": panel_id}, {"$inc": {"version": 1}}, session=self.session)
            return work(panel)

        return self.atomic(attempt)

    def update_panel(self, panel_id: str, set_fields: dict | None = None, history: Iterable[dict] = ()) -> None:
        update: dict = {}
        if set_fields:
            update["$set"] = set_fields
        history = list(history)
        if history:
            update["$push"] = {"history": {"$each": history}}
        if update:
            self.db.panels.update_one({"_id": panel_id}, update, session=self.session)

    def panel_assignment(self, assignment_id: str) -> dict:
        doc = self.db.panel_assignments.find_one({"_id": assignment_id}, session=self.session)
        if doc is None:
            raise PanelAssignmentNotFound(assignment_id)
        return doc

    def panel_assignments(self, panel_id: str, project_id: str | None = None) -> list[dict]:
        query = {"panel_id": panel_id, **({"project_id": project_id} if project_id else {})}
        return list(self.db.panel_assignments.find(query, session=self.session).sort("_id", ASCENDING))

    def add_panel_assignments(self, assignments: list[dict]) -> None:
        if assignments:
            self.db.panel_assignments.insert_many(assignments, session=self.session)

    def move_panel_assignment(
        self, assignment_id: str, from_status: str, to_status: str, entry: dict, set_fields: dict | None = None
    ) -> None:
        """Move a panel assignment from `from_status` (else StaleSnapshot), with its audit entry."""
        done = self.db.panel_assignments.update_one(
            {"_id": assignment_id, "status": from_status},
            {"$set": {"status": to_status, **(set_fields or {})}, "$push": {"history": entry}},
            session=self.session,
        )
        if not done.matched_count:
            raise StaleSnapshot(assignment_id)
