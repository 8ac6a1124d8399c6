"""Exactly once in effect: a redelivered event sends nothing twice; a channel that is
down holds up no other and loses nothing; a failing webhook is retried, then disabled,
and its owner is told."""

from __future__ import annotations

import json
import time

import pytest
from kombu import Connection, Queue

from services.common.messaging import Publisher, declare_service_exchange, service_exchange
from services.notify.domain.signature import verify
from tests.service.notify.support import deliveries, inbox, put_settings, subscribe, uid
from tests.support.servers import wait_until
from tests.unit.notify import samples as s

pytestmark = pytest.mark.service


@pytest.fixture
def notify_events(notify_stack):
    """What the notify service emits, from a queue of the test's own bound to notify.events."""
    name = f"test.notify-events.{uid()}"
    publisher = Publisher(notify_stack.amqp_uri)
    declare_service_exchange(publisher, "notify")
    publisher.declare(Queue(name, exchange=service_exchange("notify"), routing_key="#", auto_delete=False))
    publisher.close()
    seen: list[dict] = []

    def drain() -> list[dict]:
        with Connection(notify_stack.amqp_uri) as connection:
            queue = Queue(name, channel=connection.channel())
            while (message := queue.get(no_ack=True)) is not None:
                seen.append(json.loads(message.body))
        return seen

    return drain


def settled(stack, origin_ids, recipient, count):
    found = deliveries(stack, origin_ids, recipient=recipient)
    return len(found) == count and all(d["status"] in ("sent", "failed") for d in found) and found


def test_a_redelivered_event_sends_nothing_twice(notify_stack, producers, mailbox, receiver, notify_events):
    stack, n = notify_stack, uid()
    inst, app, call = f"inst_g_{n}", f"app_g_{n}", f"call_g_{n}"
    recipient, address, path = f"institution:{inst}", f"g-{n}@hnkjxy.edu.cn", f"/ok/g-{n}"
    client = stack.client("institution", institution_id=inst)
    put_settings(stack, client, email=address, phone="13700137000")
    subscribe(stack, client, receiver.url(path), ["application_submitted", "application_recommended"])

    first = producers.publish(
        "application_submitted", app, s.application_submitted(app, call, inst, "岳阳市", f"数控技术 {n}")
    )
    producers.again(first)
    producers.again(first)
    marker = producers.publish(
        "application_recommended", app, s.application_decision("application_recommended", app, call, inst, "岳阳市")
    )

    # the marker comes after the copies on the same subject: once it is sent, the copies were handled
    sent = wait_until(lambda: settled(stack, [first.id, marker.id], recipient, 6), timeout=60, what="both events sent")
    assert sorted((d["kind"], d["channel"]) for d in sent) == [
        ("application_recommended", "email"),
        ("application_recommended", "sms"),
        ("application_recommended", "webhook"),
        ("application_submitted", "email"),
        ("application_submitted", "sms"),
        ("application_submitted", "webhook"),
    ]
    assert sorted(m["kind"] for m in inbox(stack, client)) == ["application_recommended", "application_submitted"]
    assert len(mailbox.to(address)) == 2
    assert sorted(e["id"] for e in receiver.events(path)) == sorted([first.id, marker.id])

    # and each delivery is announced once: notification_sent, with its channel
    ids = {d["_id"] for d in sent}

    def all_announced():
        found = [e for e in notify_events() if e["subject"] in ids]
        return {e["subject"] for e in found} == ids and found

    announced = wait_until(all_announced, timeout=30, what="notification_sent of each delivery")
    assert sorted(e["subject"] for e in announced) == sorted(ids)
    assert {e["type"] for e in announced} == {"cn.chuyi.notify.notification_sent.v1"}
    assert {(e["data"]["kind"], e["data"]["channel"], e["data"]["recipient"]) for e in announced} == {
        (d["kind"], d["channel"], recipient) for d in sent
    }


