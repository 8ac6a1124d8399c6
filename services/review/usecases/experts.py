"""The expert pool: experts added one by one or imported from a CSV or XLSX list, all or
nothing, one expert per person."""

from __future__ import annotations

from collections.abc import Mapping

from services.common.bilingual import Bilingual
from services.common.replies import Refused, bilingual
from services.review import schemas
from services.review.store import ReviewStore


def add_expert(store: ReviewStore, data: Mapping, by: str) -> dict:
    """Add one expert. Raises DuplicateExpert."""
    return store.add_experts([data], by)[0]


def import_experts(store: ReviewStore, filename: str, content: bytes, by: str) -> dict:
    """Check an uploaded expert list row by row and add every expert in it, or none: a list
    with any problem is refused (422) with a row-by-row report."""
    parsed = schemas.import_experts(content, store.person_keys())
    if not parsed.ok:
        raise Refused(
            422,
            Bilingual(
                f"{filename}: {len(parsed.errors)} problem(s); nothing was imported.",
                f"{filename}：{len(parsed.errors)}处问题，未导入任何专家。",
            ),
            errors=_row_errors(parsed.errors),
            type="import-rejected",
        )
    docs = store.add_experts(list(parsed.experts), by)
    return {"imported": len(docs), "expert_ids": [d["_id"] for d in docs]}


def _row_errors(errors) -> dict[str, list[str]]:
    """An import's row errors as problem field errors: 'row 3.身份证号' -> ['中文 / English']."""
    flat: dict[str, list[str]] = {}
    for e in errors:
        where = "file" if e.row is None else f"row {e.row}.{e.column or e.field or 'row'}"
        flat.setdefault(where, []).append(bilingual(e.message))
    return flat
