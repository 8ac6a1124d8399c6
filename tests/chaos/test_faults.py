"""Faults under steady load through the public API, one at a time (issue 16): kill -9 of a
service process, of the wire server and of a gateway worker, a cut between every process and
the broker, duplicate copies of real events. The whole history of requests is then checked:
nothing lost, nothing applied twice, nothing stuck; no 5xx but 503; and each fault's recovery
(seconds from the fault's end to the first answered request, and until every event
acknowledged before it has reached its inbox) is printed as a table and a last JSON line.

`make test` runs the short version (one fault of each kind, 3 clients, 1 s outages);
`make chaos` the long one (CHAOS_LONG=1: every service killed, 5 s outages, a 5-minute broker
cut by default (CHAOS_BROKER_CUT_S), recovery bounds asserted: 2 s after a restart, 5 s after
the wire server or the broker is back).
"""

import json
import os
import signal
import time
from collections import Counter

import pytest

from tests.chaos.harness import Platform, Workload, check, drained, republish, settled
from tests.support.servers import rabbit_vhost, wait_until

pytestmark = pytest.mark.chaos

LONG = os.environ.get("CHAOS_LONG") == "1"
DOWN_S = 5.0 if LONG else 1.0
CUT_S = float(os.environ.get("CHAOS_BROKER_CUT_S", 300 if LONG else 3))
SETTLE_S = 3.0 if LONG else 0.5
CLIENTS, PAUSE_S = (4, 0.8) if LONG else (3, 0.6)
KILLED = ("applications", "review", "notify") if LONG else ("applications",)
# How soon after a fault ends requests are answered and events delivered again (issue 16).
BOUND_S = {"restart": 2.0, "return": 5.0, "none": 2.0}


def kill_service(name):
    def inject(platform):
        platform.kill_service(name)
        time.sleep(DOWN_S)
        platform.restart_service(name)

    return f"kill -9 {name}", "restart", inject


def kill_wire_server(platform):
    platform.wire.kill()
    time.sleep(DOWN_S)
    platform.wire.start()


def kill_gateway_worker(platform):
    workers = platform.gateway_workers()
    os.kill(workers[0], signal.SIGKILL)
    wait_until(
        lambda: len(set(platform.gateway_workers()) - {workers[0]}) == len(workers),
        timeout=30,
        what="gunicorn to replace the killed worker",
    )


def cut_broker(platform):
    platform.proxy.cut()
    time.sleep(CUT_S)
    platform.proxy.restore()


def duplicate_events(platform):
    assert republish(platform, 20) > 0


FAULTS = [
    *(kill_service(name) for name in KILLED),
    ("kill -9 wire server", "return", kill_wire_server),
    ("kill -9 gateway worker", "restart", kill_gateway_worker),
    (f"broker cut {CUT_S:g} s", "return", cut_broker),
    ("duplicate events", "none", duplicate_events),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with rabbit_vhost() as amqp:
        platform = Platform(tmp_path_factory.mktemp("chaos"), amqp)
        try:
            workload = Workload(platform, CLIENTS, PAUSE_S, give_up_after=CUT_S + 60)  # clients outlast the cut
            workload.start()
            faults = [inflict(platform, workload, *fault) for fault in FAULTS]
            workload.stop()
            try:
                wait_until(
                    lambda: settled(platform, workload.acknowledged()),
                    timeout=60,
                    what="every acknowledged event in its inbox and every queue empty",
                )
            except AssertionError:
                pass  # what is left is counted as stuck
            yield faults, check(platform, workload), workload
        finally:
            platform.stop()


def inflict(platform, workload, name, kind, inject) -> dict:
    time.sleep(SETTLE_S)
    started = time.monotonic()
    inject(platform)
    ended = time.monotonic()
    before = workload.acknowledged(before=ended)
    wait_until(lambda: drained(platform, before), timeout=120, interval=0.1, what=f"events after {name}")
    events_s = time.monotonic() - ended
    answered = wait_until(
        lambda: next((a for a in workload.attempts() if a.started >= ended and a.status in (200, 201)), None),
        timeout=60,
        interval=0.1,
        what=f"a request answered after {name}",
    )
    time.sleep(SETTLE_S)
    errors = Counter(
        str(a.status)
        for a in workload.attempts()
        if started <= a.started <= ended + SETTLE_S and a.status not in (200, 201)
    )
    return {
        "fault": name,
        "kind": kind,
        "fault_s": round(ended - started, 2),
        "requests_s": round(answered.ended - ended, 2),
        "events_s": round(events_s, 2),
        "errors": dict(errors),
    }


def report(faults, totals) -> str:
    lines = [
        f"{'fault':<26}{'lasted s':>9}{'requests s':>11}{'events s':>9}  client errors",
        *(
            f"{f['fault']:<26}{f['fault_s']:>9}{f['requests_s']:>11}{f['events_s']:>9}  "
            + (", ".join(f"{s}×{n}" for s, n in sorted(f["errors"].items())) or "none")
            for f in faults
        ),
        "totals: " + ", ".join(f"{k} {v}" for k, v in totals.items()),
        json.dumps({"faults": faults, **totals}, ensure_ascii=False),
    ]
    return "\n".join(lines)


def test_nothing_acknowledged_is_lost_applied_twice_or_stuck(run):
    faults, totals, _ = run
    print("\n" + report(faults, totals))
    assert totals["acknowledged"] > 0
    assert (totals["lost"], totals["duplicated"], totals["stuck"], totals["gave_up"]) == (0, 0, 0, []), totals


def test_clients_see_no_server_error_but_503(run):
    faults, _, workload = run
    statuses = Counter(str(a.status) for a in workload.attempts())
    assert not {s for s in statuses if s.startswith("5") and s != "503"}, statuses


@pytest.mark.skipif(not LONG, reason="bounds on recovery times are checked by make chaos, not on a loaded CI run")
def test_every_fault_is_recovered_from_within_its_bound(run):
    faults, _, _ = run
    slow = [
        (f["fault"], f["requests_s"], f["events_s"])
        for f in faults
        if max(f["requests_s"], f["events_s"]) > BOUND_S[f["kind"]]
    ]
    assert not slow, slow
