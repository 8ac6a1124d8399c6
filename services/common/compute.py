"""CPU-bound work off the event loop.

A service runs on eventlet: its green threads (RPC workers, event handlers, timers, the broker's
heartbeats) take turns on one OS thread, and a green thread that computes for seconds without
I/O starves all the others. `off_the_loop` runs such work (pure: no database, no broker) in a
native thread of eventlet's pool (`eventlet.tpool`), while the calling green thread waits and
the others run. The work may report how far it has come; its reports are passed on, in order,
from a green thread, where I/O is allowed (writing a job's progress, say).

Measured by `make bench-offloop` (bench/offloop.py): the assignment solver at 80 000 applications
× 3, in a monkey-patched process beside a green thread that ticks every 50 ms. In the green
thread the longest pause of the others was 25.0 s; in a native thread 1.6 s (the solver's C++
holds the GIL at times), with the same assignment in 1.02× the time. Since the auction is
compiled without the GIL (services/review/domain/auction_bids.py): 3.2 s in the green thread,
0.13 s in a native one (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import eventlet
from eventlet import tpool
from eventlet.event import Event

T = TypeVar("T")
#: What the work is given to report with: `report(*args)`, from its native thread.
Report = Callable[..., None]

#: How often the reports of work off the loop are looked at and passed on.
REPORT_POLL_S = 0.2


def off_the_loop(work: Callable[[Report], T], on_report: Callable[..., None] | None = None) -> T:
    """`work(report)` in a native thread; its reports are passed to `on_report`, in order, on
    a green thread (every REPORT_POLL_S, and the last ones at the end). If `on_report` raises,
    no more reports are passed on, and the exception is raised once the work has ended (a
    native thread cannot be stopped before)."""
    reports: list[tuple[Any, ...]] = []  # appended by the native thread (atomic), read here
    passed = [0]
    failed: list[Exception] = []
    finished = Event()  # the reporter's wait ends with the work, not at its next poll

    def pass_on() -> None:
        while not failed and passed[0] < len(reports) and on_report is not None:
            args = reports[passed[0]]
            passed[0] += 1
            try:
                on_report(*args)
            except Exception as exc:
                failed.append(exc)

    def reporter() -> None:
        while not finished.ready():
            finished.wait(REPORT_POLL_S)
            pass_on()

    watcher = eventlet.spawn(reporter)
    try:
        result: T = tpool.execute(work, lambda *args: reports.append(args))
    finally:
        finished.send()
        watcher.wait()  # not killed: it may be writing a report
    pass_on()
    if failed:
        raise failed[0]
    return result
