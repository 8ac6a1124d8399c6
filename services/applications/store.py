"""The applications service's MongoDB repository: the only code that knows its collections.

Collections: `institutions`, `calls`, `applications`; `counters` (places taken against a
limit, one document per call and institution or call and recommending authority);
`category_quotas` (per category: selected so far, and held by calls not finalized);
`selections` (approved applications, from review's selection_finalized); `materials` (the
files filed with applications and the evidence files of annual reports, each naming its owner
by `application_id` or `report_id`: who filed what when, and when it was removed), their bytes in
the GridFS bucket `material_blobs` (one blob per distinct SHA-256, which `material_contents`
claims: its `_id` is the SHA-256, so of two uploads of the same content racing only one
claim is written and the other upload drops its copy and uses the winner's), `material_reads` (every
expert download) and `expert_access` (which expert may read which application until when,
from review's assignment events).

Every limit that concurrent requests race for (an institution's applications in a call,
an authority's recommendations, a category's quota) is a counter document written inside
the request's transaction: two transactions that both write it conflict, the loser is
retried and then sees the new count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

import hashlib
import io
from collections import OrderedDict
from dataclasses import dataclass

import gridfs
from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.applications.domain import access
from services.applications.domain.applications import (
    APPLICATION_MACHINE,
    ELIGIBLE,
    NOT_SELECTED,
)
from services.applications.domain.calls import (
    CALL_MACHINE,
    DRAFT,
    OPEN,
)
from services.contracts.catalogue import Catalogue, catalogue
from services.applications.domain.materials import APPLICATION, Owner, material_history
from services.applications.domain.messages import (
    Bilingual,
    DuplicateCreditCode,
    NotFound,
)
from services.applications.domain.projects import LEFT, PROJECT_MACHINE
from services.common.actor import Actor
from services.applications.domain.reports import DRAFT as REPORT_DRAFT
from services.applications.domain.reports import REPORT_MACHINE, already_filed, window_exists
from services.contracts.applications_events import EVENTS
from services.common import pages
from services.common.store import BaseStore

BLOBS = "material_blobs"
BLOB_CHUNK_BYTES = 255 * 1024  # GridFS's default chunk size
BLOB_BATCH_CHUNKS = 4  # chunks per insert while a file streams in, per batch read out: about 1 MB held
BLOB_READ_KEEP = 4  # chunks a reader keeps for seeks back
_DUE_CALLS_BATCH = 100
DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class Blob:
    """A material's bytes as stored: one GridFS file per distinct content."""

    id: ObjectId
    size: int
    sha256: str


class BlobReader(io.RawIOBase):
    """A GridFS file read chunk by chunk, seekable, holding at most BLOB_READ_KEEP chunks.

    pymongo's GridOut reads through a cursor whose first batch may be 101 chunks (up to 16 MB),
    and opens a new one at each seek back: a PDF reader seeking about the trailer and its objects
    would hold and drop megabytes at every step. Here a sequential read fetches the next chunks
    BLOB_BATCH_CHUNKS at a time, and the last few chunks read are kept for the seeks back."""

    def __init__(self, chunks, blob_id: ObjectId, length: int, chunk_size: int):
        super().__init__()
        self._chunks, self._blob_id, self.length, self.chunk_size = chunks, blob_id, length, chunk_size
        self._position = 0
        self._kept: OrderedDict[int, bytes] = OrderedDict()
        self._cursor, self._next = None, -1  # the open cursor and the chunk number it yields next

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.length}[whence]
        self._position = max(0, base + offset)
        return self._position

    def _chunk(self, number: int) -> bytes:
        if number in self._kept:
            self._kept.move_to_end(number)
            return self._kept[number]
        if self._cursor is None or number != self._next:
            if self._cursor is not None:
                self._cursor.close()
            self._cursor = (
                self._chunks.find({"files_id": self._blob_id, "n": {"$gte": number}}, {"data": 1, "n": 1})
                .sort("n", ASCENDING)
                .batch_size(BLOB_BATCH_CHUNKS)
            )
        found = next(self._cursor, None)
        if found is None or found["n"] != number:
            raise gridfs.errors.CorruptGridFile(f"blob {self._blob_id}: chunk {number} is missing")
        self._next = number + 1
        self._kept[number] = data = bytes(found["data"])
        if len(self._kept) > BLOB_READ_KEEP:
            self._kept.popitem(last=False)
        return data

    def read(self, size: int = -1) -> bytes:
        end = self.length if size is None or size < 0 else min(self.length, self._position + size)
        pieces = []
        while self._position < end:
            number, offset = divmod(self._position, self.chunk_size)
            piece = self._chunk(number)[offset : offset + end - self._position]
            if not piece:
                break
            pieces.append(piece)
            self._position += len(piece)
        return b"".join(pieces)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
        self._kept.clear()
        super().close()


def new_id(prefix: str) -> str:
    """Opaque, and in creation order (the ObjectId leads with its second), so pages follow it."""
    return f"{prefix}_{ObjectId()}"


def _institution_counter(call_id: str, institution_id: str) -> str:
    return f"{call_id}:institution:{institution_id}"


def _recommendation_counter(call_id: str, recommender_key: str) -> str:
    return f"{call_id}:recommender:{recommender_key}"


