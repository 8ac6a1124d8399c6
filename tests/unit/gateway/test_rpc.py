from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import amqp.exceptions
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

from services.gateway import rpc as rpc_module
from services.gateway.requestid import request_id
from services.gateway.rpc import (
    ClusterRpcClient,
    ConsumerWatch,
    ServiceBusy,
    ServiceFailed,
    ServiceTimeout,
    ServiceUnavailable,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


class FakeProxy:
    """Stands in for one started ClusterRpcProxy; `script` says what each call does."""

    created: list["FakeProxy"] = []
    script: list = []

    def __init__(self, config: dict, connect_timeout: float):
        self.config = config
        self.stopped = False
        self.calls: list[tuple] = []
        FakeProxy.created.append(self)

    def call(self, service, method, kwargs, *, timeout, context_data):
        self.calls.append((service, method, kwargs, timeout, context_data))
        outcome = FakeProxy.script.pop(0) if FakeProxy.script else {"status": 200, "body": None}
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def stop(self):
        self.stopped = True


@pytest.fixture
def proxies(monkeypatch):
    FakeProxy.created, FakeProxy.script = [], []
    monkeypatch.setattr(rpc_module, "_PooledProxy", FakeProxy)
    monkeypatch.setattr(rpc_module.ConsumerWatch, "consumers", lambda self, service, timeout: 1)
    return FakeProxy


def test_a_healthy_proxy_is_reused_and_carries_the_request_id(proxies):
    client = ClusterRpcClient("amqp://broker/", timeout=3)
    token = request_id.set("req-9")
    try:
        assert client.call("applications", "ping") == {"status": 200, "body": None}
        client.call("applications", "get_institution", institution_id="i-1", timeout=0.5)
    finally:
        request_id.reset(token)
    assert len(proxies.created) == 1
    first, second = proxies.created[0].calls
    assert first[3] == 3 and second[3] == 0.5
    assert second[2] == {"institution_id": "i-1"}
    assert second[4] == {"correlation_id": "req-9"}
    assert proxies.created[0].config == {"AMQP_URI": "amqp://broker/"}


@pytest.mark.parametrize(
    "failure, raised, discarded",
    [
        (RpcTimeout(1), ServiceTimeout, True),
        (ConnectionResetError("reset by peer"), ServiceUnavailable, True),
        (amqp.exceptions.MessageNacked("Message was nacked"), ServiceUnavailable, True),
        (RuntimeError("This consumer has been disconnected"), ServiceUnavailable, True),
        (UnknownService("applications"), ServiceUnavailable, False),
        (RemoteError("KeyError", "'x'"), ServiceFailed, False),
        (RemoteError("ServerSelectionTimeoutError", "127.0.0.1:27117: connection refused"), ServiceBusy, False),
        (RemoteError("AutoReconnect", "connection closed"), ServiceBusy, False),
    ],
)
def test_failures_map_to_rpc_errors_and_broken_proxies_are_not_reused(proxies, failure, raised, discarded):
    client = ClusterRpcClient("amqp://broker/")
    proxies.script = [failure]
    with pytest.raises(raised) as caught:
        client.call("applications", "ping")
    assert caught.value.service == "applications"
    assert proxies.created[0].stopped is discarded
    client.call("applications", "ping")
    assert len(proxies.created) == (2 if discarded else 1)


def test_a_database_outage_behind_a_service_is_a_503_not_a_service_failure():
    assert issubclass(ServiceBusy, ServiceUnavailable) and not issubclass(ServiceBusy, ServiceFailed)


def test_a_service_nobody_consumes_is_unavailable_at_once_without_publishing(proxies, monkeypatch):
    monkeypatch.setattr(rpc_module.ConsumerWatch, "consumers", lambda self, service, timeout: 0)
    client = ClusterRpcClient("amqp://broker/", timeout=10)
    with pytest.raises(ServiceUnavailable, match="no instance") as caught:
        client.call("review", "ping")
    assert caught.value.service == "review"
    assert proxies.created == []


class CountingWatch(ConsumerWatch):
    """A ConsumerWatch whose broker answers from a list, on a clock the test moves."""

    def __init__(self, answers):
        self.now = 0.0
        super().__init__("amqp://broker/", ttl=1.0, clock=lambda: self.now)
        self.answers, self.asked = list(answers), 0

    def _ask(self, service, timeout):
        self.asked += 1
        return self.answers.pop(0)


def test_consumer_counts_are_asked_once_per_interval_and_an_unanswered_count_is_not_kept():
    watch = CountingWatch([None, 2, 0])
    assert watch.consumers("review", 1) is None
    assert watch.consumers("review", 1) == 2
    watch.now = 0.9
    assert watch.consumers("review", 1) == 2
    assert watch.asked == 2
    watch.now = 1.5
    assert watch.consumers("review", 1) == 0
    assert watch.asked == 3


def test_a_request_queue_that_does_not_exist_counts_no_consumer(monkeypatch):
    class Channel:
        def queue_declare(self, queue, passive):
            assert (queue, passive) == ("rpc-review", True)
            raise amqp.exceptions.NotFound("NOT_FOUND - no queue 'rpc-review'")

    class Connection:
        default_channel = Channel()

        def __init__(self, uri, connect_timeout):
            pass

        def ensure_connection(self, **kwargs):
            pass

        def release(self):
            pass

    monkeypatch.setattr(rpc_module.kombu, "Connection", Connection)
    assert ConsumerWatch("amqp://broker/").consumers("review", 1) == 0


def test_a_bug_in_the_caller_is_not_disguised_but_the_proxy_is_dropped(proxies):
    client = ClusterRpcClient("amqp://broker/")
    proxies.script = [TypeError("bad argument")]
    with pytest.raises(TypeError):
        client.call("applications", "ping")
    assert proxies.created[0].stopped


def test_a_caller_waits_for_a_free_proxy_no_longer_than_its_timeout(proxies, monkeypatch):
    client = ClusterRpcClient("amqp://broker/", pool_size=1, timeout=0.05)
    entered, release = threading.Event(), threading.Event()

    class Blocking(FakeProxy):
        def call(self, *args, **kwargs):
            entered.set()
            release.wait(5)
            return {"status": 200, "body": None}

    monkeypatch.setattr(rpc_module, "_PooledProxy", Blocking)
    worker = threading.Thread(target=client.call, args=("applications", "ping"))
    worker.start()
    entered.wait(5)
    try:
        with pytest.raises(ServiceUnavailable, match="busy"):
            client.call("applications", "ping")
    finally:
        release.set()
        worker.join()


def test_close_stops_the_idle_proxies(proxies):
    client = ClusterRpcClient("amqp://broker/")
    client.call("applications", "ping")
    client.close()
    assert proxies.created[0].stopped


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_broker_is_service_unavailable_not_a_hang():
    client = ClusterRpcClient(f"amqp://guest:guest@127.0.0.1:{closed_port()}/", timeout=1)
    with pytest.raises(ServiceUnavailable):
        client.check_broker(timeout=1)
    with pytest.raises(ServiceUnavailable):
        client.call("applications", "ping")


def test_the_wsgi_app_imports_without_connecting_or_monkey_patching():
    script = (
        "import socket, threading\n"
        "import services.gateway.wsgi as w\n"
        "import eventlet.patcher as p\n"
        "assert not p.is_monkey_patched('socket') and not p.is_monkey_patched('thread'), 'patched'\n"
        "assert socket.socket.__module__ == 'socket', socket.socket\n"
        "print(w.app.name)\n"
    )
    env = {
        "AMQP_URI": f"amqp://guest:guest@127.0.0.1:{closed_port()}/",
        "PATH": "/usr/bin:/bin",
        "CHUYI_ENV": "development",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "services.gateway.app" in done.stdout
