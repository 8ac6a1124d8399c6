"""Every benchmark, one after another, and docs/benchmarks.md from their results.

Each benchmark runs as its own process (it starts and cleans up what it needs); its last line
is one JSON object, from which the table takes each figure beside its same-run baseline and
their ratio (figure ÷ baseline). A benchmark that exits non-zero, prints no JSON last line or
runs past its time limit is reported as failed, with its exit code and last lines, and makes
this script exit non-zero. Full outputs: var/bench/<name>.log. The last line printed is one
JSON object with the headline figures; it is also the document's last line.
Run: make bench, or .venv/bin/python bench/all.py [--only NAME,...] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._measure import last_json, machine, ratio  # noqa: E402

COMMAND = "make bench"
LOGS = REPO / "var" / "bench"
TAIL_LINES = 12
GRACE_S = 60  # after SIGINT at the time limit, before the benchmark's whole process group is killed


@dataclass(frozen=True)
class Row:
    figure: str
    value: float
    unit: str
    baseline: str
    baseline_value: float | None
    digits: int = 1

    @property
    def ratio(self) -> float | None:
        return ratio(self.value, self.baseline_value)


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    what: str
    rows: Callable[[dict], list[Row]]
    headline: Callable[[dict], dict]
    args: tuple[str, ...] = ()
    timeout_s: float = 600

    @property
    def command(self) -> str:
        return " ".join([".venv/bin/python", self.script, *self.args])


@dataclass
class Outcome:
    benchmark: Benchmark
    seconds: float
    exit_code: int | None = None
    result: dict | None = None
    error: str = ""
    output: list[str] = field(default_factory=list)  # its stdout
    errors: list[str] = field(default_factory=list)  # its stderr

    @property
    def failed(self) -> bool:
        return self.result is None

    @property
    def tail(self) -> list[str]:
        return self.output[-TAIL_LINES:] + self.errors[-TAIL_LINES:]


# ---------------------------------------------------------------- what each benchmark's JSON says


def relay_rows(r: dict) -> list[Row]:
    return [
        Row(
            "outbox relay drain",
            r["relay_events_per_s"],
            "events/s",
            "raw kombu confirmed publish",
            r["raw_events_per_s"],
            0,
        ),
        Row(
            "outbox relay drain",
            r["relay_events_per_s"],
            "events/s",
            "same work, raw: read a batch, confirmed publish each, mark sent",
            r["same_work_events_per_s"],
            0,
        ),
        Row(
            "staging: atomic() + emit()",
            r["stage_events_per_s"],
            "events/s",
            "raw pymongo insert_one",
            r["raw_insert_events_per_s"],
            0,
        ),
        Row(
            "staging: atomic() + emit()",
            r["stage_events_per_s"],
            "events/s",
            "same work, raw: one transaction moving the sequence and inserting the record",
            r["stage_same_work_events_per_s"],
            0,
        ),
    ]


def submit_rows(r: dict) -> list[Row]:
    ours = f"submit through the gateway (best of {len(r['levels'])} levels)"
    level_p99 = f"submit p99 at our best level ({r['submit_best_at_threads']} threads)"
    return [
        Row(ours, r["submit_rps"], "submissions/s", "raw insert + confirmed publish", r["raw_rps"]),
        Row(
            ours,
            r["submit_rps"],
            "submissions/s",
            "the same reads and writes in a raw transaction + confirmed publish (same work)",
            r["same_work_rps"],
        ),
        Row(level_p99, r["submit_p99_ms"], "ms", "same work p99 at the same level", r["same_work_p99_ms"]),
        Row(
            level_p99, r["submit_p99_ms"], "ms", "raw insert + confirmed publish p99 at the same level", r["raw_p99_ms"]
        ),
    ]


def rank_rows(r: dict) -> list[Row]:
    return [
        Row(
            "calibrate + rank 20 000 × 3 reviews",
            r["seconds"],
            "s",
            "raw-mean ranking (numpy)",
            r["baseline_seconds"],
            3,
        ),
        Row("calibrate + rank: peak traced memory", r["peak_mb"], "MB", "raw-mean ranking", r["baseline_peak_mb"]),
        Row(
            "calibrate + rank: selection overlap with the planted truth",
            r["selection_overlap_calibrated"],
            "share",
            "raw-mean ranking",
            r["selection_overlap_raw"],
            3,
        ),
    ]


def assign_rows(r: dict) -> list[Row]:
    scale = r["dense_scale"]
    return [
        Row(
            "assign 20 000 × 3 of 8 000 experts: total affinity",
            r["optimality"],
            "of the exact optimum",
            "greedy",
            r["greedy_optimality"],
            5,
        ),
        Row(
            f"assign: seconds at scale {scale:g}",
            r["sparse_seconds_at_dense_scale"],
            "s",
            f"dense all-pairs flow at scale {scale:g}",
            r["dense_seconds"],
            2,
        ),
        Row("assign: seconds at full scale", r["seconds"], "s", "— (dense does not fit)", None, 1),
        Row("assign: peak memory at full scale", r["peak_mb"], "MB", "the instance alone", r["instance_mb"], 0),
    ]


def e2e_rows(r: dict) -> list[Row]:
    at = f"at {r['rate_per_s']:g}/s, inbox read every {r['inbox_read_every_ms']:.0f} ms"
    return [
        Row(
            f"submission → inbox notification p50 ({at})",
            r["p50_ms"],
            "ms",
            "raw publish→consume+insert→read p50",
            r["floor_p50_ms"],
        ),
        Row(
            f"submission → inbox notification p99 ({at})",
            r["p99_ms"],
            "ms",
            "raw publish→consume+insert→read p99",
            r["floor_p99_ms"],
        ),
        Row(
            "submission → notify's created_at of the message, p50",
            r["created_at_p50_ms"],
            "ms",
            "raw … p50",
            r["floor_p50_ms"],
        ),
        Row(
            "submission → notify's created_at of the message, p99",
            r["created_at_p99_ms"],
            "ms",
            "raw … p99",
            r["floor_p99_ms"],
        ),
    ]


def events_rows(r: dict) -> list[Row]:
    ours = f"events staged → relayed → applied, sustained (EVENT_BATCH={r['event_batch']})"
    return [
        Row(
            ours, r["events_per_s"], "events/s", "raw kombu publish/consume (confirms, acks)", r["raw_events_per_s"], 1
        ),
        Row(
            ours,
            r["events_per_s"],
            "events/s",
            "the same database and broker work, raw pymongo + kombu, naive",
            r["same_work_events_per_s"],
            1,
        ),
        Row(
            ours,
            r["events_per_s"],
            "events/s",
            "ours with EVENT_BATCH=1 (each event its own transaction)",
            r["unbatched_events_per_s"],
            1,
        ),
    ]


def memory_rows(r: dict) -> list[Row]:
    base = r["kernel_floor_idle_mb"]
    rows = []
    for name, m in r["services"].items():
        if name == "kernel floor":
            continue
        label = f"{name} (master + {r['gateway_workers']} workers)" if name == "gateway" else name
        rows += [
            Row(f"{label} RSS idle", m["idle_mb"], "MB", "bare kernel service idle", base),
            Row(f"{name} RSS under load", m["load_mb"], "MB", f"{name} idle", m["idle_mb"]),
        ]
    return rows


def gateway_rows(r: dict) -> list[Row]:
    return [
        Row(
            "GET /v1/programmes through the gateway (best level)",
            r["gateway_rps"],
            "requests/s",
            "the same RPC from a standalone proxy",
            r["rpc_rps"],
        ),
        Row(
            "GET /v1/programmes through the gateway (best level)",
            r["gateway_rps"],
            "requests/s",
            "the same read straight from pymongo",
            r["raw_rps"],
        ),
    ]


def audit_rows(r: dict) -> list[Row]:
    return [
        Row(
            "a submission-sized command with its audit record",
            r["audited_per_s"],
            "commands/s",
            "the same command without the record",
            r["plain_per_s"],
            1,
        ),
        Row(
            f"the same from {r['threads']} threads",
            r["audited_threads_per_s"],
            "commands/s",
            "the same without the record",
            r["plain_threads_per_s"],
            1,
        ),
    ]


def materials_rows(r: dict) -> list[Row]:
    size = f"{r['file_mb']} MB"
    return [
        Row(
            f"upload of {size} materials through the gateway",
            r["upload_mb_per_s"],
            "MB/s",
            "raw GridFS put",
            r["raw_put_mb_per_s"],
            1,
        ),
        Row(
            f"download of {size} materials through the gateway",
            r["download_mb_per_s"],
            "MB/s",
            "raw GridFS get",
            r["raw_get_mb_per_s"],
            1,
        ),
        Row(
            f"gateway RSS growth during a {size} upload",
            r["gateway_rss_growth_mb"],
            "MB",
            "the file's size",
            r["file_mb"],
            1,
        ),
        Row(
            f"applications RSS growth during a {size} upload",
            r["service_rss_growth_mb"],
            "MB",
            "the file's size",
            r["file_mb"],
            1,
        ),
    ]


BY_ID_WRITES = {"mark_read": "a message marked read", "claim": "a due delivery claimed"}


def by_id_rows(r: dict) -> list[Row]:
    return [
        Row(
            f"{BY_ID_WRITES[row['write']]} by `_id`, {row['size']} in the collection",
            row["by_id_per_s"],
            "writes/s",
            "the same as one findAndModify",
            row["find_and_modify_per_s"],
            1,
        )
        for row in r["rows"]
    ]


def pick(r: dict, **keys: str) -> dict:
    return {headline: r[key] for headline, key in keys.items() if key in r}


BENCHMARKS = [
    Benchmark(
        "relay",
        "bench/relay.py",
        "The transactional outbox: staging events through `atomic()` + `emit()` against raw `insert_one` of the "
        "same documents and against the same work in raw transactions (sequence and record), and the relay "
        "draining them (1 500 events over 100 subjects) against a raw kombu loop with confirms and against the "
        "same work raw (batches read, published with confirms, marked sent); each message consumed back and "
        "checked once, in order per subject.",
        relay_rows,
        lambda r: pick(
            r,
            relay_events_per_s="relay_events_per_s",
            relay_raw_events_per_s="raw_events_per_s",
            relay_ratio_vs_same_work="ratio_vs_same_work",
            stage_ratio_vs_same_work="stage_ratio_vs_same_work",
        ),
        args=("--events", "1500"),
    ),
    Benchmark(
        "submit",
        "bench/submit.py",
        "`POST /v1/applications/{id}/submit` through the gateway at rising concurrency (1, 4, 16 threads) "
        "against the raw limit: the document inserted with pymongo plus a confirmed publish; and against the "
        "same work without the platform: the submit use case's reads and writes in one raw pymongo transaction, "
        "a confirmed publish and the outbox record marked sent (no HTTP, no RPC). Each p99 is taken at our best "
        "level: a closed loop's latency is about threads ÷ rate, so p99s of different levels do not compare.",
        submit_rows,
        lambda r: pick(
            r,
            submit_rps="submit_rps",
            submit_raw_rps="raw_rps",
            submit_p99_ms="submit_p99_ms",
            submit_ratio_vs_same_work="ratio_vs_same_work",
            submit_p99_vs_same_work="p99_vs_same_work",
        ),
    ),
    Benchmark(
        "rank",
        "bench/rank.py",
        "Calibration (expert offsets by conjugate gradients) and ranking under quota and prefecture caps of "
        "20 000 applications × 3 reviews from 8 000 experts, against a numpy raw-mean ranking (best of 3); "
        "quality against the planted truth.",
        rank_rows,
        lambda r: pick(r, rank_seconds="seconds", rank_baseline_seconds="baseline_seconds"),
    ),
    Benchmark(
        "assign",
        "bench/assign.py",
        "Conflict-free expert assignment (20 000 applications × 3 of 8 000 experts) against the exact optimum "
        "over all pairs (column generation), greedy, and the dense all-pairs flow where it fits.",
        assign_rows,
        lambda r: pick(
            r, assign_seconds="seconds", assign_optimality="optimality", assign_greedy_optimality="greedy_optimality"
        ),
        timeout_s=900,
    ),
    Benchmark(
        "gateway",
        "bench/gateway.py",
        "`GET /v1/programmes` through the gateway (token check, one RPC, the service's read, JSON) at rising "
        "concurrency, against the same RPC from a standalone nameko proxy and the same read straight from "
        "pymongo, back to back at each level.",
        gateway_rows,
        lambda r: pick(
            r,
            gateway_rps="gateway_rps",
            gateway_rpc_rps="rpc_rps",
            gateway_p99_ms="gateway_p99_ms",
            gateway_ratio_vs_same_work="ratio_vs_same_work",
        ),
    ),
    Benchmark(
        "e2e",
        "bench/e2e_latency.py",
        "A submission through the gateway to its `application_submitted` message in the prefecture bureau's "
        "inbox, at a fixed 5 submissions/s for 40 s (open loop), as a client polling the inbox every 20 ms sees "
        "it (and by notify's `created_at`), against the floor of the same path: a pymongo insert and a confirmed "
        "publish, consumed with a manual ack, one insert, one read; same rate, half before and half after.",
        e2e_rows,
        lambda r: pick(
            r,
            e2e_p50_ms="p50_ms",
            e2e_p99_ms="p99_ms",
            e2e_floor_p50_ms="floor_p50_ms",
            e2e_floor_p99_ms="floor_p99_ms",
            e2e_rate_per_s="rate_per_s",
            e2e_ratio_vs_same_work="ratio_vs_same_work",
        ),
    ),
    Benchmark(
        "audit",
        "bench/audit.py",
        "The audit record's cost: 1 200 commands (one application updated, one event staged, one transaction "
        "through `atomic()`) with a user acting, so that the hash-chained record and its chain head join the "
        "transaction, against the same commands with none, alternating in rounds; sequentially and from 4 "
        "threads; then one checkpoint and one verify of the whole log.",
        audit_rows,
        lambda r: pick(r, audit_ratio="ratio", audit_threads_ratio="threads_ratio"),
    ),
    Benchmark(
        "by_id",
        "bench/by_id.py",
        "Writes by `_id` as the stores send them (an `update_one` and a `find_one` by `_id`; a read of the most "
        "overdue delivery and a compare-and-set of its lease) against one `find_one_and_update`, which the wire "
        "server answers by reading the whole collection (docs/writing-a-service.md): notify's `mark_read` (one "
        "transaction each) and `claim`, 40 of each shape at each size, alternating in rounds, on collections of "
        "100, 2 000 and 10 000.",
        by_id_rows,
        lambda r: {f"by_id_{row['write']}_ratio_{row['size']}": row["ratio"] for row in r["rows"]},
    ),
    Benchmark(
        "events",
        "bench/events.py",
        "2 000 events staged in a producer's outbox (`atomic()` + `emit()`, 4 threads, 500 subjects), relayed "
        "and applied by a kernel consumer service (`@handles`, once, in order), all at once, first staging to "
        "last applied; against a raw kombu publish/consume loop (confirms, persistent, manual acks) of the same "
        "count, half before and half after; against the same database and broker work done raw and naively "
        "(each event's writes in raw pymongo transactions, confirmed publishes one by one, a transaction per "
        "message before its ack); and against ours with the consumer's group commit off (EVENT_BATCH=1).",
        events_rows,
        lambda r: pick(
            r,
            events_per_s="events_per_s",
            events_raw_per_s="raw_events_per_s",
            events_same_work_per_s="same_work_events_per_s",
            events_unbatched_per_s="unbatched_events_per_s",
            events_ratio_vs_same_work="ratio_vs_same_work",
        ),
    ),
    Benchmark(
        "materials",
        "bench/materials.py",
        "Application materials: 5 PDFs of 20 MB each filed through the gateway (streamed to the applications "
        "service's internal HTTP entrypoint, checked, stored in GridFS) and read back, against pymongo's raw "
        "GridFS put and get of the same bytes, file by file in the same run; and the peak VmRSS growth of the "
        "gateway (master and workers) and of the service during one more 20 MB upload (streaming keeps it far "
        "below the file's size).",
        materials_rows,
        lambda r: pick(
            r,
            materials_upload_ratio="upload_ratio",
            materials_ratio_vs_same_work="ratio_vs_same_work",
            materials_download_ratio="download_ratio",
            materials_gateway_rss_growth_mb="gateway_rss_growth_mb",
            materials_service_rss_growth_mb="service_rss_growth_mb",
        ),
    ),
    Benchmark(
        "memory",
        "bench/memory.py",
        "Each service's VmRSS (gateway: master and 2 workers summed) after start and 5 s of quiet, and its peak "
        "under a bounded load (150 submissions from 4 threads with 4 readers of every service's lists), against "
        "a bare kernel service (tests/service/kernel_services.py ConsumerService) idle in the same run.",
        memory_rows,
        lambda r: {
            "memory_idle_mb": {k: v["idle_mb"] for k, v in r["services"].items()},
            "memory_load_mb": {k: v["load_mb"] for k, v in r["services"].items()},
        },
    ),
]


# ---------------------------------------------------------------- running


# Runs the benchmark's script with SIGINT raising KeyboardInterrupt. Started in the background
# (nohup, cron, CI), `make bench` inherits SIGINT ignored, and so would the script: at its limit it
# sat out GRACE_S and was killed before it stopped the servers and the vhost it had started.
INTERRUPTIBLE = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def stop(process: subprocess.Popen) -> None:
    """SIGINT, so that the benchmark stops what it started; its whole process group killed if it has not in GRACE_S."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run(benchmark: Benchmark) -> Outcome:
    """The benchmark in its own process group, stopped at its time limit.
    Its stdout goes to var/bench/<name>.log, its stderr to <name>.stderr.log."""
    script = REPO / benchmark.script
    if not script.exists():
        return Outcome(benchmark, 0.0, error=f"{benchmark.script} does not exist")
    LOGS.mkdir(parents=True, exist_ok=True)
    out_path, err_path = LOGS / f"{benchmark.name}.log", LOGS / f"{benchmark.name}.stderr.log"
    started, error = time.perf_counter(), ""
    with open(out_path, "w", encoding="utf-8") as out, open(err_path, "w", encoding="utf-8") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", INTERRUPTIBLE, str(script), *benchmark.args],
            cwd=REPO,
            stdout=out,
            stderr=err,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            process.wait(timeout=benchmark.timeout_s)
        except subprocess.TimeoutExpired:
            error = f"still running after its limit of {benchmark.timeout_s:.0f} s: stopped"
            stop(process)
        except KeyboardInterrupt:  # its own session does not see the terminal's Ctrl-C
            stop(process)
            raise
    outcome = Outcome(
        benchmark,
        time.perf_counter() - started,
        exit_code=process.returncode,
        error=error,
        output=out_path.read_text(encoding="utf-8", errors="replace").splitlines(),
        errors=err_path.read_text(encoding="utf-8", errors="replace").splitlines(),
    )
    if error:
        return outcome
    if process.returncode != 0:
        outcome.error = f"exited with {process.returncode}"
        return outcome
    try:
        result = last_json("\n".join(outcome.output))
        benchmark.rows(result)  # it has the keys the table reads
        outcome.result = result
    except (ValueError, KeyError, TypeError) as exc:
        outcome.error = f"unexpected last line: {exc!r}"
    return outcome


