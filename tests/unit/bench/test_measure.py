"""The measuring helpers of bench/_measure.py."""

import json
import os
import subprocess
import sys

import pytest

from bench._measure import (
    at_rate,
    run_threads,
    last_json,
    memory_mb,
    parent_of,
    percentile,
    process_tree,
    ratio,
    status_kb,
)


def test_percentile_is_the_nearest_rank():
    values = list(range(1, 101))  # 1..100, shuffled order does not matter
    assert percentile(reversed(values), 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1) == 100
    assert percentile([7.5], 0.99) == 7.5
    assert percentile([3, 1, 2], 0.5) == 2


@pytest.mark.parametrize("values, q", [([], 0.5), ([1], 0), ([1], 1.5)])
def test_percentile_refuses_no_values_and_q_outside_0_to_1(values, q):
    with pytest.raises(ValueError):
        percentile(values, q)


def test_ratio_is_value_over_baseline_and_none_without_a_baseline():
    assert ratio(30, 10) == 3
    assert ratio(5, None) is None
    assert ratio(None, 5) is None
    assert ratio(5, 0) is None


def test_last_json_takes_the_last_non_blank_line():
    output = "a table\n| x | 1 |\n" + json.dumps({"p99_ms": 12.5, "name": "延迟"}, ensure_ascii=False) + "\n\n"
    assert last_json(output) == {"p99_ms": 12.5, "name": "延迟"}


@pytest.mark.parametrize(
    "output, says", [("", "empty"), ("table\nTraceback: boom\n", "not JSON"), ("[1, 2]\n", "not an object")]
)
def test_last_json_says_what_is_wrong(output, says):
    with pytest.raises(ValueError, match=says):
        last_json(output)


def test_status_kb_reads_the_kb_fields():
    text = "Name:\tpython\nVmPeak:\t  300000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   80001 kB\nThreads:\t12\n"
    fields = status_kb(text)
    assert fields["VmHWM"] == 81234 and fields["VmRSS"] == 80001
    assert "Threads" not in fields and "Name" not in fields


def test_parent_of_reads_past_a_command_name_with_spaces_and_parentheses():
    assert parent_of("4242 (gunicorn: worker (x)) S 4200 4200 4200 0 -1 4194560") == 4200


def test_a_child_process_is_in_the_tree_and_its_memory_counts():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in process_tree(os.getpid())
        assert memory_mb(os.getpid())["rss_mb"] > memory_mb(child.pid)["rss_mb"] > 0
    finally:
        child.kill()
        child.wait()


def test_at_rate_returns_results_in_item_order_and_counts_a_failure_without_stopping():
    _, results, failures = at_rate(1000, list(range(20)), lambda n: n * n, threads=4)
    assert results == [n * n for n in range(20)] and failures == []

    def fails_on_3(n):
        if n == 3:
            raise ConnectionError("Remote end closed connection without response")
        return n

    _, results, failures = at_rate(1000, list(range(6)), fails_on_3)
    assert results == [0, 1, 2, 4, 5]
    assert failures == ["ConnectionError: Remote end closed connection without response"]


def test_run_threads_counts_a_failed_item_and_its_thread_goes_on():
    done = []

    def one(n, state):
        if n == 2:
            raise ConnectionError("Remote end closed connection without response")
        done.append(n)

    _, latencies, failures = run_threads(2, list(range(8)), one)
    assert sorted(done) == [0, 1, 3, 4, 5, 6, 7] and len(latencies) == 7
    assert failures == ["ConnectionError: Remote end closed connection without response"]
