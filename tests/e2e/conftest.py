import pytest

from tests.conftest import own_platform


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    """The end-to-end tests' own platform: a whole selection round registers experts and
    institutions that must not join the pools the service tests reason about."""
    yield from own_platform(tmp_path_factory.mktemp("e2e-stack"))
