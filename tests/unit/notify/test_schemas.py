"""Notification settings and webhook subscriptions as the API takes them."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from services.contracts.notify_api import NotificationSettingsSchema, WebhookCreateSchema


def errors_of(schema, data) -> dict:
    with pytest.raises(ValidationError) as caught:
        schema().load(data)
    return caught.value.messages


def test_settings_default_to_every_channel_with_an_address():
    loaded = NotificationSettingsSchema().load({"email": "office@csvtc.edu.cn", "phone": "13800138000"})
    assert loaded["default_channels"] == ["email", "sms"]
    assert NotificationSettingsSchema().load({})["default_channels"] == []


def test_a_channel_without_its_address_is_named_with_the_field_it_needs():
    errors = errors_of(
        NotificationSettingsSchema,
        {"email": "a@b.cn", "default_channels": ["sms"], "channels_by_kind": {"funds_allocated": ["email", "sms"]}},
    )
    assert errors == {
        "default_channels": ["sms needs the field phone"],
        "channels_by_kind.funds_allocated": ["sms needs the field phone"],
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "2380013800"}, "phone"),
        ({"phone": "+86 138 0013 8000"}, "phone"),
        ({"default_channels": ["pigeon"]}, "default_channels"),
        ({"email": "a@b.cn", "default_channels": ["email", "email"]}, "default_channels"),
        ({"channels_by_kind": {"no_such_kind": []}}, "channels_by_kind"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "07:00", "end": "07:00"}}, "quiet_hours"),
        ({"emial": "a@b.cn"}, "emial"),
    ],
)
def test_bad_settings_name_their_field(data, field):
    assert field in errors_of(NotificationSettingsSchema, data)


def test_chinese_round_trips_in_settings_and_quiet_hours_load_as_given():
    loaded = NotificationSettingsSchema().load(
        {"email": "办公室@学院.cn", "quiet_hours": {"start": "22:30", "end": "07:00"}}
    )
    assert loaded["email"] == "办公室@学院.cn" and loaded["quiet_hours"] == {"start": "22:30", "end": "07:00"}


def test_a_webhook_names_a_url_and_event_kinds():
    loaded = WebhookCreateSchema().load({"url": "https://erp.example.cn/hook", "kinds": ["funds_allocated"]})
    assert loaded == {"url": "https://erp.example.cn/hook", "kinds": ["funds_allocated"], "description": None}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"url": "ftp://example.cn/x", "kinds": ["funds_allocated"]}, "url"),
        ({"url": "https://example.cn/x", "kinds": []}, "kinds"),
        ({"url": "https://example.cn/x", "kinds": ["review_reminder"]}, "kinds"),
        ({"url": "https://example.cn/x", "kinds": ["funds_allocated", "funds_allocated"]}, "kinds"),
        ({"kinds": ["funds_allocated"]}, "url"),
        ({"url": "https://example.cn/x", "kinds": ["funds_allocated"], "secret": "mine"}, "secret"),
    ],
)
def test_bad_webhooks_name_their_field(data, field):
    assert field in errors_of(WebhookCreateSchema, data)
