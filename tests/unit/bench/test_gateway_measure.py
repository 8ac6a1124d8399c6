"""bench/gateway.py's measuring loop counts what fails and never waits for ever: a client thread
whose setup fails (its session, its RPC proxy) counts its share as failed requests, and the
others are measured (the full run once hung 600 s on one such thread)."""

import threading

from bench.gateway import measure


def test_a_client_whose_setup_fails_counts_its_share_as_failed_and_the_rest_are_measured():
    def make(n):
        if n == 1:
            raise AttributeError("'Actor' object has no attribute 'as_dict'")
        return (lambda: None), (lambda: None)

    result = {}
    runner = threading.Thread(target=lambda: result.update(measure(3, 30, make)), daemon=True)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "measure() waited for a client thread that had died"
    assert result["failed"] == 10
    assert result["failures"] == ["AttributeError: 'Actor' object has no attribute 'as_dict'"]
    assert result["rps"] > 0
