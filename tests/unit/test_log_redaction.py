"""No log line keeps a broker password: kombu masks only the first URI of a failover list, and
nameko logs the whole list when it reconnects (issue 16 item 5)."""

import json
import logging
import sys

from services.common.observability import JsonFormatter, redact_credentials

FAILOVER = "amqp://chuyi:s3cret@rabbit-0:5672/chuyi;amqp://chuyi:s3cret@rabbit-1:5672/chuyi"


def test_every_password_of_a_failover_uri_is_masked():
    assert redact_credentials(f"Error connecting to broker at {FAILOVER} (refused)") == (
        "Error connecting to broker at amqp://chuyi:********@rabbit-0:5672/chuyi;"
        "amqp://chuyi:********@rabbit-1:5672/chuyi (refused)"
    )


def test_text_without_credentials_is_unchanged():
    for text in (
        "Connected to amqp://127.0.0.1:5672/x",
        "mongodb://127.0.0.1:27017/?directConnection=true",
        "time 12:30 at host a@b",
        "李华 提交了申报",
    ):
        assert redact_credentials(text) == text


def test_the_json_formatter_masks_messages_and_exceptions():
    try:
        raise ConnectionError(FAILOVER)
    except ConnectionError:
        record = logging.LogRecord("nameko.messaging", logging.WARNING, __file__, 1, "at %s", (FAILOVER,), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "s3cret" not in line
    assert json.loads(line)["message"].count("********") == 2
