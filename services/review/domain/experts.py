"""The expert pool (专家库): reading a pool from a CSV or XLSX file, and what the
assignment sees of experts, applications and the call.

An import is all or nothing, checked row by row: each row is converted from its cells
(lists split on ; ， 、 and the like, numbers and yes/no read), checked by the caller's
row validator (the same schema as creating one expert), and the same person (by person
key, from the ID number) may appear only once, in the file and in the pool. Errors name
the spreadsheet row (the header is row 1), the column as written and the rule, in Chinese
and English; ID numbers are never quoted. File reading is the kernel's
(`services.common.tabular`): size limits, UTF-8/GB18030 CSV, XLSX, cells that lost digits.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from services.common.bilingual import Bilingual
from services.common.tabular import RowValidator, Table, TableImport, Unique, read_table
from services.common.vocabulary import INDUSTRY_FIELDS
from services.review.domain.assignment import Application, AssignedPair, AssignmentPolicy, Expert, check_assignment
from services.review.domain.reviews import STANDING

#: Accepted headers for each field (English ones match case-insensitively); the first is the one to show.
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "name"),
    "id_number": ("身份证号", "身份证号码", "id_number"),
    "institution_id": ("单位编号", "单位代码", "institution_id"),
    "institution_name": ("单位名称", "工作单位", "institution_name"),
    "prefecture": ("市州", "prefecture"),
    "fields": ("专业大类", "擅长领域", "fields"),
    "keywords": ("关键词", "研究方向", "keywords"),
    "categories": ("评审类别", "可评审类别", "categories"),
    "conflict_institution_ids": ("回避单位", "回避单位编号", "conflict_institution_ids"),
    "conflict_id_numbers": ("回避人员身份证号", "conflict_id_numbers"),
    "load_cap": ("评审上限", "评审数量上限", "load_cap"),
    "available": ("是否可评审", "可评审", "available"),
}
REQUIRED_COLUMNS = ("name", "id_number", "institution_id", "prefecture", "fields", "categories", "load_cap")
LIST_FIELDS = frozenset({"fields", "keywords", "categories", "conflict_institution_ids", "conflict_id_numbers"})
POOL = Table(COLUMNS, Bilingual("the file has no experts", "文件中没有专家数据"), required=REQUIRED_COLUMNS)
_SEPARATORS = re.compile(r"[;；,，、|\n]+")
_YES = frozenset({"是", "可", "可以", "有", "yes", "y", "true", "1"})
_NO = frozenset({"否", "不", "不可", "无", "no", "n", "false", "0"})
#: Industry fields may be written as their code or their Chinese name.
FIELD_BY_LABEL = {zh: code for code, (zh, _) in INDUSTRY_FIELDS.items()}


class ExpertImport(TableImport):
    """Either every clean expert or only errors."""

    @property
    def experts(self) -> tuple[dict[str, Any], ...]:
        return self.records


def split_list(text: str) -> list[str]:
    """A cell holding several values: split on ; ， 、 | and line breaks, blanks dropped."""
    return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]


def _typed(field: str, text: str, category_labels: Mapping[str, str]) -> Any:
    """A cell's text as the schema wants it; what cannot be read stays text for the schema to refuse."""
    if field in LIST_FIELDS:
        items = split_list(text)
        labels = FIELD_BY_LABEL if field == "fields" else category_labels if field == "categories" else {}
        return [labels.get(item, item) for item in items]
    if field == "load_cap":
        return int(text) if text.isdigit() else text
    if field == "available":
        word = text.casefold()
        return True if word in _YES else False if word in _NO else text
    return text


def read_experts(
    content: bytes,
    validate_row: RowValidator,
    known_person_keys: Collection[str] = (),
    category_labels: Mapping[str, str] | None = None,
) -> ExpertImport:
    """Read a CSV (UTF-8 or GB18030) or XLSX expert list, all or nothing.

    `validate_row(row)` returns (clean expert with its `person_key`, {}) or (None, {field: [messages]});
    `known_person_keys` are those already in the pool; `category_labels` maps a category's
    Chinese name to its code, so a file may use either.
    """
    labels = category_labels or {}
    table = replace(POOL, typed=lambda field, text: _typed(field, text, labels))
    unique_people = Unique(
        "id_number",
        key=lambda expert: expert["person_key"],
        known=frozenset(known_person_keys),
        already_known=Bilingual("an expert with this ID number is already in the pool", "该身份证号的专家已在专家库中"),
        repeats=Bilingual("the ID number repeats the one in row {row}", "身份证号与第{row}行重复"),
    )
    result = read_table(content, table, validate_row, unique_people)
    return ExpertImport(result.records, result.errors)


