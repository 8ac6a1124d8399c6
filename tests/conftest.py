import os

import pytest

# The services and gateways the tests start may use the published development secrets
# (tests that check the refusal outside development pass their own environment).
os.environ.setdefault("CHUYI_ENV", "development")

from tests.support.servers import mongo_server, rabbit_vhost


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory):
    with mongo_server(tmp_path_factory.mktemp("secantus") / "data") as uri:
        yield uri


@pytest.fixture
def amqp_uri():
    with rabbit_vhost() as uri:
        yield uri


def own_platform(log_dir):
    """The whole platform on a wire server of its own: the session's server holds every other
    test's records and serves the other platforms' timers, which slowed a long run like the fuzz
    (649 s in a whole run against 163 s alone, on the same loaded machine)."""
    with mongo_server(log_dir / "data") as uri:
        yield from whole_platform(uri, log_dir)


def whole_platform(mongo_uri, log_dir):
    """The whole platform on its own vhost and databases (see tests/support/stack.py)."""
    from tests.support.stack import Stack

    with rabbit_vhost() as amqp:
        platform = Stack(mongo_uri, amqp, log_dir)
        yield platform
        platform.stop()
