"""Who acts: the one type the gateway makes from a verified token and every service reads
from the claims the gateway forwards (pure: no framework).

A role's view is scoped by one claim (`SCOPE_CLAIMS`): an institution's users by
`institution_id`, a prefecture bureau by `prefecture`, an expert by `expert_id`, an HRSS
department by `sponsor`; the province and finance see everything their role may."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: The claim that scopes each role's view.
SCOPE_CLAIMS = {"institution": "institution_id", "prefecture": "prefecture", "expert": "expert_id", "hrss": "sponsor"}


@dataclass(frozen=True)
class Actor:
    """The acting party: its role, the token's subject, and the scope claims it carries."""

    role: str
    sub: str
    prefecture: str | None = None
    sponsor: str | None = None
    institution_id: str | None = None
    expert_id: str | None = None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Actor:
        """From the verified token's claims as the gateway forwards them."""
        return cls(
            role=claims["role"], sub=claims["sub"], **{claim: claims.get(claim) for claim in SCOPE_CLAIMS.values()}
        )

    def scope_claims(self) -> dict[str, str]:
        """The scope claims it carries (what a token for it holds beside role and sub)."""
        return {claim: value for claim in SCOPE_CLAIMS.values() if (value := getattr(self, claim)) is not None}

    def as_claims(self) -> dict[str, str | None]:
        """The claims as the gateway forwards them to a service."""
        return asdict(self)

    @property
    def audit_name(self) -> str:
        """How records and audit entries name who acted: `role:sub`."""
        return f"{self.role}:{self.sub}"


def audit_name(claims: Mapping[str, Any]) -> str:
    """The audit name of forwarded claims (`role:sub`), without building the Actor."""
    return Actor.from_claims(claims).audit_name
