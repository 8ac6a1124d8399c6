"""Contracts: what crosses from one service to another, kept apart from every service so
that no service (the gateway included) imports another service's package.

One module per producer (and one of shared reference data): event payload schemas, the
vocabularies they use, the Chinese labels portals and notices show, reference data. A
contract module imports nothing of any service; only the kernel (`services.common`) and
libraries. Vocabularies and labels are plain data (`funding.py`, `reference.py`), so that a
pure domain may use them; schemas are in their own modules (`<producer>_events.py`, each
with `EVENTS = {name: data schema}`).
tests/unit/test_layering.py keeps the rule.
"""
