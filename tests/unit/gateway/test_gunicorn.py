"""gunicorn with the checked-in config serves the app and stops cleanly on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[3]
CONFIG = REPO_ROOT / "services" / "gateway" / "gunicorn.conf.py"
STARTUP_DEADLINE_S = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, server: subprocess.Popen) -> requests.Response:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while True:
        try:
            return requests.get(url, timeout=2, headers={"X-Request-Id": "gunicorn-test-1"})
        except requests.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_gunicorn_serves_healthz_and_exits_cleanly_on_sigterm(tmp_path):
    port = free_port()
    env = {
        **os.environ, "PYTHONPATH": str(REPO_ROOT), "GATEWAY_BIND": f"127.0.0.1:{port}",
        "GATEWAY_WORKERS": "1", "GATEWAY_THREADS": "2", "GATEWAY_GRACEFUL_TIMEOUT_S": "5",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "--no-control-socket",
             "tests.unit.gateway.fake_rpc:create_fake_app()"],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=err,
        )
        try:
            response = wait_for(f"http://127.0.0.1:{port}/healthz", server)
            assert response.status_code == 200
            assert response.json() == {"status": "ok"}
            assert response.headers["X-Request-Id"] == "gunicorn-test-1"
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                code = server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                raise
    assert code == 0, stderr.read_text()
    access = [json.loads(line) for line in stdout.read_text().splitlines() if line.startswith("{")]
    healthz = [entry for entry in access if entry.get("path") == "/healthz"]
    assert healthz and healthz[0]["request_id"] == "gunicorn-test-1" and healthz[0]["status"] == 200
    errors = [json.loads(line) for line in stderr.read_text().splitlines() if line.startswith("{")]
    assert any("gthread" in entry["message"] for entry in errors)  # "Using worker: gthread"
