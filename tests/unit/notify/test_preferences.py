"""Where a notice goes besides the inbox: channels by preference, quiet hours in Beijing time."""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from services.notify.domain.preferences import Preferences, QuietHours, routes
from services.contracts.notify import parse_clock

UTC = timezone.utc
NIGHT = QuietHours(time(22, 0), time(7, 0))  # Asia/Shanghai = UTC+8


@pytest.mark.parametrize(
    ("utc", "ends"),
    [
        (
            datetime(2026, 6, 1, 14, 0, tzinfo=UTC),
            datetime(2026, 6, 1, 23, 0, tzinfo=UTC),
        ),  # 22:00 Beijing: quiet starts
        (datetime(2026, 6, 1, 18, 30, tzinfo=UTC), datetime(2026, 6, 1, 23, 0, tzinfo=UTC)),  # 02:30 Beijing, next day
        (datetime(2026, 6, 1, 22, 59, tzinfo=UTC), datetime(2026, 6, 1, 23, 0, tzinfo=UTC)),  # 06:59 Beijing
        (datetime(2026, 6, 1, 23, 0, tzinfo=UTC), None),  # 07:00 Beijing: over
        (datetime(2026, 6, 1, 13, 59, tzinfo=UTC), None),  # 21:59 Beijing
    ],
)
def test_quiet_hours_spanning_midnight_hold_until_their_end(utc, ends):
    assert NIGHT.until(utc) == ends


def test_quiet_hours_within_a_day():
    lunch = QuietHours(time(12, 0), time(14, 0))
    assert lunch.until(datetime(2026, 6, 1, 5, 0, tzinfo=UTC)) == datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    assert lunch.until(datetime(2026, 6, 1, 6, 0, tzinfo=UTC)) is None


def test_quiet_hours_must_not_be_empty():
    with pytest.raises(ValueError):
        QuietHours(time(7, 0), time(7, 0))


@pytest.mark.parametrize("text", ["7:00", "24:00", "07-00", "0700", "ab:cd"])
def test_a_clock_is_hh_mm(text):
    with pytest.raises(ValueError):
        QuietHours(parse_clock(text), time(8, 0))


NOON = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


def test_without_settings_only_the_inbox_and_webhooks_receive():
    assert routes("eligibility_checked", Preferences.from_settings(None), [], NOON) == []
    assert [(r.channel, r.address) for r in routes("eligibility_checked", Preferences(), ["wh_1"], NOON)] == [
        ("webhook", "wh_1")
    ]


def test_channels_per_kind_override_the_default_and_need_an_address():
    prefs = Preferences.from_settings(
        {
            "email": "a@b.cn",
            "phone": None,
            "default_channels": ["email"],
            "channels_by_kind": {"funds_allocated": ["email", "sms"], "call_opened": []},
            "quiet_hours": None,
        }
    )
    assert [r.channel for r in routes("eligibility_checked", prefs, [], NOON)] == ["email"]
    assert [r.channel for r in routes("funds_allocated", prefs, [], NOON)] == ["email"]  # no phone: no SMS
    assert routes("call_opened", prefs, [], NOON) == []


def test_quiet_hours_hold_email_and_sms_but_not_webhooks():
    prefs = Preferences.from_settings(
        {
            "email": "a@b.cn",
            "phone": "13800138000",
            "default_channels": ["email", "sms"],
            "channels_by_kind": {},
            "quiet_hours": {"start": "22:00", "end": "07:00"},
        }
    )
    night = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # 00:00 Beijing
    planned = {r.key: r.not_before for r in routes("funds_allocated", prefs, ["wh_1"], night)}
    morning = datetime(2026, 6, 1, 23, 0, tzinfo=UTC)
    assert planned == {"email": morning, "sms": morning, "webhook:wh_1": night}
