"""The funding service's own helpers for its replies: the cursors of its lists and a project's
money as `ProjectFundingSchema` shows it. What the gateway validates and documents is the
contract (services/contracts/funding_api.py)."""
from __future__ import annotations

import base64
import binascii
import json

from marshmallow import ValidationError

from services.contracts.funding import money
from services.funding.domain.finance_events import tranche_data
from services.funding.domain.milestones import ProjectFunding


def encode_cursor(after) -> str:
    """An opaque cursor naming the last item of a page."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type):
    """The `after` key (of type `kind`) of a cursor `encode_cursor` made; None for the first page."""
    if cursor is None:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        after = None
    if type(after) is not kind:
        raise ValidationError({"cursor": ["not a cursor this list gave: pass its next_cursor as it is"]})
    return after


def project_view(doc: dict, funding: ProjectFunding) -> dict:
    """A project's stored document with the money figures `ProjectFundingSchema` shows,
    from the domain's position of its tranches (`released` there is net of claw-backs)."""
    position = funding.position()

    def column(amount) -> dict:
        return money({source: amount(where) for source, where in position.items()})
    return {**doc, "award": money(funding.award.by_source),
            "tranches": [{**tranche_data(t), "state": state}
                         for t, state in zip(funding.award.tranches, funding.tranche_states)],
            "scheduled": column(lambda p: p["reserved"]),
            "released": column(lambda p: p["released"] + p["clawed_back"]),
            "withheld": column(lambda p: p["withheld"]), "clawed_back": column(lambda p: p["clawed_back"]),
            "kept": column(lambda p: p["released"])}
