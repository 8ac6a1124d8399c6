"""Runs one service in this process, as `chuyi serve` does in every environment."""

from __future__ import annotations

import importlib
import logging
import os
import signal
from types import FrameType
from typing import Any

import eventlet
from nameko.runners import ServiceRunner

from .config import RUNNABLE, Settings
from .identity import person_key_secret
from .observability import configure_logging


def load_service(target: str) -> Any:  # a nameko service class
    module_name, _, class_name = RUNNABLE.get(target, target).partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def run(target: str) -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    person_key_secret()  # refuses to start without it, rather than fail on the first request
    passthrough = {k[len("NAMEKO_") :]: v for k, v in os.environ.items() if k.startswith("NAMEKO_")}
    # NAMEKO_WEB_SERVER_ADDRESS, when set, wins over SERVICE_HTTP_ADDRESS.
    runner = ServiceRunner({"WEB_SERVER_ADDRESS": settings.http_address, **passthrough, **settings.nameko_config()})
    runner.add_service(load_service(target))

    # graceful: stop taking messages, finish what is held, then exit
    def stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("stopping on signal %s", signum)
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.start()
    logging.getLogger(__name__).info("service started", extra={"fields": {"service": target}})
    runner.wait()
