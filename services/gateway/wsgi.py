"""The WSGI entry point: `gunicorn -c services/gateway/gunicorn.conf.py services.gateway.wsgi:app`."""
from __future__ import annotations

import os

from services.gateway.logs import configure_logging

# Before the app's imports, so that their import-time warnings are JSON lines too.
configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper())

from services.gateway.app import create_app  # noqa: E402

app = create_app()
