"""Benchmark: an assignment job end to end on the embedded wire server (services/review/usecases/jobs.py).

A call of `--apps` applications × `--k` experts from `--experts` experts (`bench/assign.py`'s
generator, every application in the call's category and every expert qualified for it), its
candidates and pool written to a fresh SecantusDB server as review keeps them; then a job is
requested and run by `jobs.run_next_job` with the real `ReviewStore`: solved, its assignments
staged in parts, its run saved, its parts published (a transaction and an `experts_assigned`
each), the last part voiding what a rule excludes. Then an expert declines one assignment
and its replacement is solved (the declined application alone), timed against the reads alone
that a replacement made before (the whole call's candidates, experts and assignments).

Measured: each phase's seconds (from the job's own progress writes), the longest transaction
of the publishing (a part's), the assignments published and the events staged; against the
same documents written raw in the same run (`insert_many` in batches of the part size into a
collection with the same indexes, no transaction): `ratio` is the job's staging + saving +
publishing seconds over that (the job writes each assignment twice, staged then published,
and deletes it once from the staging).

The machine is shared: load averages are printed. The last line is one JSON object.
Run: make bench-assign-job, or .venv/bin/python bench/assign_job.py [--apps N --experts M --k K]
(national: --apps 300000 --experts 100000 --k 5).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from assign import synthetic  # noqa: E402
from services.common.clock import utcnow  # noqa: E402
from services.review.store import ReviewStore  # noqa: E402
from services.review.usecases import assignment, candidates, jobs  # noqa: E402
from tests.support.servers import mongo_server  # noqa: E402

CATEGORY = "hv-group"
CALL_ID = "call_bench"
CAPS = (8, 24)  # as bench/assign_national.py: about 94% of all capacity needed at 5 per application


def write_call(store: ReviewStore, apps: int, experts: int, k: int) -> None:
    """The closed call, its candidates and the pool, as review keeps them from events."""
    applications, pool = synthetic(1, n_apps=apps, n_experts=experts, caps=CAPS)
    now = utcnow()
    opened = {
        "call_id": CALL_ID,
        "category": CATEGORY,
        "title": "bench",
        "quota": 10,
        "prefecture_cap": 10,
        "review_plan": {
            "reviewers_per_application": k,
            "rubric": [],
            "conflict_same_prefecture": True,
            "conflict_own_institution_applied": False,
        },
        "funding_rule": "rule",
        "opens_at": "2026-01-01T00:00:00Z",
        "closes_at": "2026-02-01T00:00:00Z",
        "year": 2026,
    }
    store.atomic(lambda: candidates.call_opened(store, opened))
    store.atomic(lambda: candidates.call_closed(store, {"call_id": CALL_ID, "closed_at": "2026-02-01T00:00:00Z"}))
    docs = [
        {
            "_id": a.id,
            "call_id": CALL_ID,
            "status": "eligible",
            "institution_id": a.institution_id,
            "institution_name": f"{a.institution_id}职业技术学院",
            "prefecture": a.prefecture,
            "category": CATEGORY,
            "title": f"专业群建设方案 {a.id}",
            "summary": "建设方案",
            "industry_fields": sorted(a.fields),
            "keywords": sorted(a.keywords),
            "team_person_keys": sorted(a.team_person_ids),
            "budget_request_fen": 5_000_000,
            "submitted_at": now,
        }
        for a in applications
    ]
    for at in range(0, len(docs), 10_000):
        store.db.candidates.insert_many(docs[at : at + 10_000])
    docs = [
        {
            "_id": e.id,
            "name": f"专家{e.id}",
            "institution_id": e.institution_id,
            "prefecture": e.prefecture,
            "person_key": e.person_id,
            "load_cap": e.cap,
            "fields": sorted(e.fields),
            "keywords": sorted(e.keywords),
            "categories": [CATEGORY],
            "conflict_institution_ids": sorted(e.conflict_institution_ids),
            "conflict_person_keys": sorted(e.conflict_person_ids),
            "available": True,
        }
        for e in pool
    ]
    for at in range(0, len(docs), 10_000):
        store.db.experts.insert_many(docs[at : at + 10_000])


def run_job(store: ReviewStore) -> dict:
    """Request a job in the background and run it as a replica's timer does, timing its phases."""
    now = utcnow()
    _, job = jobs.request_run(store, CALL_ID, now + timedelta(days=14), True, "province:bench", now, 0)
    phases: list[tuple[str, float]] = []
    parts: list[float] = []
    write_progress, publish = store.assignment_job_progress, assignment.publish_next_part

    def progress(job_id, holder, written, at):
        if not phases or phases[-1][0] != written["phase"]:
            phases.append((written["phase"], time.perf_counter()))
            print(f"{phases[-1][1] - started:8.1f} s  {written['phase']:<10} peak {peak_mb():7.0f} MB", file=sys.stderr)
        return write_progress(job_id, holder, written, at)

    def timed_part(*args, **kwargs):
        started = time.perf_counter()
        try:
            return publish(*args, **kwargs)
        finally:
            parts.append(time.perf_counter() - started)

    store.assignment_job_progress = progress  # type: ignore[method-assign]
    assignment.publish_next_part = timed_part  # type: ignore[assignment]
    started = time.perf_counter()
    jobs.run_next_job(store, "bench", utcnow, timedelta(minutes=15))
    ended = time.perf_counter()
    done = store.assignment_job(job["_id"])
    if done["state"] != "done":
        raise SystemExit(f"the job ended {done['state']}: {done.get('problem')}")
    marks = [*phases, ("end", ended)]
    seconds = {name: round(marks[i + 1][1] - at, 2) for i, (name, at) in enumerate(marks[:-1])}
    return {
        "job_seconds": round(ended - started, 2),
        "phases": seconds,
        "parts": len(parts) - 1,  # the last call finds none left
        "longest_part_seconds": round(max(parts), 2),
        "run_id": done["run_id"],
    }


