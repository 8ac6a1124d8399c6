"""The funding service's use cases: each loads, decides with the domain, saves and emits
through one unit of work (the store's transaction), one module per area."""

from __future__ import annotations

from collections.abc import Iterable

from services.funding.domain.finance_events import FinanceEvent
from services.funding.store import FundingStore


def emit_all(store: FundingStore, events: Iterable[FinanceEvent]) -> None:
    """Stage the domain's finance events in the outbox of the current transaction."""
    for event in events:
        store.emit(event.name, event.subject, event.data)
