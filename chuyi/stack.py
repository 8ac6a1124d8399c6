"""The local stack: `up` starts what is missing, `down` stops exactly what `up`
started (by pid, checked against the process's start time), `logs` shows the logs.

State lives under ./var: pids in var/run, logs in var/log, MongoDB data in var/mongo.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from services.common.config import RUNNABLE

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
RUN, LOG = VAR / "run", VAR / "log"
EMBEDDED_MONGO_PORT = int(os.environ.get("CHUYI_MONGO_PORT", "27117"))  # not 27017: never mistaken for a real mongod
GATEWAY_BIND = os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")
FIRST_OPS_PORT = 9101
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def say(message: str) -> None:
    print(message, flush=True)


def _answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise SystemExit(f"chuyi: {what} did not come up within {timeout:.0f}s; see `make logs`")


def _spawn(name: str, argv: list[str], env: dict) -> int:
    """Start a detached process (it outlives `make up`), remembering its pid."""
    log = open(LOG / f"{name}.log", "ab")
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        start_new_session=True,
    )
    (RUN / f"{name}.pid").write_text(json.dumps({"pid": proc.pid, "started": _start_time(proc.pid), "argv": argv}))
    return proc.pid


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process: with the pid, it names one process for good."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def _alive(name: str) -> dict | None:
    """The record of a process we started that is still running (same pid, same command)."""
    path = RUN / f"{name}.pid"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    started = _start_time(record["pid"])
    return record if started is not None and started == record["started"] else None


def private_rabbit_env(base: Path, port: int, dist_port: int, node: str) -> dict:
    """The environment (and config files under `base`) for a RabbitMQ node of our own,
    beside the machine's: its own name, ports, data, logs, config and no plugins."""
    (base / "log").mkdir(parents=True, exist_ok=True)
    (base / "rabbitmq.conf").write_text(f"listeners.tcp.default = {port}\nloopback_users = none\n")
    (base / "enabled_plugins").write_text("[].\n")
    return {
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
    }


def ensure_rabbitmq(amqp_uri: str) -> str:
    if ";" in amqp_uri:  # a failover list (kombu's amqp://a;amqp://b): a cluster of someone's, never started here
        urls = [urlparse(uri) for uri in amqp_uri.split(";")]
        if any(_answers(u.hostname or "localhost", u.port or 5672) for u in urls):
            return f"RabbitMQ: {len(urls)} brokers in AMQP_URI (failover), at least one answering"
        raise SystemExit("chuyi: none of the RabbitMQ brokers listed in AMQP_URI answers")
    url = urlparse(amqp_uri)
    host, port = url.hostname or "localhost", url.port or 5672
    if _answers(host, port):
        return f"RabbitMQ at {host}:{port} (already running)"
    if host not in ("localhost", "127.0.0.1"):
        raise SystemExit(f"chuyi: RabbitMQ at {host}:{port} does not answer, and it is not on this machine to start")
    if (
        port == 5672
        and shutil.which("rabbitmq-diagnostics")
        and subprocess.run(["rabbitmq-diagnostics", "-q", "ping"], capture_output=True).returncode == 0
    ):
        _wait(lambda: _answers(host, port), 60, "the machine's RabbitMQ node")  # booting: wait, never start it twice
        return "RabbitMQ: the machine's node"
    server = RABBIT_BIN / "rabbitmq-server"
    if not server.exists():
        raise SystemExit(
            "chuyi: no RabbitMQ answers at AMQP_URI and none is installed. Install it "
            "(`apt-get install rabbitmq-server`) or set AMQP_URI to a broker you have."
        )
    node = f"chuyi-{port}@localhost"
    env = private_rabbit_env(VAR / "rabbitmq", port, port + 20000, node)
    _spawn("rabbitmq", [str(server)], env)
    _wait(lambda: _answers(host, port), 90, "the private RabbitMQ node")
    return f"RabbitMQ: a private node {node} on port {port} (data in var/rabbitmq)"


