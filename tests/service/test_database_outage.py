"""A service whose database goes away: callers get a 503 (never a 502 or 504), readiness names
the database, the service logs the outage once, and it carries on by itself when it is back."""

from urllib.parse import urlparse

import pytest

from services.gateway.rpc import ClusterRpcClient, ServiceBusy
from tests.support.servers import CuttableProxy, wait_until

PRODUCER = "tests.service.kernel_services:ProducerService"


@pytest.fixture
def mongo_proxy(mongo_uri):
    address = urlparse(mongo_uri).netloc
    cuttable = CuttableProxy(address)
    yield cuttable
    cuttable.cut()


def test_a_database_outage_is_a_503_named_in_readiness_logged_once_and_over_by_itself(platform, mongo_proxy):
    uri = f"mongodb://127.0.0.1:{mongo_proxy.port}/?directConnection=true"
    service = platform.start(PRODUCER, MONGO_URI=uri, MONGO_WAIT_MS="500")
    client = ClusterRpcClient(platform.amqp_uri, timeout=10)
    try:
        client.call("producer", "record", subject="s-1", n=1)
        assert client.call("producer", "ping")["ok"] is True

        mongo_proxy.cut()
        for n in range(2, 6):
            with pytest.raises(ServiceBusy):
                client.call("producer", "record", subject="s-1", n=n)
        assert wait_until(
            lambda: client.call("producer", "ping").get("missing") == "mongodb", what="readiness to name it"
        )

        mongo_proxy.restore()
        wait_until(lambda: client.call("producer", "ping")["ok"], what="the service to see its database again")
        client.call("producer", "record", subject="s-1", n=6)
    finally:
        client.close()
    assert [r["n"] for r in platform.db("producer").records.find().sort("n", 1)] == [1, 6]
    wait_until(lambda: "mongodb is back after" in service.log(), what="the end of the outage in the log")
    log = service.log()
    assert log.count("mongodb is not available") == 1
    assert "error handling worker" not in log
