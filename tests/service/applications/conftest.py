import pytest

from tests.service.applications.support import World


@pytest.fixture(scope="package")
def world(stack):
    return World(stack)
