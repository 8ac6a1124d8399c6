"""Budgets and funding rules: the province appropriates money and sets the rules calls are funded by."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.funding.domain.budget import BudgetKey
from services.funding.domain.ledger import appropriation
from services.contracts.funding_rules import FundingRule
from services.funding.store import FundingStore


def appropriate(store: FundingStore, key: BudgetKey, amount: int, at: datetime) -> dict:
    """Add `amount` fen to a budget line (made on first use), with its ledger entry; returns the line."""

    def work():
        line = store.add_to_budget_line(key, amount, at)
        store.append_ledger([appropriation(key, amount, at)])
        return line

    return store.atomic(work)


def add_funding_rule(
    store: FundingStore, rule_id: str | None, name: str | None, rule: FundingRule, actor: str, at: datetime
) -> dict:
    """A new rule (an id is made when none is given); raises `RuleExists` for an id taken."""
    doc = {
        "_id": rule_id or f"rule_{uuid.uuid4().hex[:12]}",
        "name": name,
        **rule.as_dict(),
        "created_by": actor,
        "created_at": at,
    }
    return store.atomic(lambda: store.add_funding_rule(doc))
