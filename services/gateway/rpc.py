"""Calls from the gateway's threads to the nameko services.

A `ClusterRpcProxy` is not safe to share between threads, so the client keeps a pool of started
proxies and lends one to each call. Every call is bounded by a timeout; a proxy whose call timed
out or lost its connection is stopped rather than returned to the pool, so a late reply can never
be taken for the answer to a later call. Importing nameko.standalone.rpc does not monkey-patch.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Protocol

import amqp.exceptions
import kombu
import kombu.exceptions
from nameko.containers import WorkerContext
from nameko.exceptions import (
    IncorrectSignature, MalformedRequest, MethodNotFound, RemoteError, RpcTimeout, UnknownService,
)
from nameko.rpc import ServiceProxy
from nameko.standalone.rpc import ClusterRpcProxy

from services.gateway.requestid import current_request_id

log = logging.getLogger(__name__)

# One quick retry lets a publish recover from a pooled connection the broker closed meanwhile,
# without holding the request for kombu's default back-off (seconds per try).
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
_BROKER_ERRORS = (
    OSError, amqp.exceptions.ConnectionError, amqp.exceptions.ChannelError, kombu.exceptions.OperationalError,
    # nameko's reply consumer raises a bare RuntimeError when its connection dropped before the wait.
    RuntimeError,
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
            self._standalone._worker_ctx.container, service=None, entrypoint=ClusterRpcProxy.Dummy,
            data=dict(context_data),
        )
        service_proxy = ServiceProxy(
            worker_ctx, service, listener, retry_policy=PUBLISH_RETRY_POLICY, timeout=timeout, confirm_timeout=timeout,
        )
        return getattr(service_proxy, method)(**kwargs)

    def stop(self) -> None:
        try:
            self._standalone.stop()
        except Exception:  # its connection may already be gone; nothing more to release
            log.debug("stopping a broken RPC proxy failed", exc_info=True)


class ClusterRpcClient:
    def __init__(
        self, amqp_uri: str, *, pool_size: int = 8, timeout: float = 10.0,
        context_data: Callable[[], dict] = request_context_data,
    ):
        self._config = {"AMQP_URI": amqp_uri}
        self._timeout = timeout
        self._context_data = context_data
        self._idle: queue.LifoQueue[_PooledProxy] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)

    def call(self, service: str, method: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        limit = self._timeout if timeout is None else timeout
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
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return