def test_mail_waits_while_the_smtp_server_is_down_and_goes_out_when_it_is_back(
    notify_stack, producers, mailbox, receiver
):
    stack, n = notify_stack, uid()
    inst, app = f"inst_d_{n}", f"app_d_{n}"
    recipient, address, path = f"institution:{inst}", f"d-{n}@hnyszy.edu.cn", f"/ok/d-{n}"
    client = stack.client("institution", institution_id=inst)
    put_settings(stack, client, email=address)
    subscribe(stack, client, receiver.url(path), ["eligibility_checked"])

    mailbox.stop()
    try:
        event = producers.publish(
            "eligibility_checked", app, s.eligibility_checked(app, f"call_d_{n}", inst, "常德市", f"园艺技术 {n}")
        )
        # the inbox and the webhook are not held up by the mail server
        wait_until(lambda: inbox(stack, client), timeout=30, what="the inbox message")
        wait_until(lambda: receiver.received(path), timeout=30, what="the webhook")

        def retried():
            mail = deliveries(stack, [event.id], recipient=recipient, channel="email")
            return mail and mail[0]["status"] == "pending" and mail[0]["attempts"] >= 2 and mail[0]

        waiting = wait_until(retried, timeout=30, what="the mail to be tried again")
        assert "SMTP" in waiting["last_error"] and mailbox.to(address) == []
    finally:
        mailbox.start()

    mails = wait_until(lambda: mailbox.to(address), timeout=30, what="the mail once the server is back")
    assert len(mails) == 1 and mails[0]["subject"].startswith("形式审查通过")
    mail = wait_until(lambda: settled(stack, [event.id], recipient, 2), timeout=10, what="the deliveries settled")
    assert {(d["channel"], d["status"]) for d in mail} == {("email", "sent"), ("webhook", "sent")}


def test_a_failing_webhook_is_retried_then_disabled_and_its_owner_told(notify_stack, producers, mailbox, receiver):
    stack, n = notify_stack, uid()
    inst, app, call = f"inst_f_{n}", f"app_f_{n}", f"call_f_{n}"
    recipient, address, path = f"institution:{inst}", f"f-{n}@hnwmxy.edu.cn", f"/fail/f-{n}"
    client = stack.client("institution", institution_id=inst)
    put_settings(stack, client, email=address, channels_by_kind={"eligibility_checked": []})
    hook = subscribe(stack, client, receiver.url(path), ["eligibility_checked", "application_recommended"])

    event = producers.publish(
        "eligibility_checked", app, s.eligibility_checked(app, call, inst, "郴州市", f"有色冶金 {n}")
    )

    def disabled():
        answer = client.get(stack.url(f"/v1/webhooks/{hook['id']}"), timeout=30).json()
        return answer["status"] == "disabled" and answer

    webhook = wait_until(disabled, timeout=60, what="the webhook to be disabled")
    assert (webhook["consecutive_failures"], webhook["last_error"]) == (3, "HTTP 500") and webhook["disabled_at"]

    # retried: the same delivery, each time freshly signed, until the limit (NOTIFY_WEBHOOK_MAX_FAILURES=3)
    attempts = receiver.received(path)
    assert len(attempts) == 3
    assert len({a["headers"]["Chuyi-Delivery"] for a in attempts}) == 1
    assert all(json.loads(a["body"])["id"] == event.id for a in attempts)
    assert all(verify(hook["secret"], a["body"], a["headers"]["Chuyi-Signature"], int(time.time())) for a in attempts)
    stamps = [int(a["headers"]["Chuyi-Signature"].split(",")[0][2:]) for a in attempts]
    assert stamps == sorted(stamps)

    delivery = deliveries(stack, [event.id], recipient=recipient, channel="webhook")[0]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
    failed = stack.db("notify").outbox.find_one({"name": "notification_failed", "subject": delivery["_id"]})
    assert failed["event"]["data"]["error"] == "the webhook was disabled after repeated failures"

    # the owner is told, in the inbox and by mail
    notices = wait_until(
        lambda: [m for m in inbox(stack, client) if m["kind"] == "webhook_disabled"],
        timeout=30,
        what="the notice in the inbox",
    )
    assert len(notices) == 1 and notices[0]["subject"] == hook["id"] and receiver.url(path) in notices[0]["body"]
    mails = wait_until(
        lambda: [m for m in mailbox.to(address) if m["subject"].startswith("Webhook 已停用")],
        timeout=30,
        what="the notice by mail",
    )
    assert "连续 3 次推送失败" in mails[0]["text"]

    # a disabled webhook gets nothing more
    later = producers.publish(
        "application_recommended", app, s.application_decision("application_recommended", app, call, inst, "郴州市")
    )
    wait_until(
        lambda: any(m["kind"] == "application_recommended" for m in inbox(stack, client)),
        timeout=30,
        what="the next message",
    )
    assert deliveries(stack, [later.id], recipient=recipient, channel="webhook") == []
    assert len(receiver.received(path)) == 3
