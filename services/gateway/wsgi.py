"""The WSGI entry point: `gunicorn -c services/gateway/gunicorn.conf.py services.gateway.wsgi:app`."""
from __future__ import annotations

import os

from services.gateway.app import create_app
from services.gateway.logs import configure_logging

configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
app = create_app()
