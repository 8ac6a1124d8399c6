"""Webhook signatures, checked by our verifier and by the snippet integrators copy from docs/webhooks.md."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from services.notify.domain.signature import new_secret, sign, verify

BODY = '{"id":"e1","data":{"title":"智能制造专业群"}}'.encode("utf-8")
DOCS = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def docs_verifier():
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - our own documentation
    return namespace["verify_chuyi_signature"]


def test_the_header_is_t_and_v1():
    assert re.fullmatch(r"t=1780300800,v1=[0-9a-f]{64}", sign("whsec_x", BODY, 1780300800))


def test_a_signature_verifies_with_the_secret_and_the_exact_body():
    secret, now = new_secret(), int(time.time())
    header = sign(secret, BODY, now)
    assert verify(secret, BODY, header, now)
    assert not verify(secret, BODY + b" ", header, now)
    assert not verify(new_secret(), BODY, header, now)


def test_an_old_timestamp_is_refused_as_a_replay():
    secret, now = new_secret(), int(time.time())
    assert verify(secret, BODY, sign(secret, BODY, now - 299), now)
    assert not verify(secret, BODY, sign(secret, BODY, now - 301), now)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=abc,v1=abc", "t=1", "garbage"])
def test_a_malformed_header_is_refused(header):
    assert not verify("whsec_x", BODY, header, int(time.time()))


def test_the_documented_snippet_verifies_what_the_platform_signs():
    check, secret = docs_verifier(), new_secret()
    assert check(secret, BODY, sign(secret, BODY, int(time.time())))
    assert not check(secret, BODY.replace("智能".encode(), "人工".encode()), sign(secret, BODY, int(time.time())))
    assert not check(secret, BODY, sign(secret, BODY, int(time.time()) - 3600))
    assert not check(secret, BODY, "t=oops")


def test_each_secret_is_new():
    assert new_secret() != new_secret()
