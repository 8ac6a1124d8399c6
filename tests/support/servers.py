"""Real servers for tests: a SecantusDB wire server, an own RabbitMQ vhost, service
processes started as `chuyi serve` starts them, and a TCP proxy a test can cut."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from pymongo import MongoClient

REPO = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("TEST_BROKER_HOSTPORT", "127.0.0.1:5672")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def mongo_server(storage: Path):
    """A SecantusDB wire server on a free port; yields its URI."""
    port = free_port()
    binary = shutil.which("secantusd-py", path=str(Path(sys.executable).parent)) or "secantusd-py"
    log = open(storage.parent / f"secantus-{port}.log", "wb")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--storage-path", str(storage), "--sync-on-commit", "--log-level", "WARNING"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        client = MongoClient(uri, serverSelectionTimeoutMS=500)
        wait_until(lambda: _pings(client), timeout=30, what="the SecantusDB server")
        client.close()
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _pings(client) -> bool:
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, stdout=subprocess.DEVNULL)


@contextmanager
def rabbit_vhost():
    """An own vhost on the machine's broker, removed afterwards; yields its AMQP URI."""
    name = f"chuyi-test-{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{BROKER}/{name}"
    finally:
        _rabbitmqctl("delete_vhost", name)


class ServiceProcess:
    """One service run as production runs it: `python -m chuyi serve TARGET`."""

    def __init__(self, target: str, env: dict, log_dir: Path):
        self.target = target
        self.log_path = log_dir / f"{target.replace(':', '_').replace('.', '_')}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chuyi", "serve", target],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "OPS_PORT": "0", **env},
        )

    def wait_started(self, timeout: float = 60) -> "ServiceProcess":
        wait_until(
            lambda: b"service started" in self.log_path.read_bytes() or self.proc.poll() is not None,
            timeout=timeout,
            what=f"{self.target} to start",
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.target} exited:\n{self.log()}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        stop_all([self], timeout)
        return self.proc.returncode


def stop_all(processes, timeout: float = 30) -> None:
    """Stops service processes together: each is sent SIGTERM at once, then each is waited for
    until one shared deadline and killed after it, so that a platform stops in the time of its
    slowest service, not the sum of them all."""
    running = [p for p in processes if p.proc.poll() is None]
    for process in running:
        process.proc.terminate()
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.proc.kill()
            process.proc.wait()
    for process in processes:
        process._log.close()


class CuttableProxy:
    """A TCP proxy to the broker that a test can cut (every connection dropped, new
    ones refused) and restore, or freeze (every connection kept open, and nothing passed on
    either way: a broker that vanished without closing anything), without touching the
    machine's shared RabbitMQ."""

    def __init__(self, target: str = BROKER):
        host, port = target.split(":")
        self.target = (host, int(port))
        self.port = free_port()
        self._pairs: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = None
        self._frozen = threading.Event()
        self.restore()

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            except OSError:
                pass
            self._listener.close()
            for s in self._pairs:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._pairs.clear()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b, self._frozen), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, frozen) -> None:
        try:
            while data := src.recv(65536):
                if not frozen.is_set():  # frozen: swallowed, as a vanished peer would
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
