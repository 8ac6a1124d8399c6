"""What the funding service really publishes on `funding.events` fits docs/asyncapi.yaml:
a queue bound as a finance system binds it receives every event of a project's life and
of a refused allocation, each valid against the document's JSON Schemas, with the AMQP
properties it promises and gap-free per-subject sequences."""

import json
import uuid
from collections import defaultdict

import pytest
from kombu import Connection, Queue

from examples.finance_consumer.reconcile import EventContract, verify
from services.common.messaging import service_exchange
from services.contracts.funding_events import EVENTS
from tests.service.funding.support import Funding, fresh_year, mid_year
from tests.support.servers import wait_until
from tests.unit.test_asyncapi import DOCUMENT, EXCHANGES, name_of

#: What `funding.events` carries (the document also describes the project events of `applications.events`).
FUNDING_NAMES = sorted(name for name, exchange in EXCHANGES.items() if exchange == "funding")

pytestmark = pytest.mark.service


@pytest.fixture
def bound_queue(stack):
    """A queue of the test's own bound to every funding event, as the document tells finance systems to bind."""
    with Connection(stack.amqp_uri) as connection:
        channel = connection.channel()
        queue = Queue(
            f"test.funding-events.{uuid.uuid4().hex[:8]}",
            exchange=service_exchange("funding"),
            routing_key="#",
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        )
        queue = queue.bind(channel)
        queue.declare()
        yield queue
        queue.delete()


def drive_every_event(stack) -> set[str]:
    """A call allocated on arrival with projects that pass, rectify, fail and are withdrawn
    (claw-back `all`), and a call its budget does not cover. Returns the subjects."""
    funding = Funding(stack)
    year = fresh_year()
    rule = funding.rule(
        {"method": "tiers", "tiers": [{"from_rank": 1, "to_rank": None, "amount": 3_000_001}]},
        {"provincial_special": 3, "local_special_bond": 1, "local_government": 1},
        clawback="all",
    )
    funding.budget(
        year, "sv-excellent", {"provincial_special": 10**9, "local_special_bond": 10**9, "local_government": 10**9}
    )
    call_id, approved = funding.finalize("sv-excellent", rule, [1, 2, 3, 4], mid_year(year))
    funding.allocation(call_id, until=lambda a: a["status"] == "allocated")
    first, second, third, fourth = (p["application_id"] for p in approved)
    for project_id, milestone, result, reason in [
        (first, "mid_term", "rectify", "限期整改"),
        (first, "mid_term", "pass", "整改到位"),
        (first, "acceptance", "pass", "验收通过"),
        (second, "mid_term", "pass", "中期检查通过"),
        (second, "acceptance", "fail", "验收未通过"),
        (third, "mid_term", "fail", "中期检查不合格"),
    ]:
        assert funding.milestone(project_id, milestone, result, reason).status_code == 201
    assert funding.post(f"/v1/projects/{fourth}/withdrawal", {"reason": "学校申请撤销"}).status_code == 200
    short_call, _ = funding.finalize("sv-excellent", rule, [1] * 1000, mid_year(year))
    funding.allocation(short_call, until=lambda a: a["last_shortfall"])
    return {first, second, third, fourth, short_call}


def test_every_published_funding_event_is_valid_against_the_asyncapi_document(stack, bound_queue):
    contract = EventContract(DOCUMENT)
    subjects = drive_every_event(stack)
    outbox = {e["_id"]: e for e in stack.db("funding").outbox.find({"subject": {"$in": list(subjects)}})}
    received = {}

    def all_received():
        while (message := bound_queue.get(no_ack=True)) is not None:
            envelope = json.loads(message.body)
            if envelope["subject"] in subjects:
                received[envelope["id"]] = (message, envelope)
        return received.keys() == outbox.keys()

    wait_until(all_received, timeout=30, what="every staged funding event to be published")

    sequences = defaultdict(list)
    for message, envelope in received.values():
        name = name_of(envelope)
        assert message.delivery_info["routing_key"] == name
        assert message.content_type == "application/cloudevents+json" and message.content_encoding == "utf-8"
        assert message.properties["delivery_mode"] == 2 and message.properties["message_id"] == envelope["id"]
        assert contract.envelope_errors(envelope) == [] and contract.payload_errors(name, envelope) == []
        verify(message.body, contract)  # integers only, totals add up, subject names the project (or call)
        EVENTS[name].load(envelope["data"])
        assert envelope == outbox[envelope["id"]]["event"]
        sequences[envelope["subject"]].append(envelope["sequence"])
    assert sorted({name_of(e) for _, e in received.values()}) == FUNDING_NAMES
    assert all(sorted(numbers) == list(range(1, len(numbers) + 1)) for numbers in sequences.values())
