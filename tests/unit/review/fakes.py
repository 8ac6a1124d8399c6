"""The review store in memory (cosmicpython's fake repository): the ReviewStore methods the
use cases call (services/review/usecases: experts, assignment, reviews, selection,
candidates, and panels with their projects and rectification deadlines), over dicts; `atomic` and `emit` are the unit of work's
(tests/support/unit_of_work.py): a refused command's writes roll back, and every event is
checked against review's contract (services/contracts/review_events.py EVENTS).

Like MongoDB, every read answers a copy, so a use case sees only what it wrote back."""

from __future__ import annotations

import copy

from services.common.clock import utcnow
from services.contracts.review_events import EVENTS
from services.review.domain.reviews import STANDING
from services.review.store import (
    POOL_FIELDS,
    AssignmentJobNotFound,
    AssignmentJobRunning,
    AssignmentNotFound,
    CallNotFound,
    HELD,
    RELEASED,
    NotFound,
    DuplicateExpert,
    ObjectionNotFound,
    PanelAssignmentNotFound,
    PanelNotFound,
    StaleSnapshot,
    new_id,
)
from tests.support.unit_of_work import InMemoryUnitOfWork

CALL_DEFAULTS = {"stage": "reviewing", "applied_institution_ids": [], "history": [], "left": []}


def set_fields_of(doc: dict, fields: dict) -> None:
    """MongoDB's `$set`, dotted paths (`results.mid_term`) included."""
    for path, value in fields.items():
        *parents, key = path.split(".")
        target = doc
        for parent in parents:
            target = target.setdefault(parent, {})
        target[key] = copy.deepcopy(value)