def _not_found(what_en: str, what_zh: str) -> NotFound:
    return NotFound(Bilingual(f"no such {what_en}", f"{what_zh}不存在"))


def _out(doc: Mapping | None) -> dict | None:
    """A stored document as the service answers it: `_id` becomes `id`."""
    if doc is None:
        return None
    record = {key: value for key, value in doc.items() if key != "_id"}
    return {"id": doc["_id"], **record}


#: A stored document as the service answers it (for the use cases' raw documents).
as_answer = _out


def _scoped(
    actor: Actor, filters: Mapping, names: Mapping[str, str] | None = None, scope_of=access.scope
) -> dict | None:
    """The filters narrowed to the actor's scope (`names` maps scope names to fields);
    None when nothing can match."""
    scope = scope_of(actor)
    if scope is None:
        return None
    query = dict(filters)
    for name, value in scope.items():
        field = (names or {}).get(name, name)
        if query.get(field, value) != value:
            return None
        query[field] = value
    return query


def _standing_in(year: int) -> dict:
    """The projects of calls up to `year` that have not left."""
    return {"year": {"$lte": year}, "state": {"$nin": list(LEFT)}}


#: The selections that still count toward their category's 2025 target: not of a project that left.
STANDING = {"left_at": None}


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
        "projects": [
            IndexModel([("institution_id", ASCENDING), ("_id", ASCENDING)], name="by_institution"),
            IndexModel([("prefecture", ASCENDING), ("_id", ASCENDING)], name="by_prefecture"),
            IndexModel([("recommender_key", ASCENDING), ("_id", ASCENDING)], name="by_recommender"),
            IndexModel([("category", ASCENDING), ("year", ASCENDING), ("_id", ASCENDING)], name="by_category_year"),
        ],
        "report_windows": [IndexModel([("year", ASCENDING)], name="year_unique", unique=True)],
        "annual_reports": [
            IndexModel([("project_id", ASCENDING), ("year", ASCENDING)], name="by_project"),
            IndexModel([("year", ASCENDING), ("prefecture", ASCENDING)], name="by_year_prefecture"),
            IndexModel([("institution_id", ASCENDING), ("_id", ASCENDING)], name="by_institution"),
            IndexModel([("prefecture", ASCENDING), ("_id", ASCENDING)], name="by_prefecture"),
            IndexModel([("recommender_key", ASCENDING), ("_id", ASCENDING)], name="by_recommender"),
        ],
        "report_reminders": [IndexModel([("window_id", ASCENDING), ("due_at", ASCENDING)], name="by_window")],
        "materials": [
            IndexModel([("application_id", ASCENDING), ("_id", ASCENDING)], name="by_application"),
            IndexModel([("report_id", ASCENDING), ("_id", ASCENDING)], name="by_report"),
        ],
        "material_reads": [IndexModel([("application_id", ASCENDING)], name="by_application")],
        "expert_access": [],
        "material_contents": [IndexModel([("blob_id", ASCENDING)], name="by_blob")],
        f"{BLOBS}.files": [
            IndexModel([("metadata.sha256", ASCENDING)], name="by_sha256"),
            IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)]),
        ],  # as GridFS makes them
        f"{BLOBS}.chunks": [IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)],
    }
    events = EVENTS
    catalogue: Catalogue = catalogue()

    # ------------------------------------------------------------ plumbing

    def _one(self, collection: str, query: Mapping) -> dict | None:
        return self.db[collection].find_one(query, session=self.session)

    def _count(self, collection: str, query: Mapping) -> int:
        return self.db[collection].count_documents(query, session=self.session)

    def _page(self, collection: str, query: dict, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        docs, next_cursor = pages.page(self.db[collection], query, pages.BY_ID, limit, cursor, self.session)
        return [_out(doc) for doc in docs], next_cursor

    def _take(self, counter: str, limit: int) -> int:
        """Take one of `limit` places of `counter`. Returns how many were taken before: at
        `limit` or more, none was free and nothing was taken. A conditional update and a read by
        `_id` in the transaction, not a findAndModify: see docs/writing-a-service.md."""
        s = self.session
        self.db.counters.update_one({"_id": counter}, {"$setOnInsert": {"taken": 0}}, upsert=True, session=s)
        took = self.db.counters.update_one({"_id": counter, "taken": {"$lt": limit}}, {"$inc": {"taken": 1}}, session=s)
        taken = self._one("counters", {"_id": counter})["taken"]
        return taken - 1 if took.modified_count else taken

    def _release(self, counter: str) -> None:
        self.db.counters.update_one(
            {"_id": counter, "taken": {"$gt": 0}}, {"$inc": {"taken": -1}}, session=self.session
        )

    def _move(
        self,
        collection: str,
        doc: dict,
        machine,
        event: str,
        actor: str,
        at: datetime,
        reason: str | None = None,
        changes: Mapping | None = None,
    ) -> dict:
        """Apply a state machine event to a stored record, with its audit entry in `history`."""
        state, entry = machine.apply(doc["state"], event, actor, reason, at)
        updates = {"state": state, **(changes or {})}
        self.db[collection].update_one(
            {"_id": doc["_id"], "state": doc["state"]},
            {"$set": updates, "$push": {"history": entry.as_dict()}},
            session=self.session,
        )
        return {**doc, **updates, "history": [*doc.get("history", []), entry.as_dict()]}

    # ------------------------------------------------------------ catalogue

    def held_by_category(self) -> dict[str, int]:
        """The places each category's unfinished calls hold."""
        return {doc["_id"]: doc.get("held", 0) for doc in self.db.category_quotas.find({}, session=self.session)}

    def standing_selections_by_year(self) -> dict[str, dict[int, int]]:
        """Per category and year, the selections that still count (not of a project that left)."""
        by_year: dict[str, dict[int, int]] = {}
        for cell in self.db.selections.aggregate(
            [
                {"$match": STANDING},
                {"$group": {"_id": {"category": "$category", "year": "$year"}, "selected": {"$sum": 1}}},
            ],
            session=self.session,
        ):
            by_year.setdefault(cell["_id"]["category"], {})[cell["_id"].get("year")] = cell["selected"]
        return by_year

    def quota_counter(self, category: str) -> dict:
        """The category's counter document (selected, held), created at zero the first time.
        Writing it makes two transactions that hold or settle the category's quota conflict."""
        self.db.category_quotas.update_one(
            {"_id": category}, {"$setOnInsert": {"selected": 0, "held": 0}}, upsert=True, session=self.session
        )
        return self._one("category_quotas", {"_id": category})

    def hold_quota(self, category: str, quota: int) -> None:
        self.db.category_quotas.update_one({"_id": category}, {"$inc": {"held": quota}}, session=self.session)

    # ------------------------------------------------------------ institutions

    def insert_institutions(self, docs: list[dict]) -> None:
        """Inserts them in order; DuplicateCreditCode when a credit code is registered already."""
        try:
            self.db.institutions.insert_many(docs, ordered=True, session=self.session)
        except BulkWriteError as exc:
            if not any(error["code"] == DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                raise
            raise DuplicateCreditCode(
                Bilingual(
                    "an institution with this credit code is already registered", "该统一社会信用代码的单位已登记"
                )
            ) from None

    def credit_codes(self) -> list[str]:
        return [doc["credit_code"] for doc in self.db.institutions.find({}, {"credit_code": 1}, session=self.session)]

    def institution(self, institution_id: str, actor: Actor) -> dict:
        """Raises NotFound when it does not exist or `actor` may not see it."""
        doc = self._one("institutions", {"_id": institution_id})
        if doc is None or not access.may_see(actor, {**doc, "institution_id": doc["_id"]}):
            raise _not_found("institution", "单位")
        return _out(doc)

    def institutions_page(
        self, actor: Actor, limit: int, cursor: str | None, **filters
    ) -> tuple[list[dict], str | None]:
        query = _scoped(actor, filters, {"institution_id": "_id"})
        return self._page("institutions", query, limit, cursor) if query is not None else ([], None)

    # ------------------------------------------------------------ calls

    def insert_call(self, doc: dict) -> None:
        self.db.calls.insert_one(doc, session=self.session)

    @staticmethod
    def sees_drafts(actor: Actor) -> bool:
        return actor.role == access.PROVINCE_ROLE

    def call(self, call_id: str, actor: Actor) -> dict:
        """Drafts are the province's own until they open. Raises NotFound."""
        doc = self.call_doc(call_id)
        if doc["state"] == DRAFT and not self.sees_drafts(actor):
            raise _not_found("call", "遴选批次")
        return _out(doc)

    def calls_page(self, actor: Actor, limit: int, cursor: str | None, **filters) -> tuple[list[dict], str | None]:
        if not self.sees_drafts(actor):
            if filters.get("state") == DRAFT:
                return [], None
            filters.setdefault("state", {"$ne": DRAFT})
        return self._page("calls", filters, limit, cursor)

    def call_doc(self, call_id: str) -> dict:
        doc = self._one("calls", {"_id": call_id})
        if doc is None:
            raise _not_found("call", "遴选批次")
        return doc

    def move_call(
        self, doc: dict, event: str, actor: str, at: datetime, reason: str | None = None, changes: Mapping | None = None
    ) -> dict:
        return self._move("calls", doc, CALL_MACHINE, event, actor, at, reason, changes)

    def due_call_ids(self, at: datetime) -> list[str]:
        """Up to a batch of the calls the timer should open or close now (read outside any transaction)."""
        return [
            ref["_id"]
            for ref in self.db.calls.find(
                {"$or": [{"state": DRAFT, "opens_at": {"$lte": at}}, {"state": OPEN, "closes_at": {"$lte": at}}]},
                {"_id": 1},
            ).limit(_DUE_CALLS_BATCH)
        ]

    def count_applications(self, call_id: str, states: Iterable[str]) -> int:
        return self._count("applications", {"call_id": call_id, "state": {"$in": list(states)}})

    # ------------------------------------------------------------ applications

    def _application_doc(self, application_id: str, actor: Actor) -> dict:
        doc = self._one("applications", {"_id": application_id})
        if doc is None or not access.may_see(actor, doc):
            raise _not_found("application", "申报")
        return doc

    def with_materials(self, doc: Mapping) -> dict:
        """The application as answered: its materials, and its history with theirs woven in."""
        filed = list(
            self.db.materials.find({"application_id": doc["_id"]}, session=self.session).sort("_id", ASCENDING)
        )
        return _out(
            {
                **doc,
                "materials": [_out(m) for m in filed if m["removed_at"] is None],
                "history": material_history(doc.get("history", []), filed),
            }
        )

    def applications_page(
        self, actor: Actor, limit: int, cursor: str | None, **filters
    ) -> tuple[list[dict], str | None]:
        query = _scoped(actor, filters)
        return self._page("applications", query, limit, cursor) if query is not None else ([], None)

    def find_call(self, call_id: str) -> dict | None:
        return self._one("calls", {"_id": call_id})

    def institution_doc(self, institution_id: str | None) -> dict | None:
        return self._one("institutions", {"_id": institution_id})

    def insert_application(self, doc: dict) -> None:
        self.db.applications.insert_one(doc, session=self.session)

    def update_application(self, doc: Mapping, updates: Mapping) -> dict:
        """The application's fields changed, unless its state changed meanwhile."""
        self.db.applications.update_one(
            {"_id": doc["_id"], "state": doc["state"]}, {"$set": dict(updates)}, session=self.session
        )
        return {**doc, **updates}

    def count_others_in(self, doc: Mapping, field: str, states: Iterable[str]) -> int:
        """How many other applications of the call with the same `field` are in `states`. (Only
        the equalities go to the server, so that its index on (call_id, field) serves them.)"""
        others = self.db.applications.find(
            {"call_id": doc["call_id"], field: doc[field]}, {"state": 1}, session=self.session
        )
        return sum(other["_id"] != doc["_id"] and other["state"] in states for other in others)

    def prefecture_selected(self, category: str, prefecture: str) -> bool:
        """Whether the category has selected an application of the prefecture already."""
        return self._one("selections", {"category": category, "prefecture": prefecture}) is not None

    # The places taken against a limit: an institution's applications in a call, and an
    # authority's recommendations in a call. Each counter's key is made in one place here.

    def take_institution_place(self, call_id: str, institution_id: str, limit: int) -> int:
        """Takes one of the institution's `limit` places in the call; see `_take`."""
        return self._take(_institution_counter(call_id, institution_id), limit)

    def release_institution_place(self, call_id: str, institution_id: str) -> None:
        self._release(_institution_counter(call_id, institution_id))

    def take_recommendation_place(self, call_id: str, recommender_key: str, cap: int) -> int:
        """Takes one of the authority's `cap` recommendations in the call; see `_take`."""
        return self._take(_recommendation_counter(call_id, recommender_key), cap)

    def release_recommendation_place(self, call_id: str, recommender_key: str) -> None:
        self._release(_recommendation_counter(call_id, recommender_key))

    # ------------------------------------------------------------ review's progress (for usecases.selection)

    def eligible_among(self, application_ids: Iterable[str]) -> list[dict]:
        return list(
            self.db.applications.find(
                {"_id": {"$in": sorted(set(application_ids))}, "state": ELIGIBLE}, session=self.session
            )
        )

    def applications_in(self, call_id: str, states: Iterable[str]) -> list[dict]:
        return list(
            self.db.applications.find({"call_id": call_id, "state": {"$in": list(states)}}, session=self.session)
        )

    def keep_reserve(self, call_id: str, reserve: list, valid_until: datetime) -> None:
        self.db.calls.update_one(
            {"_id": call_id}, {"$set": {"reserve": reserve, "reserve_valid_until": valid_until}}, session=self.session
        )

    def settle_quota(self, category: str, selected: int, released: int) -> None:
        """`selected` more places of the category taken, `released` fewer held (a call finalized)."""
        self.quota_counter(category)
        self.db.category_quotas.update_one(
            {"_id": category}, {"$inc": {"selected": selected, "held": -released}}, session=self.session
        )

    def record_selection(self, application_id: str, selection: Mapping) -> None:
        self.db.selections.update_one(
            {"_id": application_id}, {"$set": dict(selection)}, upsert=True, session=self.session
        )

    # ------------------------------------------------------------ the reserve list (for usecases.projects)

    def category_standing(self, category: str) -> tuple[int, int]:
        """The category's places: (selected, held by unfinished calls)."""
        counter = self.quota_counter(category)
        return counter["selected"], counter["held"]

    def reserve_waiting(self, call_id: str) -> set[str]:
        """The call's applications that were not selected and have not been promoted since."""
        return {
            doc["_id"]
            for doc in self.db.applications.find(
                {"call_id": call_id, "state": NOT_SELECTED}, {"_id": 1}, session=self.session
            )
        }

    def standing_by_prefecture(self, call_id: str) -> dict[str, int]:
        """The call's selections that have not left, per prefecture."""
        return {
            cell["_id"]: cell["standing"]
            for cell in self.db.selections.aggregate(
                [
                    {"$match": {"call_id": call_id, **STANDING}},
                    {"$group": {"_id": "$prefecture", "standing": {"$sum": 1}}},
                ],
                session=self.session,
            )
        }

    def give_place(self, left: Mapping, successor: dict, at: datetime) -> None:
        """The place of `left` goes to `successor`, a new project from its call's reserve list, and
        counts toward the category again. Two requests for one place both write `left`: the loser
        conflicts, is retried and then finds the place taken."""
        self.db.projects.update_one(
            {"_id": left["_id"]}, {"$set": {"succeeded_by": successor["_id"], "updated_at": at}}, session=self.session
        )
        self.db.selections.update_one(
            {"_id": left["_id"]}, {"$set": {"succeeded_by": successor["_id"]}}, session=self.session
        )
        self.db.selections.insert_one(
            {
                "_id": successor["_id"],
                "call_id": successor["call_id"],
                "category": successor["category"],
                "prefecture": successor["prefecture"],
                "institution_id": successor["institution_id"],
                "rank": successor["rank"],
                "selected_at": at,
                "year": successor["year"],
                "succeeds": left["_id"],
            },
            session=self.session,
        )
        self.db.category_quotas.update_one(
            {"_id": successor["category"]}, {"$inc": {"selected": 1}}, session=self.session
        )

    # ------------------------------------------------------------ supervision

    def progress(self, actor: Actor) -> dict:
        """The catalogue's quotas, and the approved applications (review's selections) per
        category and prefecture within the actor's scope."""
        scope = _scoped(actor, {})
        counts = (
            []
            if scope is None
            else self.db.selections.aggregate(
                [
                    {"$match": {**scope, **STANDING}},
                    {
                        "$group": {
                            "_id": {"category": "$category", "prefecture": "$prefecture"},
                            "approved": {"$sum": 1},
                        }
                    },
                ],
                session=self.session,
            )
        )
        return {
            "quota_year": self.catalogue.quota_year,
            "categories": [
                {"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "quota": c.quota} for c in self.catalogue
            ],
            "approved": sorted(
                ({**doc["_id"], "approved": doc["approved"]} for doc in counts),
                key=lambda cell: (cell["category"], cell["prefecture"]),
            ),
        }

    # ------------------------------------------------------------ supervision

    def institutions_in(self, scope: Mapping) -> Iterable[dict]:
        """The register's facts supervision counts, within `scope`."""
        return self.db.institutions.find(
            scope,
            {"type": 1, "prefecture": 1, "county": 1, "ownership": 1, "credit_code": 1, "backbone": 1},
            session=self.session,
        )

    def standing_projects(self, scope: Mapping, year: int) -> Iterable[dict]:
        """The projects of calls up to `year` that have not left, within `scope`."""
        return self.db.projects.find(
            {**scope, **_standing_in(year)}, {"prefecture": 1, "category": 1, "year": 1}, session=self.session
        )

    def count_standing_projects(self, year: int) -> int:
        return self.db.projects.count_documents(_standing_in(year), session=self.session)

    def supervision_rubric(self, year: int) -> dict | None:
        return self.db.supervision_rubrics.find_one({"_id": year}, session=self.session)

    def save_supervision_weights(self, year: int, weights: Mapping[str, int], by: str, at: datetime) -> dict:
        return self.db.supervision_rubrics.find_one_and_update(
            {"_id": year},
            {
                "$set": {"weights": dict(weights), "updated_at": at, "updated_by": by},
                "$push": {"history": {"weights": dict(weights), "at": at, "by": by}},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=self.session,
        )

    # ------------------------------------------------------------ calls to their end (for usecases.calls)

    def release_quota(self, category: str, quota: int) -> None:
        self.quota_counter(category)
        self.db.category_quotas.update_one({"_id": category}, {"$inc": {"held": -quota}}, session=self.session)

    def open_applications_of(self, call_id: str) -> list[dict]:
        """The call's applications that are not settled yet (no terminal state)."""
        live = [s for s in APPLICATION_MACHINE.states if not APPLICATION_MACHINE.is_terminal(s)]
        return list(self.db.applications.find({"call_id": call_id, "state": {"$in": live}}, session=self.session))

    def move_application(
        self, doc: dict, event: str, actor: str, at: datetime, reason: str | None, changes: Mapping | None = None
    ) -> dict:
        return self._move(
            "applications", doc, APPLICATION_MACHINE, event, actor, at, reason, {**(changes or {}), "updated_at": at}
        )

    # ------------------------------------------------------------ projects (for usecases.projects)

    def insert_project(self, doc: dict) -> bool:
        """True when the project is new (an approved application becomes one project, once)."""
        result = self.db.projects.update_one(
            {"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True, session=self.session
        )
        return result.upserted_id is not None

    def project_doc(self, project_id: str) -> dict | None:
        return self._one("projects", {"_id": project_id})

    def scoped_project_doc(self, project_id: str, actor: Actor) -> dict:
        """Raises NotFound when it does not exist or `actor` may not see it."""
        doc = self.project_doc(project_id)
        scope = access.project_scope(actor)
        if doc is None or scope is None or any(doc.get(name) != value for name, value in scope.items()):
            raise _not_found("project", "项目")
        return doc

    def project(self, project_id: str, actor: Actor) -> dict:
        """The project with its application's materials (a project's id is its application's) and
        its annual reports. Raises NotFound when it does not exist or `actor` may not see it."""
        doc = self.scoped_project_doc(project_id, actor)
        return _out(
            {
                **doc,
                "materials": self.materials(Owner(APPLICATION, doc["_id"])),
                "reports": self.reports_of_project(project_id),
            }
        )

    def projects_page(self, actor: Actor, limit: int, cursor: str | None, **filters) -> tuple[list[dict], str | None]:
        query = _scoped(actor, filters, scope_of=access.project_scope)
        return self._page("projects", query, limit, cursor) if query is not None else ([], None)

    def move_project(
        self, doc: dict, event: str, actor: str, at: datetime, reason: str | None, changes: Mapping
    ) -> dict:
        return self._move("projects", doc, PROJECT_MACHINE, event, actor, at, reason, changes)

    def update_project(self, project_id: str, changes: Mapping) -> None:
        self.db.projects.update_one({"_id": project_id}, {"$set": dict(changes)}, session=self.session)

    def return_place(self, project_id: str, category: str, at: datetime) -> None:
        """A project that left no longer counts toward its category's 2025 target: a later call may
        select in its place."""
        self.quota_counter(category)
        self.db.selections.update_one({"_id": project_id}, {"$set": {"left_at": at}}, session=self.session)
        self.db.category_quotas.update_one({"_id": category}, {"$inc": {"selected": -1}}, session=self.session)

    # ------------------------------------------------------------ annual reports (for usecases.reports)

    def insert_report_window(self, doc: dict) -> None:
        """A year's reporting window; one per year (WindowExists)."""
        if self._one("report_windows", {"year": doc["year"]}) is not None:
            raise window_exists(doc["year"])
        try:
            self.db.report_windows.insert_one(doc, session=self.session)  # the unique index settles a race
        except DuplicateKeyError:
            raise window_exists(doc["year"]) from None

    def report_window(self, window_id: str) -> dict:
        doc = self._one("report_windows", {"_id": window_id})
        if doc is None:
            raise _not_found("reporting window", "年度报告填报批次")
        return doc

    def report_window_of_year(self, year: int) -> dict | None:
        return self._one("report_windows", {"year": year})

    def report_windows(self) -> list[dict]:
        return list(self.db.report_windows.find({}, session=self.session).sort("year", ASCENDING))

    def report_windows_running(self, at: datetime) -> list[dict]:
        """The windows open now whose deadline is still ahead."""
        return list(
            self.db.report_windows.find({"opens_at": {"$lte": at}, "due_at": {"$gt": at}}, session=self.session)
        )

    def report_windows_past_due(self, at: datetime) -> list[dict]:
        """The windows whose deadline has passed and whose missing reports are not announced yet."""
        return list(
            self.db.report_windows.find({"due_at": {"$lte": at}, "missing_announced_at": None}, session=self.session)
        )

    def mark_missing_announced(self, window: Mapping, at: datetime) -> bool:
        """True for the one caller that marks it (a conditional update inside the transaction)."""
        result = self.db.report_windows.update_one(
            {"_id": window["_id"], "missing_announced_at": None},
            {"$set": {"missing_announced_at": at}},
            session=self.session,
        )
        return result.modified_count == 1

    def due_projects(self, window: Mapping, scope: Mapping | None = None) -> list[dict]:
        """The projects within `scope` that owe a report in `window` (the domain's `is_due`, as a query)."""
        if scope is None:
            return []
        return list(
            self.db.projects.find(
                {
                    **scope,
                    "year": {"$lte": window["year"]},
                    "state": {"$nin": list(LEFT)},
                    "created_at": {"$lte": window["due_at"]},
                },
                {
                    "plan": 1,
                    "year": 1,
                    "state": 1,
                    "created_at": 1,
                    "institution_id": 1,
                    "institution_name": 1,
                    "prefecture": 1,
                    "category": 1,
                },
                session=self.session,
            ).sort("_id", ASCENDING)
        )

    def reports_by_project(self, year: int, scope: Mapping | None = None) -> dict[str, dict]:
        """The year's filed reports by project (a draft is not filed: its project is still missing)."""
        if scope is None:
            return {}
        return {
            doc["project_id"]: doc
            for doc in self.db.annual_reports.find(
                {**scope, "year": year, "state": {"$ne": REPORT_DRAFT}},
                {"project_id": 1, "late": 1, "first_filed_at": 1, "state": 1},
                session=self.session,
            )
        }

    def report_doc(self, report_id: str) -> dict | None:
        return self._one("annual_reports", {"_id": report_id})

    def scoped_report_doc(self, report_id: str, actor: Actor) -> dict:
        """Raises NotFound when it does not exist or `actor` may not see it (a project's readers see its reports)."""
        doc = self.report_doc(report_id)
        scope = access.project_scope(actor)
        if doc is None or scope is None or any(doc.get(name) != value for name, value in scope.items()):
            raise _not_found("annual report", "年度报告")
        return doc

    def annual_report(self, report_id: str, actor: Actor) -> dict:
        """The report with its evidence files and its history, the files' steps woven in."""
        doc = self.scoped_report_doc(report_id, actor)
        filed = list(self.db.materials.find({"report_id": report_id}, session=self.session).sort("_id", ASCENDING))
        return {
            **doc,
            "materials": [_out(m) for m in filed if m["removed_at"] is None],
            "history": material_history(doc.get("history", []), filed),
        }

    def insert_report(self, doc: dict) -> None:
        if (existing := self.report_doc(doc["_id"])) is not None:
            raise already_filed(doc["year"], existing["state"])
        try:
            self.db.annual_reports.insert_one(doc, session=self.session)
        except DuplicateKeyError:  # filed at the same moment by another request
            raise already_filed(doc["year"], None) from None

    def move_report(
        self, doc: dict, event: str, actor: str, at: datetime, reason: str | None, changes: Mapping
    ) -> dict:
        return self._move("annual_reports", doc, REPORT_MACHINE, event, actor, at, reason, changes)

    def reports_of_project(self, project_id: str) -> list[dict]:
        return [
            _out(doc)
            for doc in self.db.annual_reports.find(
                {"project_id": project_id},
                {"year": 1, "state": 1, "late": 1, "first_filed_at": 1, "filed_at": 1},
                session=self.session,
            ).sort("year", ASCENDING)
        ]

    def reports_page(self, actor: Actor, limit: int, cursor: str | None, **filters) -> tuple[list[dict], str | None]:
        query = _scoped(actor, filters, scope_of=access.project_scope)
        return self._page("annual_reports", query, limit, cursor) if query is not None else ([], None)

    def extend_report_window(self, window: Mapping, entry: Mapping) -> dict:
        """The window's new deadline, with its audit entry."""
        self.db.report_windows.update_one(
            {"_id": window["_id"]},
            {"$set": {"due_at": entry["to_due_at"]}, "$push": {"extensions": dict(entry)}},
            session=self.session,
        )
        return {**window, "due_at": entry["to_due_at"], "extensions": [*window.get("extensions", []), dict(entry)]}

    def reminded(self, window: Mapping) -> set[str]:
        """The projects reminded of the window's current deadline."""
        return {
            doc["project_id"]
            for doc in self.db.report_reminders.find(
                {"window_id": window["_id"], "due_at": window["due_at"]}, {"project_id": 1}, session=self.session
            )
        }

    def remember_reminder(self, key: str, window: Mapping, project_id: str, at: datetime) -> bool:
        """True the first time for `key` (window, project, deadline): replicas running the timer at
        once remind once."""
        result = self.db.report_reminders.update_one(
            {"_id": key},
            {
                "$setOnInsert": {
                    "window_id": window["_id"],
                    "project_id": project_id,
                    "due_at": window["due_at"],
                    "at": at,
                }
            },
            upsert=True,
            session=self.session,
        )
        return result.upserted_id is not None

    # ------------------------------------------------------------ materials

    def _bucket(self) -> gridfs.GridFSBucket:
        return gridfs.GridFSBucket(self.db, bucket_name=BLOBS)

    def application_doc(self, application_id: str) -> dict:
        """The application as stored, whoever asks (the caller decides who may read it)."""
        doc = self._one("applications", {"_id": application_id})
        if doc is None:
            raise _not_found("application", "申报")
        return doc

    def scoped_application_doc(self, application_id: str, actor: Actor) -> dict:
        return self._application_doc(application_id, actor)

    def owner_doc(self, owner: Owner) -> dict:
        """The application or report the materials are filed with, whoever asks."""
        if owner.kind is APPLICATION:
            return self.application_doc(owner.id)
        doc = self.report_doc(owner.id)
        if doc is None:
            raise _not_found("annual report", "年度报告")
        return doc

    def scoped_owner_doc(self, owner: Owner, actor: Actor) -> dict:
        """As `owner_doc`, NotFound unless `actor` may see it."""
        if owner.kind is APPLICATION:
            return self.scoped_application_doc(owner.id, actor)
        return self.scoped_report_doc(owner.id, actor)

    def put_blob(self, chunks: Iterable[bytes], limit: int) -> Blob | None:
        """Streams `chunks` into a new GridFS file as they come, hashing as it goes: each
        BLOB_CHUNK_BYTES is a chunk document, inserted BLOB_BATCH_CHUNKS at a time, and the file
        document last (pymongo's GridIn would hold up to 48 MB of chunks before its first insert).
        None (and nothing kept) past `limit` bytes; nothing kept if reading fails. The blob is not
        yet shared: `claim_blob` makes it the content's."""
        blob_id, digest, size, number = ObjectId(), hashlib.sha256(), 0, 0
        pending, batch = bytearray(), []
        chunks_collection = self.db[f"{BLOBS}.chunks"]
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    self._drop_chunks(blob_id)
                    return None
                digest.update(chunk)
                pending += chunk
                while len(pending) >= BLOB_CHUNK_BYTES:
                    batch.append({"files_id": blob_id, "n": number, "data": bytes(pending[:BLOB_CHUNK_BYTES])})
                    number += 1
                    del pending[:BLOB_CHUNK_BYTES]
                    if len(batch) >= BLOB_BATCH_CHUNKS:
                        chunks_collection.insert_many(batch)
                        batch = []
            if pending:
                batch.append({"files_id": blob_id, "n": number, "data": bytes(pending)})
            if batch:
                chunks_collection.insert_many(batch)
            blob = Blob(blob_id, size, digest.hexdigest())
            self.db[f"{BLOBS}.files"].insert_one(
                {
                    "_id": blob_id,
                    "length": size,
                    "chunkSize": BLOB_CHUNK_BYTES,
                    "uploadDate": datetime.now(timezone.utc),
                    "filename": "material",
                    "metadata": {"sha256": blob.sha256},
                }
            )
        except BaseException:
            self._drop_chunks(blob_id)
            raise
        return blob

    def _drop_chunks(self, blob_id: ObjectId) -> None:
        self.db[f"{BLOBS}.chunks"].delete_many({"files_id": blob_id})

    def claim_blob(self, blob: Blob) -> Blob:
        """The content's one blob: `blob` if its claim (a `material_contents` document whose
        `_id` is the SHA-256) is the first, else the claimant's, and `blob` is deleted. Two
        uploads of the same content racing both try to insert the claim; the unique `_id`
        lets one win, whatever their timing."""
        contents = self.db.material_contents
        try:
            contents.insert_one({"_id": blob.sha256, "blob_id": blob.id, "size": blob.size})
        except DuplicateKeyError:
            winner = contents.find_one({"_id": blob.sha256})
            if winner is not None and winner["blob_id"] != blob.id:
                self._bucket().delete(blob.id)
                return Blob(winner["blob_id"], winner["size"], blob.sha256)
        return blob

    def open_blob(self, blob_id: ObjectId) -> "BlobReader":
        """The blob as a seekable file that holds at most a few chunks (see BlobReader)."""
        found = self.db[f"{BLOBS}.files"].find_one({"_id": blob_id}, {"length": 1, "chunkSize": 1})
        if found is None:
            raise _not_found("material", "材料")
        return BlobReader(self.db[f"{BLOBS}.chunks"], blob_id, found["length"], found["chunkSize"])

    def delete_blob(self, blob_id: ObjectId) -> None:
        """A blob not claimed (refused content): nothing else can refer to it."""
        if not self._count("material_contents", {"blob_id": blob_id}):
            self._bucket().delete(blob_id)

    def sweep_unclaimed_blobs(self, since: datetime, before: datetime) -> int:
        """Deletes what an upload that died left, begun between `since` and `before`: a file never
        claimed (its process stopped between the store and the claim), and chunks with no file (it
        stopped while streaming). A live upload is claimed within seconds, so `before` an hour ago
        touches none. Answers how many blobs went."""
        files, chunks = self.db[f"{BLOBS}.files"], self.db[f"{BLOBS}.chunks"]
        window = {"$gte": ObjectId.from_datetime(since), "$lt": ObjectId.from_datetime(before)}
        stored = [doc["_id"] for doc in files.find({"_id": window}, {"_id": 1})]
        claimed = {
            doc["blob_id"] for doc in self.db.material_contents.find({"blob_id": {"$in": stored}}, {"blob_id": 1})
        }
        gone = [blob_id for blob_id in stored if blob_id not in claimed]
        for blob_id in gone:
            self._bucket().delete(blob_id)
        loose = set(chunks.distinct("files_id", {"files_id": window})) - set(stored)
        for blob_id in loose:
            self._drop_chunks(blob_id)
        return len(gone) + len(loose)

    def note_materials_changed(self, owner: Owner, at: datetime) -> None:
        """Writes the owner's document in the transaction that adds or removes a material: a
        submission or filing racing it writes the same document, so one of the two is retried
        and sees the other (a file never lands in what was just submitted or filed)."""
        collection = "applications" if owner.kind is APPLICATION else "annual_reports"
        self.db[collection].update_one({"_id": owner.id}, {"$set": {"materials_changed_at": at}}, session=self.session)

    def filed_bytes(self, owner: Owner) -> int:
        return sum(
            doc["size"]
            for doc in self.db.materials.find({**owner.query, "removed_at": None}, {"size": 1}, session=self.session)
        )

    def filed_kinds(self, application_id: str) -> list[str]:
        return self.db.materials.distinct(
            "kind", {"application_id": application_id, "removed_at": None}, session=self.session
        )

    def add_material(self, material: Mapping) -> dict:
        doc = {"_id": new_id("mat"), **material, "removed_at": None}
        self.db.materials.insert_one(doc, session=self.session)
        return _out(doc)

    def materials(self, owner: Owner) -> list[dict]:
        return [
            _out(doc)
            for doc in self.db.materials.find({**owner.query, "removed_at": None}, session=self.session).sort(
                "_id", ASCENDING
            )
        ]

    def material(self, owner: Owner, material_id: str) -> dict:
        doc = self._one("materials", {"_id": material_id, **owner.query, "removed_at": None})
        if doc is None:
            raise _not_found("material", "材料")
        return doc

    def remove_material(self, material_id: str, actor: Actor, at: datetime, owner_state: str) -> None:
        self.db.materials.update_one(
            {"_id": material_id, "removed_at": None},
            {"$set": {"removed_at": at, "removed_by": actor.audit_name, "removed_in": owner_state}},
            session=self.session,
        )

    def record_read(self, material: Mapping, actor: Actor, at: datetime) -> None:
        self.db.material_reads.insert_one(
            {
                "material_id": material["_id"],
                "application_id": material["application_id"],
                "reader": actor.audit_name,
                "read_at": at,
            },
            session=self.session,
        )

    def grant_expert_access(self, assignments: Iterable[Mapping]) -> None:
        """Each assigned expert may read the application's materials until its review deadline."""
        for assignment in assignments:
            self.db.expert_access.update_one(
                {"_id": f"{assignment['application_id']}:{assignment['expert_id']}"},
                {
                    "$set": {
                        "assignment_id": assignment["assignment_id"],
                        "review_deadline": datetime.fromisoformat(assignment["review_deadline"]),
                    }
                },
                upsert=True,
                session=self.session,
            )

    def revoke_expert_access(self, application_id: str, expert_id: str) -> None:
        self.db.expert_access.delete_one({"_id": f"{application_id}:{expert_id}"}, session=self.session)

    def review_deadline(self, application_id: str, expert_id: str | None) -> datetime | None:
        doc = self._one("expert_access", {"_id": f"{application_id}:{expert_id}"}) if expert_id else None
        return doc["review_deadline"] if doc else None
