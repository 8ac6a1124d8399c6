from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.gateway.app import DEV_SECRET_WARNING, create_app
from services.gateway.auth import Actor, AuthError, TokenVerifier, mint_token
from services.gateway.settings import Settings
from tests.unit.gateway.fake_rpc import TEST_SECRET, gateway_settings
from tests.unit.gateway.helpers import CHANGSHA, bearer


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )
    return private, public


def hs_verifier(**kwargs) -> TokenVerifier:
    return TokenVerifier(algorithm="HS256", key=TEST_SECRET, **kwargs)


def test_a_minted_token_yields_its_actor_with_only_the_roles_scope():
    token = mint_token("prefecture", "bureau-7", prefecture=CHANGSHA, institution_id="ignored", secret=TEST_SECRET)
    assert hs_verifier().verify(token) == Actor(sub="bureau-7", role="prefecture", prefecture=CHANGSHA)


def test_an_hrss_token_carries_its_sponsor_and_no_other_scope():
    sponsor = "湖南省人力资源和社会保障厅"
    token = mint_token("hrss", "hrss-1", sponsor=sponsor, prefecture=CHANGSHA, secret=TEST_SECRET)
    actor = hs_verifier().verify(token)
    assert actor == Actor(sub="hrss-1", role="hrss", sponsor=sponsor)
    assert actor.as_claims()["sponsor"] == sponsor


def test_the_sponsor_claim_is_dropped_from_other_roles():
    token = mint_token(
        "prefecture", "bureau-7", prefecture=CHANGSHA, sponsor="湖南省人力资源和社会保障厅", secret=TEST_SECRET
    )
    assert hs_verifier().verify(token).sponsor is None


def unsigned_token(claims: dict) -> str:
    return jwt.encode(claims, key=None, algorithm="none")


def claims(**extra) -> dict:
    return {"sub": "someone", "role": "province", "exp": int(time.time()) + 600, **extra}


REFUSED = {
    "alg none": lambda keys: unsigned_token(claims()),
    "expired": lambda keys: mint_token("province", "p", ttl_seconds=-120, secret=TEST_SECRET),
    "nbf in the future": lambda keys: mint_token(
        "province", "p", not_before=int(time.time()) + 600, secret=TEST_SECRET
    ),
    "wrong secret": lambda keys: mint_token("province", "p", secret="another-secret-of-sufficient-length-0123456789"),
    "RS256 where HS256 is configured": lambda keys: mint_token("province", "p", private_key=keys[0]),
    "no exp": lambda keys: jwt.encode({"sub": "p", "role": "province"}, TEST_SECRET, algorithm="HS256"),
    "institution without institution_id": lambda keys: jwt.encode(
        claims(role="institution"), TEST_SECRET, algorithm="HS256"
    ),
    "prefecture without prefecture": lambda keys: jwt.encode(claims(role="prefecture"), TEST_SECRET, algorithm="HS256"),
    "prefecture outside Hunan": lambda keys: jwt.encode(
        claims(role="prefecture", prefecture="广州市"), TEST_SECRET, algorithm="HS256"
    ),
    "expert without expert_id": lambda keys: jwt.encode(claims(role="expert"), TEST_SECRET, algorithm="HS256"),
    "hrss without sponsor": lambda keys: jwt.encode(claims(role="hrss"), TEST_SECRET, algorithm="HS256"),
    "unknown role": lambda keys: jwt.encode(claims(role="admin"), TEST_SECRET, algorithm="HS256"),
    "garbage": lambda keys: "not.a.token",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_refused_token_is_a_401_problem(client, rsa_keys, case):
    response = client.get("/v1/programmes", headers={"Authorization": f"Bearer {REFUSED[case](rsa_keys)}"})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["detail"].startswith("Authentication failed")


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
def test_a_missing_or_non_bearer_authorization_is_a_401(client, header):
    response = client.get("/v1/programmes", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert "Bearer" in response.json["detail"]


def test_an_expired_token_says_so(client):
    response = client.get("/v1/programmes", headers=bearer("province", ttl_seconds=-120))
    assert "expired" in response.json["detail"]


def test_small_clock_skew_is_tolerated():
    token = mint_token("province", "p", not_before=int(time.time()) + 5, secret=TEST_SECRET)
    assert hs_verifier(leeway_s=30).verify(token).role == "province"


def test_rs256_accepts_its_key_and_refuses_an_hs256_token_signed_with_the_public_key(rsa_keys):
    private, public = rsa_keys
    verifier = TokenVerifier(algorithm="RS256", key=public)
    assert verifier.verify(mint_token("finance", "f1", private_key=private)).role == "finance"
    # The classic confusion: an HS256 token whose secret is the public key PEM.
    forged = _hs256_with_raw_key(public)
    with pytest.raises(AuthError, match="RS256"):
        verifier.verify(forged)


def _hs256_with_raw_key(key: str) -> str:
    """PyJWT refuses to sign HS256 with a PEM, so the forged token is assembled by hand."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    signature = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def test_rs256_gateway_serves_tokens_of_its_key(rpc, rsa_keys):
    private, public = rsa_keys
    client = create_app(gateway_settings(jwt_public_key=public), rpc).test_client()
    good = mint_token("province", "p", private_key=private)
    assert client.get("/v1/programmes", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    hs = mint_token("province", "p", secret=TEST_SECRET)
    assert client.get("/v1/programmes", headers={"Authorization": f"Bearer {hs}"}).status_code == 401


def test_issuer_and_audience_are_checked_when_configured():
    verifier = hs_verifier(issuer="chuyi-idp", audience="chuyi-api")
    good = mint_token("province", "p", issuer="chuyi-idp", audience="chuyi-api", secret=TEST_SECRET)
    assert verifier.verify(good).sub == "p"
    for wrong in ({"issuer": "elsewhere", "audience": "chuyi-api"}, {"issuer": "chuyi-idp", "audience": "other"}, {}):
        with pytest.raises(AuthError):
            verifier.verify(mint_token("province", "p", secret=TEST_SECRET, **wrong))


@pytest.mark.parametrize(
    "role, scope",
    [
        ("institution", {}),
        ("prefecture", {"prefecture": "Changsha"}),
        ("expert", {}),
        ("hrss", {}),
        ("hrss", {"sponsor": ""}),
        ("root", {}),
    ],
)
def test_mint_token_refuses_a_token_the_gateway_would_refuse(role, scope):
    with pytest.raises(ValueError):
        mint_token(role, "x", secret=TEST_SECRET, **scope)


def test_mint_token_defaults_to_the_environment_secret(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    assert hs_verifier().verify(mint_token("expert", "e", expert_id="exp-1")).expert_id == "exp-1"


def test_the_dev_secret_is_announced_loudly_in_development(caplog, rpc):
    create_app(Settings(development=True), rpc)
    assert DEV_SECRET_WARNING in caplog.text
    caplog.clear()
    create_app(gateway_settings(), rpc)
    assert DEV_SECRET_WARNING not in caplog.text


def test_a_public_key_that_is_not_pem_stops_the_gateway_with_a_clear_error(rpc):
    with pytest.raises(ValueError, match="JWT_PUBLIC_KEY"):
        create_app(gateway_settings(jwt_public_key="-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----"), rpc)


@pytest.mark.parametrize("case", ["alg none", "RS256 where HS256 is configured"])
def test_a_token_of_another_algorithm_is_refused_for_that_reason(client, rsa_keys, case):
    response = client.get("/v1/programmes", headers={"Authorization": f"Bearer {REFUSED[case](rsa_keys)}"})
    assert "must be signed with HS256" in response.json["detail"]
