"""The audit log on a real wire server: written in the transaction of the change it records, and
`python -m chuyi audit verify` naming the one record edited or the chain deleted behind its back."""

import uuid

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from chuyi.__main__ import main
from services.common import audit
from services.common.store import BaseStore

pytestmark = pytest.mark.service

PROVINCE = {"sub": "province-1", "role": "province"}
INSTITUTION = {"sub": "inst-user", "role": "institution", "institution_id": "I-1"}


class CallsStore(BaseStore):
    indexes = {"calls": []}

    def open_call(self, call_id: str, refuse: bool = False) -> None:
        def work():
            self.db.calls.insert_one({"_id": call_id, "state": "open"}, session=self.session)
            if refuse:
                raise PermissionError("not yours")

        self.atomic(work)


@pytest.fixture
def databases(mongo_uri, monkeypatch):
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    monkeypatch.setenv("MONGO_URI", mongo_uri)
    monkeypatch.setenv("MONGO_DB_PREFIX", prefix)
    client = MongoClient(mongo_uri, tz_aware=True)
    db = client[f"{prefix}applications"]
    CallsStore.ensure_indexes(db)
    yield db
    for name in client.list_database_names():
        if name.startswith(prefix):
            client.drop_database(name)
    client.close()


def acting_as(claims, operation):
    return audit.acting.set(audit.Acting.from_claims(claims, operation, "req-1"))


def test_the_record_is_written_with_the_change_or_not_at_all(databases, monkeypatch):
    store = CallsStore(databases, "applications")
    token = acting_as(PROVINCE, "create_call")
    try:
        store.open_call("C1")
        [record] = databases[audit.RECORDS].find({"chain": "calls/C1"})
        assert (record["actor"], record["role"], record["operation"], record["entities"], record["outcome"]) == (
            "province-1",
            "province",
            "create_call",
            ["calls/C1"],
            "ok",
        )

        written = audit.append

        def fails_after_writing(*args):
            written(*args)
            raise OperationFailure("the commit fails after the audit record was written")

        monkeypatch.setattr(audit, "append", fails_after_writing)
        with pytest.raises(OperationFailure):
            store.open_call("C2")
        assert databases.calls.find_one({"_id": "C2"}) is None
        assert databases[audit.RECORDS].find_one({"chain": "calls/C2"}) is None
        monkeypatch.setattr(audit, "append", written)

        with pytest.raises(PermissionError):
            store.open_call("C3", refuse=True)
        assert databases.calls.find_one({"_id": "C3"}) is None
        refused = databases[audit.RECORDS].find_one({"chain": "actor/province:province-1"})
        assert (refused["outcome"], refused["detail"], refused["entities"]) == (
            "not_committed",
            "PermissionError",
            ["calls/C3"],
        )
    finally:
        audit.acting.reset(token)


def test_verify_names_the_record_edited_and_the_chain_deleted(databases, capsys):
    store = CallsStore(databases, "applications")
    for claims, call_id in ((PROVINCE, "C1"), (INSTITUTION, "C2"), (PROVINCE, "C3")):
        token = acting_as(claims, "create_call")
        try:
            store.open_call(call_id)
        finally:
            audit.acting.reset(token)
    assert store.seal_audit()["heads"]
    assert main(["audit", "verify"]) == 0
    assert "applications: 3 record(s) verified; checkpoint 1" in capsys.readouterr().out

    edited = databases[audit.RECORDS].find_one({"chain": "calls/C2"})
    databases[audit.RECORDS].update_one({"_id": edited["_id"]}, {"$set": {"actor": "nobody"}})
    assert main(["audit", "verify"]) == 1
    assert f"audit record {edited['_id']} (chain calls/C2, seq 1)" in capsys.readouterr().err
    databases[audit.RECORDS].update_one({"_id": edited["_id"]}, {"$set": {"actor": "inst-user"}})
    assert main(["audit", "verify"]) == 0

    databases[audit.RECORDS].delete_many({"chain": "calls/C3"})
    databases[audit.HEADS].delete_one({"_id": "calls/C3"})
    assert main(["audit", "verify"]) == 1
    assert (
        "audit chain calls/C3: audit checkpoint 1 sealed its record seq 1, which is missing" in capsys.readouterr().err
    )


def test_a_change_made_through_the_api_is_in_the_audit_log_the_province_reads(stack):
    from tests.service.applications.support import institution_body

    province = stack.client("province", sub="audit-province")
    created = province.post(stack.url("/v1/institutions"), json=institution_body(), timeout=30)
    assert created.status_code == 201, created.text
    entity = f"institutions/{created.json()['id']}"
    page = province.get(stack.url("/v1/audit"), params={"entity": entity}, timeout=30)
    assert page.status_code == 200, page.text
    [record] = page.json()["items"]
    assert (record["service"], record["actor"], record["role"], record["operation"], record["outcome"]) == (
        "applications",
        "audit-province",
        "province",
        "create_institution",
        "ok",
    )
    assert stack.client("institution", institution_id="I-1").get(stack.url("/v1/audit"), timeout=10).status_code == 403
