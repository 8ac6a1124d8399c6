"""Mail over SMTP: one connection per message, a multipart text + HTML body in UTF-8.

The Message-ID is derived from the delivery id, so that the rare message sent twice
(a crash between sending and recording it) is recognisable as one by mail clients.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate

from services.notify.channels import PermanentFailure, TransientFailure


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        ssl: bool = False,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ):
        self.host, self.port, self.sender = host, port, sender
        self.ssl, self.starttls, self.username, self.password, self.timeout_s = (
            ssl,
            starttls,
            username,
            password,
            timeout_s,
        )

    @classmethod
    def from_settings(cls, settings) -> "SmtpMailer":
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            ssl=settings.smtp_ssl,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout_s=settings.smtp_timeout_s,
        )

    def message(self, to: str, content: Mapping, message_id: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = content["subject"]
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{message_id}@notify.chuyi>"
        message.set_content(content["text"])
        message.add_alternative(content["html"], subtype="html")
        return message

    def send(self, to: str, content: Mapping, message_id: str) -> None:
        """Raises TransientFailure (server away, 4xx) or PermanentFailure (recipient or content refused, 5xx)."""
        message = self.message(to, content, message_id)
        try:
            with self._connect() as smtp:
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            failure = PermanentFailure if all(code >= 500 for code in codes) else TransientFailure
            raise failure(f"recipient refused: {codes}") from None
        except smtplib.SMTPDataError as exc:
            failure = PermanentFailure if exc.smtp_code >= 500 else TransientFailure
            raise failure(f"message refused: {exc.smtp_code} {exc.smtp_error!r}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientFailure(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") from None

    def _connect(self) -> smtplib.SMTP:
        if self.ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp
