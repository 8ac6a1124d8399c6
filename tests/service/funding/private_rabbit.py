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

from chuyi.stack import RABBIT_BIN, private_rabbit_env
from tests.support.servers import free_port, wait_until


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
        self.env = {**os.environ, **private_rabbit_env(base, self.port, free_port(), self.node)}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> None:
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
        subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", self.node, "stop"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group of the node we started, and only it
            self.process.wait()
