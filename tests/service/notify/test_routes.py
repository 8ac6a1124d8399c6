"""The inbox, notification settings and webhook routes through the gateway."""

from __future__ import annotations

import pytest

from tests.service.notify.support import inbox, uid
from tests.support.servers import wait_until
from tests.unit.notify import samples as s

pytestmark = pytest.mark.service


def test_the_inbox_pages_newest_first_and_filters_unread(notify_stack, producers):
    stack, n = notify_stack, uid()
    inst = f"inst_p_{n}"
    client = stack.client("institution", institution_id=inst)
    apps = [f"app_p{i}_{n}" for i in range(3)]
    for app in apps:
        producers.publish(
            "application_submitted", app, s.application_submitted(app, f"call_p_{n}", inst, "益阳市", f"护理 {app}")
        )
    wait_until(lambda: len(inbox(stack, client)) == 3, timeout=30, what="three messages")
    url = stack.url("/v1/inbox")

    first = client.get(url, params={"limit": 2}, timeout=30).json()
    second = client.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, timeout=30).json()
    listed = first["items"] + second["items"]
    assert len(first["items"]) == 2 and second["next_cursor"] is None and first["unread_count"] == 3
    assert sorted(m["subject"] for m in listed) == sorted(apps)
    assert [m["created_at"] for m in listed] == sorted((m["created_at"] for m in listed), reverse=True)
    assert all(m["title"].startswith("申报书已提交") and m["read_at"] is None for m in listed)

    read = client.post(stack.url(f"/v1/inbox/{listed[0]['id']}/read"), timeout=30)
    again = client.post(stack.url(f"/v1/inbox/{listed[0]['id']}/read"), timeout=30)
    assert (
        read.status_code == again.status_code == 200 and read.json()["read_at"] == again.json()["read_at"] is not None
    )
    unread = client.get(url, params={"unread": "true"}, timeout=30).json()
    assert [m["id"] for m in unread["items"]] == [m["id"] for m in listed[1:]] and unread["unread_count"] == 2
    assert [m["id"] for m in client.get(url, params={"unread": "false"}, timeout=30).json()["items"]] == [
        listed[0]["id"]
    ]
    assert client.post(stack.url("/v1/inbox/ntf_nosuchmessage/read"), timeout=30).status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"unread": "maybe"}, "unread"),
        ({"page": 2}, "page"),
    ],
)
def test_a_bad_inbox_query_names_its_parameter(notify_stack, params, field):
    answer = notify_stack.client("finance").get(notify_stack.url("/v1/inbox"), params=params, timeout=30)
    assert answer.status_code == 422 and field in answer.json()["errors"]


def test_notification_settings_start_empty_are_replaced_whole_and_refuse_bad_fields(notify_stack):
    stack, n = notify_stack, uid()
    client = stack.client("expert", expert_id=f"exp_s_{n}")
    url = stack.url("/v1/notification-settings")
    assert client.get(url, timeout=30).json() == {
        "recipient": f"expert:exp_s_{n}",
        "email": None,
        "phone": None,
        "default_channels": [],
        "channels_by_kind": {},
        "quiet_hours": None,
        "updated_at": None,
    }

    refused = client.put(
        url,
        json={"email": "bad", "default_channels": ["sms"], "quiet_hours": {"start": "7:00", "end": "08:00"}},
        timeout=30,
    )
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"email", "quiet_hours.start"}

    wanted = {
        "email": f"专家{n}@hnu.edu.cn",
        "phone": "13800138000",
        "channels_by_kind": {"review_reminder": ["sms", "email"]},
        "quiet_hours": {"start": "22:00", "end": "07:00"},
    }
    saved = client.put(url, json=wanted, timeout=30)
    assert saved.status_code == 200
    got = client.get(url, timeout=30).json()
    assert got == saved.json() and got["default_channels"] == ["email", "sms"] and got["email"] == wanted["email"]
    assert client.put(url, json={}, timeout=30).json()["email"] is None  # replaced whole

    missing = client.put(url, json={"default_channels": ["sms"]}, timeout=30)
    assert missing.status_code == 422 and missing.json()["errors"] == {
        "default_channels": ["sms needs the field phone"]
    }


def test_webhooks_are_made_listed_and_deleted_by_their_owner_only(notify_stack, receiver):
    stack, n = notify_stack, uid()
    owner = stack.client("institution", institution_id=f"inst_w_{n}")
    stranger = stack.client("institution", institution_id=f"inst_v_{n}")
    url = stack.url("/v1/webhooks")
    body = {
        "url": receiver.url(f"/ok/w-{n}"),
        "kinds": ["funds_allocated", "tranche_released"],
        "description": "财务系统",
    }

    made = owner.post(url, json=body, headers={"Idempotency-Key": f"key-{n}"}, timeout=30)
    replayed = owner.post(url, json=body, headers={"Idempotency-Key": f"key-{n}"}, timeout=30)
    assert made.status_code == replayed.status_code == 201
    hook = made.json()
    assert replayed.json() == hook and replayed.headers["Idempotent-Replayed"] == "true"
    assert hook["secret"].startswith("whsec_") and hook["status"] == "active" and hook["description"] == "财务系统"
    assert made.headers["Location"].endswith(f"/v1/webhooks/{hook['id']}")

    listed = owner.get(url, timeout=30).json()
    assert [h["id"] for h in listed["items"]] == [hook["id"]] and "secret" not in listed["items"][0]
    assert "secret" not in owner.get(stack.url(f"/v1/webhooks/{hook['id']}"), timeout=30).json()
    assert stranger.get(stack.url(f"/v1/webhooks/{hook['id']}"), timeout=30).status_code == 404
    assert stranger.delete(stack.url(f"/v1/webhooks/{hook['id']}"), timeout=30).status_code == 404

    deleted = owner.delete(stack.url(f"/v1/webhooks/{hook['id']}"), timeout=30)
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert owner.get(url, timeout=30).json()["items"] == []
    assert owner.get(stack.url(f"/v1/webhooks/{hook['id']}"), timeout=30).status_code == 404
    assert owner.delete(stack.url(f"/v1/webhooks/{hook['id']}"), timeout=30).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://files.example.cn/drop", "kinds": ["funds_allocated"]}, "url"),
        ({"url": "http://user:pw@example.cn/hook", "kinds": ["funds_allocated"]}, "url"),
        ({"url": "https://example.cn/hook", "kinds": []}, "kinds"),
        ({"url": "https://example.cn/hook", "kinds": ["review_reminder"]}, "kinds.0"),
    ],
)
def test_a_bad_webhook_names_its_field(notify_stack, body, field):
    answer = notify_stack.client("finance").post(notify_stack.url("/v1/webhooks"), json=body, timeout=30)
    assert answer.status_code == 422 and field in answer.json()["errors"]


def test_experts_and_prefectures_have_no_webhooks(notify_stack, receiver):
    body = {"url": receiver.url("/ok/nobody"), "kinds": ["experts_assigned"]}
    for client in (
        notify_stack.client("expert", expert_id="exp_any"),
        notify_stack.client("prefecture", prefecture="长沙市"),
    ):
        assert client.post(notify_stack.url("/v1/webhooks"), json=body, timeout=30).status_code == 403
