"""The gateway's worker serves a request that lands on a kept-alive connection as it expires."""

from __future__ import annotations

import selectors
import socket
import time
from collections import deque
from types import SimpleNamespace

from gunicorn.workers.gthread import TConn

from services.gateway.worker import GatewayWorker


def expired_worker(*conns: TConn) -> tuple[GatewayWorker, list[TConn]]:
    """A worker holding `conns` as kept-alive connections whose idle timeout has passed."""
    worker = GatewayWorker.__new__(GatewayWorker)
    worker.poller = selectors.DefaultSelector()
    worker.keepalived_conns = deque()
    worker.nr_conns = len(conns)
    served = []
    worker.enqueue_req = served.append
    for conn in conns:
        conn.timeout = time.monotonic() - 0.1
        worker.keepalived_conns.append(conn)
        worker.poller.register(conn.sock, selectors.EVENT_READ, None)
    return worker, served


def kept_alive_pair() -> tuple[socket.socket, TConn]:
    client, server = socket.socketpair()
    return client, TConn(SimpleNamespace(keepalive=5), server, ("127.0.0.1", 40000), ("127.0.0.1", 8000))


def test_a_request_that_arrived_on_an_expired_connection_is_served_not_dropped():
    busy_client, busy = kept_alive_pair()
    idle_client, idle = kept_alive_pair()
    busy_client.sendall(b"POST /v1/applications/a1/submit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    worker, served = expired_worker(busy, idle)

    worker.murder_keepalived()

    assert served == [busy]
    assert busy.sock.fileno() != -1
    assert idle.sock.fileno() == -1  # the idle one is closed as before
    assert list(worker.keepalived_conns) == [] and worker.nr_conns == 1
    busy_client.close()
    idle_client.close()


def test_a_forced_close_on_shutdown_still_closes_everything():
    client, conn = kept_alive_pair()
    client.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
    worker, served = expired_worker(conn)

    worker.murder_keepalived(force=True)

    assert served == [] and conn.sock.fileno() == -1 and worker.nr_conns == 0
    client.close()