# ---------------------------------------------------------------- the document


def number(value: float | None, digits: int) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def table(outcomes: list[Outcome]) -> list[str]:
    lines = [
        "| benchmark | figure | value | unit | same-run baseline | baseline value | ratio |",
        "|---|---|---:|---|---|---:|---:|",
    ]
    for outcome in outcomes:
        name = f"`{outcome.benchmark.name}`"
        if outcome.failed:
            status = "not run" if outcome.exit_code is None else f"exit {outcome.exit_code}"
            lines.append(f"| {name} | **FAILED** ({status}): {outcome.error} | — | | | — | — |")
            continue
        for row in outcome.benchmark.rows(outcome.result):
            lines.append(
                f"| {name} | {row.figure} | {number(row.value, row.digits)} | {row.unit} | {row.baseline} | "
                f"{number(row.baseline_value, row.digits)} | {number(row.ratio, 3)} |"
            )
    return lines


def headline(outcomes: list[Outcome], started_at: datetime, seconds: float) -> dict:
    figures = {
        "date": started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": COMMAND,
        "seconds": round(seconds),
        "failed": [o.benchmark.name for o in outcomes if o.failed],
    }
    for outcome in outcomes:
        if not outcome.failed:
            figures.update(outcome.benchmark.headline(outcome.result))
    return figures


