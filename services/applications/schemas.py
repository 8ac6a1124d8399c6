"""The applications service's own use of its schemas: the institution register's import, each
row checked with the contract's InstitutionIn. What the gateway validates and documents is the
contract (services/contracts/applications_api.py)."""

from __future__ import annotations

from collections.abc import Collection

from marshmallow import ValidationError

from services.applications.domain import importing
from services.contracts.applications_api import InstitutionIn


def import_institutions(content: bytes, known_credit_codes: Collection[str] = ()) -> importing.ImportResult:
    """Check an uploaded CSV or XLSX register row by row with InstitutionIn, all or nothing."""
    schema = InstitutionIn()

    def validate_row(raw: dict[str, str]) -> tuple[dict | None, dict]:
        try:
            return schema.load(raw), {}
        except ValidationError as error:
            return None, error.normalized_messages()

    return importing.import_institutions(content, validate_row, known_credit_codes)
