"""Webhooks: an HTTP POST of the CloudEvent, signed, to the subscriber's URL.

Headers: `Chuyi-Signature` (see domain/signature.py), `Chuyi-Delivery` (the delivery id:
with the CloudEvent's `id`, how a receiver drops the rare duplicate) and the CloudEvents
structured content type. Any answer but a 2xx, a redirect included, is a failure.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import requests

from services.notify.channels import TransientFailure
from services.notify.domain.signature import DELIVERY_HEADER, HEADER, sign
from services.notify.domain.webhooks import address_problem
from services.contracts.notify import url_problem

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def resolve(host: str) -> set[str]:
    return {info[4][0] for info in socket.getaddrinfo(host, None)}


def destination_problem(url: str, allow_private: bool) -> str | None:
    """What forbids sending to `url`, or None. Private addresses pass only when allowed."""
    problem = url_problem(url)
    if problem or allow_private:
        return problem
    try:
        addresses = resolve(urlsplit(url).hostname)
    except OSError:
        return "names a host that does not resolve"
    return next((p for p in map(address_problem, sorted(addresses)) if p), None)


def body_of(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookPoster:
    def __init__(self, timeout_s: float, allow_private: bool):
        self.timeout_s, self.allow_private = timeout_s, allow_private

    def post(self, url: str, secret: str, event: dict, delivery_id: str) -> None:
        """Raises TransientFailure for anything but a 2xx answer."""
        problem = destination_problem(url, self.allow_private)
        if problem:
            raise TransientFailure(f"the URL {problem}")
        body = body_of(event)
        headers = {
            "Content-Type": CONTENT_TYPE,
            HEADER: sign(secret, body, int(time.time())),
            DELIVERY_HEADER: delivery_id,
            "User-Agent": "chuyi-notify/1",
        }
        try:
            answer = requests.post(url, data=body, headers=headers, timeout=self.timeout_s, allow_redirects=False)
        except requests.RequestException as exc:
            raise TransientFailure(f"{type(exc).__name__}: {exc}") from None
        if not 200 <= answer.status_code < 300:
            raise TransientFailure(f"HTTP {answer.status_code}")
