"""The reference finance consumer's logic, without a broker: verify, deduplicate, order
per project, reconcile; state in SQLite."""

import copy
import json

import pytest
from hypothesis import given, settings, strategies as st

from examples.finance_consumer.consumer import finance_queue
from examples.finance_consumer.reconcile import (
    EventContract,
    FinanceBook,
    InvalidEvent,
    money_moves,
    sequence_step,
    verify,
)
from examples.finance_consumer.samples import sample_events, scenario

CONTRACT = EventContract()
ENVELOPES = sample_events()


def by(name, subject=None, index=0):
    found = [e for e in ENVELOPES if e["type"] == f"cn.chuyi.funding.{name}.v1" and subject in (None, e["subject"])]
    return copy.deepcopy(found[index])


def expected_reconciliation():
    """What the funding domain itself says each project's money did."""
    _, fundings = scenario()
    expected = {}
    for funding in fundings:
        for source, where in funding.position().items():
            released_ever = where["released"] + where["clawed_back"]
            expected.setdefault(funding.project_id, {})[source] = {
                "allocated": funding.award.by_source[source],
                "released": released_ever,
                "withheld": where["withheld"],
                "clawed_back": where["clawed_back"],
                "scheduled": where["reserved"],
                "kept": where["released"],
            }
    return expected


@pytest.fixture
def book(tmp_path):
    opened = FinanceBook(tmp_path / "finance.sqlite3", CONTRACT)
    yield opened
    opened.close()


def test_the_stream_in_order_reconciles_to_what_the_funding_domain_says(book):
    receipts = [book.receive(json.dumps(e).encode("utf-8")) for e in ENVELOPES]
    assert {r.status for r in receipts} == {"applied"}
    assert book.reconciliation() == expected_reconciliation()
    assert book.discrepancies() == [] and book.gaps() == {}
    assert book.shortfalls() == {
        "call-2027-workshop": {
            "year": 2027,
            "category": "workshop",
            "by_source": {
                "local_government": {"needed": 520_000_000, "available": 1_000_000_000, "missing": 0},
                "provincial_special": {"needed": 780_000_000, "available": 500_000_000, "missing": 280_000_000},
            },
        }
    }


@settings(deadline=None, max_examples=25)
@given(order=st.permutations(range(len(ENVELOPES))), repeats=st.lists(st.integers(0, len(ENVELOPES) - 1), max_size=8))
def test_any_order_with_redeliveries_ends_in_the_same_reconciliation(order, repeats):
    book = FinanceBook(":memory:", CONTRACT)
    try:
        deliveries = [ENVELOPES[i] for i in order] + [ENVELOPES[i] for i in repeats]
        receipts = [book.receive(e) for e in deliveries]
        assert [r.status for r in receipts[len(order) :]] == ["duplicate"] * len(repeats)
        applied = [event_id for r in receipts for event_id in r.applied]
        assert sorted(applied) == sorted(e["id"] for e in ENVELOPES)  # each exactly once
        assert book.reconciliation() == expected_reconciliation()
        assert book.gaps() == {}
    finally:
        book.close()


def test_a_later_event_waits_for_the_earlier_one_and_the_gap_is_reported(book):
    first, second, third = (
        by("funds_allocated", "proj-0001"),
        by("tranche_scheduled", "proj-0001"),
        by("tranche_scheduled", "proj-0001", 1),
    )
    assert book.receive(third).status == "held"
    assert book.receive(second).status == "held"
    assert book.gaps() == {"proj-0001": {"expected": 1, "held": [2, 3]}}
    assert book.reconciliation() == {}
    receipt = book.receive(first)
    assert receipt.status == "applied" and receipt.applied == (first["id"], second["id"], third["id"])
    assert book.gaps() == {}
    assert book.reconciliation()["proj-0001"]["provincial_special"]["allocated"] == 300_000_000


def test_an_already_applied_sequence_under_another_id_is_stale_and_ignored(book):
    allocated = by("funds_allocated", "proj-0001")
    book.receive(allocated)
    replayed = dict(allocated, id="another-id")
    assert book.receive(replayed).status == "stale"
    assert book.reconciliation()["proj-0001"]["provincial_special"]["allocated"] == 300_000_000


def test_state_survives_a_restart(tmp_path):
    path = tmp_path / "finance.sqlite3"
    before = FinanceBook(path, CONTRACT)
    before.receive(ENVELOPES[0])
    before.receive(ENVELOPES[2])  # held: sequence 3 of proj-0001 before 2
    before.close()
    after = FinanceBook(path, CONTRACT)
    assert after.receive(ENVELOPES[0]).status == "duplicate"
    assert after.receive(ENVELOPES[1]).applied == (ENVELOPES[1]["id"], ENVELOPES[2]["id"])
    after.close()


