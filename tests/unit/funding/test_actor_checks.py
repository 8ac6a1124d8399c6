"""Defence in depth (issue 15, finding 10): the funding service checks the role of the actor
it is given, whatever the gateway checked, and touches nothing for one it refuses."""

from unittest.mock import MagicMock

import pytest
from nameko.testing.services import worker_factory

from services.funding.service import FundingService

CALLS = {
    "create_budget": {"budget": {"year": 2026, "category": "hv-group", "source": "central", "amount": 1}},
    "list_budgets": {},
    "create_funding_rule": {"rule": {}},
    "get_funding_rule": {"rule_id": "r1"},
    "allocate_call": {"call_id": "call_1"},
    "get_allocation": {"call_id": "call_1"},
    "get_project_funding": {"project_id": "app_1"},
    "record_milestone": {"project_id": "app_1", "milestone": {}},
    "list_ledger": {},
    "progress_report": {},
}
WHO_MAY = {
    "create_budget": {"province"},
    "create_funding_rule": {"province"},
    "allocate_call": {"province"},
    "record_milestone": {"province"},
    "list_budgets": {"province", "finance"},
    "get_allocation": {"province", "finance"},
    "list_ledger": {"province", "finance"},
    "get_funding_rule": {"province", "finance", "institution", "prefecture"},
    "get_project_funding": {"province", "finance", "institution"},
    "progress_report": {"province", "prefecture"},
}
ACTORS = {
    "institution": {"institution_id": "inst_1"},
    "prefecture": {"prefecture": "长沙市"},
    "expert": {"expert_id": "exp_1"},
    "hrss": {"sponsor": "长沙市人社局"},
    "finance": {},
    "province": {},
}


@pytest.mark.parametrize("method", sorted(CALLS))
def test_every_rpc_refuses_a_role_it_does_not_serve_before_touching_the_store(method):
    for role in sorted(set(ACTORS) - WHO_MAY[method]):
        service = worker_factory(FundingService, store=MagicMock())
        reply = getattr(service, method)(actor={"sub": "x", "role": role, **ACTORS[role]}, **CALLS[method])
        assert reply["status"] == 403, (method, role, reply)
        assert service.store.mock_calls == []


def test_an_actor_without_a_role_is_refused_not_a_crash():
    service = worker_factory(FundingService, store=MagicMock())
    assert service.list_ledger(actor={})["status"] == 403
    assert service.list_ledger(actor=None)["status"] == 403