def decline_one(store: ReviewStore, run_id: str) -> dict:
    """Experts decline two of the job's assignments, as `POST /v1/assignments/{id}/decline`
    does: the first timed, the second with tracemalloc on (its peak of Python allocations: what
    a review pod must hold for it); against the reads alone that a replacement made before it
    solved the declined application alone (every candidate, expert and assignment of the
    call), in the same run."""
    first, second = store.db.assignments.find({"run_id": run_id, "status": "assigned"}).limit(2)
    started = time.perf_counter()
    done = assignment.decline_assignment(store, first, "出差", f"expert:{first['expert_id']}", utcnow())
    seconds = time.perf_counter() - started
    tracemalloc.start()
    assignment.decline_assignment(store, second, "出差", f"expert:{second['expert_id']}", utcnow())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    started = time.perf_counter()
    read = len(store.candidates(CALL_ID)) + len(store.experts()) + len(store.assignments(CALL_ID))
    whole_call = time.perf_counter() - started
    return {
        "decline_seconds": round(seconds, 2),
        "decline_traced_peak_mb": round(peak / 2**20, 1),
        "replaced": len(done["replacement"]["assigned"]),
        "whole_call_read_seconds": round(whole_call, 2),
        "whole_call_documents": read,
    }


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_writes(client: MongoClient, docs: list[dict]) -> float:
    """The same assignment documents written once, raw, into a collection with the same indexes:
    `insert_many` in batches, no transaction."""
    target = client["bench_raw"]["assignments"]
    target.create_indexes(ReviewStore.indexes["assignments"])
    started = time.perf_counter()
    for at in range(0, len(docs), assignment.PART_SIZE):
        target.insert_many(docs[at : at + assignment.PART_SIZE])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description="An assignment job end to end on the embedded wire server")
    parser.add_argument("--apps", type=int, default=60_000)
    parser.add_argument("--experts", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-assign-job-") as tmp, mongo_server(Path(tmp) / "data") as uri:
        client = MongoClient(uri, tz_aware=True)
        db = client["review"]
        ReviewStore.ensure_indexes(db)
        store = ReviewStore(db, "review")
        write_call(store, args.apps, args.experts, args.k)
        job = run_job(store)
        decline = decline_one(store, job["run_id"])
        published = list(db.assignments.find({"run_id": job["run_id"]}))
        events = list(db.outbox.find({"name": "experts_assigned"}, {"data.part": 1, "data.parts": 1}))
        standing = sum(1 for a in published if a["status"] == "assigned")
        raw_s = raw_writes(client, published)
    writing = sum(job["phases"].get(p, 0) for p in ("staging", "saving", "publishing"))
    load_after = os.getloadavg()[0]
    print(
        f"{args.apps} applications × {args.k} of {args.experts} experts; {os.cpu_count()} cores, "
        f"load average {load_before:.1f} → {load_after:.1f}"
    )
    print(f"job {job['job_seconds']:.1f} s: " + ", ".join(f"{p} {s:.1f} s" for p, s in job["phases"].items()))
    print(
        f"{len(published)} assignments published ({standing} standing) in {job['parts']} parts, "
        f"{len(events)} experts_assigned events; longest part {job['longest_part_seconds']:.2f} s; "
        f"staging + saving + publishing {writing:.1f} s against the same documents written raw {raw_s:.1f} s"
    )
    print(
        f"a decline and its replacement {decline['decline_seconds']:.2f} s ({decline['replaced']} replaced, "
        f"{decline['decline_traced_peak_mb']:.1f} MB traced at peak); "
        f"reading the whole call, as a replacement did before, {decline['whole_call_read_seconds']:.1f} s "
        f"({decline['whole_call_documents']} documents)"
    )
    print(
        json.dumps(
            {
                "job_seconds": job["job_seconds"],
                **decline,
                "decline_ratio_vs_whole_call_read": round(
                    decline["decline_seconds"] / decline["whole_call_read_seconds"], 4
                ),
                "phases": job["phases"],
                "assignments": len(published),
                "standing": standing,
                "parts": job["parts"],
                "events": len(events),
                "longest_part_seconds": job["longest_part_seconds"],
                "writing_seconds": round(writing, 2),
                "raw_write_seconds": round(raw_s, 2),
                "ratio": round(writing / raw_s, 2) if raw_s else None,
                "peak_mb": round(peak_mb(), 1),
                "applications": args.apps,
                "experts": args.experts,
                "k": args.k,
                "cores": os.cpu_count(),
                "load_average": [round(load_before, 2), round(load_after, 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
