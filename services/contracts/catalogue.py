"""The catalogue of categories (programmes) and their quotas, loaded from data/catalogue.yaml:
reference data every service shares (the applications service runs calls of it, review
checks against it, the gateway shows it).

The loader checks the whole file and fails with every problem listed: a service must not
start on a broken catalogue.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.contracts.reference import INSTITUTION_TYPES, PREFECTURES

CATALOGUE_PATH = Path(__file__).resolve().parent / "data" / "catalogue.yaml"

#: Application fields every category needs before submission.
CORE_FIELDS = ("title", "summary", "construction_plan", "yearly_targets", "budget_request_fen", "industry_fields")
#: Application fields any category may carry.
COMMON_OPTIONAL_FIELDS = ("performance_indicators", "keywords")
#: Application fields only some categories use (named by `required_fields` in the data).
CATEGORY_FIELDS = ("team_members", "lead_organisation", "member_organisations", "enterprise_partner")

FIELD_NAMES_ZH = {
    "title": "标题",
    "summary": "摘要",
    "construction_plan": "建设方案",
    "yearly_targets": "年度建设目标",
    "budget_request_fen": "申请经费",
    "industry_fields": "所属专业大类",
    "performance_indicators": "绩效指标",
    "keywords": "关键词",
    "team_members": "团队成员",
    "lead_organisation": "牵头单位",
    "member_organisations": "成员单位",
    "enterprise_partner": "合作企业",
}

APPLICANT_KINDS = ("institution", "person", "team", "joint", "group")
LEVELS = ("school", "specialty", "base", "group", "person", "team")
MULTIPLE_PER_INSTITUTION_LEVELS = frozenset({"person", "team"})

_LEVELS_BY_APPLICANT = {
    "institution": {"school", "specialty", "base"},
    "person": {"person"},
    "team": {"team"},
    "joint": {"person", "team"},
    "group": {"group"},
}
_FIELDS_BY_APPLICANT = {
    "institution": set(),
    "person": {"team_members"},
    "team": {"team_members"},
    "joint": {"team_members", "enterprise_partner"},
    "group": {"lead_organisation", "member_organisations"},
}
_CODE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_KEYS = (
    "code",
    "name_zh",
    "name_en",
    "quota",
    "institution_types",
    "applicant",
    "level",
    "one_per_institution",
    "one_per_prefecture",
    "required_fields",
    "notice_ref",
)


class CatalogueError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("broken catalogue: " + "; ".join(problems))


class UnknownCategory(KeyError):
    def __init__(self, code: str):
        self.code = code
        super().__init__(code)

    def __str__(self) -> str:
        return f"no category '{self.code}' in the catalogue"


@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    quota: int
    institution_types: tuple[str, ...]
    applicant: str
    level: str
    one_per_institution: bool
    one_per_prefecture: bool
    required_fields: tuple[str, ...]
    notice_ref: str

    @property
    def submission_fields(self) -> tuple[str, ...]:
        """Every field an application must have filled in to be complete."""
        return CORE_FIELDS + self.required_fields

    @property
    def allowed_fields(self) -> frozenset[str]:
        return frozenset(CORE_FIELDS + COMMON_OPTIONAL_FIELDS + self.required_fields)

    def accepts(self, institution_type: str) -> bool:
        return institution_type in self.institution_types

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "quota": self.quota,
            "institution_types": list(self.institution_types),
            "applicant": self.applicant,
            "level": self.level,
            "one_per_institution": self.one_per_institution,
            "one_per_prefecture": self.one_per_prefecture,
            "required_fields": list(self.submission_fields),
            "notice_ref": self.notice_ref,
        }


@dataclass(frozen=True)
class Catalogue:
    quota_year: int
    categories: tuple[Category, ...]

    def __getitem__(self, code: str) -> Category:
        for category in self.categories:
            if category.code == code:
                return category
        raise UnknownCategory(code)

    def __contains__(self, code: object) -> bool:
        return any(category.code == code for category in self.categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(category.code for category in self.categories)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _entry_problems(entry: object) -> list[str]:
    if not isinstance(entry, Mapping):
        return ["is not a mapping"]
    problems = [f"lacks '{key}'" for key in _KEYS if key not in entry]
    problems += [f"has unknown key '{key}'" for key in entry if key not in _KEYS]
    if problems:
        return problems
    if not isinstance(entry["code"], str) or not _CODE.match(entry["code"]):
        problems.append("code must be lower-case words joined by '-'")
    for key in ("name_zh", "name_en", "notice_ref"):
        if not _is_text(entry[key]):
            problems.append(f"{key} must be non-empty text")
    if not _is_int(entry["quota"]) or entry["quota"] < 1:
        problems.append("quota must be a positive integer")
    types = entry["institution_types"]
    if not isinstance(types, list) or not types or len(set(map(str, types))) != len(types):
        problems.append("institution_types must be a non-empty list without repeats")
    else:
        problems += [f"unknown institution type '{t}'" for t in types if t not in INSTITUTION_TYPES]
    for key in ("one_per_institution", "one_per_prefecture"):
        if not isinstance(entry[key], bool):
            problems.append(f"{key} must be true or false")
    fields = entry["required_fields"]
    if not isinstance(fields, list) or len(set(map(str, fields))) != len(fields):
        problems.append("required_fields must be a list without repeats")
    else:
        problems += [f"unknown category field '{f}'" for f in fields if f not in CATEGORY_FIELDS]
    if entry["applicant"] not in APPLICANT_KINDS:
        problems.append(f"applicant must be one of {', '.join(APPLICANT_KINDS)}")
    elif entry["level"] not in LEVELS:
        problems.append(f"level must be one of {', '.join(LEVELS)}")
    elif not problems:
        problems += _consistency_problems(entry)
    return problems


def _consistency_problems(entry: Mapping[str, Any]) -> list[str]:
    applicant, level = entry["applicant"], entry["level"]
    problems = []
    if level not in _LEVELS_BY_APPLICANT[applicant]:
        problems.append(f"level '{level}' does not fit applicant '{applicant}'")
    if entry["one_per_institution"] == (level in MULTIPLE_PER_INSTITUTION_LEVELS):
        problems.append(
            f"one_per_institution must be {level not in MULTIPLE_PER_INSTITUTION_LEVELS} for level '{level}'"
        )
    missing = _FIELDS_BY_APPLICANT[applicant] - set(entry["required_fields"])
    problems += [f"applicant '{applicant}' needs required field '{f}'" for f in sorted(missing)]
    if entry["one_per_prefecture"] and entry["quota"] != len(PREFECTURES):
        problems.append(f"one per prefecture means a quota of {len(PREFECTURES)}, one for each prefecture")
    return problems


def parse_catalogue(data: object) -> Catalogue:
    """Check the loaded data and build the catalogue; raise CatalogueError listing every problem."""
    if not isinstance(data, Mapping) or set(data) != {"quota_year", "categories"}:
        raise CatalogueError(["the file must hold exactly 'quota_year' and 'categories'"])
    problems = []
    if not _is_int(data["quota_year"]):
        problems.append("quota_year must be an integer year")
    entries = data["categories"]
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(problems + ["categories must be a non-empty list"])
    seen = set()
    for index, entry in enumerate(entries):
        code = entry.get("code") if isinstance(entry, Mapping) else None
        problems += [f"category {index + 1} ({code}): {p}" for p in _entry_problems(entry)]
        if isinstance(code, str):
            if code in seen:
                problems.append(f"category {index + 1}: code '{code}' is used twice")
            seen.add(code)
    if problems:
        raise CatalogueError(problems)
    return Catalogue(
        quota_year=data["quota_year"],
        categories=tuple(
            Category(
                **{
                    **entry,
                    "institution_types": tuple(entry["institution_types"]),
                    "required_fields": tuple(entry["required_fields"]),
                }
            )
            for entry in entries
        ),
    )


def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """Read and check a catalogue file; raise CatalogueError if it is unreadable or broken."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CatalogueError([f"cannot read {path}: {error}"]) from error
    return parse_catalogue(data)


@functools.cache
def catalogue() -> Catalogue:
    """The catalogue shipped with the service, loaded and checked once."""
    return load_catalogue()
