"""Calls from the gateway's threads to the nameko services.

A `ClusterRpcProxy` is not safe to share between threads, so the client keeps a pool of started
proxies and lends one to each call. Every call is bounded by a timeout; a proxy whose call timed
out or lost its connection is stopped rather than returned to the pool, so a late reply can never
be taken for the answer to a later call. Importing nameko.standalone.rpc does not monkey-patch.

Two guards make a 504 mean "not done" and a stopped service a quick 503:
- before a call, the client looks whether anything consumes the service's request queue (a passive
  queue declare, cached for CONSUMER_CHECK_TTL_S per service and process); with no consumer it
  answers ServiceUnavailable at once instead of waiting out the timeout;
- every request is published with a per-message expiration equal to the call's timeout, so a
  request nobody took before the gateway gave up is dropped by the broker, never executed late.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Protocol

import amqp.exceptions
import kombu
import kombu.exceptions
from nameko.containers import WorkerContext
from nameko.exceptions import (
    IncorrectSignature,
    MalformedRequest,
    MethodNotFound,
    RemoteError,
    RpcTimeout,
    UnknownService,
)
from nameko.rpc import RPC_QUEUE_TEMPLATE, ServiceProxy
from nameko.standalone.rpc import ClusterRpcProxy

from services.gateway.requestid import current_request_id

log = logging.getLogger(__name__)

# One quick retry lets a publish recover from a pooled connection the broker closed meanwhile,
# without holding the request for kombu's default back-off (seconds per try).
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
_BROKER_ERRORS = (
    OSError,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.ChannelError,
    # the broker refused the request (a quorum queue electing a leader, a resource alarm): it was
    # not taken, so the caller may send it again, and the proxy's channel goes with it.
    amqp.exceptions.MessageNacked,
    kombu.exceptions.OperationalError,
    # nameko's reply consumer raises a bare RuntimeError when its connection dropped before the wait.
    RuntimeError,
)
# How long a consumer count stays trusted: a killed service is noticed within this, and a busy
# gateway asks the broker about each service at most once per interval and process.
CONSUMER_CHECK_TTL_S = 1.0
# The database behind a service is away (pymongo's ConnectionFailure family, as nameko names the
# remote exception): the request was not carried out, so the caller may retry (a 503).
DATABASE_DOWN = frozenset(
    {
        "ConnectionFailure",
        "AutoReconnect",
        "NetworkTimeout",
        "ServerSelectionTimeoutError",
        "NotPrimaryError",
        "ExecutionTimeout",
        "WaitQueueTimeoutError",
        "StoreBusy",  # the kernel's: a transaction that could not commit within its budget
    }
)
_SERVICE_FAULTS = (RemoteError, MethodNotFound, IncorrectSignature, MalformedRequest)


class RpcError(Exception):
    def __init__(self, service: str, detail: str):
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail


class ServiceUnavailable(RpcError):
    """The broker cannot be reached, or no instance of the service is running (a 503)."""


class ServiceTimeout(RpcError):
    """The service did not answer within the timeout (a 504)."""


class ServiceFailed(RpcError):
    """The service raised instead of answering, or has no such method (a 502)."""


class ServiceBusy(ServiceUnavailable):
    """The service's database is away or overloaded: nothing was written, retry later (a 503)."""


class RpcClient(Protocol):
    def call(self, service: str, method: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """The service method's reply; raises an RpcError subclass."""

    def check_broker(self, timeout: float) -> None:
        """Returns when the broker accepts a connection; raises ServiceUnavailable otherwise."""

    def close(self) -> None:
        """Releases every connection."""


def request_context_data() -> dict[str, str]:
    request_id = current_request_id()
    return {"correlation_id": request_id} if request_id else {}


def _probe_broker(amqp_uri: str, timeout: float) -> None:
    with kombu.Connection(amqp_uri, connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)


class ConsumerWatch:
    """How many processes consume each service's request queue, asked of the broker at most once
    per `ttl` seconds per service (a passive queue declare on one connection of its own)."""

    def __init__(
        self, amqp_uri: str, *, ttl: float = CONSUMER_CHECK_TTL_S, clock: Callable[[], float] = time.monotonic
    ):
        self._uri, self._ttl, self._clock = amqp_uri, ttl, clock
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, int]] = {}
        self._connection: kombu.Connection | None = None

    def consumers(self, service: str, timeout: float) -> int | None:
        """The service's consumer count (0 when its queue does not exist), or None when the broker
        cannot say (the call itself then finds out)."""
        with self._lock:
            known = self._known.get(service)
            if known and self._clock() - known[0] < self._ttl:
                return known[1]
            count = self._ask(service, timeout)
            if count is not None:
                self._known[service] = (self._clock(), count)
            return count

    def _ask(self, service: str, timeout: float) -> int | None:
        try:
            if self._connection is None:
                self._connection = kombu.Connection(self._uri, connect_timeout=timeout)
                self._connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
            _, _, consumers = self._connection.default_channel.queue_declare(
                queue=RPC_QUEUE_TEMPLATE.format(service), passive=True
            )
            return consumers
        except amqp.exceptions.NotFound:  # no instance ever declared it; the channel is closed now
            self.close()
            return 0
        except _BROKER_ERRORS:
            log.debug("could not count the consumers of %s", service, exc_info=True)
            self.close()
            return None

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # already broken; nothing more to release
                log.debug("closing the consumer-count connection failed", exc_info=True)


