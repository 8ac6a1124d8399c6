"""The in-memory funding store with the default rule, and one with a call's selection funded."""

import pytest

from services.funding.usecases import budgets, calls
from tests.unit.funding.fakes import FakeFundingStore
from tests.unit.funding.world import AT, MILLION, RULE, budget, selection


@pytest.fixture
def store():
    store = FakeFundingStore()
    budgets.add_funding_rule(store, "rule_1", "定额", RULE, "province:admin", AT)
    return store


@pytest.fixture
def funded(store):
    budget(store, {"provincial_special": 10 * MILLION, "local_government": 10 * MILLION})
    calls.selection_finalized(store, selection(), AT, AT)
    store.emitted.clear()
    return store
