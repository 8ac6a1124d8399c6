"""Who sees which records: the province all, an institution itself, a prefecture bureau the
institutions of its prefecture, an HRSS sponsor the technician schools it sponsors.

A record is described by the three things a scope can name: `institution_id`,
`prefecture` and `recommender_key` (`Recommender.key` of its recommending authority). Anything outside
the actor's scope is answered as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.contracts.reference import HRSS, Recommender
from services.common.actor import Actor
from services.applications.domain.recommendation import HRSS_ROLE, PREFECTURE_ROLE

PROVINCE_ROLE = "province"
INSTITUTION_ROLE = "institution"
FINANCE_ROLE = "finance"


def scope(actor: Actor) -> dict[str, str] | None:
    """What a record must match for `actor` to see it: {} for everything, None for nothing."""
    if actor.role == PROVINCE_ROLE:
        return {}
    if actor.role == INSTITUTION_ROLE and actor.institution_id:
        return {"institution_id": actor.institution_id}
    if actor.role == PREFECTURE_ROLE and actor.prefecture:
        return {"prefecture": actor.prefecture}
    if actor.role == HRSS_ROLE and actor.sponsor:
        return {"recommender_key": Recommender(HRSS, actor.sponsor).key}
    return None


def may_see(actor: Actor, record: Mapping[str, Any]) -> bool:
    wanted = scope(actor)
    return wanted is not None and all(record.get(name) == value for name, value in wanted.items())


def project_scope(actor: Actor) -> dict[str, str] | None:
    """As `scope`, and finance sees every project (it pays them), though no application."""
    return {} if actor.role == FINANCE_ROLE else scope(actor)
