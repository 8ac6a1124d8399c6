from __future__ import annotations

import pytest

from services.gateway.app import create_app
from tests.unit.gateway.fake_rpc import FakeApplications, FakeRpc, gateway_settings
from tests.unit.gateway.helpers import CHANGSHA, bearer


@pytest.fixture
def rpc() -> FakeRpc:
    fake = FakeRpc()
    FakeApplications().install(fake)
    return fake


@pytest.fixture
def settings():
    return gateway_settings()


@pytest.fixture
def app(settings, rpc):
    return create_app(settings, rpc)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def as_province() -> dict:
    return bearer("province")


@pytest.fixture
def as_institution() -> dict:
    return bearer("institution", institution_id="inst-1")


@pytest.fixture
def as_prefecture() -> dict:
    return bearer("prefecture", prefecture=CHANGSHA)
