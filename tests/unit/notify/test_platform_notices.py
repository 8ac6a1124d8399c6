"""Reminders, dead-letter alerts and webhook notices: who, and once per window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.notify.domain.platform import dead_letters_notice, due_window, review_reminders, webhook_disabled_notice
from services.notify.domain.recipients import Party

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)
DEADLINE = NOW + timedelta(hours=20)


def assignment(expert_id, application_id, deadline=DEADLINE, call_id="call_1"):
    return {"expert_id": expert_id, "application_id": application_id, "call_id": call_id, "review_deadline": deadline}


def test_the_window_is_the_next_n_hours():
    assert due_window(NOW, 48) == (NOW, NOW + timedelta(hours=48))


def test_one_reminder_per_expert_and_deadline_listing_its_due_reviews(directory):
    directory.add(Party("app_a", "inst_a", "长沙市", "智能制造专业群"))
    later = DEADLINE + timedelta(hours=10)
    reminders = review_reminders(
        [
            assignment("exp_1", "app_a"),
            assignment("exp_1", "app_b"),
            assignment("exp_2", "app_a"),
            assignment("exp_1", "app_c", later),
        ],
        directory,
    )
    by_key = {
        origin.id: (notice.recipient, [e["application_id"] for e in notice.context["entries"]])
        for origin, notice in reminders
    }
    assert by_key == {
        "review_reminder:exp_1:2026-06-02T04:00:00Z": ("expert:exp_1", ["app_a", "app_b"]),
        "review_reminder:exp_2:2026-06-02T04:00:00Z": ("expert:exp_2", ["app_a"]),
        "review_reminder:exp_1:2026-06-02T14:00:00Z": ("expert:exp_1", ["app_c"]),
    }
    assert reminders[0][1].context["entries"][0]["title"] == "智能制造专业群"


def test_the_same_due_reviews_found_again_give_the_same_key(directory):
    first = review_reminders([assignment("exp_1", "app_a")], directory)
    again = review_reminders([assignment("exp_1", "app_a")], directory)
    assert [o.id for o, _ in first] == [o.id for o, _ in again]


def test_dead_letters_alert_the_province_once_per_hour_while_any_queue_holds_some():
    assert dead_letters_notice({"review.applications.dead": 0}, NOW) is None
    origin, notice = dead_letters_notice(
        {"notify.review.dead": 2, "review.applications.dead": 0, "funding.review.dead": 1}, NOW
    )
    assert notice.recipient == "province" and notice.context["total"] == 3
    assert [q["queue"] for q in notice.context["queues"]] == ["funding.review.dead", "notify.review.dead"]
    same_hour = dead_letters_notice({"notify.review.dead": 5}, NOW + timedelta(minutes=59))[0]
    next_hour = dead_letters_notice({"notify.review.dead": 5}, NOW + timedelta(minutes=60))[0]
    assert same_hour.id == origin.id != next_hour.id


def test_a_disabled_webhook_is_told_to_its_owner():
    origin, notice = webhook_disabled_notice(
        {"_id": "wh_1", "owner": "finance", "url": "https://x.cn/h"}, 10, "HTTP 500", NOW
    )
    assert (notice.recipient, notice.kind, notice.context["audience"], origin.subject) == (
        "finance",
        "webhook_disabled",
        "finance",
        "wh_1",
    )
