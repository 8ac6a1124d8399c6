from __future__ import annotations

import pytest

from services.gateway.settings import MIB, Settings, SettingsError


def test_defaults_are_safe_for_a_laptop():
    settings = Settings.from_env({})
    assert settings.amqp_uri == "amqp://guest:guest@localhost:5672/"
    assert (settings.max_body_bytes, settings.max_upload_bytes) == (MIB, 10 * MIB)
    assert settings.jwt_algorithm == "HS256" and settings.uses_dev_secret
    assert settings.ready_services == ("applications", "review", "funding", "notify")


def test_the_environment_overrides_each_setting(tmp_path):
    pem = tmp_path / "key.pem"
    pem.write_text("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n")
    settings = Settings.from_env(
        {
            "GATEWAY_RPC_TIMEOUT_S": "2.5",
            "GATEWAY_READY_SERVICES": " applications , review ,",
            "GATEWAY_MAX_BODY_BYTES": "2048",
            "GATEWAY_RATE_LIMIT_PER_S": "0",
            "JWT_PUBLIC_KEY_FILE": str(pem),
            "JWT_AUDIENCE": "chuyi-api",
            "JWT_SECRET": "",
        }
    )
    assert settings.rpc_timeout_s == 2.5
    assert settings.ready_services == ("applications", "review")
    assert settings.max_body_bytes == 2048
    assert settings.rate_limit_per_s == 0
    assert settings.jwt_algorithm == "RS256" and not settings.uses_dev_secret
    assert settings.jwt_audience == "chuyi-api" and settings.jwt_issuer is None


def test_a_one_line_pem_is_unfolded():
    settings = Settings.from_env({"JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\\nabc\\n-----END PUBLIC KEY-----"})
    assert settings.jwt_public_key.splitlines()[1] == "abc"


@pytest.mark.parametrize(
    "name, value",
    [
        ("GATEWAY_RPC_TIMEOUT_S", "soon"),
        ("GATEWAY_RPC_TIMEOUT_S", "0"),
        ("GATEWAY_RPC_POOL_SIZE", "11"),
        ("GATEWAY_MAX_BODY_BYTES", "-1"),
        ("GATEWAY_RATE_LIMIT_PER_S", "-2"),
        ("JWT_LEEWAY_S", "3600"),
        ("JWT_PUBLIC_KEY_FILE", "/nonexistent/key.pem"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
