"""Which webhook URLs are taken, and when a failing webhook is switched off."""

from __future__ import annotations

import pytest

from services.notify.channels.webhook import destination_problem
from services.notify.domain.webhooks import address_problem, should_disable
from services.contracts.notify import url_problem


@pytest.mark.parametrize("url", ["https://erp.example.edu.cn/chuyi/events", "http://203.0.113.7:8080/hook?x=1"])
def test_http_and_https_urls_are_taken(url):
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.cn/x", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("https://user:pw@example.cn/", "credentials"),
        ("https:///path", "host"),
        ("http://example.cn:99999/", "valid URL"),
        ("https://example.cn/" + "a" * 2048, "2048"),
    ],
)
def test_other_urls_are_refused_with_the_reason(url, why):
    assert why in url_problem(url)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fc00::1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "100.64.0.1",
    ],
)
def test_private_loopback_and_reserved_addresses_are_refused(address):
    assert "private, loopback or reserved" in address_problem(address)


@pytest.mark.parametrize("address", ["114.114.114.114", "8.8.8.8", "2001:4860:4860::8888"])
def test_public_addresses_are_taken(address):
    assert address_problem(address) is None


def test_loopback_urls_are_refused_unless_private_webhooks_are_allowed():
    assert "private, loopback or reserved" in destination_problem("http://localhost:8080/hook", allow_private=False)
    assert destination_problem("http://localhost:8080/hook", allow_private=True) is None
    assert "http or https" in destination_problem("ftp://localhost/", allow_private=True)


def test_a_webhook_is_switched_off_at_its_failure_limit():
    assert not should_disable(2, 3)
    assert should_disable(3, 3)
