"""Benchmark: submitting applications through the gateway, against the raw limit of the same work.

In one run, on a fresh SecantusDB wire server and a fresh vhost of the machine's RabbitMQ, the
applications service (`chuyi serve applications`) and the gateway under gunicorn are started as
the test stack starts them. Untimed: a register of institutions is imported, a call opened, and a
draft made for each submission. Then, at each concurrency level (threads, each with its own
keep-alive HTTP session):

- submit: `POST /v1/applications/{id}/submit` through the gateway (token check, RPC, one
  transaction that re-reads the call, runs the eligibility rules, moves the state with its audit
  entry and stages `application_submitted` in the outbox, which the relay publishes);
- raw: the same submitted documents inserted straight with pymongo (`insert_one`, into a
  collection with the same indexes) plus, for each, a confirmed, mandatory, persistent kombu
  publish of the same `application_submitted` event, from as many threads;
- same work: what a submission costs the database and the broker, without the platform: in one
  raw pymongo transaction the reads the submit use case makes (the application, its call, its
  filed material kinds, its institution, the institution's other applications of the call) and
  its writes (the application's state and history entry, the subject's sequence, the outbox
  record, the audit record and its chain's head), then a confirmed publish of the event and the outbox record marked sent; on copies
  of the same documents, from as many threads, with no HTTP and no RPC.

The three run back to back at each level, so they see the same load on this shared machine; only
the same-run ratios mean anything: `ratio` (ours ÷ raw) and `ratio_vs_same_work` (ours ÷ same work:
what the gateway, the RPC round trip and the kernel add to the database's and broker's own cost). Every submission is checked (200, state submitted) and every event
published. Latencies are compared at one level, our best (`p99_vs_same_work`, `p99_vs_raw`): each loop
is closed, so its latency is about threads ÷ rate, and a p99 at 16 threads against one at 1 thread
would measure the levels, not the work. The last line is one JSON object.
Run: .venv/bin/python bench/submit.py [--per-level N] [--levels 1,4,16]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import next_sequence, percentile, run_threads  # noqa: E402
from services.common.credit_code import check_digit, organisation_check_digit
from services.applications.store import ApplicationsStore  # noqa: E402
from services.common.audit import HEADS as AUDIT_HEADS, RECORDS as AUDIT_RECORDS  # noqa: E402
from services.common.store import KERNEL_INDEXES  # noqa: E402
from services.common.messaging import Publisher, consumer_queue, declare_service_exchange, service_exchange  # noqa: E402
from tests.support.servers import mongo_server, rabbit_vhost, wait_until  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

RAW_SERVICE, RAW_SINK = "benchraw", "benchsink"
SETUP_THREADS = 8


def credit_code(n: int) -> str:
    body = f"{n:08d}"
    first17 = "12430100" + body + organisation_check_digit(body)
    return first17 + check_digit(first17)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


PREFECTURES = ("长沙市", "株洲市", "湘潭市", "衡阳市", "岳阳市", "常德市", "湘西土家族苗族自治州")


def register(stack: Stack, count: int, prefectures: tuple[str, ...] = PREFECTURES) -> list[str]:
    """Higher-vocational colleges spread over `prefectures`, imported in one CSV."""
    start = random.randrange(10**7)
    rows = [
        f"湖南第{n}职业技术学院,高职专科,{prefectures[n % len(prefectures)]},某县,湖南省教育厅,{credit_code(start + n)}"
        for n in range(count)
    ]
    content = ("名称,类型,市州,县市区,主管部门,统一社会信用代码\n" + "\n".join(rows) + "\n").encode("utf-8")
    answer = stack.client("province").post(
        stack.url("/v1/institutions:import"), files={"file": ("register.csv", content)}, timeout=120
    )
    answer.raise_for_status()
    return answer.json()["institution_ids"]


def open_call(stack: Stack) -> str:
    now = datetime.now(timezone.utc)
    body = {
        "category": "hv-group",
        "title": "2026年楚怡高水平高职高专专业群遴选（压测）",
        "opens_at": rfc3339(now - timedelta(minutes=1)),
        "closes_at": rfc3339(now + timedelta(hours=2)),
        "quota": 1,
        "prefecture_cap": 10,
        "budget_min_fen": 100_000_00,
        "budget_max_fen": 5_000_000_00,
        "review_plan": {
            "reviewers_per_application": 3,
            "rubric": [
                {"code": "foundation", "name": "建设基础", "weight": 40, "max_score": 100},
                {"code": "plan", "name": "建设方案", "weight": 60, "max_score": 100},
            ],
        },
        "funding_rule": "tiered-v1",
    }
    answer = stack.client("province").post(stack.url("/v1/calls"), json=body, timeout=30)
    answer.raise_for_status()
    assert answer.json()["state"] == "open"
    return answer.json()["id"]


def draft(stack: Stack, call_id: str, institution_id: str) -> tuple[str, dict]:
    """A draft of `institution_id`; (its id, the headers that act as that institution)."""
    session = stack.client("institution", institution_id=institution_id)
    body = {
        "call_id": call_id,
        "title": "智能制造与工程机械专业群建设方案",
        "summary": "对接湖南工程机械产业集群，校企共建。",
        "construction_plan": "一、建设基础\n二、建设目标\n三、建设任务\n" * 40,
        "budget_request_fen": 2_000_000_00,
        "yearly_targets": [{"year": y, "target": f"{y}年度建设目标"} for y in (2026, 2027, 2028)],
        "industry_fields": ["46", "51"],
        "keywords": ["工程机械", "智能制造", "产教融合"],
    }
    with session:
        answer = session.post(stack.url("/v1/applications"), json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()["id"], dict(session.headers)


def submit(session: requests.Session, stack: Stack, item: tuple[str, dict]) -> None:
    """Submit a draft as its institution on `session`, one keep-alive connection a client thread
    uses back to back (a connection left idle for about the gateway's keep-alive timeout would
    race the server's close: a client's problem, not the gateway's)."""
    application_id, headers = item
    answer = session.post(stack.url(f"/v1/applications/{application_id}/submit"), headers=headers, timeout=60)
    if answer.status_code != 200 or answer.json()["state"] != "submitted":
        raise AssertionError(f"submit {application_id}: {answer.status_code} {answer.text[:300]}")


def submit_one(stack: Stack):
    def one(item, state):
        if "session" not in state:
            state["session"] = requests.Session()
            state["close"] = state["session"].close
        submit(state["session"], stack, item)

    return one


def raw_one(collection, amqp_uri: str):
    exchange = service_exchange(RAW_SERVICE)

    def one(item, state):
        document, event = item
        if "publisher" not in state:
            state["publisher"] = Publisher(amqp_uri)
            state["close"] = state["publisher"].close
        collection.insert_one(dict(document))
        state["publisher"].publish(exchange, "application_submitted", event, message_id=event["id"])

    return one


def same_work_one(db, amqp_uri: str):
    """One submission's database and broker work, raw: `item` is (application, its event)."""
    exchange = service_exchange(RAW_SERVICE)

    def transaction(session, application, event):
        doc = db.applications.find_one({"_id": application["_id"]}, session=session)
        db.calls.find_one({"_id": doc["call_id"]}, session=session)
        db.materials.distinct("kind", {"application_id": doc["_id"], "removed_at": None}, session=session)
        db.institutions.find_one({"_id": doc["institution_id"]}, session=session)
        list(
            db.applications.find(
                {"call_id": doc["call_id"], "institution_id": doc["institution_id"]}, {"state": 1}, session=session
            )
        )
        db.applications.update_one(
            {"_id": doc["_id"], "state": doc["state"]},
            {
                "$set": {
                    "state": "submitted",
                    "eligibility_findings": application.get("eligibility_findings", []),
                    "submitted_at": datetime.now(timezone.utc),
                    "updated_at": datetime.now(timezone.utc),
                },
                "$push": {"history": application["history"][-1]},
            },
            session=session,
        )
        sequence = next_sequence(db.subject_sequences, doc["_id"], session)
        db.outbox.insert_one(
            {
                "_id": event["id"],
                "subject": doc["_id"],
                "sequence": sequence,
                "name": "application_submitted",
                "event": event,
                "staged_at": datetime.now(timezone.utc),
                "sent_at": None,
                "attempts": 0,
            },
            session=session,
        )
        chain = f"applications/{doc['_id']}"  # the audit record and its chain's head
        head = db[AUDIT_HEADS].find_one({"_id": chain}, {"seq": 1, "hash": 1}, session=session)
        seq = (head["seq"] if head else 0) + 1
        db[AUDIT_HEADS].update_one(
            {"_id": chain}, {"$set": {"seq": seq, "hash": event["id"], "sealed": False}}, upsert=True, session=session
        )
        db[AUDIT_RECORDS].insert_one(
            {
                "_id": f"{chain}#{seq}",
                "chain": chain,
                "seq": seq,
                "events": [event["type"]],
                "entities": [chain],
                "outcome": "ok",
            },
            session=session,
        )

    def one(item, state):
        application, event = item
        if "publisher" not in state:
            state["publisher"] = Publisher(amqp_uri)
            state["close"] = state["publisher"].close
        with db.client.start_session() as session:
            session.with_transaction(lambda s: transaction(s, application, event))
        state["publisher"].publish(exchange, "application_submitted", event, message_id=event["id"])
        db.outbox.update_one({"_id": event["id"]}, {"$set": {"sent_at": datetime.now(timezone.utc)}})

    return one


def same_work_copies(service_db, same_db, batch_ids: list[str], events: dict) -> list[tuple[dict, dict]]:
    """Copies of the batch's applications as drafts (and of their call and institutions) in
    `same_db`, with their events under new ids: the same documents for the same work."""
    copies = []
    for doc in service_db.applications.find({"_id": {"$in": batch_ids}}):
        draft_doc = {**doc, "_id": f"same-{doc['_id']}", "state": "draft"}
        same_db.applications.insert_one(draft_doc)
        copies.append((draft_doc, {**events[doc["_id"]], "id": f"same-{events[doc['_id']]['id']}"}))
    for collection, ids in (
        ("calls", {d["call_id"] for d, _ in copies}),
        ("institutions", {d["institution_id"] for d, _ in copies}),
    ):
        for doc in service_db[collection].find({"_id": {"$in": list(ids)}}):
            same_db[collection].replace_one({"_id": doc["_id"]}, doc, upsert=True)
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-level", type=int, default=120, help="submissions at each concurrency level")
    parser.add_argument("--levels", default="1,4,16", help="concurrency levels, rising")
    args = parser.parse_args()
    levels = [int(part) for part in args.levels.split(",")]
    if args.per_level < 1 or not levels or min(levels) < 1:
        parser.error("--per-level and every level must be at least 1")
    total = args.per_level * len(levels)

    with (
        tempfile.TemporaryDirectory(prefix="bench-submit-") as tmp,
        mongo_server(Path(tmp) / "data") as mongo_uri,
        rabbit_vhost() as amqp_uri,
    ):
        (Path(tmp) / "logs").mkdir()
        stack = Stack(mongo_uri, amqp_uri, Path(tmp) / "logs", services=("applications",))
        try:
            institutions = register(stack, total)
            call_id = open_call(stack)
            with ThreadPoolExecutor(SETUP_THREADS) as pool:
                drafts = list(pool.map(lambda i: draft(stack, call_id, i), institutions))

            client = MongoClient(mongo_uri, tz_aware=True)
            applications = stack.db("applications")
            raw_db = client["bench_submit_raw"]
            raw_db.create_collection("applications")
            raw_db.applications.create_indexes(ApplicationsStore.indexes["applications"])
            same_db = client["bench_submit_same_work"]
            for name in (
                "applications",
                "calls",
                "institutions",
                "materials",
                "subject_sequences",
                "outbox",
                AUDIT_HEADS,
                AUDIT_RECORDS,
            ):
                same_db.create_collection(name)
                models = {**KERNEL_INDEXES, **ApplicationsStore.indexes}.get(name)
                if models:
                    same_db[name].create_indexes(models)
            setup = Publisher(amqp_uri)
            declare_service_exchange(setup, RAW_SERVICE)
            setup.declare(consumer_queue(RAW_SINK, RAW_SERVICE))
            setup.close()

            results, failures = [], []
            for n, concurrency in enumerate(levels):
                batch = drafts[n * args.per_level : (n + 1) * args.per_level]
                submit_s, submit_ms, submit_failed = run_threads(concurrency, batch, submit_one(stack))
                ids = [application_id for application_id, _ in batch]
                events = {
                    e["subject"]: e["event"]
                    for e in applications.outbox.find({"subject": {"$in": ids}, "name": "application_submitted"})
                }
                raw_work = [
                    ({**doc, "_id": f"raw-{doc['_id']}"}, events[doc["_id"]])
                    for doc in applications.applications.find({"_id": {"$in": list(events)}})
                ]
                raw_s, raw_ms, raw_failed = run_threads(concurrency, raw_work, raw_one(raw_db.applications, amqp_uri))
                same_work = same_work_copies(applications, same_db, list(events), events)
                same_s, same_ms, same_failed = run_threads(concurrency, same_work, same_work_one(same_db, amqp_uri))
                failures += submit_failed + raw_failed + same_failed
                results.append(
                    {
                        "concurrency": concurrency,
                        "submissions": len(submit_ms),
                        "failed": len(submit_failed),
                        "submit_rps": round(len(submit_ms) / submit_s, 1),
                        "submit_p50_ms": round(percentile(submit_ms or [0], 0.5), 1),
                        "submit_p99_ms": round(percentile(submit_ms or [0], 0.99), 1),
                        "raw_rps": round(len(raw_ms) / raw_s, 1),
                        "raw_p50_ms": round(percentile(raw_ms or [0], 0.5), 1),
                        "raw_p99_ms": round(percentile(raw_ms or [0], 0.99), 1),
                        "raw_failed": len(raw_failed),
                        "same_work_rps": round(len(same_ms) / same_s, 1),
                        "same_work_p50_ms": round(percentile(same_ms or [0], 0.5), 1),
                        "same_work_p99_ms": round(percentile(same_ms or [0], 0.99), 1),
                        "same_work_failed": len(same_failed),
                    }
                )
            submitted = applications.applications.count_documents({"call_id": call_id, "state": "submitted"})
            wait_until(
                lambda: applications.outbox.count_documents({"sent_at": None}) == 0,
                timeout=60,
                what="every staged event to be published",
            )
            published = applications.outbox.count_documents({"name": "application_submitted", "sent_at": {"$ne": None}})
            client.close()
        finally:
            stack.stop()

    succeeded = sum(r["submissions"] for r in results)
    if (submitted, published) != (succeeded, succeeded):
        raise AssertionError(f"{submitted} submitted and {published} events published for {succeeded} answered 200")
    best_submit = max(results, key=lambda r: r["submit_rps"])
    best_raw = max(results, key=lambda r: r["raw_rps"])
    best_same = max(results, key=lambda r: r["same_work_rps"])
    print(
        f"{succeeded} of {total} applications submitted through the gateway (2 gunicorn workers, 1 service "
        f"process), each answered 200 submitted and its application_submitted published; {len(failures)} failed"
    )
    for text in sorted(set(failures)):
        print(f"  failed ×{failures.count(text)}: {text}")
    print(
        f"{'threads':>7s} {'submit/s':>9s} {'p50 ms':>7s} {'p99 ms':>7s} {'failed':>6s} {'raw/s':>8s} {'raw p50':>8s} "
        f"{'raw p99':>8s} {'ratio':>6s} {'same/s':>7s} {'same p50':>8s} {'same p99':>8s} {'vs same':>7s}"
    )
    for r in results:
        print(
            f"{r['concurrency']:7d} {r['submit_rps']:9.1f} {r['submit_p50_ms']:7.1f} {r['submit_p99_ms']:7.1f} "
            f"{r['failed']:6d} {r['raw_rps']:8.1f} {r['raw_p50_ms']:8.1f} {r['raw_p99_ms']:8.1f} "
            f"{r['submit_rps'] / r['raw_rps']:6.3f} {r['same_work_rps']:7.1f} {r['same_work_p50_ms']:8.1f} "
            f"{r['same_work_p99_ms']:8.1f} {r['submit_rps'] / r['same_work_rps']:7.3f}"
        )
    print(
        json.dumps(
            {
                "submit_rps": best_submit["submit_rps"],
                "raw_rps": best_raw["raw_rps"],
                "ratio": round(best_submit["submit_rps"] / best_raw["raw_rps"], 3),
                "same_work_rps": best_same["same_work_rps"],
                "ratio_vs_same_work": round(best_submit["submit_rps"] / best_same["same_work_rps"], 3),
                # Latencies compare at one level only: in a closed loop each is about threads ÷ rate,
                # so a p99 at 16 threads against one at 1 thread says nothing of either.
                "submit_p99_ms": best_submit["submit_p99_ms"],
                "same_work_p99_ms": best_submit["same_work_p99_ms"],
                "raw_p99_ms": best_submit["raw_p99_ms"],
                "p99_vs_same_work": round(best_submit["submit_p99_ms"] / max(best_submit["same_work_p99_ms"], 0.1), 2),
                "p99_vs_raw": round(best_submit["submit_p99_ms"] / max(best_submit["raw_p99_ms"], 0.1), 2),
                "submit_best_at_threads": best_submit["concurrency"],
                "raw_best_at_threads": best_raw["concurrency"],
                "failed": len(failures),
                "per_level": args.per_level,
                "levels": results,
            }
        )
    )


if __name__ == "__main__":
    main()
