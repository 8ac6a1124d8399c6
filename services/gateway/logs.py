"""Structured JSON log lines, each with the request id of the request being served."""

from __future__ import annotations

import logging
import sys

from gunicorn import glogging

from services.common import observability
from services.gateway.requestid import HEADER as REQUEST_ID_HEADER
from services.gateway.requestid import current_request_id


def JsonFormatter() -> logging.Formatter:
    return observability.JsonFormatter("request_id", current_request_id)


class _DropReturnedMessageNotice(logging.Filter):
    """py-amqp warns of the basic.return that nameko itself turns into UnknownService (a 503)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Received method (60, 80) during closing channel")


def configure_logging(level: str = "INFO") -> None:
    observability.configure_logging(level, JsonFormatter(), sys.stderr)
    logging.getLogger("amqp").addFilter(_DropReturnedMessageNotice())
    logging.captureWarnings(True)  # library warnings become JSON lines too


class GunicornJsonLogger(glogging.Logger):
    """gunicorn's own lines and its access log, as JSON; the access line carries the request id
    from the response header the gateway sets."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        fields = {
            "remote": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "query": atoms["q"],
            "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
            "bytes": atoms["B"],
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "user_agent": atoms["a"],
        }
        request_id = atoms.get("{%s}o" % REQUEST_ID_HEADER.lower())
        self.access_log.info(
            "%s %s %s", atoms["m"], atoms["U"], atoms["s"], extra={"fields": fields, "request_id": request_id}
        )
