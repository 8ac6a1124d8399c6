"""The service tests' platform (`stack`), and fixtures for the kernel's own service tests:
kernel test services on a database prefix and vhost of the test's own, and a proxy to cut the
broker off."""

import uuid

import pytest
from pymongo import MongoClient

from services.common.envelope import new_event
from services.common.messaging import Publisher, service_exchange
from tests.conftest import whole_platform
from tests.support.servers import CuttableProxy, ServiceProcess, stop_all

PRODUCER = "tests.service.kernel_services:ProducerService"
CONSUMER = "tests.service.kernel_services:ConsumerService"


@pytest.fixture(scope="package")
def stack(mongo_uri, tmp_path_factory):
    """The whole platform, shared by the service tests and stopped after the last of them (this
    directory is a package), so that the unit tests and the fuzz run after it do not share the
    machine and the broker with it (the broker's file descriptors ran out once with four
    platforms up, and a service of the fuzz platform could not connect)."""
    yield from whole_platform(mongo_uri, tmp_path_factory.mktemp("stack"))


@pytest.fixture
def proxy():
    """Set up before `platform`, so it is closed only after the services have stopped."""
    cuttable = CuttableProxy()
    yield cuttable
    cuttable.cut()


@pytest.fixture
def platform(mongo_uri, amqp_uri, tmp_path):
    """A database prefix of the test's own, and a way to start kernel services on it."""
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    client = MongoClient(mongo_uri, tz_aware=True)
    started = []

    def start(target, amqp=amqp_uri, **env):
        process = ServiceProcess(
            target,
            {
                "MONGO_URI": mongo_uri,
                "AMQP_URI": amqp,
                "MONGO_DB_PREFIX": prefix,
                "EVENT_RETRY_DELAYS_MS": "100,200",
                "RELAY_POLL_S": "0.2",
                **env,
            },
            tmp_path,
        )
        started.append(process)
        return process.wait_started()

    class Platform:
        pass

    p = Platform()
    p.start, p.amqp_uri = start, amqp_uri
    p.db = lambda service: client[f"{prefix}{service}"]
    yield p
    stop_all(started)
    client.close()


def publish(amqp_uri, name, subject, sequence, data=None, event_id=None):
    event = new_event("producer", name, subject, data or {}, sequence=sequence, event_id=event_id)
    publisher = Publisher(amqp_uri)
    publisher.publish(service_exchange("producer"), name, event.to_dict(), message_id=event.id)
    publisher.close()
    return event


def effects(platform, **query):
    return list(platform.db("consumer").effects.find(query).sort([("subject", 1), ("position", 1)]))
