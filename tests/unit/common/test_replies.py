from marshmallow import Schema, fields

from services.common.bilingual import Bilingual
from services.common.errors import DomainError, FieldErrors
from services.common.replies import Refused, created, field_errors, idempotent, replying
from services.common.store import IdempotencyKeyReused


class NotYours(DomainError):
    status, kind = 404, None


class Inner(Schema):
    amount = fields.Integer(required=True)


class Outer(Schema):
    lines = fields.List(fields.Nested(Inner), required=True)


@replying()
def command(kind):
    if kind == "invalid":
        Outer().load({"lines": [{"amount": "many"}]})
    if kind == "reused":
        raise IdempotencyKeyReused("k")
    if kind == "refused":
        raise Refused(409, "The call has closed.", type="call-closed")
    if kind == "not-yours":
        raise NotYours("application app_1")
    if kind == "field":
        raise FieldErrors({"reason": [Bilingual("required to override", "改变时须说明理由")]})
    if kind == "bug":
        raise KeyError("bug")
    return {"status": 200, "body": {"ok": True}}


def test_invalid_fields_become_a_422_naming_each_nested_field():
    reply = command("invalid")
    assert reply["status"] == 422
    assert reply["problem"]["errors"] == {"lines.0.amount": ["Not a valid integer."]}


def test_refusals_become_problems_with_their_status():
    assert command("reused")["status"] == 422
    closed = command("refused")
    assert closed["status"] == 409 and closed["problem"]["type"] == "call-closed"
    assert command("not-yours") == {"status": 404, "problem": {"title": "Not Found", "detail": "application app_1"}}
    assert command("fine") == {"status": 200, "body": {"ok": True}}


def test_a_domain_refusal_about_a_field_names_it_in_both_languages():
    assert command("field") == {
        "status": 422,
        "problem": {
            "title": "Unprocessable Content",
            "detail": "改变时须说明理由 / required to override",
            "errors": {"reason": ["改变时须说明理由 / required to override"]},
            "type": "invalid-fields",
        },
    }


def test_a_bug_is_not_disguised_as_a_refusal():
    try:
        command("bug")
    except KeyError:
        return
    raise AssertionError("a bug must raise, so the gateway answers 5xx and it gets fixed")


def test_bilingual_messages_keep_both_languages():
    class Bilingual(str):
        zh = "统一社会信用代码校验位错误"

    assert field_errors({"credit_code": [Bilingual("credit code check digit is wrong")]}) == {
        "credit_code": ["统一社会信用代码校验位错误 / credit code check digit is wrong"]
    }


class KeyStore:
    """The store's once_per_key as the kernel's contract has it: the first reply kept per key."""

    def __init__(self):
        self.keys = {}

    def once_per_key(self, key, fingerprint, run):
        if key in self.keys:
            return self.keys[key], True
        reply = run()
        if key is not None:
            self.keys[key] = reply
        return reply, False


class Service:
    """An entrypoint in the services' shape: check and load outside, the command run once per key."""

    def __init__(self):
        self.store, self.made = KeyStore(), []

    @replying()
    @idempotent
    def submit(self, actor, application):
        amount = Inner().load(application)["amount"]
        return lambda: self.made.append(amount) or created({"id": f"x{len(self.made)}"})

    @replying()
    @idempotent
    def withdraw(self, actor, application):
        return lambda: self.made.append(0) or created({"id": f"x{len(self.made)}"})


def test_an_idempotent_entrypoint_runs_its_command_once_per_key_and_marks_a_replay():
    service, alice = Service(), {"sub": "alice", "role": "institution", "institution_id": "inst_a"}
    first = service.submit(alice, {"amount": 3}, idempotency_key="k1", request_fingerprint="f")
    again = service.submit(alice, {"amount": 3}, idempotency_key="k1", request_fingerprint="f")
    assert first == {"status": 201, "body": {"id": "x1"}}
    assert again == {"status": 201, "body": {"id": "x1"}, "replayed": True}
    assert service.made == [3]
    assert service.submit(alice, {"amount": 4})["body"]["id"] == "x2"  # no key: no replay


def test_input_refused_before_the_command_spends_no_key():
    service, alice = Service(), {"sub": "alice", "role": "institution", "institution_id": "inst_a"}
    refused = service.submit(alice, {"amount": "many"}, idempotency_key="k1", request_fingerprint="f")
    assert refused["status"] == 422 and "amount" in refused["problem"]["errors"]
    assert service.store.keys == {} and service.made == []
    assert service.submit(alice, {"amount": 5}, idempotency_key="k1", request_fingerprint="f")["status"] == 201
    assert service.made == [5]


def test_a_key_is_scoped_by_role_scope_claim_subject_and_operation():
    """The probe: one sub acting for a second institution with the same key got the first
    institution's application back, and the second was never made."""
    service = Service()

    def submit(actor):
        return service.submit(actor, {"amount": 1}, idempotency_key="k1", request_fingerprint="f")

    first = {"sub": "u", "role": "institution", "institution_id": "inst_a"}
    assert submit(first)["body"]["id"] == "x1"
    assert submit(first) == {"status": 201, "body": {"id": "x1"}, "replayed": True}
    assert "replayed" not in submit({**first, "institution_id": "inst_b"})
    assert "replayed" not in submit({"sub": "u", "role": "province"})
    assert "replayed" not in service.withdraw(first, {}, idempotency_key="k1", request_fingerprint="f")
    assert len(service.store.keys) == 4
