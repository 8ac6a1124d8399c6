"""The review service's own schemas: its lists' pages, uploads and the expert import. What the
gateway validates and documents is the contract (services/contracts/review_api.py)."""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import ValidationError, fields

from services.common.bilingual import Bilingual
from services.common.fields import BaseSchema, Text, Whole
from services.review.domain.experts import ExpertImport, read_experts
from services.contracts.review_api import (
    AssignmentFilterIn,
    ExpertFilterIn,
    ExpertIn,
    PanelAssignmentFilterIn,
    PanelFilterIn,
    category_names,
)

MAX_PAGE = 100


class PageIn(BaseSchema):
    limit = Whole(1, MAX_PAGE, load_default=20)
    cursor = Text(64)


class ExpertListIn(PageIn, ExpertFilterIn):
    pass


def _flat(messages: Mapping) -> dict[str, list]:
    """Field errors with list items' errors folded into their field ("item 2: ...")."""
    flat = {}
    for name, value in messages.items():
        if isinstance(value, Mapping):
            flat[name] = [
                Bilingual(f"item {int(i) + 1}: {m}", f"第{int(i) + 1}项：{getattr(m, 'zh', m)}")
                for i, item in value.items()
                for m in (item if isinstance(item, list) else [item])
            ]
        else:
            flat[name] = value
    return flat


def import_experts(content: bytes, known_person_keys) -> ExpertImport:
    """Check an uploaded CSV or XLSX expert list row by row with ExpertIn, all or nothing."""
    schema = ExpertIn()

    def validate_row(row: dict) -> tuple[dict | None, dict]:
        try:
            return schema.load(row), {}
        except ValidationError as error:
            return None, _flat(error.normalized_messages())

    labels = {name: code for code, name in category_names().items()}
    return read_experts(content, validate_row, known_person_keys, labels)


class UploadIn(BaseSchema):
    filename = Text(255, required=True)
    content_b64 = fields.String(required=True)


class AssignmentListIn(PageIn, AssignmentFilterIn):
    pass


class PanelListIn(PageIn, PanelFilterIn):
    pass


class PanelAssignmentListIn(PageIn, PanelAssignmentFilterIn):
    pass
