"""Tokens and bodies the gateway tests send."""

from __future__ import annotations

from services.gateway.auth import mint_token
from tests.unit.gateway.fake_rpc import TEST_SECRET

CHANGSHA = "长沙市"
HENGYANG = "衡阳市"


def bearer(role: str, sub: str | None = None, **claims) -> dict:
    claims.setdefault("secret", TEST_SECRET)
    return {"Authorization": f"Bearer {mint_token(role, sub or f'{role}-user', **claims)}"}


def institution_body(**overrides) -> dict:
    return {
        "name": "长沙职业技术学院",
        "type": "higher_vocational",
        "prefecture": CHANGSHA,
        "county": "长沙县",
        "sponsor": "长沙市人民政府",
        "credit_code": "12430000444880352D",
        **overrides,
    }
