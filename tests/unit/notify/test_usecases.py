"""The notify use cases on the in-memory store (fakes.py): an event is learned and planned
once per origin, reminders and dead-letter alerts once per window, deliveries settle with
their event, and a webhook deleted or switched off gives up its pending deliveries, in
milliseconds and without a server. The stack tests (tests/service/notify) keep the channels,
the senders and the events on the wire."""

from datetime import datetime, timedelta, timezone

import pytest

from services.contracts.notify import DEAD_LETTERS, REVIEW_REMINDER, WEBHOOK_DISABLED
from services.notify.domain.platform import Origin
from services.notify.domain.webhooks import NoSuchWebhook
from services.notify.store import FAILED, PENDING, SENT
from services.notify.usecases import notices, webhooks
from services.notify.usecases.deliveries import settle
from tests.unit.notify import samples
from tests.unit.notify.fakes import FakeNotifyStore

NOW = datetime(2026, 5, 10, 3, tzinfo=timezone.utc)
INSTITUTION = "institution:inst_a"
SUBMITTED = samples.application_submitted("app_a", "call_1", "inst_a", "长沙市", "智能制造专业群")


@pytest.fixture
def store():
    return FakeNotifyStore()


def arrive(store, name, data, event_id="evt_1", subject="app_a"):
    event = {"id": event_id, "type": name, "data": data}
    notices.event_arrived(store, name, data, Origin(event_id, subject, event), NOW)


def inbox(store, recipient):
    return [n["kind"] for n in store.notifications.values() if n["recipient"] == recipient]


def test_an_event_tells_each_party_once_in_the_inbox_and_learns_who_is_who(store):
    arrive(store, "application_submitted", SUBMITTED)
    assert inbox(store, INSTITUTION) == ["application_submitted"]
    assert inbox(store, "prefecture:长沙市") == ["application_submitted"]
    assert store.application("app_a").recommender == "prefecture:长沙市"
    assert store.deliveries == {}  # nobody asked for more than the inbox
    arrive(store, "application_submitted", SUBMITTED)
    assert len(store.notifications) == 2


def test_a_recipient_gets_the_channels_it_chose_and_its_webhooks_get_the_event_itself(store):
    store.settings[INSTITUTION] = {"email": "office@inst-a.edu.cn", "default_channels": ["email"]}
    webhook = webhooks.add_webhook(
        store, INSTITUTION, {"url": "https://inst-a.edu.cn/hook", "kinds": ["application_submitted"]}, "u1", NOW
    )
    arrive(store, "application_submitted", SUBMITTED)
    planned = {d["channel"]: d for d in store.deliveries.values() if d["recipient"] == INSTITUTION}
    assert sorted(planned) == ["email", "webhook"]
    assert planned["email"]["address"] == "office@inst-a.edu.cn" and planned["email"]["status"] == PENDING
    assert planned["webhook"]["content"] == {
        "event": {"id": "evt_1", "type": "application_submitted", "data": SUBMITTED}
    }
    assert planned["webhook"]["webhook_id"] == webhook["_id"] and planned["webhook"]["source_event_id"] == "evt_1"


def test_experts_are_reminded_once_per_deadline_within_the_window(store):
    due = (NOW + timedelta(hours=20)).isoformat().replace("+00:00", "Z")
    later = (NOW + timedelta(days=5)).isoformat().replace("+00:00", "Z")
    arrive(
        store,
        "experts_assigned",
        samples.experts_assigned(
            "call_1",
            [("asg_1", "app_a", "exp_1", due), ("asg_2", "app_b", "exp_1", due), ("asg_3", "app_c", "exp_2", later)],
        ),
    )
    notices.remind_experts(store, NOW, 48)
    notices.remind_experts(store, NOW + timedelta(hours=1), 48)
    assert inbox(store, "expert:exp_1") == ["experts_assigned", REVIEW_REMINDER]
    assert inbox(store, "expert:exp_2") == ["experts_assigned"]
    [reminder] = [n for n in store.notifications.values() if n["kind"] == REVIEW_REMINDER]
    assert reminder["origin_id"].startswith(f"{REVIEW_REMINDER}:exp_1:")


def test_dead_letters_alert_the_province_once_an_hour_while_they_pile_up(store):
    notices.dead_letters_counted(store, {"notify.review.dead": 0}, NOW)
    assert store.notifications == {}
    notices.dead_letters_counted(store, {"notify.review.dead": 3}, NOW)
    notices.dead_letters_counted(store, {"notify.review.dead": 4}, NOW + timedelta(minutes=30))
    notices.dead_letters_counted(store, {"notify.review.dead": 4}, NOW + timedelta(hours=1))
    assert inbox(store, "province") == [DEAD_LETTERS, DEAD_LETTERS]


@pytest.fixture
def hooked(store):
    """An institution with a webhook and one delivery pending on it."""
    store.webhook_doc = webhooks.add_webhook(
        store, INSTITUTION, {"url": "https://inst-a.edu.cn/hook", "kinds": ["application_submitted"]}, "u1", NOW
    )
    arrive(store, "application_submitted", SUBMITTED)
    [store.pending] = store.deliveries.values()
    return store


def test_a_settled_delivery_emits_once_what_came_of_it(hooked):
    assert settle(hooked, hooked.pending, SENT, NOW)
    assert not settle(hooked, hooked.pending, FAILED, NOW, "late")
    [(name, subject, data)] = hooked.emitted
    assert (name, subject, data["attempts"]) == ("notification_sent", hooked.pending["_id"], 1)
    assert hooked.deliveries[hooked.pending["_id"]]["status"] == SENT


def test_a_deleted_webhook_gives_up_its_pending_deliveries_and_only_its_owner_deletes_it(hooked):
    webhook_id = hooked.webhook_doc["_id"]
    with pytest.raises(NoSuchWebhook):
        webhooks.delete_webhook(hooked, "institution:inst_b", webhook_id, NOW)
    assert hooked.emitted == [] and hooked.webhooks[webhook_id]["status"] == "active"
    webhooks.delete_webhook(hooked, INSTITUTION, webhook_id, NOW)
    [(name, _, data)] = hooked.emitted
    assert (name, data["error"], data["attempts"]) == ("notification_failed", "the webhook was deleted", 0)
    with pytest.raises(NoSuchWebhook):
        webhooks.delete_webhook(hooked, INSTITUTION, webhook_id, NOW)


def test_a_webhook_switched_off_tells_its_owner_once(hooked):
    failing = {**hooked.webhook_doc, "consecutive_failures": 5}
    assert webhooks.disable_webhook(hooked, failing, "HTTP 500", NOW)
    assert not webhooks.disable_webhook(hooked, failing, "HTTP 500", NOW)
    assert inbox(hooked, INSTITUTION) == ["application_submitted", WEBHOOK_DISABLED]
    assert hooked.deliveries[hooked.pending["_id"]]["status"] == FAILED
    assert [name for name, _, _ in hooked.emitted] == ["notification_failed"]
