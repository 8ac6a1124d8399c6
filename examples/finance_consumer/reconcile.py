"""The finance consumer's logic, without the broker: verify a funding CloudEvent,
deduplicate it, put each project's events in sequence order, and keep a running
reconciliation per project and funding source. State lives in one SQLite file
(stdlib `sqlite3`), so it survives restarts; every received event is one SQLite
transaction, so the caller may acknowledge the message once `receive` returned.

Needs PyYAML and jsonschema (to check `data` against the JSON Schemas of the AsyncAPI
document, docs/asyncapi.yaml); nothing of the platform's own code.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

DEFAULT_CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
TYPE_PREFIX = "cn.chuyi.funding."
TYPE_VERSION = ".v1"
COLUMNS = ("allocated", "released", "withheld", "clawed_back")
#: event name -> the reconciliation column its `data` amount adds to (and where that amount is)
MONEY_MOVES = {
    "funds_allocated": ("allocated", ("award",)),
    "tranche_released": ("released", ("tranche", "amount")),
    "tranche_withheld": ("withheld", ("tranche", "amount")),
    "funds_clawed_back": ("clawed_back", ("amount",)),
}


class InvalidEvent(ValueError):
    """The body is not a valid funding CloudEvent; `errors` lists what is wrong."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


class EventContract:
    """The JSON Schemas of the funding events, read from the AsyncAPI document: the
    CloudEvent envelope (`components.schemas.CloudEvent`) and, per event name, the
    message payload (`components.messages.<name>.payload`). The document's project
    events come on another exchange and are not this consumer's."""

    URI = "urn:chuyi:funding:asyncapi"

    def __init__(self, path: str | Path = DEFAULT_CONTRACT):
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        registry = Registry().with_resource(self.URI, Resource.from_contents(document, default_specification=DRAFT7))
        messages = document["components"]["messages"]
        self.event_names = tuple(
            name
            for name, message in messages.items()
            if message["payload"]["allOf"][1]["properties"]["type"]["const"].startswith(TYPE_PREFIX)
        )
        self._envelope = self._validator(registry, "schemas/CloudEvent")
        self._payloads = {name: self._validator(registry, f"messages/{name}/payload") for name in messages}

    def _validator(self, registry: Registry, pointer: str) -> jsonschema.Draft7Validator:
        return jsonschema.Draft7Validator({"$ref": f"{self.URI}#/components/{pointer}"}, registry=registry)

    def envelope_errors(self, envelope: Mapping) -> list[str]:
        return _messages(self._envelope, envelope)

    def payload_errors(self, name: str, envelope: Mapping) -> list[str]:
        return _messages(self._payloads[name], envelope)


def _messages(validator: jsonschema.Draft7Validator, instance) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(event)'}: {e.message}" for e in errors]


@dataclass(frozen=True)
class FundingEvent:
    id: str
    name: str  # the routing key: funds_allocated, tranche_released, ...
    subject: str
    sequence: int
    time: str
    data: dict


def verify(body: bytes | str | Mapping, contract: EventContract) -> FundingEvent:
    """Parse and check one message body: a JSON object; a CloudEvent 1.0 with every
    required attribute and extension; a `cn.chuyi.funding.<name>.v1` type this
    consumer knows; `data` valid against its schema; no float anywhere (money is
    integer fen); `subject` naming the event's project (or call); each amount's total
    equal to the sum of its sources. Raises `InvalidEvent`."""
    envelope = _decode(body)
    errors = contract.envelope_errors(envelope) + _floats(envelope, "")
    if errors:
        raise InvalidEvent(errors)
    name = envelope["type"].removeprefix(TYPE_PREFIX).removesuffix(TYPE_VERSION)
    if not envelope["type"].endswith(TYPE_VERSION) or name not in contract.event_names:
        raise InvalidEvent(
            [
                f"type: {envelope['type']!r} is not one of the funding events this consumer knows "
                f"({', '.join(f'{TYPE_PREFIX}{n}{TYPE_VERSION}' for n in contract.event_names)})"
            ]
        )
    data = envelope["data"]
    errors = contract.payload_errors(name, envelope) or _meaning_errors(name, envelope["subject"], data)
    if errors:
        raise InvalidEvent(errors)
    return FundingEvent(envelope["id"], name, envelope["subject"], envelope["sequence"], envelope["time"], data)


def _decode(body) -> dict:
    if isinstance(body, Mapping):
        return dict(body)
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent([f"body: not JSON ({exc})"]) from None
    if not isinstance(envelope, dict):
        raise InvalidEvent(["body: must be a JSON object (a CloudEvent in structured mode)"])
    return envelope


def _floats(value, path: str) -> list[str]:
    if isinstance(value, float):
        return [f"{path or '(event)'}: {value!r} is a float; numbers are integers (money in fen)"]
    if isinstance(value, dict):
        return [e for key, item in value.items() for e in _floats(item, f"{path}/{key}".lstrip("/"))]
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in _floats(item, f"{path}/{i}")]
    return []


