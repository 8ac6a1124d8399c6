"""The whole platform for tests that go through the public HTTP API: every service as
its own `chuyi serve` process and the gateway under gunicorn, on the test session's own
vhost and wire server. Tests share one stack and keep apart by their own data."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import requests

from services.common.config import RUNNABLE, SERVICES
from services.gateway.auth import mint_token
from tests.support.servers import REPO, ServiceProcess, free_port, stop_all, wait_until

JWT_SECRET = "test-secret-" + uuid.uuid4().hex


class Stack:
    def __init__(self, mongo_uri: str, amqp_uri: str, log_dir: Path, services=tuple(RUNNABLE), **env):
        self.mongo_uri, self.amqp_uri = mongo_uri, amqp_uri
        self.stopped = False
        self.prefix = f"s{uuid.uuid4().hex[:8]}_"
        materials_port = free_port()
        self.env = {
            "MONGO_URI": mongo_uri,
            "AMQP_URI": amqp_uri,
            "MONGO_DB_PREFIX": self.prefix,
            "JWT_SECRET": JWT_SECRET,
            "EVENT_RETRY_DELAYS_MS": "200,1000",
            "RELAY_POLL_S": "0.2",
            "CHUYI_ALLOW_SHORT_NOTICE": "1",  # a public notice window may close within seconds
            "REPORT_REMINDER_CHECK_S": "1",  # annual report reminders go out within a second
            "RECTIFY_CHECK_S": "1",  # and passed rectification deadlines are told of
            "ASSIGN_JOB_POLL_S": "0.2",  # assignment jobs are claimed within a fraction of a second
            # as deployed: with the job runner, review's own replicas leave the jobs to it
            "ASSIGN_JOBS": "off" if "review-jobs" in services else "on",
            "SERVICE_HTTP_ADDRESS": f"127.0.0.1:{materials_port}",
            "APPLICATIONS_HTTP_URL": f"http://127.0.0.1:{materials_port}",
            # small, so tests reach the limits quickly
            "MATERIALS_MAX_FILE_BYTES": str(2 * 2**20),
            "MATERIALS_MAX_APPLICATION_BYTES": str(3 * 2**20),
            **env,
        }
        self.processes = {name: ServiceProcess(name, self.env, log_dir) for name in services}
        self.gateway = None
        try:
            self._start(log_dir, services)
        except BaseException:  # a stack half started is stopped, never left running after the test
            stop_all(self.processes.values(), timeout=10)
            if self.gateway is not None and self.gateway.poll() is None:
                self.gateway.kill()
                self.gateway.wait()
            raise

    def _start(self, log_dir: Path, services) -> None:
        for process in self.processes.values():
            process.wait_started()
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self._gateway_log = open(log_dir / "gateway.log", "wb")
        self.gateway = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "services/gateway/gunicorn.conf.py",
                "services.gateway.wsgi:app",
            ],
            cwd=REPO,
            stdout=self._gateway_log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                **self.env,
                "PYTHONPATH": str(REPO),
                "GATEWAY_BIND": f"127.0.0.1:{port}",
                "GATEWAY_WORKERS": "2",
                "GATEWAY_RATE_LIMIT_PER_S": "0",
                "GATEWAY_ANONYMOUS_RATE_LIMIT_PER_S": "0",
                "GATEWAY_METRICS_BIND": f"127.0.0.1:{free_port()}",
                "GATEWAY_READY_SERVICES": ",".join(s for s in services if s in SERVICES),
            },
        )
        wait_until(lambda: self._ready(), timeout=60, what="the gateway to be ready")

    def _ready(self) -> bool:
        if self.gateway.poll() is not None:
            raise AssertionError("the gateway exited; see its log")
        try:
            return requests.get(f"{self.base_url}/readyz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def token(self, role: str, sub: str | None = None, **scope) -> str:
        return mint_token(role, sub or f"{role}-{uuid.uuid4().hex[:6]}", secret=JWT_SECRET, **scope)

    def client(self, role: str, sub: str | None = None, **scope) -> requests.Session:
        """An HTTP session acting as one user: `client("institution", institution_id=...)`."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token(role, sub, **scope)}"
        session.base = self.base_url
        return session

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def db(self, service: str):
        from pymongo import MongoClient

        return MongoClient(self.mongo_uri, tz_aware=True)[f"{self.prefix}{service}"]

    def stop(self) -> None:
        """Stops the gateway and the services (a second call does nothing)."""
        if self.stopped:
            return
        self.stopped = True
        self.gateway.terminate()
        stop_all(self.processes.values())
        self.gateway.wait(timeout=30)
        self._gateway_log.close()
