"""What an outside probe found at the gateway (issue 15), each pinned."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook

from services.common.signed_actor import DEV_INTERNAL_SECRET, internal_secret
from services.gateway.exports import Table, xlsx

FORMULAS = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", FORMULAS)
def test_no_text_in_a_spreadsheet_becomes_a_formula(text):
    book = load_workbook(io.BytesIO(xlsx([Table("s", (text, "n"), ((text, 7),))])))
    cells = [cell for row in book["s"].iter_rows() for cell in row]
    assert [cell.data_type for cell in cells] == ["s", "s", "s", "n"]
    assert cells[0].value.startswith("'") and cells[2].value.startswith("'") and cells[3].value == 7


def test_the_public_notice_writes_a_formula_title_as_text(client, rpc):
    from tests.unit.gateway.test_notice_export import NOTICE

    entry = {**NOTICE["selected"][0], "title": FORMULAS[0], "institution_name": FORMULAS[1]}
    rpc.on(
        "review",
        "get_notice",
        lambda call_id: {"status": 200, "body": {**NOTICE, "call_title": "=1+1", "selected": [entry], "removed": []}},
    )
    book = load_workbook(io.BytesIO(client.get("/v1/calls/call_0123/notice?format=xlsx").data))
    formulas = [cell.coordinate for sheet in book for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]
    assert formulas == []
    assert list(book["公示名单"].iter_rows(values_only=True))[1][1:3] == ("'" + FORMULAS[0], "'" + FORMULAS[1])


@pytest.mark.parametrize("path", ["/dashboard", "/docs"])
def test_pages_forbid_framing_and_sniffing_and_carry_their_styles_by_nonce(client, path):
    import re

    response = client.get(path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = response.get_data(as_text=True)
    nonces = set(re.findall(r'<style nonce="([^"]+)"', page))
    assert nonces and all(f"'nonce-{nonce}'" in policy for nonce in nonces)
    assert "style=" not in page and "<script>" not in page  # nothing inline the policy would block


def test_authenticated_json_is_never_cached(client, rpc):
    from tests.unit.gateway.helpers import bearer

    rpc.on("applications", "list_programmes", lambda **kw: {"status": 200, "body": {"items": [], "next_cursor": None}})
    response = client.get("/v1/programmes", headers=bearer("province"))
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_a_lone_surrogate_or_a_65_bit_integer_is_refused_at_the_edge(client, rpc):
    from tests.unit.gateway.helpers import bearer, institution_body

    headers = {**bearer("province"), "Content-Type": "application/json"}
    for body, field in ((institution_body(name="\ud800"), "name"), ({**institution_body(), "junk": 2**64}, "junk")):
        response = client.post("/v1/institutions", data=json.dumps(body), headers=headers)
        assert response.status_code == 422 and field in response.json["errors"]
    assert rpc.calls == []


def test_a_token_whose_scope_claim_is_not_unicode_is_a_401(client):
    import time

    import jwt
    from tests.unit.gateway.fake_rpc import TEST_SECRET

    claims = {"sub": "i", "role": "institution", "institution_id": "inst_\ud800", "exp": int(time.time()) + 60}
    token = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    response = client.get("/v1/programmes", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_outside_development_the_gateway_refuses_to_start_with_the_published_secret(rpc):
    from services.common.config import UnsafeSecret
    from services.gateway.app import create_app
    from services.gateway.settings import Settings

    for environ in ({}, {"JWT_SECRET": Settings().jwt_secret}):
        with pytest.raises(UnsafeSecret, match="JWT_SECRET"):
            create_app(Settings.from_env(environ), rpc)
    assert create_app(Settings.from_env({"CHUYI_ENV": "development"}), rpc)
    real = {
        "JWT_SECRET": "a-real-secret-of-this-deployment-0123456789",
        "INTERNAL_SIGNING_SECRET": "an-internal-secret-of-this-deployment",
    }
    assert create_app(Settings.from_env(real), rpc)
    for environ in ({"JWT_SECRET": real["JWT_SECRET"]}, {**real, "INTERNAL_SIGNING_SECRET": DEV_INTERNAL_SECRET}):
        with pytest.raises(UnsafeSecret, match="INTERNAL_SIGNING_SECRET"):
            create_app(Settings.from_env(environ), rpc)


def test_outside_development_the_applications_service_refuses_the_published_internal_secret():
    from services.common.config import UnsafeSecret

    for environ in ({}, {"INTERNAL_SIGNING_SECRET": DEV_INTERNAL_SECRET}):
        with pytest.raises(UnsafeSecret, match="INTERNAL_SIGNING_SECRET"):
            internal_secret(environ)
    assert internal_secret({"CHUYI_ENV": "development"}) == DEV_INTERNAL_SECRET
    assert internal_secret({"INTERNAL_SIGNING_SECRET": "of-this-deployment"}) == "of-this-deployment"


def test_outside_development_no_service_starts_without_its_own_person_key_secret():
    from services.common.config import UnsafeSecret
    from services.common.identity import DEV_PERSON_KEY_SECRET, person_key_secret

    for environ in ({}, {"PERSON_KEY_SECRET": DEV_PERSON_KEY_SECRET}):
        with pytest.raises(UnsafeSecret, match="PERSON_KEY_SECRET"):
            person_key_secret(environ)
    assert person_key_secret({"CHUYI_ENV": "development"}) == DEV_PERSON_KEY_SECRET
    assert person_key_secret({"PERSON_KEY_SECRET": "s3cret-of-this-deployment"}) == "s3cret-of-this-deployment"


def test_a_token_valid_for_centuries_is_refused(client):
    from tests.unit.gateway.helpers import bearer

    response = client.get("/v1/programmes", headers=bearer("province", ttl_seconds=300 * 365 * 86400))
    assert response.status_code == 401 and "longer than" in response.json["detail"]


@pytest.mark.parametrize("role, scope", [("province", {}), ("finance", {}), ("expert", {"expert_id": "exp_1"})])
def test_only_the_parties_of_a_notice_may_object(client, rpc, role, scope):
    from tests.unit.gateway.helpers import bearer

    response = client.post(
        "/v1/calls/call_1/objections",
        headers=bearer(role, **scope),
        json={"application_id": "app_1", "grounds": "材料不实"},
    )
    assert response.status_code == 403 and rpc.calls == []


def test_anonymous_routes_have_a_stricter_limit_of_their_own_per_address(rpc):
    from services.gateway.app import create_app
    from tests.unit.gateway.fake_rpc import gateway_settings
    from tests.unit.gateway.test_notice_export import NOTICE

    rpc.on("review", "get_notice", lambda call_id: {"status": 200, "body": NOTICE})
    client = create_app(
        gateway_settings(anonymous_rate_limit_per_s=0.5, anonymous_rate_limit_burst=3), rpc
    ).test_client()
    answers = [client.get("/v1/calls/call_0123/notice?format=pdf").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    other = client.get("/v1/calls/call_0123/notice", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200
    assert client.get("/healthz").status_code == 200  # probes are not throttled