def _amounts(data) -> list[tuple[str, dict]]:
    """Every Money object in `data`, with its path."""
    found = []

    def walk(value, path):
        if isinstance(value, dict) and value.keys() == {"currency", "total", "by_source"}:
            found.append((path, value))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}/{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}/{i}")

    walk(data, "data")
    return found


def _meaning_errors(name: str, subject: str, data: dict) -> list[str]:
    owner = "call_id" if name == "budget_exhausted" else "project_id"
    errors = [] if subject == data[owner] else [f"subject: {subject!r} is not the event's {owner} {data[owner]!r}"]
    for path, money in _amounts(data):
        if money["total"] != sum(money["by_source"].values()):
            errors.append(
                f"{path}/total: {money['total']} is not the sum of by_source ({sum(money['by_source'].values())})"
            )
    return errors


def sequence_step(last_applied: int, sequence: int) -> str:
    """What to do with event number `sequence` of a subject whose events up to
    `last_applied` are applied: `apply` it, `hold` it until the missing ones arrive,
    or drop it as `stale` (that number was applied already)."""
    if sequence <= last_applied:
        return "stale"
    return "apply" if sequence == last_applied + 1 else "hold"


def money_moves(event: FundingEvent) -> list[tuple[str, str, str, int]]:
    """(project, source, column, fen) additions the event makes to the reconciliation."""
    if event.name not in MONEY_MOVES:
        return []
    column, path = MONEY_MOVES[event.name]
    money = event.data
    for key in path:
        money = money[key]
    return [(event.data["project_id"], source, column, amount) for source, amount in money["by_source"].items()]


@dataclass(frozen=True)
class Receipt:
    """What `receive` did: `applied` (with every held event it released, in order),
    `held` (waiting for an earlier sequence), `duplicate` (this id was seen before),
    `stale` (this sequence was applied already, under another id) or `rejected`."""

    status: str
    event_id: str | None
    applied: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


SCHEMA = """
CREATE TABLE IF NOT EXISTS processed (id TEXT PRIMARY KEY, subject TEXT NOT NULL, sequence INTEGER NOT NULL,
                                      status TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursor (subject TEXT PRIMARY KEY, sequence INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS held (subject TEXT NOT NULL, sequence INTEGER NOT NULL, id TEXT NOT NULL,
                                 event TEXT NOT NULL, PRIMARY KEY (subject, sequence));
CREATE TABLE IF NOT EXISTS reconciliation (project_id TEXT NOT NULL, source TEXT NOT NULL,
    allocated INTEGER NOT NULL DEFAULT 0, released INTEGER NOT NULL DEFAULT 0,
    withheld INTEGER NOT NULL DEFAULT 0, clawed_back INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, source));
CREATE TABLE IF NOT EXISTS shortfall (call_id TEXT NOT NULL, source TEXT NOT NULL, year INTEGER NOT NULL,
    category TEXT NOT NULL, needed INTEGER NOT NULL, available INTEGER NOT NULL, missing INTEGER NOT NULL,
    PRIMARY KEY (call_id, source));
CREATE TABLE IF NOT EXISTS rejected (received_at TEXT NOT NULL, errors TEXT NOT NULL, body TEXT NOT NULL);
"""


