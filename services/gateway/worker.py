"""The gateway's gunicorn worker: gthread, except that it never drops a request that has arrived.

gthread closes a kept-alive connection once it has been idle for `keepalive` seconds, in its main
loop right after a poll that woke for something else. A client's next request can land on that
connection between the poll and the close (the longer the main thread waits for the GIL under
load, the wider the gap); gthread then closes a socket with the request unread, and the client
gets "Remote end closed connection without response" for a request it had every right to send
(benoitc/gunicorn#1698 is the same race from another angle). A POST is not retried by clients, so
the request is lost. This worker looks before it closes: an expired connection with bytes waiting
is served like any readable one. What remains is the unavoidable HTTP/1.1 race of a client
sending in the microseconds between that look and the close.
"""

from __future__ import annotations

import select
import time

from gunicorn.workers.gthread import ThreadWorker


def request_waiting(sock) -> bool:
    """Whether the peer has sent something (or closed) that nobody has read yet."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class GatewayWorker(ThreadWorker):
    def murder_keepalived(self, force=False):
        if not force:
            now = time.monotonic()
            expired = [conn for conn in self.keepalived_conns if conn.timeout <= now]
            for conn in expired:
                if request_waiting(conn.sock):
                    self.on_client_socket_readable(conn, conn.sock)
        super().murder_keepalived(force)
