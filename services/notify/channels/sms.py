"""SMS through a pluggable provider. `SMS_PROVIDER=log` (the default) only logs each
message; a real gateway is a class `package.module:Class` with a no-argument
constructor (it reads its own settings) and the `SmsProvider` method."""

from __future__ import annotations

import importlib
import logging
from typing import Protocol

log = logging.getLogger(__name__)


class SmsProvider(Protocol):
    def send(self, phone: str, text: str, reference: str) -> None:
        """Send `text` to the mainland mobile `phone`; `reference` is unique per delivery
        (for the provider's own deduplication). Raises TransientFailure or PermanentFailure."""


def masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


class LogSmsProvider:
    """Sends nothing: writes each message to the log, the number masked."""

    def send(self, phone: str, text: str, reference: str) -> None:
        log.info(
            "sms (log provider, not sent)",
            extra={"fields": {"to": masked(phone), "text": text, "reference": reference}},
        )


def load_provider(name: str) -> SmsProvider:
    if name == "log":
        return LogSmsProvider()
    module, _, cls = name.partition(":")
    if not module or not cls:
        raise ValueError(f"SMS_PROVIDER must be 'log' or 'package.module:Class', not {name!r}")
    return getattr(importlib.import_module(module), cls)()
