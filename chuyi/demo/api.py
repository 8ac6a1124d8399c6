"""The demo's client of the public HTTP API: who acts (an `Actor` per role and scope), one
`Api` for many users (a token per actor, a keep-alive session per thread, Idempotency-Keys on
creating POSTs, retries where sending again is safe), and the waits the demo needs.
Any answer a step did not expect raises `DemoError`, naming the step, the request and the problem."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests

from chuyi.demo.console import Console
from services.common.actor import Actor
from services.gateway.auth import mint_token

RETRIED = (429, 503)  # answered before anything was done: safe to send again after Retry-After
# A timeout leaves unknown whether it was done: sent again only where doing it twice is once.
RETRIED_IF_REPEATABLE = (504,)
REPEATABLE_METHODS = ("GET", "PUT")
MAX_RETRIES = 30
CONNECTION_RETRIES = 5
HTTP_TIMEOUT_S = 60
# How long the demo waits for another service to catch up on events (seconds).
EVENT_WAIT_S = 120


class DemoError(RuntimeError):
    """A step of the round got an answer it did not expect; the message says which step,
    which request, and the problem the platform answered."""


PROVINCE = Actor("province", "demo-provincial-office")
FINANCE = Actor("finance", "demo-finance")


def institution_actor(institution_id: str) -> Actor:
    return Actor("institution", f"demo-{institution_id}", institution_id=institution_id)


def expert_actor(expert_id: str) -> Actor:
    return Actor("expert", f"demo-{expert_id}", expert_id=expert_id)


def recommender_actor(recommender: Mapping[str, str]) -> Actor:
    """The prefecture bureau, or the HRSS sponsor of a technician school."""
    authority = recommender["authority"]
    if recommender["kind"] == "hrss":
        return Actor("hrss", f"demo-hrss-{authority}", sponsor=authority)
    return Actor("prefecture", f"demo-bureau-{authority}", prefecture=authority)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


class Api:
    """The public API as one client of many users: a token per actor, a keep-alive session
    per thread, Idempotency-Keys on creating POSTs, retries on 429/503 after Retry-After."""

    def __init__(self, base_url: str, jwt_secret: str, run_id: str):
        self.base_url = base_url.rstrip("/")
        self._secret, self._run_id = jwt_secret, run_id
        self._tokens: dict[Actor, str] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._keys = itertools.count(1)
        self.sent = 0

    def token(self, actor: Actor) -> str:
        with self._lock:
            if actor not in self._tokens:
                self._tokens[actor] = mint_token(
                    actor.role, actor.sub, ttl_seconds=4 * 3600, secret=self._secret, **actor.scope_claims()
                )
            return self._tokens[actor]

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def get(self, step: str, path: str, actor: Actor | None = PROVINCE, *, params=None, expect=(200,)) -> Reply:
        return self.send(step, "GET", path, actor, params=params, expect=expect)

    def post(
        self, step: str, path: str, actor: Actor = PROVINCE, body=None, *, create=False, files=None, expect=(200,)
    ) -> Reply:
        return self.send(step, "POST", path, actor, body=body, create=create, files=files, expect=expect)

    def send(
        self,
        step: str,
        method: str,
        path: str,
        actor: Actor | None,
        *,
        body=None,
        params=None,
        files=None,
        data: bytes | None = None,
        create: bool = False,
        expect: Sequence[int] = (200,),
    ) -> Reply:
        """The answer, if its status is one of `expect`; else DemoError."""
        response = self._answer(step, method, path, actor, body, params, files, data, create)
        reply = Reply(response.status_code, _body(response))
        if reply.status not in expect:
            raise DemoError(problem_message(step, method, path, actor, reply))
        return reply

    def download(self, step: str, path: str, actor: Actor) -> bytes:
        """A file's bytes (a 200 answer); else DemoError."""
        response = self._answer(step, "GET", path, actor, None, None, None, None, False)
        if response.status_code != 200:
            raise DemoError(problem_message(step, "GET", path, actor, Reply(response.status_code, _body(response))))
        return response.content

    def _answer(self, step, method, path, actor, body, params, files, data, create) -> requests.Response:
        headers = {}
        if actor is not None:
            headers["Authorization"] = f"Bearer {self.token(actor)}"
        if create:
            with self._lock:
                headers["Idempotency-Key"] = f"demo-{self._run_id}-{next(self._keys)}"
        repeatable = method in REPEATABLE_METHODS or create
        return self._exchange(step, method, path, headers, body, params, files, data, repeatable)

    def _exchange(self, step, method, path, headers, body, params, files, data, repeatable) -> requests.Response:
        url, failures = self.base_url + path, 0
        for _ in range(MAX_RETRIES):
            try:
                response = self._session().request(
                    method,
                    url,
                    json=body,
                    params=params,
                    files=files,
                    data=data,
                    headers=headers,
                    timeout=HTTP_TIMEOUT_S,
                )
            except requests.ConnectionError as exc:
                failures += 1
                if failures > CONNECTION_RETRIES:
                    raise DemoError(
                        f"step {step!r}: {method} {path}: the gateway at {self.base_url} does not "
                        f"answer ({exc.__class__.__name__}); is the stack up (`make up`)?"
                    ) from None
                time.sleep(failures)
                continue
            with self._lock:
                self.sent += 1
            if response.status_code not in RETRIED + (RETRIED_IF_REPEATABLE if repeatable else ()):
                return response
            time.sleep(min(float(response.headers.get("Retry-After") or 1), 10))
        raise DemoError(
            f"step {step!r}: {method} {path} was still answered {response.status_code} after "
            f"{MAX_RETRIES} tries: {response.text[:500]}"
        )


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def problem_message(step: str, method: str, path: str, actor: Actor | None, reply: Reply) -> str:
    problem = json.dumps(reply.body, ensure_ascii=False, indent=2) if isinstance(reply.body, dict) else reply.body
    who = f" as {actor.role} {actor.sub}" if actor else ""
    hint = ""
    if reply.status == 401:
        hint = (
            "\n  hint: the gateway refused the demo's token; run the demo with the JWT_SECRET the stack "
            "was started with"
        )
    return f"step {step!r}: {method} {path}{who} answered {reply.status}\n  problem: {problem}{hint}"


def pages(api: Api, step: str, path: str, actor: Actor = PROVINCE, **params) -> list[dict]:
    """Every item of a paginated list."""
    items, cursor = [], None
    while True:
        query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
        page = api.get(step, path, actor, params=query).body
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def parallel(console: Console, label: str, items: Sequence, work: Callable, concurrency: int) -> list:
    """`work(item)` for every item on a pool of `concurrency` threads, with a progress bar;
    the results in the items' order. The first failure cancels what has not started and is raised."""
    bar = console.progress(label, len(items))
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(work, item) for item in items]
        for future in futures:
            future.add_done_callback(lambda _: bar.advance())
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in done if f.exception() is not None), None)
        if failed is not None:
            for future in futures:
                future.cancel()
            bar.close()
            raise failed.exception()
    bar.close()
    return [future.result() for future in futures]


def wait_for(what: str, check: Callable[[], Any], timeout: float = EVENT_WAIT_S, interval: float = 0.5) -> Any:
    """Poll `check` until it answers something true; DemoError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DemoError(f"waited {timeout:.0f}s for {what}; it did not happen (see `make logs`)")
        time.sleep(interval)


def sleep_until(console: Console, label: str, moment: datetime) -> None:
    """Wait for `moment` (UTC), with a countdown bar."""
    total = (moment - utcnow()).total_seconds()
    if total <= 0:
        return
    bar = console.progress(label, total, "s")
    while (left := (moment - utcnow()).total_seconds()) > 0:
        bar.set(total - left)
        time.sleep(min(0.25, left))
    bar.set(total)
    bar.close()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
