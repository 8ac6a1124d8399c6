import pytest

from tests.service.applications.support import World


@pytest.fixture(scope="session")
def world(stack):
    return World(stack)
