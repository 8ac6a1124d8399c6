"""Bearer JWT verification, the actor it yields, and token minting for development and tests."""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from services.common.actor import SCOPE_CLAIMS, Actor
from services.common.fields import unstorable
from services.contracts.reference import PREFECTURES
from services.gateway.settings import DEV_JWT_SECRET, Settings

# hrss: a human-resources-and-social-security department (人社部门), which sponsors and
# recommends the technician schools (技工院校) in place of the prefecture's education bureau.
ROLES = ("institution", "prefecture", "province", "expert", "finance", "hrss")
ANY_ROLE = frozenset(ROLES)


class AuthError(Exception):
    """No token, or a token the gateway does not accept (a 401); the message says why."""


def actor_from_claims(claims: Mapping[str, Any]) -> Actor:
    """The actor of verified claims; only the scope claim of the actor's role is kept."""
    sub, role = claims.get("sub"), claims.get("role")
    if not isinstance(sub, str) or not sub:
        raise AuthError("the token has no subject (sub)")
    if unstorable({name: claims.get(name) for name in ("sub", *SCOPE_CLAIMS.values())}):
        raise AuthError("the token's claims are not valid Unicode text")
    if role not in ROLES:
        raise AuthError(f"the token's role must be one of {', '.join(ROLES)}")
    scope = SCOPE_CLAIMS.get(role)
    if scope is None:
        return Actor(sub=sub, role=role)
    value = claims.get(scope)
    if not isinstance(value, str) or not value:
        raise AuthError(f"a token of role {role} must carry the claim {scope}")
    if scope == "prefecture" and value not in PREFECTURES:
        raise AuthError("the token's prefecture must be one of the 14 prefectures of Hunan")
    return Actor(sub=sub, role=role, **{scope: value})


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("send the header Authorization: Bearer <token>")
    return token.strip()


class TokenVerifier:
    """Accepts only tokens signed with the one configured algorithm (HS256 secret or RS256 public key)."""

    def __init__(
        self,
        *,
        algorithm: str,
        key: str,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_s: int = 30,
        max_lifetime_s: int | None = None,
    ):
        if algorithm == "RS256":
            try:
                self._key: Any = load_pem_public_key(key.encode("ascii"))
            except (ValueError, UnicodeEncodeError) as exc:
                raise ValueError(f"the JWT public key (JWT_PUBLIC_KEY) is not a PEM public key: {exc}") from exc
        elif algorithm == "HS256":
            self._key = key
        else:
            raise ValueError(f"unsupported JWT algorithm {algorithm!r}: use HS256 or RS256")
        self.algorithm = algorithm
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_s
        self._max_lifetime = max_lifetime_s

    @classmethod
    def from_settings(cls, settings: Settings) -> "TokenVerifier":
        return cls(
            algorithm=settings.jwt_algorithm,
            key=settings.jwt_public_key or settings.jwt_secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_s=settings.jwt_leeway_s,
            max_lifetime_s=settings.jwt_max_lifetime_s,
        )

    def verify(self, token: str) -> Actor:
        required = ["exp", "sub", "role"] + (["iss"] if self._issuer else []) + (["aud"] if self._audience else [])
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self.algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": required},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("the token is not valid yet (nbf)") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise AuthError(f"the token must be signed with {self.algorithm}") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"the token is invalid: {exc}") from exc
        if self._max_lifetime is not None and claims["exp"] > time.time() + self._max_lifetime + self._leeway:
            raise AuthError(f"the token is valid for longer than {self._max_lifetime} s; ask for a shorter-lived one")
        return actor_from_claims(claims)


def mint_token(
    role: str,
    sub: str,
    *,
    institution_id: str | None = None,
    prefecture: str | None = None,
    expert_id: str | None = None,
    sponsor: str | None = None,
    ttl_seconds: int = 3600,
    secret: str | None = None,
    private_key: str | bytes | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    not_before: int | None = None,
    now: int | None = None,
) -> str:
    """A signed token for development and tests: RS256 with `private_key` (PEM), else HS256 with
    `secret` (default: JWT_SECRET from the environment, else the dev secret).
    Raises ValueError when the role or its scope claim is wrong, so every minted token is usable."""
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": issued, "exp": issued + ttl_seconds}
    for name, value in (
        ("institution_id", institution_id),
        ("prefecture", prefecture),
        ("expert_id", expert_id),
        ("sponsor", sponsor),
    ):
        if value is not None:
            claims[name] = value
    for name, value in (("iss", issuer), ("aud", audience), ("nbf", not_before)):
        if value is not None:
            claims[name] = value
    try:
        actor_from_claims(claims)
    except AuthError as exc:
        raise ValueError(str(exc)) from exc
    if private_key is not None:
        return jwt.encode(claims, private_key, algorithm="RS256")
    return jwt.encode(claims, secret or os.environ.get("JWT_SECRET") or DEV_JWT_SECRET, algorithm="HS256")
