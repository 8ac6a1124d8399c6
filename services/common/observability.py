"""Structured JSON logs carrying the correlation id, and the platform's Prometheus metrics."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TextIO

from prometheus_client import Counter, Gauge, Histogram

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

EVENTS_PUBLISHED = Counter("chuyi_events_published_total", "Events published by the outbox relay", ["service", "event"])
EVENTS_CONSUMED = Counter(
    "chuyi_events_consumed_total",
    "Events handled (or skipped as duplicates)",
    ["service", "source", "event", "outcome"],
)
EVENTS_FAILED = Counter(
    "chuyi_events_failed_total",
    "Event handler failures, by what happened next",
    ["service", "source", "event", "action"],
)
OUTBOX_BACKLOG = Gauge("chuyi_outbox_backlog", "Events staged in the outbox and not yet published", ["service"])
HANDLER_LATENCY = Histogram(
    "chuyi_handler_seconds", "Time spent in event handlers and RPC methods", ["service", "entrypoint"]
)


# `scheme://user:password@host`: kombu masks the password of a failover URI's first broker only
# (`amqp://a;amqp://b`), and nameko logs the whole URI when it reconnects; no log line keeps one.
_URI_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s;]*:)[^@\s;]+@", re.IGNORECASE)


def redact_credentials(text: str) -> str:
    return _URI_PASSWORD.sub(r"\1********@", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, carrying the id that ties the line to its request: the
    correlation id in the services, the request id (the same value, passed on) in the gateway."""

    def __init__(self, id_name: str = "correlation_id", current_id: Callable[[], str | None] = correlation_id.get):
        super().__init__()
        self.id_name, self.current_id = id_name, current_id

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_credentials(record.getMessage()),
            self.id_name: getattr(record, self.id_name, None) or self.current_id(),
            "process": record.process,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = redact_credentials(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    level: str = "INFO", formatter: logging.Formatter | None = None, stream: TextIO = sys.stdout
) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
