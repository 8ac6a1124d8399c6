"""A RabbitMQ node of a test's own, which the test may stop and start again without
touching the machine's shared broker: its own node name, ports, data and logs (the
environment `chuyi/stack.py` gives the dev stack's private node), started by calling
the installed server binary directly."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from kombu import Connection

from tests.support.servers import free_port, wait_until

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def rabbit_installed() -> bool:
    return (RABBIT_BIN / "rabbitmq-server").exists()


class PrivateRabbit:
    """`start()`, `stop()` and `start()` again keep the node's data (durable queues,
    persistent messages) in `base`. The AMQP URI is `amqp_uri` (vhost `/`, guest)."""

    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.node = f"chuyi-test-{self.port}@localhost"
        self.amqp_uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        (base / "log").mkdir(parents=True, exist_ok=True)
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.default = {self.port}\nloopback_users = none\n")
        (base / "enabled_plugins").write_text("[].\n")
        self.env = {**os.environ, "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
                    "RABBITMQ_DIST_PORT": str(free_port()), "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
                    "RABBITMQ_LOG_BASE": str(base / "log"), "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
                    "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins")}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> None:
        log = open(self.base / "log" / "server.out", "ab")
        self.process = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        wait_until(self._answers, timeout=timeout, interval=0.5, what=f"the private RabbitMQ node {self.node}")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the private RabbitMQ node exited; see {self.base / 'log'}")
        try:
            with Connection(self.amqp_uri, connect_timeout=1) as connection:
                connection.ensure_connection(max_retries=1)
            return True
        except Exception:
            return False

    def stop(self, timeout: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", self.node, "stop"], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group of the node we started, and only it
            self.process.wait()