def headline_line(outcomes: list[Outcome], started_at: datetime, seconds: float) -> str:
    return json.dumps(headline(outcomes, started_at, seconds), ensure_ascii=False)


def document(outcomes: list[Outcome], at_start: dict, started_at: datetime, seconds: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Made by `{COMMAND}` (`.venv/bin/python bench/all.py`), started {started_at:%Y-%m-%d %H:%M} UTC, "
        f"{seconds / 60:.1f} minutes in all, on {at_start['cores']} cores with a load average of "
        f"{', '.join(f'{x:g}' for x in at_start['load_average'])} (1, 5, 15 min) at the start. The machine is shared "
        "with other work, so absolute figures move from run to run; each figure stands beside its baseline measured "
        "in the same run, and their ratio (figure ÷ baseline) is what to compare. For a rate a ratio below 1 is "
        "slower than the baseline; for a time or a size, above 1 is slower or larger.",
        "",
        *table(outcomes),
        "",
    ]
    failed = [o for o in outcomes if o.failed]
    if failed:
        lines += ["## Failed", ""]
        for outcome in failed:
            lines += [
                f"`{outcome.benchmark.name}` ({outcome.benchmark.script}): {outcome.error}; exit code "
                f"{outcome.exit_code}" + ("; its last lines (stdout, then stderr):" if outcome.tail else "."),
                "",
            ]
            if outcome.tail:
                lines += ["```", *outcome.tail, "```", ""]
    lines += ["## What each measures", ""]
    for outcome in outcomes:
        b = outcome.benchmark
        lines.append(f"- `{b.name}` — `{b.command}` ({outcome.seconds:.0f} s): {b.what}")
    lines += [
        "",
        "Each one alone: `make bench-relay`, `bench-submit`, `bench-rank`, `bench-assign`, `bench-gateway`, "
        "`bench-e2e`, `bench-events`, `bench-by_id`, `bench-materials`, `bench-memory`; its output in this run is in `var/bench/<name>.log` "
        "(stderr: `<name>.stderr.log`).",
        "",
        "The headline figures, as the last line of `make bench` prints them:",
        "",
        headline_line(outcomes, started_at, seconds),
    ]
    return "\n".join(lines) + "\n"


