"""Benchmark: `GET /v1/programmes` through the gateway, beside the same query answered straight
by the applications service over RPC and straight from pymongo, in the same run.

On a fresh SecantusDB wire server and a fresh vhost of the machine's RabbitMQ, the applications
service (`chuyi serve applications`) and the gateway under gunicorn are started as the test stack
starts them: the gateway's own defaults (`services/gateway/gunicorn.conf.py`: gthread, 8 threads
per worker, an RPC pool of 8 per worker) with 2 workers and the per-principal rate limit off (one
principal per client thread would otherwise be throttled at 20 requests/s). At each concurrency
level (client threads, each with what it needs made before the clock starts):

- gateway: `GET /v1/programmes` with a real bearer token (a thread's own role and scope, in turn:
  province, prefecture, institution, expert, finance) over its own keep-alive HTTP session: the
  token check, one RPC `applications.list_programmes`, the service's read and the JSON answer;
- revalidate: the same request with `If-None-Match` and the ETag of the thread's first answer,
  answered 304 without a body (the RPC still runs: the gateway holds no state to know the answer
  unchanged; what it saves is the JSON and its transfer);
- rpc: `applications.list_programmes(actor=...)` from a started `ClusterRpcProxy` of the thread's
  own, as the gateway's pooled proxies call it;
- raw: what the service reads for it, straight from pymongo: the `category_quotas` collection of
  the service's database (one client shared by the threads, as pymongo is meant to be used).

The three run back to back at each level, so they see the same load on this shared machine; only
the same-run ratios mean anything. Every answer is checked (the whole catalogue, status 200). The
last line is one JSON object.
Run: .venv/bin/python bench/gateway.py [--per-level N] [--levels 1,4,16,32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from nameko.standalone.rpc import ClusterRpcProxy
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._measure import failure  # noqa: E402
from services.contracts.catalogue import catalogue  # noqa: E402
from services.gateway.auth import actor_from_claims  # noqa: E402
from tests.service.applications.support import World  # noqa: E402
from tests.support.servers import mongo_server, rabbit_vhost  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

GATEWAY_WORKERS = 2  # as tests/support/stack.py starts the gateway
RPC_TIMEOUT_S = 30
# What a client thread makes before the clock starts: one request, and how to let go after the last.
Worker = tuple[Callable[[], None], Callable[[], None]]
# The role and scope of each client thread's token, in turn.
CLAIMS = (
    {"role": "province"},
    {"role": "prefecture", "prefecture": "长沙市"},
    {"role": "institution", "institution_id": "inst_bench"},
    {"role": "expert", "expert_id": "exp_bench"},
    {"role": "finance"},
)


def measure(concurrency: int, requests_per_level: int, make_worker: Callable[[int], Worker]) -> dict:
    """`requests_per_level` requests from `concurrency` threads, each making its worker first;
    the clock runs from when every thread is ready until the last request is answered."""
    shares = [requests_per_level // concurrency + (n < requests_per_level % concurrency) for n in range(concurrency)]
    latencies: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(concurrency + 1)
    failures: list[str] = []

    def run(n: int) -> None:
        try:
            one, close = make_worker(n)
        except Exception as exc:  # its share counts as failed; the others must not wait for it
            failures.extend([failure(exc)] * shares[n])
            ready.wait()
            return
        mine = []
        ready.wait()
        try:
            for _ in range(shares[n]):
                start = time.perf_counter()
                try:
                    one()
                except Exception as exc:  # counted in the level's row; the thread goes on
                    failures.append(failure(exc))
                    continue
                mine.append(1000 * (time.perf_counter() - start))
        finally:
            close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(cuts[49], 2),
        "p99_ms": round(cuts[98], 2),
        "failed": len(failures),
        "failures": sorted(set(failures)),
    }


def gateway_worker(stack: Stack, expected: int) -> Callable[[int], Worker]:
    def make(n: int) -> Worker:
        scope = dict(CLAIMS[n % len(CLAIMS)])
        session = stack.client(scope.pop("role"), **scope)
        url = stack.url("/v1/programmes")

        def one() -> None:
            answer = session.get(url, timeout=RPC_TIMEOUT_S)
            if answer.status_code != 200 or len(answer.json()["items"]) != expected:
                raise AssertionError(f"GET /v1/programmes: {answer.status_code} {answer.text[:300]}")

        return one, session.close

    return make


def revalidate_worker(stack: Stack) -> Callable[[int], Worker]:
    def make(n: int) -> Worker:
        scope = dict(CLAIMS[n % len(CLAIMS)])
        session = stack.client(scope.pop("role"), **scope)
        url = stack.url("/v1/programmes")
        etag = session.get(url, timeout=RPC_TIMEOUT_S).headers["ETag"]

        def one() -> None:
            answer = session.get(url, headers={"If-None-Match": etag}, timeout=RPC_TIMEOUT_S)
            if answer.status_code != 304 or answer.content:
                raise AssertionError(f"GET /v1/programmes If-None-Match: {answer.status_code} {answer.text[:300]}")

        return one, session.close

    return make


def rpc_worker(stack: Stack, expected: int) -> Callable[[int], Worker]:
    def make(n: int) -> Worker:
        actor = actor_from_claims({"sub": f"bench-{n}", **CLAIMS[n % len(CLAIMS)]}).as_claims()
        proxy = ClusterRpcProxy({"AMQP_URI": stack.amqp_uri}, timeout=RPC_TIMEOUT_S)
        applications = proxy.start().applications

        def one() -> None:
            reply = applications.list_programmes(actor=actor)
            if reply["status"] != 200 or len(reply["body"]["items"]) != expected:
                raise AssertionError(f"list_programmes: {reply!r:.300}")

        return one, proxy.stop

    return make


def raw_worker(collection) -> Callable[[int], Worker]:
    def make(n: int) -> Worker:
        return (lambda: list(collection.find({}))), (lambda: None)

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-level", type=int, default=400, help="requests of each kind at each concurrency level")
    parser.add_argument("--levels", default="1,4,16,32", help="concurrency levels (client threads), rising")
    args = parser.parse_args()
    levels = [int(part) for part in args.levels.split(",")]
    if not levels or min(levels) < 1 or args.per_level < max(2, *levels):
        parser.error("every level must be at least 1, and --per-level at least 2 and the highest level")
    expected = len(list(catalogue()))

    with (
        tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp,
        mongo_server(Path(tmp) / "data") as mongo_uri,
        rabbit_vhost() as amqp_uri,
    ):
        (Path(tmp) / "logs").mkdir()
        stack = Stack(mongo_uri, amqp_uri, Path(tmp) / "logs", services=("applications",))
        client = MongoClient(mongo_uri, tz_aware=True)
        try:
            World(stack).call()  # a call holds part of its category's quota, as in a running round
            collection = client[f"{stack.prefix}applications"].category_quotas
            kinds = {
                "gateway": gateway_worker(stack, expected),
                "revalidate": revalidate_worker(stack),
                "rpc": rpc_worker(stack, expected),
                "raw": raw_worker(collection),
            }
            for make in kinds.values():  # warm-up: connections, imports, the service's first reads
                measure(min(levels[-1], 4), min(args.per_level, 40), make)
            results = []
            for concurrency in levels:
                row = {"threads": concurrency}
                for kind, make in kinds.items():
                    row.update(
                        {f"{kind}_{key}": value for key, value in measure(concurrency, args.per_level, make).items()}
                    )
                results.append(row)
        finally:
            client.close()
            stack.stop()

    print(
        f"GET /v1/programmes ({expected} categories), {args.per_level} requests of each kind per level; gateway: "
        f"{GATEWAY_WORKERS} gunicorn workers x 8 threads (gunicorn.conf.py defaults), 1 applications process"
    )
    print(
        f"{'threads':>7s} | {'gateway/s':>9s} {'p50 ms':>7s} {'p99 ms':>7s} | {'rpc/s':>7s} {'p50 ms':>7s} "
        f"{'p99 ms':>7s} | {'raw/s':>7s} {'p50 ms':>7s} {'p99 ms':>7s} | {'gw/rpc':>6s} {'gw/raw':>6s}"
    )
    for r in results:
        print(
            f"{r['threads']:7d} | {r['gateway_rps']:9.1f} {r['gateway_p50_ms']:7.2f} {r['gateway_p99_ms']:7.2f} | "
            f"{r['rpc_rps']:7.1f} {r['rpc_p50_ms']:7.2f} {r['rpc_p99_ms']:7.2f} | {r['raw_rps']:7.1f} "
            f"{r['raw_p50_ms']:7.2f} {r['raw_p99_ms']:7.2f} | {r['gateway_rps'] / r['rpc_rps']:6.3f} "
            f"{r['gateway_rps'] / r['raw_rps']:6.3f}"
        )
    for r in results:
        print(
            f"{r['threads']:7d} | 304 revalidations/s {r['revalidate_rps']:9.1f} p99 {r['revalidate_p99_ms']:7.2f} ms "
            f"| 304/200 {r['revalidate_rps'] / r['gateway_rps']:6.3f}"
        )
    failed = {kind: sum(r[f"{kind}_failed"] for r in results) for kind in ("gateway", "revalidate", "rpc", "raw")}
    print(f"failed requests: {failed}")
    for text in sorted({text for r in results for kind in failed for text in r[f"{kind}_failures"]}):
        print(f"  failed: {text}")
    best = {kind: max(results, key=lambda r: r[f"{kind}_rps"]) for kind in ("gateway", "revalidate", "rpc", "raw")}
    print(
        json.dumps(
            {
                "gateway_rps": best["gateway"]["gateway_rps"],
                "rpc_rps": best["rpc"]["rpc_rps"],
                "raw_rps": best["raw"]["raw_rps"],
                "revalidate_rps": best["revalidate"]["revalidate_rps"],
                "revalidate_over_gateway": round(
                    best["revalidate"]["revalidate_rps"] / best["gateway"]["gateway_rps"], 3
                ),
                "gateway_p99_ms": best["gateway"]["gateway_p99_ms"],
                "gateway_p50_ms": best["gateway"]["gateway_p50_ms"],
                "gateway_over_rpc": round(best["gateway"]["gateway_rps"] / best["rpc"]["rpc_rps"], 3),
                "gateway_over_raw": round(best["gateway"]["gateway_rps"] / best["raw"]["raw_rps"], 3),
                # the raw read is the same database work as the route's (one find of the same documents)
                "ratio_vs_same_work": round(best["gateway"]["gateway_rps"] / best["raw"]["raw_rps"], 3),
                "best_at_threads": {kind: row["threads"] for kind, row in best.items()},
                "failed": failed,
                "per_level": args.per_level,
                "gateway_workers": GATEWAY_WORKERS,
                "levels": results,
            }
        )
    )


if __name__ == "__main__":
    main()