class _PooledProxy:
    """One started ClusterRpcProxy, used by one thread at a time.

    nameko fixes a proxy's reply timeout and context data when the proxy is built; a pooled proxy
    lives across requests, so it sets both per call (nameko 2.14.1 is the last release, so these
    attributes do not move).
    """

    def __init__(self, config: dict, connect_timeout: float):
        # nameko's own connect sleeps 2 s before its one retry; probing first makes an outage a quick 503.
        _probe_broker(config["AMQP_URI"], connect_timeout)
        self._standalone = ClusterRpcProxy(config)
        self._standalone.start()

    def call(self, service: str, method: str, kwargs: dict, *, timeout: float, context_data: dict) -> Any:
        listener = self._standalone._reply_listener
        listener.queue_consumer.timeout = timeout
        worker_ctx = WorkerContext(
            self._standalone._worker_ctx.container,
            service=None,
            entrypoint=ClusterRpcProxy.Dummy,
            data=dict(context_data),
        )
        service_proxy = ServiceProxy(
            worker_ctx,
            service,
            listener,
            retry_policy=PUBLISH_RETRY_POLICY,
            timeout=timeout,
            confirm_timeout=timeout,
            expiration=timeout,
        )
        return getattr(service_proxy, method)(**kwargs)

    def stop(self) -> None:
        try:
            self._standalone.stop()
        except Exception:  # its connection may already be gone; nothing more to release
            log.debug("stopping a broken RPC proxy failed", exc_info=True)


class ClusterRpcClient:
    def __init__(
        self,
        amqp_uri: str,
        *,
        pool_size: int = 8,
        timeout: float = 10.0,
        context_data: Callable[[], dict] = request_context_data,
        consumers: ConsumerWatch | None = None,
    ):
        self._config = {"AMQP_URI": amqp_uri}
        self._consumers = consumers or ConsumerWatch(amqp_uri)
        self._timeout = timeout
        self._context_data = context_data
        self._idle: queue.LifoQueue[_PooledProxy] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)

    def call(self, service: str, method: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        limit = self._timeout if timeout is None else timeout
        if self._consumers.consumers(service, limit) == 0:
            raise ServiceUnavailable(service, "no instance of the service is taking requests")
        if not self._slots.acquire(timeout=limit):
            raise ServiceUnavailable(service, "every RPC connection of this worker is busy")
        try:
            proxy = self._borrow(service, limit)
            try:
                result = proxy.call(service, method, kwargs, timeout=limit, context_data=self._context_data())
            except RpcTimeout:
                proxy.stop()
                raise ServiceTimeout(service, f"{method} did not answer within {limit:g} s") from None
            except UnknownService:
                self._idle.put(proxy)
                raise ServiceUnavailable(service, "no instance of the service is running") from None
            except RemoteError as exc:
                self._idle.put(proxy)
                if exc.exc_type in DATABASE_DOWN:
                    raise ServiceBusy(service, f"{method}: its database is not available: {exc.value}") from exc
                raise ServiceFailed(service, f"{method} failed: {type(exc).__name__}: {exc}") from exc
            except _SERVICE_FAULTS as exc:
                self._idle.put(proxy)
                raise ServiceFailed(service, f"{method} failed: {type(exc).__name__}: {exc}") from exc
            except _BROKER_ERRORS as exc:
                proxy.stop()
                raise ServiceUnavailable(service, f"the broker connection failed: {exc}") from exc
            except BaseException:
                proxy.stop()
                raise
            self._idle.put(proxy)
            return result
        finally:
            self._slots.release()

    def _borrow(self, service: str, timeout: float) -> _PooledProxy:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        try:
            return _PooledProxy(self._config, timeout)
        except _BROKER_ERRORS as exc:
            raise ServiceUnavailable(service, f"the broker cannot be reached: {exc}") from exc

    def check_broker(self, timeout: float) -> None:
        try:
            _probe_broker(self._config["AMQP_URI"], timeout)
        except _BROKER_ERRORS as exc:
            raise ServiceUnavailable("broker", f"the broker cannot be reached: {exc}") from exc

    def close(self) -> None:
        self._consumers.close()
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return
