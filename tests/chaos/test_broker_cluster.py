"""A broker node killed under load (issue 16 item 5): three private RabbitMQ nodes clustered on this
machine (tests/chaos/cluster.py), the platform connected to all three by a failover URI
(`amqp://node1/vhost;amqp://node2/vhost;amqp://node3/vhost`, kombu's syntax, which nameko, the
outbox relay and the gateway's RPC client all pass to kombu unchanged), on a vhost whose default
queue type is quorum as in production, and two replicas of every service. Under the chaos workload
(institutions and their bureau through the public API, with Idempotency-Keys) the node that leads
the busiest quorum queues (the applications service's RPC queue and the queues of its events,
which every request of the workload goes through) is killed with -9, stays down CLUSTER_DOWN_S,
and is started again on its data. Then the history is checked as for every other fault: every
acknowledged write present once, nothing doubled, no dead letters, backlogs drained, no 5xx but
503, and service back within seconds of the kill (the two other nodes carry on), events within
seconds of the node's return.

Long (about 3 minutes, three extra Erlang nodes): it runs in `make chaos` (CHAOS_LONG=1) or with
CHAOS_CLUSTER=1, never in `make test`.
"""

import json
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from pymongo import MongoClient

from chuyi.stack import RABBIT_BIN
from services.common.config import SERVICES
from tests.chaos.cluster import RabbitCluster, beam_processes
from tests.chaos.harness import Platform, WireServer, Workload, check, drained, settled
from tests.support.servers import ServiceProcess, wait_until
from tests.support.stack import Stack

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.skipif(
        not (os.environ.get("CHAOS_LONG") == "1" or os.environ.get("CHAOS_CLUSTER") == "1"),
        reason="the broker-cluster fault runs in make chaos (CHAOS_LONG=1) or with CHAOS_CLUSTER=1",
    ),
    pytest.mark.skipif(not (RABBIT_BIN / "rabbitmq-server").exists(), reason="no rabbitmq-server installed"),
]

DOWN_S = float(os.environ.get("CLUSTER_DOWN_S", 20))
CLIENTS, PAUSE_S = 4, 0.8
REPLICAS = 2
# Requests answered again within this of the kill (the other two nodes serve meanwhile), events
# within this of the kill (quorum queues elect a new leader), all drained within this of the return.
BOUND_S = 5.0


def busy(queue: str) -> bool:
    """The queues every request and event of the workload goes through: the applications service's
    RPC queue and its consumers' event queues. The node leading most of them is killed."""
    return queue == "rpc-applications" or queue.endswith(".applications")


class ClusterPlatform(Platform):
    """The chaos Platform on the three-node cluster, with `replicas` processes of every service."""

    def __init__(self, work_dir, cluster: RabbitCluster, vhost: str, replicas: int = REPLICAS):
        self.work_dir, self.cluster, self.vhost = work_dir, cluster, vhost
        self.amqp_uri = cluster.uri(vhost)
        self.wire = WireServer(work_dir / "data")
        self.proxy = None
        self.stack = self.extra = None
        self.mongo = MongoClient(self.wire.uri, tz_aware=True, serverSelectionTimeoutMS=20000)
        try:
            self.stack = Stack(self.wire.uri, self.amqp_uri, work_dir, RELAY_HOLDER="")
            self.extra = [
                ServiceProcess(name, self.stack.env, work_dir) for name in SERVICES for _ in range(replicas - 1)
            ]
            for process in self.extra:
                process.wait_started()
        except BaseException:  # nothing of a half-started platform outlives the test
            self.stop()
            raise

    def queues(self) -> dict[str, int]:
        return {
            name: int(count) for name, count in self.cluster.queues(self.vhost, "name", "messages") if count.isdigit()
        }

    def leaders(self) -> dict[str, str]:
        return {name: leader for name, leader in self.cluster.queues(self.vhost, "name", "leader")}

    def stop(self) -> None:
        for process in self.extra or ():
            process.stop()
        if self.stack is not None:
            self.stack.stop()
        self.mongo.close()
        self.wire.stop()


