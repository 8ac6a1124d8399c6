"""The channels against real local servers, without the stack: what counts as sent,
as worth another try, and as never going to work."""

from __future__ import annotations

import json
import time

import pytest
from aiosmtpd.controller import Controller

from services.notify.channels import PermanentFailure, TransientFailure
from services.notify.channels.email import SmtpMailer
from services.notify.channels.webhook import WebhookPoster
from services.notify.domain.signature import new_secret, verify
from tests.support.servers import free_port

pytestmark = pytest.mark.service

CONTENT = {
    "subject": "申报书已获推荐：智能制造专业群",
    "text": "您单位的申报书已获推荐。",
    "html": "<p>您单位的申报书已获推荐。</p>",
}


class Refusing:
    """Refuses one mailbox for good (550) and another for now (450)."""

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802 - aiosmtpd's hook name
        if address.startswith("gone@"):
            return "550 5.1.1 mailbox unavailable"
        if address.startswith("full@"):
            return "452 4.2.2 mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        return "250 OK"


@pytest.fixture(scope="module")
def refusing_smtp():
    controller = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SmtpMailer("127.0.0.1", controller.port, "楚怡平台 <noreply@chuyi.test>", timeout_s=5)
    controller.stop()


def test_mail_accepted_is_sent(refusing_smtp):
    refusing_smtp.send("office@csvtc.edu.cn", CONTENT, "dlv_1")


def test_a_mailbox_refused_for_good_is_a_permanent_failure(refusing_smtp):
    with pytest.raises(PermanentFailure, match="550"):
        refusing_smtp.send("gone@csvtc.edu.cn", CONTENT, "dlv_2")


def test_a_mailbox_refused_for_now_is_worth_another_try(refusing_smtp):
    with pytest.raises(TransientFailure, match="452"):
        refusing_smtp.send("full@csvtc.edu.cn", CONTENT, "dlv_3")


def test_no_mail_server_is_worth_another_try():
    with pytest.raises(TransientFailure, match="SMTP"):
        SmtpMailer("127.0.0.1", free_port(), "noreply@chuyi.test", timeout_s=2).send("a@b.cn", CONTENT, "dlv_4")


def test_the_message_is_multipart_utf8_with_the_delivery_as_message_id():
    message = SmtpMailer("127.0.0.1", 25, "楚怡平台 <noreply@chuyi.test>").message("a@b.cn", CONTENT, "dlv_5")
    assert message["Message-ID"] == "<dlv_5@notify.chuyi>" and message["Subject"] == CONTENT["subject"]
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_a_webhook_answering_2xx_gets_the_signed_event_and_anything_else_fails(receiver):
    poster, secret = WebhookPoster(timeout_s=5, allow_private=True), new_secret()
    event = {"id": "evt_1", "type": "cn.chuyi.funding.tranche_released.v1", "data": {"title": "智能制造专业群"}}
    poster.post(receiver.url("/ok/channel-test"), secret, event, "dlv_6")
    request = receiver.received("/ok/channel-test")[-1]
    assert json.loads(request["body"]) == event and request["headers"]["Chuyi-Delivery"] == "dlv_6"
    assert verify(secret, request["body"], request["headers"]["Chuyi-Signature"], int(time.time()))
    with pytest.raises(TransientFailure, match="HTTP 500"):
        poster.post(receiver.url("/fail/channel-test"), secret, event, "dlv_7")
    with pytest.raises(TransientFailure, match="ConnectionError"):
        poster.post(f"http://127.0.0.1:{free_port()}/", secret, event, "dlv_8")


def test_a_webhook_on_a_private_address_is_not_called_in_production(receiver):
    with pytest.raises(TransientFailure, match="private, loopback or reserved"):
        WebhookPoster(timeout_s=5, allow_private=False).post(
            receiver.url("/ok/never"), new_secret(), {"id": "e"}, "dlv_9"
        )
    assert receiver.received("/ok/never") == []
