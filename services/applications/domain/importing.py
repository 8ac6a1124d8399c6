"""Importing an institution register from a CSV or XLSX file, all or nothing.

File reading, size limits and the row-by-row report are the kernel's
(`services.common.tabular`); here are the register's columns, institution types written
with their Chinese name, and credit codes that may appear once, in the file and in the
register.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from services.common import credit_code
from services.contracts.reference import INSTITUTION_TYPES, OWNERSHIPS
from services.common.bilingual import Bilingual
from services.common.tabular import RowValidator, Table, TableImport, Unique, read_table

#: Accepted headers for each field (English ones match case-insensitively).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("名称", "学校名称", "单位名称", "name"),
    "type": ("类型", "办学类型", "type"),
    "prefecture": ("市州", "prefecture"),
    "county": ("县市区", "county"),
    "sponsor": ("主管部门", "sponsor"),
    "credit_code": ("统一社会信用代码", "credit_code"),
    "ownership": ("办学性质", "ownership"),
    "backbone": ("骨干高职高专院校", "骨干院校", "backbone"),
}
OPTIONAL = ("ownership", "backbone")
#: Institution types may be written with their Chinese name in a file.
TYPE_BY_LABEL = {label: code for code, label in INSTITUTION_TYPES.items()}
#: So are ownership (公办, 民办) and the backbone flag (是, 否).
LABELS = {
    "type": TYPE_BY_LABEL,
    "ownership": {label: code for code, label in OWNERSHIPS.items()},
    "backbone": {"是": "true", "否": "false"},
}


def _typed(field: str, text: str) -> str:
    return LABELS.get(field, {}).get(text, text)


REGISTER = Table(
    COLUMNS,
    Bilingual("the file has no institutions", "文件中没有单位数据"),
    typed=_typed,
    required=tuple(name for name in COLUMNS if name not in OPTIONAL),
)


class ImportResult(TableImport):
    """Either every clean institution or only errors."""

    @property
    def institutions(self) -> tuple[dict[str, Any], ...]:
        return self.records


def import_institutions(
    content: bytes, validate_row: RowValidator, known_credit_codes: Collection[str] = ()
) -> ImportResult:
    """Read a CSV (UTF-8 with or without BOM, or GB18030) or XLSX register.

    `validate_row(raw)` returns (clean institution, {}) or (None, {field: [messages]});
    `known_credit_codes` are those of institutions already registered. The result holds
    either every clean institution or only errors.
    """
    unique_codes = Unique(
        "credit_code",
        key=lambda institution: institution["credit_code"],
        known={credit_code.normalise(code) for code in known_credit_codes},
        already_known=Bilingual(
            "an institution with this credit code is already registered", "该统一社会信用代码的单位已登记"
        ),
        repeats=Bilingual("credit code repeats the one in row {row}", "统一社会信用代码与第{row}行重复"),
    )
    result = read_table(content, REGISTER, validate_row, unique_codes)
    return ImportResult(result.records, result.errors)
