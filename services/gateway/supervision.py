"""Yearly supervision of the prefectures (分年度考核督导): the applications service's facts (the
register's structural duties, the projects) and the funding service's local money and
milestones, scored per prefecture by the year's rubric and ranked. Pure: the route asks the
services and answers. The measures and the rubric are documented in docs/supervision.md."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from marshmallow import fields

from services.contracts.applications import DEFAULT_SUPERVISION_WEIGHTS, SUPERVISION_MEASURES
from services.gateway.exports import Table, beijing_time
from services.gateway.schemas import StrictSchema

LOCAL_SOURCES = ("local_special_bond", "local_government")
DUTIES = {
    "backbone_college": "至少一所骨干高职高专院校",
    "public_secondary_in_every_county": "每个县市区至少一所公办中职学校",
    "rebuilt_school": "改扩建一所楚怡中职学校",
}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _duties(facts: dict) -> list[dict]:
    lacking = [c["county"] for c in facts["counties"] if not c["public_secondary"]]
    return [
        {
            "duty": "backbone_college",
            "met": facts["backbone_colleges"] > 0,
            "detail": f"{facts['backbone_colleges']} backbone college(s) in the register",
        },
        {
            "duty": "public_secondary_in_every_county",
            "met": bool(facts["counties"]) and not lacking,
            "detail": (
                "no county in the register"
                if not facts["counties"]
                else f"without one: {', '.join(lacking)}"
                if lacking
                else f"all {len(facts['counties'])} counties"
            ),
            "counties_without": lacking,
        },
        {
            "duty": "rebuilt_school",
            "met": facts["rebuilt_schools"] > 0,
            "detail": f"{facts['rebuilt_schools']} sv-prefecture project(s)",
        },
    ]


def _money_and_milestones(cells: list[dict]) -> dict[str, dict[str, int]]:
    by_prefecture: dict[str, Counter] = {}
    for cell in cells:
        sums = by_prefecture.setdefault(cell["prefecture"], Counter())
        sums["allocated"] += sum(cell["allocated"][s] for s in LOCAL_SOURCES)
        sums["disbursed"] += sum(cell["disbursed"][s] for s in LOCAL_SOURCES)
        sums["passed"] += sum(cell["milestones_passed"].values())
        sums["failed"] += sum(cell.get("milestones_failed", {}).values())
    return by_prefecture


def score(weights: dict[str, int], measures: dict[str, float | None]) -> float:
    """0-100: the weighted mean of the measured shares; a measure with nothing to measure yet
    (no local money allocated, no milestone recorded, no report due) leaves the weighting."""
    counted = {name: weights[name] for name, share in measures.items() if share is not None and weights[name]}
    if not counted:
        return 0.0
    return round(100 * sum(weights[name] * measures[name] for name in counted) / sum(counted.values()), 1)


def compose_supervision(facts: dict, funding_cells: list[dict], at: datetime) -> dict:
    """The year's table: each prefecture of `facts` (the applications service's
    `supervision_facts` body) with its measures, duties and score, ranked by score."""
    weights = facts["weights"] or DEFAULT_SUPERVISION_WEIGHTS
    money = _money_and_milestones(funding_cells)
    mean_projects = facts["projects_in_province"] / 14
    rows = []
    for prefecture in facts["prefectures"]:
        name = prefecture["prefecture"]
        sums = money.get(name, Counter())
        projects = sum(prefecture["projects"].values())
        reports = prefecture.get("reports") or {}
        duties = _duties(prefecture)
        measures = {
            "projects": round(min(1.0, projects / mean_projects), 4) if mean_projects else None,
            "local_money": _share(sums["disbursed"], sums["allocated"]),
            "milestones": _share(sums["passed"], sums["passed"] + sums["failed"]),
            "reports": _share(reports.get("on_time", 0), reports.get("due", 0)),
            "duties": round(sum(d["met"] for d in duties) / len(duties), 4),
        }
        rows.append(
            {
                "prefecture": name,
                "score": score(weights, measures),
                "measures": measures,
                "projects": projects,
                "projects_by_category": prefecture["projects"],
                "local_money": {"allocated": sums["allocated"], "disbursed": sums["disbursed"]},
                "milestones": {"passed": sums["passed"], "failed": sums["failed"]},
                "duties": duties,
                "duties_missed": [d["duty"] for d in duties if not d["met"]],
            }
        )
    rows.sort(key=lambda row: -row["score"])
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return {
        "year": facts["year"],
        "generated_at": at,
        "weights": weights,
        "weights_set_by_province": facts["weights"] is not None,
        "prefectures": rows,
    }


def supervision_table(report: dict) -> Table:
    """The ranked table with Chinese headers, for the XLSX and PDF downloads."""

    def percent(share: float | None) -> str:
        return "未计" if share is None else f"{100 * share:.1f}%"

    headers = (
        "名次",
        "市州",
        "得分",
        *(f"{label}（权重{report['weights'][code]}）" for code, label in SUPERVISION_MEASURES.items()),
        "立项项目数",
        "地方资金下达（元）",
        "地方资金拨付（元）",
        *DUTIES.values(),
        "缺公办中职学校的县市区",
    )
    rows = []
    for row in report["prefectures"]:
        duties = {d["duty"]: d for d in row["duties"]}
        rows.append(
            (
                row["rank"],
                row["prefecture"],
                f"{row['score']:.1f}",
                *(percent(row["measures"][code]) for code in SUPERVISION_MEASURES),
                row["projects"],
                f"{row['local_money']['allocated'] / 100:.2f}",
                f"{row['local_money']['disbursed'] / 100:.2f}",
                *("达成" if duties[code]["met"] else "未达成" for code in DUTIES),
                "、".join(duties["public_secondary_in_every_county"]["counties_without"]),
            )
        )
    return Table(f"{report['year']}年度考核督导", headers, tuple(rows))


def supervision_lines(report: dict) -> list[str]:
    return [
        f"{report['year']}年度市州考核督导 / Supervision of the prefectures, {report['year']}",
        f"生成时间 {beijing_time(report['generated_at'])}；评分规则："
        + "，".join(f"{label}{report['weights'][code]}" for code, label in SUPERVISION_MEASURES.items()),
    ]


class DutyOut(StrictSchema):
    duty = fields.String(metadata={"description": ", ".join(f"{code} ({label})" for code, label in DUTIES.items())})
    met = fields.Boolean()
    detail = fields.String()
    counties_without = fields.List(
        fields.String(),
        metadata={"description": "counties of the register without a public secondary vocational school"},
    )


class SupervisionRowOut(StrictSchema):
    rank = fields.Integer()
    prefecture = fields.String()
    score = fields.Float(metadata={"description": "0-100 by the year's rubric"})
    measures = fields.Dict(
        keys=fields.String(),
        values=fields.Float(allow_none=True),
        metadata={"description": "each measure's share in [0, 1]; null where there is nothing to measure yet"},
    )
    projects = fields.Integer()
    projects_by_category = fields.Dict(keys=fields.String(), values=fields.Integer())
    local_money = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "local special bonds and local government money of its projects, fen"},
    )
    milestones = fields.Dict(keys=fields.String(), values=fields.Integer())
    duties = fields.List(fields.Nested(DutyOut))
    duties_missed = fields.List(fields.String())


class SupervisionReportOut(StrictSchema):
    year = fields.Integer()
    generated_at = fields.DateTime()
    weights = fields.Dict(keys=fields.String(), values=fields.Integer())
    weights_set_by_province = fields.Boolean()
    prefectures = fields.List(fields.Nested(SupervisionRowOut))