# ---------------------------------------------------------------- what the assignment sees


def pool_expert(record: Mapping[str, Any]) -> Expert:
    """An expert of the pool as the assignment takes it: its load cap is per call."""
    return Expert(
        id=record["_id"],
        institution_id=record["institution_id"],
        prefecture=record["prefecture"],
        person_id=record["person_key"],
        cap=record["load_cap"],
        fields=record["fields"],
        keywords=record["keywords"],
        categories=record["categories"],
        conflict_institution_ids=record["conflict_institution_ids"],
        conflict_person_ids=record["conflict_person_keys"],
        available=record["available"],
    )


def review_application(candidate: Mapping[str, Any], category: str) -> Application:
    """An eligible application as the assignment takes it (its team by person keys)."""
    return Application(
        id=candidate["_id"],
        institution_id=candidate["institution_id"],
        prefecture=candidate["prefecture"],
        category=category,
        fields=candidate["industry_fields"],
        keywords=candidate["keywords"],
        team_person_ids=candidate["team_person_keys"],
    )


def call_policy(call: Mapping[str, Any]) -> AssignmentPolicy:
    """The call's review plan as an assignment policy. The call's same-prefecture flag
    keeps the rule on for the school-, group- and base-level categories (the rule's own
    scope) or turns it off; the seed comes from the call id, so a re-run is repeatable."""
    plan = call["review_plan"]
    return AssignmentPolicy(
        reviewers_per_application=plan["reviewers_per_application"],
        same_prefecture_conflict=None if plan["conflict_same_prefecture"] else False,
        own_institution_applied_conflict=plan["conflict_own_institution_applied"],
        seed=zlib.crc32(call["_id"].encode()) & 0x7FFFFFFF,
    )


def pairs_to_void(
    applications: Iterable[Application],
    experts: Iterable[Expert],
    policy: AssignmentPolicy,
    standing: Iterable[Mapping[str, Any]],
    applied_institution_ids: Collection[str],
) -> dict[str, str]:
    """Standing assignments (records with `_id`, `application_id`, `expert_id`, `status`) that
    no longer stand, by assignment id, with why: their application left the review, or a rule
    now excludes the pair (e.g. the expert's own institution has since applied in the call).
    Judged by the assignment module's independent checker."""
    applications, experts = list(applications), list(experts)
    eligible = {a.id for a in applications}
    records = [r for r in standing if r["status"] in STANDING]
    void = {r["_id"]: "the application left the review" for r in records if r["application_id"] not in eligible}
    kept = [r for r in records if r["_id"] not in void]
    by_pair = {(r["application_id"], r["expert_id"]): r["_id"] for r in kept}
    pairs = [(r["application_id"], r["expert_id"]) for r in kept]
    for violation in check_assignment(applications, experts, policy, pairs, applied_institution_ids):
        if violation.rule == "excluded":
            void.setdefault(by_pair[(violation.application_id, violation.expert_id)], violation.detail)
    return void


def publication_parts(pairs: Iterable[AssignedPair], size: int) -> list[list[AssignedPair]]:
    """A large run's new assignments in the parts it is published in (one transaction and
    one `experts_assigned` event each): by expert, each expert's whole in one part, so that
    an expert is told once; a part closes once it holds `size` or more."""
    by_expert: dict[str, list[AssignedPair]] = {}
    for pair in pairs:
        by_expert.setdefault(pair.expert_id, []).append(pair)
    parts: list[list[AssignedPair]] = [[]]
    for expert_id in sorted(by_expert):
        if len(parts[-1]) >= size:
            parts.append([])
        parts[-1].extend(by_expert[expert_id])
    return parts
