"""A stack of the notify service and the gateway of its own (the session-wide `stack`
is configured before any test could give it an SMTP server), with a real SMTP server
and a real webhook receiver in the test process."""

from __future__ import annotations

import pytest

from tests.service.notify.support import Mailbox, Receiver, put_settings
from tests.support.events import Producers
from tests.support.servers import rabbit_vhost
from tests.support.stack import Stack

PROVINCE_EMAIL = "office@jyt.hunan.gov.cn"
FINANCE_EMAIL = "zjc@czt.hunan.gov.cn"


@pytest.fixture(scope="package")
def mailbox():
    server = Mailbox()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def notify_stack(mongo_uri, tmp_path_factory, mailbox):
    with rabbit_vhost() as amqp:
        platform = Stack(
            mongo_uri,
            amqp,
            tmp_path_factory.mktemp("notify-stack"),
            services=("notify",),
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(mailbox.port),
            SMTP_FROM="楚怡平台 <noreply@chuyi.test>",
            NOTIFY_ALLOW_PRIVATE_WEBHOOKS="1",
            NOTIFY_RETRY_BASE_S="0.2",
            NOTIFY_RETRY_MAX_S="1",
            NOTIFY_WEBHOOK_MAX_FAILURES="3",
            NOTIFY_WEBHOOK_TIMEOUT_S="5",
            NOTIFY_SEND_POLL_S="0.1",
            NOTIFY_REMINDER_CHECK_S="0.5",
            NOTIFY_DEAD_LETTER_CHECK_S="0.5",
            REVIEW_REMINDER_HOURS="48",
            EVENT_RETRY_DELAYS_MS="200,1000,5000",
        )
        yield platform
        platform.stop()


@pytest.fixture(scope="package")
def producers(notify_stack):
    """Applications', review's and funding's events, as their services publish them."""
    with Producers(notify_stack.amqp_uri) as publisher:
        yield publisher


def _with_mail(stack, role: str, email: str):
    client = stack.client(role)
    put_settings(stack, client, email=email)
    return client


@pytest.fixture(scope="package")
def province(notify_stack):
    """The provincial office, with mail; shared by the tests, which tell its messages apart by subject."""
    return _with_mail(notify_stack, "province", PROVINCE_EMAIL)


@pytest.fixture(scope="package")
def finance(notify_stack):
    return _with_mail(notify_stack, "finance", FINANCE_EMAIL)