def test_an_invalid_event_is_rejected_kept_for_operators_and_changes_nothing(book):
    bad = by("tranche_released", "proj-0001")
    bad["data"]["tranche"]["amount"]["total"] += 1
    receipt = book.receive(bad)
    assert receipt.status == "rejected" and receipt.event_id == bad["id"]
    assert receipt.errors == ("data/tranche/amount/total: 200000001 is not the sum of by_source (200000000)",)
    assert book.rejected()[0]["errors"] == list(receipt.errors)
    assert book.reconciliation() == {} and book.receive(by("funds_allocated", "proj-0001")).status == "applied"


def test_money_that_breaks_the_rules_shows_as_a_discrepancy(book):
    allocated = by("funds_allocated", "proj-0003")
    book.receive(allocated)
    withheld = [e for e in ENVELOPES if e["subject"] == "proj-0003" and e["type"].endswith("tranche_withheld.v1")]
    more = copy.deepcopy(withheld[0])
    more["data"]["tranche"]["amount"] = allocated["data"]["award"]  # the whole award, on top of the release
    for envelope in (by("tranche_released", "proj-0003") | {"sequence": 2}, more | {"sequence": 3}):
        assert book.receive(envelope).status == "applied"
    assert book.discrepancies() == [
        "proj-0003/local_government: released + withheld exceed the allocation by 48000000 fen",
        "proj-0003/provincial_special: released + withheld exceed the allocation by 72000000 fen",
    ]


def _set(path, value):
    def change(envelope):
        *parents, last = path
        target = envelope
        for key in parents:
            target = target[key]
        target[last] = value

    return change


@pytest.mark.parametrize(
    "body, error",
    [
        (b"\xff{", "body: not JSON"),
        (b"[1, 2]", "body: must be a JSON object"),
        (lambda e: e.pop("id"), "(event): 'id' is a required property"),
        (_set(["specversion"], "0.3"), "specversion: '1.0' was expected"),
        (_set(["source"], "/chuyi/review"), "source: '/chuyi/funding' was expected"),
        (
            _set(["type"], "cn.chuyi.review.review_submitted.v1"),
            "type: 'cn.chuyi.review.review_submitted.v1' does not match",
        ),
        (
            _set(["type"], "cn.chuyi.funding.tranche_released.v2"),
            "is not one of the funding events this consumer knows",
        ),
        (
            _set(["type"], "cn.chuyi.funding.funds_transferred.v1"),
            "is not one of the funding events this consumer knows",
        ),
        (_set(["sequence"], 0), "sequence: 0 is less than the minimum of 1"),
        (_set(["sequence"], 2.0), "sequence: 2.0 is a float"),
        (
            _set(["data", "tranche", "amount", "by_source", "social"], 1.5),
            "data/tranche/amount/by_source/social: 1.5 is a float",
        ),
        (_set(["data", "tranche", "trigger"], "payday"), "data/tranche/trigger: 'payday' is not one of"),
        (_set(["subject"], "proj-0002"), "subject: 'proj-0002' is not the event's project_id 'proj-0001'"),
    ],
)
def test_verify_names_what_is_wrong(body, error):
    if callable(body):
        envelope = by("tranche_released", "proj-0001")
        body(envelope)
        body = envelope
    with pytest.raises(InvalidEvent) as refused:
        verify(body, CONTRACT)
    assert any(error in message for message in refused.value.errors), refused.value.errors


def test_verify_returns_the_event_for_a_valid_envelope():
    envelope = by("budget_exhausted")
    event = verify(json.dumps(envelope, ensure_ascii=False).encode("utf-8"), CONTRACT)
    assert (event.name, event.subject, event.sequence) == ("budget_exhausted", "call-2027-workshop", 1)


@pytest.mark.parametrize(
    "last, sequence, step", [(0, 1, "apply"), (4, 5, "apply"), (4, 6, "hold"), (4, 4, "stale"), (4, 1, "stale")]
)
def test_sequence_steps(last, sequence, step):
    assert sequence_step(last, sequence) == step


def test_each_money_event_adds_to_one_column_per_source():
    moves = {
        name: money_moves(verify(by(name, "proj-0002"), CONTRACT))
        for name in (
            "funds_allocated",
            "tranche_scheduled",
            "tranche_released",
            "tranche_withheld",
            "funds_clawed_back",
        )
    }
    assert moves["tranche_scheduled"] == []
    assert moves["funds_allocated"] == [
        ("proj-0002", "provincial_special", "allocated", 300_000_000),
        ("proj-0002", "local_government", "allocated", 200_000_000),
    ]
    assert {
        column
        for name in ("tranche_released", "tranche_withheld", "funds_clawed_back")
        for _, _, column, _ in moves[name]
    } == {"released", "withheld", "clawed_back"}


def test_the_queue_is_the_consumers_own_durable_quorum_queue_on_the_passive_funding_exchange():
    queue = finance_queue()
    assert (queue.exchange.name, queue.exchange.type, queue.exchange.passive) == ("funding.events", "topic", True)
    assert queue.durable and queue.routing_key == "#"
    assert queue.queue_arguments["x-queue-type"] == "quorum"
