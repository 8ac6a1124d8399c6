"""Contracts: what crosses from one service to another, kept apart from every service so
that no service (the gateway included) imports another service's package.

One module per producer and kind (and two of shared reference data, `reference.py` and
`catalogue.py`): event payload schemas, the request and reply schemas the gateway validates and
documents, the vocabularies and states they use, the Chinese labels portals and notices show,
reference data. A contract module imports nothing of any service; only the kernel
(`services.common`) and libraries. Vocabularies, states and labels are plain data
(`<producer>.py`, with the few pure checks a request schema makes), so that a pure domain may
use them; schemas are in their own modules: `<producer>_events.py`, each with
`EVENTS = {name: data schema}`, and `<producer>_api.py` (`funding_rules.py` is the funding rule
that `funding_api.py` loads).
`make lint` (import-linter, `[tool.importlinter]` in pyproject.toml) keeps the rule.
"""