class FakeReviewStore(InMemoryUnitOfWork):
    tables = (
        "expert_docs",
        "call_docs",
        "candidate_docs",
        "assignment_docs",
        "run_docs",
        "project_docs",
        "panel_docs",
        "panel_assignment_docs",
        "job_docs",
        "staged_docs",
    )
    events = EVENTS

    def __init__(self):
        super().__init__()
        self.expert_docs: dict[str, dict] = {}
        self.call_docs: dict[str, dict] = {}
        self.candidate_docs: dict[str, dict] = {}
        self.assignment_docs: dict[str, dict] = {}
        self.run_docs: dict[str, dict] = {}
        self.project_docs: dict[str, dict] = {}
        self.panel_docs: dict[str, dict] = {}
        self.panel_assignment_docs: dict[str, dict] = {}
        self.job_docs: dict[str, dict] = {}
        self.staged_docs: dict[str, dict] = {}
        self.job_progress: list[dict] = []  # every progress write, in order

    # --- experts --------------------------------------------------------------------------

    def add_experts(self, experts: list[dict], actor: str) -> list[dict]:
        docs = [{"_id": new_id("exp"), **expert, "created_at": utcnow(), "created_by": actor} for expert in experts]

        def work():
            for doc in docs:
                if doc["person_key"] in self.person_keys():
                    raise DuplicateExpert(DuplicateExpert.message.en)
                self.expert_docs[doc["_id"]] = copy.deepcopy(doc)
            return docs

        return self.atomic(work)

    def person_keys(self) -> set[str]:
        return {doc["person_key"] for doc in self.expert_docs.values()}

    def has_experts(self) -> bool:
        return bool(self.expert_docs)

    def experts(self, ids=None) -> list[dict]:
        return [copy.deepcopy(d) for _, d in sorted(self.expert_docs.items()) if ids is None or d["_id"] in ids]

    def qualified_experts(self, category: str, sharing_fields=None):
        experts = [
            {k: e[k] for k in ("_id", *POOL_FIELDS)}
            for e in self.experts()
            if category in e["categories"]
            and e["available"]
            and (sharing_fields is None or set(e["fields"]) & set(sharing_fields))
        ]
        yield from (experts[at : at + 2] for at in range(0, len(experts), 2))  # in batches, as the store reads them

    def expert_loads(self, call_id: str, expert_ids) -> dict[str, int]:
        loads: dict[str, int] = {}
        ids = set(expert_ids)
        for a in self.assignment_docs.values():
            if a["call_id"] == call_id and a["expert_id"] in ids and a["status"] in STANDING:
                loads[a["expert_id"]] = loads.get(a["expert_id"], 0) + 1
        return loads

    # --- calls and candidates (from events) -------------------------------------------------

    def touch_call(self, call_id: str, update: dict | None = None) -> None:
        """The Mongo upsert the store makes, for the operators the use cases send."""
        update = dict(update or {})
        doc = self.call_docs.get(call_id)
        if doc is None:
            touched = {path for operator in update.values() for path in operator}
            doc = self.call_docs[call_id] = {
                "_id": call_id,
                "version": 0,
                **copy.deepcopy({k: v for k, v in CALL_DEFAULTS.items() if k not in touched}),
            }
        for operator, fields in update.items():
            for key, value in fields.items():
                if operator == "$set":
                    doc[key] = copy.deepcopy(value)
                elif operator == "$addToSet":
                    doc.setdefault(key, [])
                    if value not in doc[key]:
                        doc[key].append(value)
                else:
                    raise AssertionError(f"touch_call: {operator} is not faked")
        doc["version"] = doc.get("version", 0) + 1

    def keep_candidate(self, application_id: str, fields: dict) -> dict | None:
        before = copy.deepcopy(self.candidate_docs.get(application_id))
        self.candidate_docs.setdefault(application_id, {"_id": application_id}).update(copy.deepcopy(fields))
        return before

    def candidate(self, application_id: str) -> dict | None:
        return copy.deepcopy(self.candidate_docs.get(application_id))

    def count_candidates(self, call_id: str) -> int:
        return len(self.candidates(call_id))

    def candidates(self, call_id: str, status: str | None = "eligible") -> list[dict]:
        return [
            copy.deepcopy(c)
            for _, c in sorted(self.candidate_docs.items())
            if c["call_id"] == call_id and status in (None, c["status"])
        ]

    def set_candidate(self, application_id: str, fields: dict) -> None:
        if application_id in self.candidate_docs:
            self.candidate_docs[application_id].update(copy.deepcopy(fields))

    # --- calls (commands) --------------------------------------------------------------------

    def call(self, call_id: str) -> dict:
        call = self.call_docs.get(call_id)
        if call is None or "category" not in call:
            raise CallNotFound(call_id)
        return copy.deepcopy(call)

    def known_call(self, call_id: str) -> dict | None:
        return copy.deepcopy(self.call_docs.get(call_id))

    def in_call(self, call_id: str, work):
        def attempt():
            call = self.call(call_id)
            self.call_docs[call_id]["version"] += 1
            return work(call)

        return self.atomic(attempt)

    def in_application(self, call_id: str, application_id: str, work):
        def attempt():
            call = self.call(call_id)
            self.candidate_docs[application_id]["version"] = self.candidate_docs[application_id].get("version", 0) + 1
            return work(call)

        return self.atomic(attempt)

    def close_candidates(self, call_id: str) -> None:
        for c in self.candidate_docs.values():
            if c["call_id"] == call_id:
                c["version"] = c.get("version", 0) + 1

    def update_call(self, call_id: str, set_fields: dict | None = None, history=(), push: dict | None = None) -> None:
        doc = self.call_docs[call_id]
        doc.update(copy.deepcopy(set_fields or {}))
        for key, value in (push or {}).items():
            doc.setdefault(key, []).append(copy.deepcopy(value))
        doc["history"] = doc.get("history", []) + copy.deepcopy(list(history))

    def call_of_objection(self, objection_id: str) -> str:
        for call in self.call_docs.values():
            if any(o["objection_id"] == objection_id for o in (call.get("notice") or {}).get("objections", [])):
                return call["_id"]
        raise ObjectionNotFound(objection_id)

    # --- assignments ---------------------------------------------------------------------------

    def assignment(self, assignment_id: str) -> dict:
        if assignment_id not in self.assignment_docs:
            raise AssignmentNotFound(assignment_id)
        return copy.deepcopy(self.assignment_docs[assignment_id])

    def assignments(
        self, call_id: str | None = None, application_id: str | None = None, run_id: str | None = None
    ) -> list[dict]:
        return [
            copy.deepcopy(a)
            for _, a in sorted(self.assignment_docs.items())
            if call_id in (None, a["call_id"])
            and application_id in (None, a["application_id"])
            and run_id in (None, a["run_id"])
        ]

    def move_assignment(
        self, assignment_id: str, from_status: str, to_status: str, entry: dict, set_fields: dict | None = None
    ) -> None:
        doc = self.assignment_docs.get(assignment_id)
        if doc is None or doc["status"] != from_status:
            raise StaleSnapshot(assignment_id)
        doc.update({"status": to_status, **copy.deepcopy(set_fields or {})})
        doc["history"].append(copy.deepcopy(entry))

    def save_run(self, call_id, version, run, assignments, moves, set_fields, history, events) -> dict:
        def work():
            call = self.call_docs[call_id]
            if call["version"] != version:
                raise StaleSnapshot(call_id)
            call["version"] += 1
            call.update(copy.deepcopy(set_fields))
            call["history"] = call.get("history", []) + copy.deepcopy(list(history))
            for assignment_id, from_status, to_status, entry, fields in moves:
                self.move_assignment(assignment_id, from_status, to_status, entry, fields)
            if "review_deadline" in set_fields:
                for a in self.assignment_docs.values():
                    if a["call_id"] == call_id and a["status"] in STANDING:
                        a["review_deadline"] = set_fields["review_deadline"]
            self.assignment_docs.update({a["_id"]: copy.deepcopy(a) for a in assignments})
            self.run_docs[run["_id"]] = copy.deepcopy(run)
            for name, subject, data in events:
                self.emit(name, subject, data)
            return run

        return self.atomic(work)

    def stage_assignments(self, assignments: list[dict]) -> None:
        assert not {a["_id"] for a in assignments} & set(self.staged_docs), "duplicate key"
        self.staged_docs.update({a["_id"]: copy.deepcopy(a) for a in assignments})

    def drop_staged(self, call_id: str, keep_run_id: str | None = None) -> None:
        self.staged_docs = {
            k: a for k, a in self.staged_docs.items() if a["call_id"] != call_id or a["run_id"] == keep_run_id
        }

    def publish_part(self, run_id: str, part: int) -> list[dict]:
        run = self.run_docs[run_id]
        if run["published_parts"] != part - 1:
            raise StaleSnapshot(run_id)
        run["published_parts"] = part
        moved = [
            self.staged_docs.pop(k)
            for k, a in sorted(self.staged_docs.items())
            if a["run_id"] == run_id and a["part"] == part
        ]
        for doc in moved:
            del doc["part"]
        self.assignment_docs.update({a["_id"]: copy.deepcopy(a) for a in moved})
        return moved

    def run(self, run_id: str) -> dict:
        if run_id not in self.run_docs:
            raise NotFound(run_id)
        return copy.deepcopy(self.run_docs[run_id])

    # --- assignment jobs -------------------------------------------------------------------------

    def add_assignment_job(self, job: dict) -> dict:
        for other in self.job_docs.values():
            if other.get("active_call_id") == job["call_id"]:
                raise AssignmentJobRunning(other["_id"])
        self.job_docs[job["_id"]] = {**copy.deepcopy(job), "active_call_id": job["call_id"]}
        return job

    def assignment_job(self, job_id: str) -> dict:
        if job_id not in self.job_docs:
            raise AssignmentJobNotFound(job_id)
        return {k: v for k, v in copy.deepcopy(self.job_docs[job_id]).items() if k != "active_call_id"}

    def claim_assignment_job(self, holder: str, now, stale_before) -> dict | None:
        stale = [j for j in self.job_docs.values() if j["state"] in HELD and j["heartbeat_at"] < stale_before]
        queued = [j for j in self.job_docs.values() if j["state"] == "queued"]
        if not stale and not queued:
            return None
        job = min(stale or queued, key=lambda j: j["requested_at"])
        if not stale:
            job.update({"state": "solving", "started_at": now})
        job.update({"claimed_by": holder, "heartbeat_at": now})
        job["claims"] += 1
        return self.assignment_job(job["_id"])

    def _held(self, job_id: str, holder: str) -> dict | None:
        job = self.job_docs.get(job_id)
        return job if job and job["state"] in HELD and job["claimed_by"] == holder else None

    def assignment_job_progress(self, job_id: str, holder: str, progress: dict, now) -> bool:
        if not self.update_assignment_job(job_id, holder, {"progress": progress, "heartbeat_at": now}):
            return False
        self.job_progress.append(copy.deepcopy(progress))
        return True

    def release_assignment_job(self, job_id: str, holder: str) -> None:
        if job := self._held(job_id, holder):
            job["heartbeat_at"] = RELEASED

    def update_assignment_job(self, job_id: str, holder: str, fields: dict) -> bool:
        job = self._held(job_id, holder)
        if job is None:
            return False
        job.update(copy.deepcopy(fields))
        if fields.get("state") in ("done", "failed"):
            job.pop("active_call_id", None)
        return True

    # --- projects (from events) ------------------------------------------------------------

    def keep_project(self, project_id: str, fields: dict) -> None:
        doc = self.project_docs.setdefault(project_id, {"_id": project_id, "state": "standing", "results": {}})
        set_fields_of(doc, fields)

    def set_project(self, project_id: str, fields: dict) -> bool:
        doc = self.project_docs.get(project_id)
        if doc is None:
            return False
        set_fields_of(doc, fields)
        return True

    def rectifications_due(self, at) -> list[dict]:
        return [
            copy.deepcopy(p)
            for _, p in sorted(self.project_docs.items())
            if p["state"] == "standing"
            and (p.get("rectify") or {}).get("by") is not None
            and p["rectify"]["by"] <= at
            and p["rectify"].get("told_at") is None
        ]

    def claim_rectification_notice(self, project_id: str, by, at) -> bool:
        rectify = (self.project_docs.get(project_id) or {}).get("rectify")
        if not rectify or rectify.get("by") != by or rectify.get("told_at") is not None:
            return False
        rectify["told_at"] = at
        return True

    def projects(self, query: dict | None = None) -> dict[str, dict]:
        """The queries the use cases send: all, `{"_id": id}` or `{"_id": {"$in": ids}}`."""
        query = dict(query or {})
        wanted = query.pop("_id", None)
        if query or (isinstance(wanted, dict) and set(wanted) != {"$in"}):
            raise AssertionError(f"projects: {query or wanted} is not faked")
        if wanted is not None:
            wanted = set(wanted["$in"]) if isinstance(wanted, dict) else {wanted}
        return {k: copy.deepcopy(p) for k, p in sorted(self.project_docs.items()) if wanted is None or k in wanted}

    # --- panels --------------------------------------------------------------------------------

    def busy_projects(self, milestone: str) -> dict[str, str]:
        return {
            project_id: panel["_id"]
            for _, panel in sorted(self.panel_docs.items())
            if panel["milestone"] == milestone and panel["status"] != "closed"
            for project_id in panel["project_ids"]
            if (panel.get("results") or {}).get(project_id, {}).get("status") != "confirmed"
        }

    def add_panel(self, panel: dict, events) -> dict:
        def work():
            assert panel["_id"] not in self.panel_docs, "duplicate key"
            self.panel_docs[panel["_id"]] = copy.deepcopy(panel)
            for name, subject, data in events:
                self.emit(name, subject, data)
            return panel

        return self.atomic(work)

    def panel(self, panel_id: str) -> dict:
        if panel_id not in self.panel_docs:
            raise PanelNotFound(panel_id)
        return copy.deepcopy(self.panel_docs[panel_id])

    def in_panel(self, panel_id: str, work):
        def attempt():
            panel = self.panel(panel_id)
            self.panel_docs[panel_id]["version"] = self.panel_docs[panel_id].get("version", 0) + 1
            return work(panel)

        return self.atomic(attempt)

    def update_panel(self, panel_id: str, set_fields: dict | None = None, history=()) -> None:
        doc = self.panel_docs.get(panel_id)
        if doc is not None:
            set_fields_of(doc, set_fields or {})
            doc["history"] = doc.get("history", []) + copy.deepcopy(list(history))

    def panel_assignment(self, assignment_id: str) -> dict:
        if assignment_id not in self.panel_assignment_docs:
            raise PanelAssignmentNotFound(assignment_id)
        return copy.deepcopy(self.panel_assignment_docs[assignment_id])

    def panel_assignments(self, panel_id: str, project_id: str | None = None) -> list[dict]:
        return [
            copy.deepcopy(a)
            for _, a in sorted(self.panel_assignment_docs.items())
            if a["panel_id"] == panel_id and (not project_id or a["project_id"] == project_id)
        ]

    def add_panel_assignments(self, assignments: list[dict]) -> None:
        assert not {a["_id"] for a in assignments} & set(self.panel_assignment_docs), "duplicate key"
        self.panel_assignment_docs.update({a["_id"]: copy.deepcopy(a) for a in assignments})

    def move_panel_assignment(
        self, assignment_id: str, from_status: str, to_status: str, entry: dict, set_fields: dict | None = None
    ) -> None:
        doc = self.panel_assignment_docs.get(assignment_id)
        if doc is None or doc["status"] != from_status:
            raise StaleSnapshot(assignment_id)
        set_fields_of(doc, {"status": to_status, **(set_fields or {})})
        doc.setdefault("history", []).append(copy.deepcopy(entry))
