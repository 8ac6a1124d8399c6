"""The progress report (supervision): composed by the gateway from the applications service's
approvals against the catalogue's quotas and the funding service's money and milestones,
per category and per prefecture. Pure: the route module asks the services and answers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from marshmallow import fields

from services.contracts.funding import MILESTONES, SOURCE_NAMES_ZH, SOURCES, TRIGGER_NAMES_ZH, money
from services.contracts.funding_events import MoneySchema
from services.contracts.reference import PREFECTURES
from services.gateway.exports import Table, beijing_time
from services.gateway.schemas import StrictSchema

PROVINCE_SCOPE = "province"
MONEY_MEASURES = {"allocated": "下达资金", "disbursed": "已拨付", "clawed_back": "已收回"}


@dataclass
class Figures:
    """The measures of one row: approved (立项) against the quota, funded projects, money
    by source, milestones passed."""

    approved: int = 0
    funded_projects: int = 0
    money: dict[str, Counter] = field(default_factory=lambda: {measure: Counter() for measure in MONEY_MEASURES})
    milestones_passed: Counter = field(default_factory=Counter)

    def add_funding(self, cell: dict) -> None:
        self.funded_projects += cell["projects"]
        for measure, amounts in self.money.items():
            amounts.update(cell[measure])
        self.milestones_passed.update(cell["milestones_passed"])

    def as_dict(self) -> dict:
        return {
            "approved": self.approved,
            "funded_projects": self.funded_projects,
            **{
                measure: money({source: amounts[source] for source in SOURCES})
                for measure, amounts in self.money.items()
            },
            "milestones_passed": {milestone: self.milestones_passed[milestone] for milestone in MILESTONES},
        }


def compose_report(scope: str, approvals: dict, funding: dict, at: datetime) -> dict:
    """The report of `scope` (PROVINCE_SCOPE, or one prefecture) from the applications
    service's `progress_report` body (`quota_year`, `categories`, `approved` cells) and the
    funding service's (`cells`), each already limited to the scope by its service."""
    categories = {c["code"]: c for c in approvals["categories"]}
    by_category = {code: Figures() for code in categories}
    by_prefecture = {p: Figures() for p in (PREFECTURES if scope == PROVINCE_SCOPE else (scope,))}
    approved_by_category = {p: Counter() for p in by_prefecture}
    total = Figures()

    def rows_of(cell: dict) -> tuple[Figures, Figures, Figures]:
        # A category or prefecture outside the lists (which no service should send) still counts, in a row of its own.
        categories.setdefault(
            cell["category"],
            {"code": cell["category"], "name_zh": cell["category"], "name_en": cell["category"], "quota": None},
        )
        approved_by_category.setdefault(cell["prefecture"], Counter())
        return (
            by_category.setdefault(cell["category"], Figures()),
            by_prefecture.setdefault(cell["prefecture"], Figures()),
            total,
        )

    for cell in approvals["approved"]:
        for figures in rows_of(cell):
            figures.approved += cell["approved"]
        approved_by_category[cell["prefecture"]][cell["category"]] += cell["approved"]
    for cell in funding["cells"]:
        for figures in rows_of(cell):
            figures.add_funding(cell)
    return {
        "scope": scope,
        "quota_year": approvals["quota_year"],
        "generated_at": at,
        "sources": list(SOURCES),
        "categories": [{**categories[code], **figures.as_dict()} for code, figures in by_category.items()],
        "prefectures": [
            {
                "prefecture": prefecture,
                **figures.as_dict(),
                "approved_by_category": {code: approved_by_category[prefecture][code] for code in categories},
            }
            for prefecture, figures in by_prefecture.items()
        ],
        "totals": {"quota": sum(c["quota"] or 0 for c in categories.values()), **total.as_dict()},
    }


# ---------------------------------------------------------------- what the route answers


class MilestonesPassedSchema(StrictSchema):
    mid_term = fields.Integer(metadata={"description": "mid-term reviews passed"})
    acceptance = fields.Integer(metadata={"description": "acceptances passed"})