@pytest.fixture(scope="module")
def run():
    # not under pytest's basetemp, which other runs on the machine rotate away: the logs of a
    # failed run stay (the path is printed), a passed run's directory is removed
    base = Path(tempfile.mkdtemp(prefix="chuyi-cluster-"))
    print(f"\ncluster test directory (logs of every process): {base}")
    cluster = RabbitCluster(base / "rabbit").start()
    platform = None
    passed = False
    try:
        vhost = f"chuyi-cluster-{uuid.uuid4().hex[:8]}"
        cluster.add_vhost(vhost)
        platform = ClusterPlatform(base, cluster, vhost)
        workload = Workload(platform, CLIENTS, PAUSE_S, give_up_after=DOWN_S + 90)
        workload.start()
        time.sleep(8)  # steady load, every queue declared and busy
        fault = kill_busiest_node(platform, workload)
        time.sleep(5)
        workload.stop()
        try:
            wait_until(
                lambda: settled(platform, workload.acknowledged()),
                timeout=90,
                what="every acknowledged event in its inbox and every queue empty",
            )
        except AssertionError:
            pass  # what is left is counted as stuck
        totals = check(platform, workload)
        yield fault, totals, workload
        passed = (totals["lost"], totals["duplicated"], totals["stuck"], totals["gave_up"]) == (0, 0, 0, [])
    finally:
        try:
            if platform is not None:
                platform.stop()
        finally:
            cluster.stop()
            assert not beam_processes(cluster.base), "a beam process of the test cluster outlived it"
            if passed:
                shutil.rmtree(base, ignore_errors=True)


def kill_busiest_node(platform: ClusterPlatform, workload: Workload) -> dict:
    leaders = {q: leader for q, leader in platform.leaders().items() if busy(q) and leader}
    led = Counter(leaders.values())
    victim = platform.cluster.node_named(led.most_common(1)[0][0])
    started = time.monotonic()
    before = workload.acknowledged(before=started)
    victim.kill()  # kill -9 of the node's beam process
    # service within seconds while the node is away: a request answered, and every event
    # acknowledged before the kill delivered, with two nodes of three
    answered = wait_until(
        lambda: next((a for a in workload.attempts() if a.started >= started and a.status in (200, 201)), None),
        timeout=60,
        interval=0.1,
        what="a request answered after the kill",
    )
    wait_until(lambda: drained(platform, before), timeout=120, interval=0.1, what="events after the kill")
    events_s = time.monotonic() - started
    moved = platform.leaders()  # while the node is away
    time.sleep(max(0.0, DOWN_S - (time.monotonic() - started)))
    returned = time.monotonic()
    platform.cluster.start_node(victim)
    wait_until(
        lambda: platform.cluster.running() == {n.name for n in platform.cluster.nodes},
        timeout=60,
        what="the killed node back in the cluster",
    )
    back = time.monotonic()
    before_return = workload.acknowledged(before=back)
    wait_until(lambda: drained(platform, before_return), timeout=120, interval=0.1, what="events after the return")
    drained_after_return = time.monotonic() - back
    time.sleep(3)
    errors = Counter(
        str(a.status) for a in workload.attempts() if started <= a.started <= back + 3 and a.status not in (200, 201)
    )
    return {
        "fault": "kill -9 broker node",
        "kind": "return",
        "node": victim.name,
        "led": sorted(q for q, leader in leaders.items() if leader == victim.name),
        "new_leaders": {q: moved.get(q) for q, leader in sorted(leaders.items()) if leader == victim.name},
        "fault_s": round(returned - started, 2),
        "rejoin_s": round(back - returned, 2),
        "requests_s": round(answered.ended - started, 2),
        "events_s": round(events_s, 2),
        "events_after_return_s": round(drained_after_return, 2),
        "errors": dict(errors),
    }


def report(fault, totals) -> str:
    errors = ", ".join(f"{s}×{n}" for s, n in sorted(fault["errors"].items())) or "none"
    lines = [
        f"{'fault':<26}{'lasted s':>9}{'requests s':>11}{'events s':>9}  client errors",
        f"{fault['fault']:<26}{fault['fault_s']:>9}{fault['requests_s']:>11}{fault['events_s']:>9}  {errors}",
        f"killed {fault['node']} (leader of {', '.join(fault['led'])}); rejoined in {fault['rejoin_s']} s; "
        f"events drained {fault['events_after_return_s']} s after",
        "totals: " + ", ".join(f"{k} {v}" for k, v in totals.items()),
        json.dumps({"faults": [fault], **totals}, ensure_ascii=False),
    ]
    return "\n".join(lines)


def test_a_killed_broker_node_loses_and_doubles_nothing(run):
    fault, totals, _ = run
    print("\n" + report(fault, totals))
    assert totals["acknowledged"] > 0
    assert fault["led"], "the killed node led none of the busy queues"
    assert all(leader and leader != fault["node"] for leader in fault["new_leaders"].values()), fault["new_leaders"]
    assert (totals["lost"], totals["duplicated"], totals["stuck"], totals["dead_letters"], totals["gave_up"]) == (
        0,
        0,
        0,
        0,
        [],
    ), totals


def test_clients_see_no_server_error_but_503(run):
    _, _, workload = run
    statuses = Counter(str(a.status) for a in workload.attempts())
    assert not {s for s in statuses if s.startswith("5") and s != "503"}, statuses


def test_service_is_back_within_seconds(run):
    fault, _, _ = run
    assert fault["requests_s"] <= BOUND_S and fault["events_s"] <= BOUND_S, fault
    assert fault["events_after_return_s"] <= BOUND_S, fault
