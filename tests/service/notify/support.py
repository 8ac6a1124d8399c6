"""Real receivers for the notify service's channels, and steps through its routes."""

from __future__ import annotations

import email
import json
import threading
import uuid
from collections import defaultdict
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


class Mailbox:
    """An SMTP server (aiosmtpd) on a fixed port that keeps what it receives; it can be
    stopped, to be an SMTP server that is down, and started again on the same port."""

    def __init__(self):
        self.port = free_port()
        self.messages: list[dict] = []
        self._lock = threading.Lock()
        self._controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(
                {
                    "to": list(envelope.rcpt_tos),
                    "subject": str(message["Subject"]),
                    "message_id": str(message["Message-ID"]),
                    "from": str(message["From"]),
                    "text": message.get_body(("plain",)).get_content(),
                    "html": message.get_body(("html",)).get_content(),
                }
            )
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if address in m["to"]]

    def with_id(self, delivery_id: str) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if m["message_id"] == f"<{delivery_id}@notify.chuyi>"]


class Receiver:
    """A webhook receiver: `/ok/<name>` answers 204, `/fail/<name>` 500; every request is kept."""

    def __init__(self):
        self.requests: dict[str, list[dict]] = defaultdict(list)
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    receiver.requests[self.path].append({"headers": dict(self.headers), "body": body})
                self.send_response(500 if self.path.startswith("/fail/") else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def received(self, path: str) -> list[dict]:
        return list(self.requests[path])

    def events(self, path: str) -> list[dict]:
        return [json.loads(r["body"]) for r in self.received(path)]

    def stop(self) -> None:
        self.server.shutdown()


def uid() -> str:
    return uuid.uuid4().hex[:8]


def inbox(stack, client, **params) -> list[dict]:
    """Every message of the client's inbox, page by page."""
    items, cursor = [], None
    while True:
        query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
        answer = client.get(stack.url("/v1/inbox"), params=query, timeout=30)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def put_settings(stack, client, **settings) -> dict:
    answer = client.put(stack.url("/v1/notification-settings"), json=settings, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def subscribe(stack, client, url: str, kinds) -> dict:
    answer = client.post(stack.url("/v1/webhooks"), json={"url": url, "kinds": list(kinds)}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()


def deliveries(stack, origin_ids, **query) -> list[dict]:
    return list(stack.db("notify").deliveries.find({"origin_id": {"$in": list(origin_ids)}, **query}))