class FiguresSchema(StrictSchema):
    approved = fields.Integer(metadata={"description": "applications approved (立项)"})
    funded_projects = fields.Integer(metadata={"description": "approved projects whose call is allocated"})
    allocated = fields.Nested(MoneySchema, metadata={"description": "the awards, by source"})
    disbursed = fields.Nested(
        MoneySchema,
        metadata={"description": "released to the projects (拨付), by source, including what was clawed back later"},
    )
    clawed_back = fields.Nested(MoneySchema, metadata={"description": "taken back after a failed milestone"})
    milestones_passed = fields.Nested(MilestonesPassedSchema)


class CategoryProgressSchema(FiguresSchema):
    code = fields.String()
    name_zh = fields.String()
    name_en = fields.String()
    quota = fields.Integer(allow_none=True, metadata={"description": "the province's target for quota_year"})


class PrefectureProgressSchema(FiguresSchema):
    prefecture = fields.String()
    approved_by_category = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "category code -> approved"}
    )


class TotalsSchema(FiguresSchema):
    quota = fields.Integer(metadata={"description": "the categories' targets added up"})


class ProgressReportSchema(StrictSchema):
    scope = fields.String(metadata={"description": "province, or the prefecture a prefecture bureau sees"})
    quota_year = fields.Integer(metadata={"description": "the year the quotas are to be reached by (2025)"})
    generated_at = fields.DateTime(format="iso")
    sources = fields.List(fields.String(), metadata={"description": "the funding sources, in order"})
    categories = fields.List(fields.Nested(CategoryProgressSchema))
    prefectures = fields.List(fields.Nested(PrefectureProgressSchema))
    totals = fields.Nested(TotalsSchema)


# ---------------------------------------------------------------- as a workbook


def _money_headers() -> list[str]:
    return [
        header
        for label in MONEY_MEASURES.values()
        for header in (f"{label}合计（分）", *(f"{label}·{SOURCE_NAMES_ZH[source]}（分）" for source in SOURCES))
    ]


def _figure_headers() -> list[str]:
    return ["已立项", "已拨款项目", *_money_headers(), *(f"{TRIGGER_NAMES_ZH[m]}通过" for m in MILESTONES)]


def _figure_values(row: dict) -> list:
    amounts = [
        value
        for measure in MONEY_MEASURES
        for value in (row[measure]["total"], *(row[measure]["by_source"][source] for source in SOURCES))
    ]
    return [row["approved"], row["funded_projects"], *amounts, *(row["milestones_passed"][m] for m in MILESTONES)]


def report_tables(report: dict) -> list[Table]:
    """The report as sheets: per category (with the totals), per prefecture, and the approved
    per prefecture and category; money in fen."""
    scope = "全省" if report["scope"] == PROVINCE_SCOPE else report["scope"]
    categories = report["categories"]
    by_category = Table(
        "按类别",
        ("类别代码", "类别", f"{report['quota_year']}年目标", *_figure_headers()),
        tuple((c["code"], c["name_zh"], c["quota"], *_figure_values(c)) for c in categories)
        + (("", f"合计（{scope}）", report["totals"]["quota"], *_figure_values(report["totals"])),),
    )
    by_prefecture = Table(
        "按市州",
        ("市州", *_figure_headers()),
        tuple((p["prefecture"], *_figure_values(p)) for p in report["prefectures"]),
    )
    matrix = Table(
        "市州分类别立项",
        ("市州", *(c["name_zh"] for c in categories)),
        tuple(
            (p["prefecture"], *(p["approved_by_category"][c["code"]] for c in categories))
            for p in report["prefectures"]
        ),
    )
    about = Table(
        "说明",
        ("项目", "内容"),
        (
            ("范围", scope),
            ("生成时间（北京时间）", beijing_time(report["generated_at"])),
            ("金额单位", "分（1元 = 100分）"),
            ("已拨付", "已拨付给项目的资金，含其后因未通过检查而收回的部分（见“已收回”）"),
        ),
    )
    return [by_category, by_prefecture, matrix, about]
