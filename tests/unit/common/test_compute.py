"""CPU-bound work off the event loop (services/common/compute.py): the service's other green
threads go on while it runs, and its reports reach the green side in order."""

import time

import eventlet
import pytest

from services.common import compute
from services.common.compute import off_the_loop


def test_other_green_threads_run_while_the_work_computes():
    """The work waits for a flag only a green thread sets: on the loop it could never see it."""
    flag = []
    eventlet.spawn(lambda: (eventlet.sleep(0.05), flag.append("set by a green thread")))

    def work(report):
        give_up = time.monotonic() + 10
        while not flag and time.monotonic() < give_up:
            sum(range(1000))  # computing, never yielding
        return list(flag)

    assert off_the_loop(work) == ["set by a green thread"]


def test_reports_reach_the_green_side_in_order_and_the_last_ones_at_the_end():
    seen = []

    def work(report):
        for phase in ("scoring", "solving", "solving", "saving"):
            report(phase, len(seen))
        return "done"

    assert off_the_loop(work, lambda *args: seen.append(args[0])) == "done"
    assert seen == ["scoring", "solving", "solving", "saving"]


def test_a_report_that_fails_stops_the_reports_and_is_raised_once_the_work_ends():
    ended, seen = [], []

    class Lost(Exception):
        pass

    def on_report(phase):
        seen.append(phase)
        if phase == "solving":
            raise Lost(phase)

    def work(report):
        for phase in ("scoring", "solving", "saving"):
            report(phase)
        ended.append(True)

    with pytest.raises(Lost):
        off_the_loop(work, on_report)
    assert ended == [True] and seen == ["scoring", "solving"]


def test_the_works_own_error_is_raised_to_the_caller():
    def work(report):
        raise ValueError("duplicate application ids")

    with pytest.raises(ValueError, match="duplicate application ids"):
        off_the_loop(work)


def test_the_caller_goes_on_as_soon_as_the_work_ends_not_at_the_next_look_at_its_reports(monkeypatch):
    monkeypatch.setattr(compute, "REPORT_POLL_S", 3600)
    with eventlet.Timeout(30):  # the reports were looked at only every REPORT_POLL_S: a wait of an hour
        assert off_the_loop(lambda report: report("solving") or "done", lambda phase: None) == "done"
