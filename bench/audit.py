"""Benchmark: what the audit record costs a user's command (services/common/audit.py).

In one run, on a fresh SecantusDB wire server: N commands, each one transaction through
``BaseStore.atomic`` that updates one application (of S) and stages one event, as a submission
does; once with a user acting (the audit record, its chain head, in the same transaction) and
once with none (no record: the baseline), alternating in rounds so that the machine's load drifts
over both alike; sequentially and from T threads (distinct subjects per thread, as separate
requests are). Then one checkpoint of every chain head and one `verify` of the whole log,
which must pass.

Only same-run ratios mean anything on a shared machine. The last line is one JSON object.
Run: .venv/bin/python bench/audit.py [--commands N] [--subjects S] [--threads T] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from marshmallow import Schema, fields
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # imported by the kernel, not used here

from services.common import audit  # noqa: E402
from services.common.store import BaseStore  # noqa: E402
from tests.support.servers import mongo_server  # noqa: E402

INSTITUTION = {"sub": "bench-user", "role": "institution", "institution_id": "I-1"}


class Submitted(Schema):
    application_id = fields.String(required=True)
    n = fields.Integer(required=True)


class BenchStore(BaseStore):
    events = {"application_submitted": Submitted()}
    indexes = {"applications": []}

    def submit(self, application_id: str, n: int) -> None:
        def work():
            self.db.applications.update_one(
                {"_id": application_id}, {"$set": {"state": "submitted", "n": n}}, session=self.session
            )
            self.emit("application_submitted", application_id, {"application_id": application_id, "n": n})

        self.atomic(work)


def run_commands(db, numbers: range, subjects: int, threads: int, audited: bool) -> float:
    """Seconds for the commands `numbers`, from `threads` threads each on its own subjects."""

    def worker(offset: int) -> None:
        if audited:
            audit.acting.set(audit.Acting.from_claims(INSTITUTION, "submit_application"))
        store = BenchStore(db, "applications")
        for n in numbers[offset::threads]:
            store.submit(f"A{(n % (subjects // threads)) * threads + offset:05d}", n)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    return time.perf_counter() - start


def measure(db, commands: int, subjects: int, threads: int, rounds: int, first: int) -> tuple[float, float]:
    """(commands/s audited, commands/s without the record), alternating in rounds; the commands are
    numbered from `first` so that each one changes its application."""
    audited_s = plain_s = 0.0
    for r in range(rounds):
        start, end = first + 2 * r * commands // rounds, first + 2 * (r + 1) * commands // rounds
        middle = (start + end) // 2
        audited_s += run_commands(db, range(start, middle), subjects, threads, audited=True)
        plain_s += run_commands(db, range(middle, end), subjects, threads, audited=False)
    return commands / audited_s, commands / plain_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1200)
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, mongo_server(Path(tmp) / "data") as uri:
        client = MongoClient(uri, tz_aware=True)
        db = client["bench_audit"]
        BenchStore.ensure_indexes(db)
        db.applications.insert_many([{"_id": f"A{i:05d}", "state": "draft"} for i in range(args.subjects)])
        sequential = measure(db, args.commands, args.subjects, 1, args.rounds, 0)
        parallel = measure(db, args.commands, args.subjects, args.threads, args.rounds, 2 * args.commands)
        records = db[audit.RECORDS].count_documents({})
        started = time.perf_counter()
        checkpoint = BenchStore(db, "applications").seal_audit()
        seal_s = time.perf_counter() - started
        started = time.perf_counter()
        audit.verify(db)
        verify_s = time.perf_counter() - started
        client.close()
    result = {
        "commands": args.commands,
        "subjects": args.subjects,
        "threads": args.threads,
        "rounds": args.rounds,
        "audited_per_s": round(sequential[0], 1),
        "plain_per_s": round(sequential[1], 1),
        "ratio": round(sequential[0] / sequential[1], 3),
        "audited_threads_per_s": round(parallel[0], 1),
        "plain_threads_per_s": round(parallel[1], 1),
        "threads_ratio": round(parallel[0] / parallel[1], 3),
        "records": records,
        "checkpoint_heads": len(checkpoint["heads"]),
        "checkpoint_s": round(seal_s, 3),
        "verify_records_per_s": round(records / verify_s, 1),
    }
    print(
        f"audited {result['audited_per_s']}/s vs {result['plain_per_s']}/s without the record "
        f"(×{result['ratio']}); {args.threads} threads: {result['audited_threads_per_s']}/s vs "
        f"{result['plain_threads_per_s']}/s (×{result['threads_ratio']}); verify {result['verify_records_per_s']} records/s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
