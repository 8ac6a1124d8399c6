"""Three private RabbitMQ nodes clustered on this machine, for the broker-cluster fault (issue 16
item 5). Each node has its own name, AMQP and distribution ports, data, logs and config under the
cluster's own directory, and the three share an Erlang cookie of their own (HOME points into that
directory); no management listener, no plugins. The machine's shared node is never touched (the
nodes only register with the machine's epmd, as every private node does).

The nodes run the installed server binaries (`chuyi.stack.RABBIT_BIN`); node 2 and 3 join node 1
with `rabbitmqctl join_cluster`. `kill(node)` is a kill -9 of that node's beam process (its pid
file), `start(node)` brings it back on its data, where it rejoins. `stop()` stops every node and
makes sure no beam process of theirs is left.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from kombu import Connection

from chuyi.stack import RABBIT_BIN, private_rabbit_env
from tests.support.servers import free_port, wait_until

# Small nodes: one scheduler each, a low memory watermark, a low disk limit (tests run beside others).
ERL_ARGS = "+S 1:1 +SDio 2 +A 8 +P 262144"
CONFIG = """listeners.tcp.default = {port}
loopback_users = none
vm_memory_high_watermark.absolute = 400MB
disk_free_limit.absolute = 50MB
cluster_partition_handling = pause_minority
log.console = false
log.file.level = warning
"""


class Node:
    def __init__(self, cluster: "RabbitCluster", index: int):
        self.index = index
        self.base = cluster.base / f"node{index}"
        self.port, self.dist_port = free_port(), free_port()
        self.name = f"chuyi-cluster{index}-{self.port}@localhost"
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}"
        env = private_rabbit_env(self.base, self.port, self.dist_port, self.name)
        (self.base / "rabbitmq.conf").write_text(CONFIG.format(port=self.port))
        self.env = {
            **os.environ,
            **env,
            "HOME": str(cluster.home),
            "RABBITMQ_SERVER_ERL_ARGS": ERL_ARGS,
            "RABBITMQ_CTL_ERL_ARGS": "+S 1:1",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.base / "log" / "server.out", "ab")
        self.process = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"RabbitMQ node {self.name} exited; see {self.base / 'log'}")
        try:
            with Connection(self.uri + "/", connect_timeout=1) as connection:
                connection.ensure_connection(max_retries=1)
            return True
        except Exception:
            return False

    def ctl(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        done = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode:
            raise AssertionError(f"rabbitmqctl {' '.join(args)} on {self.name}: {done.stdout}{done.stderr}")
        return done.stdout

    def beam_pid(self) -> int | None:
        try:
            return int((self.base / "rabbitmq.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """kill -9 of the node's beam process (and of what is left of its process group)."""
        pid = self.beam_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap()

    def _reap(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group of the node we started, and only it
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                self.ctl("stop", timeout=60, check=False)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self._reap()
        self.process = None


class RabbitCluster:
    """`size` clustered nodes; `uri(vhost)` is the failover URI over all of them
    (`amqp://node1/vhost;amqp://node2/vhost;...`, kombu's syntax)."""

    def __init__(self, base: Path, size: int = 3):
        self.base = base
        self.home = base / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20).upper())
        cookie.chmod(0o400)
        self.nodes = [Node(self, i + 1) for i in range(size)]

    def start(self, timeout: float = 120) -> "RabbitCluster":
        try:
            for node in self.nodes:
                node.start()
            for node in self.nodes:
                wait_until(node.answers, timeout=timeout, interval=0.5, what=f"RabbitMQ node {node.name}")
            first = self.nodes[0]
            for node in self.nodes[1:]:
                node.ctl("stop_app")
                node.ctl("join_cluster", first.name)
                node.ctl("start_app")
            wait_until(
                lambda: self.running() == {n.name for n in self.nodes},
                timeout=60,
                what="the three nodes to run as one cluster",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def running(self, via: Node | None = None) -> set[str]:
        via = via or next(n for n in self.nodes if n.process is not None and n.process.poll() is None)
        out = via.ctl("eval", "rabbit_nodes:all_running().", check=False)
        return {name.strip(" '[]\n") for name in out.split(",") if "@" in name}

    def node_named(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def live(self) -> Node:
        return next(n for n in self.nodes if n.process is not None and n.process.poll() is None)

    def add_vhost(self, vhost: str) -> str:
        node = self.live()
        # as the production vhost (deploy/k8s/components/rabbitmq-cluster/topology.yaml): quorum by default
        node.ctl("add_vhost", vhost, "--default-queue-type", "quorum")
        node.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        return self.uri(vhost)

    def uri(self, vhost: str) -> str:
        return ";".join(f"{n.uri}/{vhost}" for n in self.nodes)

    def queues(self, vhost: str, *items: str) -> list[list[str]]:
        out = self.live().ctl("list_queues", "-p", vhost, "--no-table-headers", *items, timeout=60)
        return [line.split("\t") for line in out.splitlines() if "\t" in line]

    def start_node(self, node: Node, timeout: float = 120) -> None:
        node.start()
        wait_until(node.answers, timeout=timeout, interval=0.2, what=f"RabbitMQ node {node.name} back")

    def stop(self) -> None:
        for node in reversed(self.nodes):
            try:
                node.stop()
            except Exception:
                node._reap()
        leftover = beam_processes(self.base)
        for pid in leftover:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if leftover:
            time.sleep(0.5)


def beam_processes(base: Path) -> list[int]:
    """Beam processes whose command line names this cluster's directory (none should outlive it)."""
    found = subprocess.run(["pgrep", "-f", f"beam.*{base}"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]