# docs/benchmarks.md from this heading on is written by hand from runs outside `make bench`,
# and kept when `make bench` rewrites the rest.
KEPT = "## Measured apart"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated names: " + ", ".join(b.name for b in BENCHMARKS))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    chosen = BENCHMARKS
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {b.name for b in BENCHMARKS}
        if unknown:
            parser.error(f"--only: no benchmark named {', '.join(sorted(unknown))}")
        chosen = [b for b in BENCHMARKS if b.name in names]

    at_start, started_at, started = machine(), datetime.now(timezone.utc), time.perf_counter()
    outcomes = []
    for benchmark in chosen:
        print(f"== {benchmark.name}: {benchmark.script} {' '.join(benchmark.args)}", flush=True)
        outcome = run(benchmark)
        outcomes.append(outcome)
        status = "FAILED: " + outcome.error if outcome.failed else "ok"
        print("\n".join(outcome.tail if outcome.failed else outcome.output[:-1]))
        print(f"== {benchmark.name}: {status} in {outcome.seconds:.0f} s\n", flush=True)
    seconds = time.perf_counter() - started

    text = document(outcomes, at_start, started_at, seconds)
    if args.out.exists():  # sections measured apart (e.g. make bench-assign-national) stay
        previous = args.out.read_text(encoding="utf-8")
        if KEPT in previous:
            text += "\n" + previous[previous.index(KEPT) :]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print("\n".join(table(outcomes)))
    print(f"\nwritten to {args.out}")
    print(headline_line(outcomes, started_at, seconds))
    sys.exit(1 if any(o.failed for o in outcomes) else 0)


if __name__ == "__main__":
    main()
