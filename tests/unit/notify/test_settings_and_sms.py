"""Settings from the environment; the SMS provider that only logs."""

from __future__ import annotations

import logging

import pytest

from services.notify.channels.sms import LogSmsProvider, load_provider
from services.notify.config import NotifySettings


def test_settings_come_from_the_environment_with_safe_defaults():
    assert NotifySettings.from_env({}) == NotifySettings()
    settings = NotifySettings.from_env(
        {
            "SMTP_HOST": "mail.hunan.gov.cn",
            "SMTP_PORT": "587",
            "SMTP_STARTTLS": "1",
            "REVIEW_REMINDER_HOURS": "24",
            "NOTIFY_ALLOW_PRIVATE_WEBHOOKS": "1",
            "NOTIFY_DEAD_LETTER_QUEUES": "a.b, c.d",
        }
    )
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == ("mail.hunan.gov.cn", 587, True)
    assert settings.review_reminder_hours == 24.0 and settings.allow_private_webhooks
    assert settings.dead_letter_queues == ("a.b", "c.d")
    assert not NotifySettings().allow_private_webhooks


def test_the_default_sms_provider_logs_with_the_number_masked(caplog):
    provider = load_provider("log")
    assert isinstance(provider, LogSmsProvider)
    with caplog.at_level(logging.INFO):
        provider.send("13800138000", "【楚怡平台】申报书已获推荐。", "dlv_1")
    fields = caplog.records[-1].fields
    assert fields == {"to": "138****8000", "text": "【楚怡平台】申报书已获推荐。", "reference": "dlv_1"}


def test_a_provider_is_named_as_module_and_class():
    assert isinstance(load_provider("services.notify.channels.sms:LogSmsProvider"), LogSmsProvider)
    with pytest.raises(ValueError, match="package.module:Class"):
        load_provider("twilio")
