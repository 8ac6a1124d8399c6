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
HEALTHZ_REQUESTS = 6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, server: subprocess.Popen) -> requests.Response:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while True:
        try:
            return requests.get(url, timeout=15, headers={"X-Request-Id": "gunicorn-test-1"})
        except requests.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def healthz_count(metrics: str) -> float:
    prefix = 'chuyi_gateway_requests_total{method="GET",route="/healthz",status="200"}'
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(prefix))


def test_gunicorn_serves_with_json_logs_pooled_metrics_and_exits_cleanly_on_sigterm(tmp_path):
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "GATEWAY_BIND": f"127.0.0.1:{port}",
        "GATEWAY_METRICS_BIND": f"127.0.0.1:{metrics_port}",
        "GATEWAY_WORKERS": "2",
        "GATEWAY_THREADS": "2",
        "GATEWAY_GRACEFUL_TIMEOUT_S": "5",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(CONFIG),
                "--no-control-socket",
                "tests.unit.gateway.fake_rpc:create_fake_app()",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            response = wait_for(f"{base}/healthz", server)
            assert response.status_code == 200
            assert response.json() == {"status": "ok"}
            assert response.headers["X-Request-Id"] == "gunicorn-test-1"
            for _ in range(HEALTHZ_REQUESTS - 1):  # a new connection each: either worker may answer
                assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
            # Whichever worker answers, it reports the requests of both.
            assert requests.get(f"{base}/metrics", timeout=5).status_code == 404
            metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
            assert healthz_count(metrics) == HEALTHZ_REQUESTS
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                code = server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                raise
    assert code == 0, stderr.read_text()
    access = [json.loads(line) for line in stdout.read_text().splitlines()]
    first = [entry for entry in access if entry.get("request_id") == "gunicorn-test-1"]
    assert first and first[0]["path"] == "/healthz" and first[0]["status"] == 200
    errors = [json.loads(line) for line in stderr.read_text().splitlines()]
    assert any(entry["message"] == "Using worker: services.gateway.worker.GatewayWorker" for entry in errors)
