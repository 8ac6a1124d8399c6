"""The WSGI entry point: `gunicorn -c services/gateway/gunicorn.conf.py services.gateway.wsgi:app`
(the gunicorn config sets up the JSON logs before the app is imported)."""

from __future__ import annotations

from services.gateway.app import create_app

app = create_app()
