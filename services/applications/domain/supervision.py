"""Yearly supervision (考核督导): what the applications service knows of each prefecture, from
the institution register and the projects — the facts the gateway scores with the funding
service's money and milestones.

The notice's structural duties are read from the register: at least one backbone
higher-vocational college (骨干高职高专院校) per prefecture, and at least one public secondary
vocational school (公办中职学校) in every county the register knows; the prefecture's one rebuilt
Chuyi secondary school is a project of the sv-prefecture category.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from services.contracts.reference import HIGHER_VOCATIONAL, PUBLIC, SECONDARY_VOCATIONAL, ownership_of

REBUILT_SCHOOL_CATEGORY = "sv-prefecture"


def _is_public(institution: Mapping[str, Any]) -> bool:
    return (institution.get("ownership") or ownership_of(institution["credit_code"])) == PUBLIC


def prefecture_facts(
    prefectures: Iterable[str],
    institutions: Iterable[Mapping[str, Any]],
    projects: Iterable[Mapping[str, Any]],
    year: int,
) -> list[dict[str, Any]]:
    """Per prefecture, in the order given: its projects of calls up to `year` per category,
    its rebuilt Chuyi secondary schools, its backbone colleges, and each county of the
    register with its institutions and public secondary vocational schools."""
    wanted = list(prefectures)
    counties: dict[str, dict[str, Counter[str]]] = {p: defaultdict(Counter) for p in wanted}
    backbone: Counter[str] = Counter()
    for institution in institutions:
        prefecture = institution["prefecture"]
        if prefecture not in counties:
            continue
        county = counties[prefecture][institution["county"]]
        county["institutions"] += 1
        if institution["type"] == SECONDARY_VOCATIONAL and _is_public(institution):
            county["public_secondary"] += 1
        if institution["type"] == HIGHER_VOCATIONAL and institution.get("backbone"):
            backbone[prefecture] += 1
    by_category: dict[str, Counter[str]] = {p: Counter() for p in wanted}
    for project in projects:
        if project["prefecture"] in by_category and project["year"] <= year:
            by_category[project["prefecture"]][project["category"]] += 1
    return [
        {
            "prefecture": p,
            "projects": dict(sorted(by_category[p].items())),
            "rebuilt_schools": by_category[p][REBUILT_SCHOOL_CATEGORY],
            "backbone_colleges": backbone[p],
            "counties": [
                {"county": name, "institutions": c["institutions"], "public_secondary": c["public_secondary"]}
                for name, c in sorted(counties[p].items())
            ],
        }
        for p in wanted
    ]