class FinanceBook:
    """The consumer's state in one SQLite file. One writer (the consuming thread);
    readers may open their own `FinanceBook` on the same file."""

    def __init__(self, path: str | Path, contract: EventContract):
        self.contract = contract
        self.db = sqlite3.connect(str(path), timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def receive(self, body: bytes | str | Mapping) -> Receipt:
        """Verify, deduplicate, order and apply one event, committed before it returns."""
        now = datetime.now(timezone.utc).isoformat()
        try:
            event = verify(body, self.contract)
        except InvalidEvent as invalid:
            with self.db:
                self.db.execute(
                    "INSERT INTO rejected VALUES (?, ?, ?)",
                    (now, json.dumps(invalid.errors, ensure_ascii=False), _text(body)),
                )
            return Receipt("rejected", _id_of(body), errors=tuple(invalid.errors))
        with self.db:
            if self.db.execute("SELECT 1 FROM processed WHERE id = ?", (event.id,)).fetchone():
                return Receipt("duplicate", event.id)
            step = sequence_step(self._cursor(event.subject), event.sequence)
            if (
                step == "hold"
                and self.db.execute(
                    "SELECT 1 FROM held WHERE subject = ? AND sequence = ?", (event.subject, event.sequence)
                ).fetchone()
            ):
                step = "stale"  # the same number is already waiting, under another id
            self.db.execute(
                "INSERT INTO processed VALUES (?, ?, ?, ?, ?)",
                (event.id, event.subject, event.sequence, "applied" if step == "apply" else step, now),
            )
            if step == "hold":
                self.db.execute(
                    "INSERT INTO held VALUES (?, ?, ?, ?)",
                    (event.subject, event.sequence, event.id, json.dumps(asdict(event), ensure_ascii=False)),
                )
                return Receipt("held", event.id)
            if step == "stale":
                return Receipt("stale", event.id)
            return Receipt("applied", event.id, tuple(e.id for e in self._apply_in_order(event)))

    def _cursor(self, subject: str) -> int:
        row = self.db.execute("SELECT sequence FROM cursor WHERE subject = ?", (subject,)).fetchone()
        return row[0] if row else 0

    def _apply_in_order(self, event: FundingEvent) -> list[FundingEvent]:
        applied = []
        while event is not None:
            self._apply(event)
            applied.append(event)
            row = self.db.execute(
                "SELECT event FROM held WHERE subject = ? AND sequence = ?", (event.subject, event.sequence + 1)
            ).fetchone()
            self.db.execute("DELETE FROM held WHERE subject = ? AND sequence = ?", (event.subject, event.sequence + 1))
            event = FundingEvent(**json.loads(row[0])) if row else None
        return applied

    def _apply(self, event: FundingEvent) -> None:
        for project, source, column, amount in money_moves(event):
            self.db.execute(
                f"INSERT INTO reconciliation (project_id, source, {column}) VALUES (?, ?, ?) "
                f"ON CONFLICT (project_id, source) DO UPDATE SET {column} = {column} + excluded.{column}",
                (project, source, amount),
            )
        if event.name == "budget_exhausted":
            self._record_shortfall(event.data)
        self.db.execute(
            "INSERT INTO cursor VALUES (?, ?) ON CONFLICT (subject) DO UPDATE SET sequence = excluded.sequence",
            (event.subject, event.sequence),
        )
        self.db.execute("UPDATE processed SET status = 'applied' WHERE id = ?", (event.id,))  # when it was held

    def _record_shortfall(self, data: dict) -> None:
        """The latest refusal of a call replaces the previous one."""
        self.db.execute("DELETE FROM shortfall WHERE call_id = ?", (data["call_id"],))
        for source, needed in data["needed"]["by_source"].items():
            self.db.execute(
                "INSERT INTO shortfall VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    data["call_id"],
                    source,
                    data["year"],
                    data["category"],
                    needed,
                    data["available"]["by_source"].get(source, 0),
                    data["shortfall"]["by_source"].get(source, 0),
                ),
            )

    # --- reading -----------------------------------------------------------------------

    def reconciliation(self) -> dict[str, dict[str, dict[str, int]]]:
        """{project: {source: {allocated, released, withheld, clawed_back, scheduled, kept}}}:
        `scheduled` = allocated - released - withheld (still to come),
        `kept` = released - clawed_back (what the institution holds)."""
        result: dict[str, dict[str, dict[str, int]]] = {}
        for project, source, *amounts in self.db.execute(
            f"SELECT project_id, source, {', '.join(COLUMNS)} FROM reconciliation ORDER BY project_id, source"
        ):
            row = dict(zip(COLUMNS, amounts))
            row["scheduled"] = row["allocated"] - row["released"] - row["withheld"]
            row["kept"] = row["released"] - row["clawed_back"]
            result.setdefault(project, {})[source] = row
        return result

    def discrepancies(self) -> list[str]:
        """Rows that break the money's rules (nothing, when the producer keeps its word)."""
        found = []
        for project, sources in self.reconciliation().items():
            for source, row in sources.items():
                if row["scheduled"] < 0:
                    found.append(
                        f"{project}/{source}: released + withheld exceed the allocation by {-row['scheduled']} fen"
                    )
                if row["kept"] < 0:
                    found.append(f"{project}/{source}: clawed back {-row['kept']} fen more than was released")
        return found

    def shortfalls(self) -> dict[str, dict]:
        """{call: {year, category, by_source: {source: {needed, available, missing}}}}, the latest refusal."""
        result: dict[str, dict] = {}
        for call, source, year, category, needed, available, missing in self.db.execute(
            "SELECT * FROM shortfall ORDER BY call_id, source"
        ):
            entry = result.setdefault(call, {"year": year, "category": category, "by_source": {}})
            entry["by_source"][source] = {"needed": needed, "available": available, "missing": missing}
        return result

    def gaps(self) -> dict[str, dict]:
        """{subject: {"expected": next sequence, "held": [sequences waiting]}}."""
        result: dict[str, dict] = {}
        for subject, sequence in self.db.execute("SELECT subject, sequence FROM held ORDER BY subject, sequence"):
            entry = result.setdefault(subject, {"expected": self._cursor(subject) + 1, "held": []})
            entry["held"].append(sequence)
        return result

    def rejected(self) -> list[dict]:
        return [
            {"received_at": at, "errors": json.loads(errors), "body": body}
            for at, errors, body in self.db.execute("SELECT * FROM rejected ORDER BY rowid")
        ]


def _text(body) -> str:
    if isinstance(body, (bytes, bytearray)):
        return bytes(body).decode("utf-8", errors="replace")
    return body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)


def _id_of(body) -> str | None:
    try:
        envelope = _decode(body)
    except InvalidEvent:
        return None
    event_id = envelope.get("id")
    return event_id if isinstance(event_id, str) else None
