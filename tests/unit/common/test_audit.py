"""The audit chain's rules, on records in memory: each break is found and named."""

from datetime import datetime, timezone

import pytest

from services.common import audit, pages
from services.common.audit import Acting, Broken

WHO = Acting("province-1", "province", {}, "create_call", "req-1")
AT = datetime(2026, 3, 1, 8, 0, 0, 123000, tzinfo=timezone.utc)


def chain(name: str, length: int) -> list[dict]:
    records, previous = [], None
    for _ in range(length):
        record = audit.new_record(
            name, previous, WHO, entities=[name], events=[], outcome=audit.OK, service="applications", at=AT
        )
        records.append(record)
        previous = record
    return records


def sealed_by(*checkpoints):
    return audit.verify_checkpoints(checkpoints)[1]


def test_a_chain_as_written_verifies_and_links_each_record_to_the_one_before():
    records = chain("calls/C1", 3)
    tails = audit.verify_chains(records, {})
    assert tails["calls/C1"]["seq"] == 3
    assert [r["prev"] for r in records] == [audit.GENESIS, records[0]["hash"], records[1]["hash"]]


def test_an_edited_record_is_named():
    records = chain("calls/C1", 3)
    records[1]["actor"] = "someone-else"
    with pytest.raises(Broken, match=f"audit record {records[1]['_id']} .*seq 2.*edited"):
        audit.verify_chains(records, {})


def test_an_edited_record_with_its_hash_recomputed_breaks_the_link_of_the_next():
    records = chain("calls/C1", 3)
    records[1]["outcome"] = "not_committed"
    records[1]["hash"] = audit.digest(records[1])
    with pytest.raises(Broken, match=f"audit record {records[2]['_id']} .*prev"):
        audit.verify_chains(records, {})


def test_a_deleted_record_in_the_middle_is_named_by_the_gap():
    records = chain("calls/C1", 3)
    with pytest.raises(Broken, match="seq 3.*expected seq 2"):
        audit.verify_chains([records[0], records[2]], {})


def test_a_deleted_tail_is_seen_from_the_head():
    records = chain("calls/C1", 3)
    tails = audit.verify_chains(records[:2], {})
    with pytest.raises(Broken, match="calls/C1: its head says seq 3"):
        audit.verify_heads(tails, [{"_id": "calls/C1", "seq": 3, "hash": records[2]["hash"]}])


def test_a_whole_chain_deleted_with_its_head_is_seen_from_the_checkpoint():
    kept, deleted = chain("calls/C1", 2), chain("calls/C2", 2)
    heads = [
        {"_id": "calls/C1", "seq": 2, "hash": kept[1]["hash"]},
        {"_id": "calls/C2", "seq": 2, "hash": deleted[1]["hash"]},
    ]
    checkpoint = audit.new_checkpoint(None, heads, AT)
    with pytest.raises(Broken, match="calls/C2: audit checkpoint 1 sealed its record seq 2, which is missing"):
        audit.verify_chains(kept, sealed_by(checkpoint))


def test_a_chain_rewritten_from_scratch_differs_from_what_the_checkpoint_sealed():
    original = chain("calls/C1", 2)
    checkpoint = audit.new_checkpoint(None, [{"_id": "calls/C1", "seq": 2, "hash": original[1]["hash"]}], AT)
    forged = chain("calls/C1", 2)  # other ids: a new, self-consistent chain
    with pytest.raises(Broken, match="checkpoint 1 sealed another record"):
        audit.verify_chains(forged, sealed_by(checkpoint))


def test_checkpoints_are_chained_and_an_edited_or_missing_one_is_named():
    records = chain("calls/C1", 2)
    first = audit.new_checkpoint(None, [{"_id": "calls/C1", "seq": 1, "hash": records[0]["hash"]}], AT)
    second = audit.new_checkpoint(first, [{"_id": "calls/C1", "seq": 2, "hash": records[1]["hash"]}], AT)
    last, sealed = audit.verify_checkpoints([first, second])
    assert last["_id"] == 2 and audit.verify_chains(records, sealed)
    with pytest.raises(Broken, match="checkpoint 2: expected checkpoint 1"):
        audit.verify_checkpoints([second])
    first["heads"] = []
    with pytest.raises(Broken, match="checkpoint 1: its content does not match"):
        audit.verify_checkpoints([first, second])


def test_the_hash_does_not_depend_on_how_the_database_gives_the_instant_back():
    record = chain("calls/C1", 1)[0]
    naive = {**record, "at": AT.replace(tzinfo=None)}  # a client without tz_aware
    assert audit.digest(naive) == record["hash"]


def test_the_actor_comes_from_the_verified_claims_with_the_scope_the_role_has():
    acting = Acting.from_claims({"sub": "u1", "role": "prefecture", "prefecture": "长沙市"}, "recommend")
    assert (acting.actor, acting.role, acting.scope, acting.operation) == (
        "u1",
        "prefecture",
        {"prefecture": "长沙市"},
        "recommend",
    )
    assert Acting.from_claims(None, "on_event") is None


def test_a_cursor_gives_back_the_place_it_was_made_at_and_a_forged_one_is_refused():
    record = chain("calls/C1", 1)[0]
    assert pages.decode_cursor(audit.encode_cursor(record), 2) == [AT, record["_id"]]
    with pytest.raises(pages.InvalidCursor):
        pages.decode_cursor("bm90LWpzb24", 2)