def ensure_mongo() -> tuple[str, str]:
    if os.environ.get("MONGO_URI"):
        return os.environ["MONGO_URI"], "MongoDB at MONGO_URI"
    uri = f"mongodb://127.0.0.1:{EMBEDDED_MONGO_PORT}/?directConnection=true"
    if not _alive("mongo"):
        if _answers("127.0.0.1", EMBEDDED_MONGO_PORT):
            raise SystemExit(f"chuyi: port {EMBEDDED_MONGO_PORT} is taken by something else; set CHUYI_MONGO_PORT")
        binary = str(Path(sys.executable).parent / "secantusd-py")
        (VAR / "mongo").mkdir(parents=True, exist_ok=True)
        _spawn(
            "mongo",
            [
                binary,
                "--port",
                str(EMBEDDED_MONGO_PORT),
                "--storage-path",
                str(VAR / "mongo"),
                "--sync-on-commit",
                "--log-level",
                "WARNING",
            ],
            {},
        )
    _wait(lambda: _answers("127.0.0.1", EMBEDDED_MONGO_PORT), 60, "the SecantusDB wire server")
    return uri, f"MongoDB: embedded SecantusDB wire server at {uri} (data in var/mongo)"


def _service_started(name: str) -> bool:
    log = LOG / f"{name}.log"
    return log.exists() and b'"message": "service started"' in log.read_bytes()


def up() -> int:
    RUN.mkdir(parents=True, exist_ok=True)
    LOG.mkdir(parents=True, exist_ok=True)
    amqp_uri = os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/")
    lines = [ensure_rabbitmq(amqp_uri)]
    mongo_uri, mongo_line = ensure_mongo()
    lines.append(mongo_line)
    # A developer's machine: the published development secrets are allowed unless real ones are set.
    env = {
        "AMQP_URI": amqp_uri,
        "MONGO_URI": mongo_uri,
        "CHUYI_ENV": os.environ.get("CHUYI_ENV", "development"),
        "ASSIGN_JOBS": "off",  # as deployed: review-jobs runs the assignment jobs
    }
    for offset, name in enumerate(RUNNABLE):
        ops_port = FIRST_OPS_PORT + offset
        if not _alive(name):
            (LOG / f"{name}.log").unlink(missing_ok=True)
            _spawn(name, [sys.executable, "-m", "chuyi", "serve", name], {**env, "OPS_PORT": str(ops_port)})
        _wait(lambda: _service_started(name) or not _alive(name), 90, f"the {name} service")
        if not _alive(name):
            raise SystemExit(f"chuyi: the {name} service exited; its log: var/log/{name}.log")
        lines.append(f"{name:<13} service, health at http://127.0.0.1:{ops_port}/readyz")
    if not _alive("gateway"):
        _spawn(
            "gateway",
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "services/gateway/gunicorn.conf.py",
                "services.gateway.wsgi:app",
            ],
            {**env, "GATEWAY_BIND": GATEWAY_BIND},
        )
    _wait(lambda: _http_ok(f"http://{GATEWAY_BIND}/healthz"), 60, "the gateway")
    lines += [
        f"gateway       http://{GATEWAY_BIND}  (API /v1, docs /docs, health /healthz, ready /readyz)",
        "logs          make logs   (files in var/log)",
        "stop          make down",
    ]
    say("Chuyi Platform is up:\n  " + "\n  ".join(lines))
    return 0


def _http_ok(url: str) -> bool:
    try:
        # Safe from B310 (file:// or custom schemes): every caller passes an http:// address of the local stack.
        with urllib.request.urlopen(url, timeout=2) as response:  # nosec B310
            return response.status == 200
    except OSError:
        return False


def down() -> int:
    names = ["gateway", *RUNNABLE, "mongo", "rabbitmq"]
    for name in names:
        record = _alive(name)
        if record:
            os.killpg(
                record["pid"], signal.SIGTERM
            )  # its own session: the whole group (rabbitmq's erl, gunicorn's workers)
            deadline = time.monotonic() + 30
            while _alive(name) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(name):
                os.killpg(record["pid"], signal.SIGKILL)
            say(f"stopped {name} (pid {record['pid']})")
        (RUN / f"{name}.pid").unlink(missing_ok=True)
    return 0


def logs(lines: int = 40) -> int:
    for path in sorted(LOG.glob("*.log")) if LOG.exists() else []:
        say(f"==> {path.relative_to(ROOT)} <==")
        say("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
    return 0
