"""Supervision: the progress report, composed from the applications and funding services,
as JSON or XLSX, and the province's dashboard page that draws it."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, jsonify, render_template, send_from_directory

from marshmallow import fields, validate

from services.common.clock import utcnow
from services.contracts.reference import ACTION_YEARS
from services.contracts.applications_api import SupervisionWeightsIn, SupervisionWeightsOut
from services.gateway.exports import PDF, download, format_field, pdf, requested_format, xlsx
from services.gateway.progress import PROVINCE_SCOPE, ProgressReportSchema, compose_report, report_tables
from services.gateway.routing import PUBLIC, XLSX, Call, operation
from services.gateway.schemas import StrictSchema
from services.gateway.supervision import SupervisionReportOut, compose_supervision, supervision_lines, supervision_table

TAG = "supervision"
STATIC = Path(__file__).resolve().parent.parent / "static"
bp = Blueprint("reports", __name__)


class ProgressQuery(StrictSchema):
    format = format_field("xlsx")


@bp.get("/v1/reports/progress")
@operation(
    summary="Progress against the 2025 targets, per category and per prefecture",
    description="Per category: approved (立项) against its quota, the approved projects funded, money allocated, "
    "disbursed and clawed back by source (integer fen), milestones passed; the same per prefecture, "
    "with the approved per category. The province sees every prefecture; a prefecture bureau only "
    "its own (and the categories' figures of its own projects). `?format=xlsx` (or `Accept: "
    f"{XLSX}`) answers the same as an XLSX workbook with Chinese headers.",
    tag=TAG,
    roles={"province", "prefecture"},
    query=ProgressQuery,
    responses={200: ProgressReportSchema},
    downloads=(XLSX,),
)
def progress_report(call: Call):
    approvals, funding = (
        reply.body
        for reply in call.rpc_each([("applications", "progress_report", {}), ("funding", "progress_report", {})])
    )
    scope = call.actor.prefecture if call.actor.role == "prefecture" else PROVINCE_SCOPE
    at = utcnow()
    report = compose_report(scope, approvals, funding, at)
    if requested_format(call.query, call.operation.downloads) == XLSX:
        return download(xlsx(report_tables(report)), XLSX, f"progress-report-{at:%Y%m%d}")
    return jsonify(ProgressReportSchema().dump(report))


class SupervisionQuery(StrictSchema):
    year = fields.Integer(
        required=True,
        validate=validate.Range(ACTION_YEARS[0], ACTION_YEARS[-1]),
        metadata={"description": f"the year supervised ({ACTION_YEARS[0]}-{ACTION_YEARS[-1]})"},
    )
    format = format_field("xlsx", "pdf")


@bp.get("/v1/reports/supervision")
@operation(
    summary="The year's supervision of the prefectures (考核督导): measures, structural duties, score, rank",
    description="Per prefecture: its projects (calls of the year and before) against the provincial mean, local "
    "money (local special bonds and local government) disbursed against allocated, milestones passed "
    "against recorded, annual reports on time against due, and the notice's structural duties (a "
    "backbone higher-vocational college; a public secondary vocational school in every county of the "
    "register; its rebuilt Chuyi secondary school), each met or missed; a score of 0-100 by the year's "
    "rubric (PUT /v1/reports/supervision/rubric; docs/supervision.md) and the rank. The province sees "
    "every prefecture, a prefecture bureau its own. `?format=xlsx` or `?format=pdf` answers the "
    "ranked table as a download.",
    tag=TAG,
    roles={"province", "prefecture"},
    query=SupervisionQuery,
    responses={200: SupervisionReportOut},
    downloads=(XLSX, PDF),
)
def supervision_report(call: Call):
    facts, funding = (
        reply.body
        for reply in call.rpc_each(
            [("applications", "supervision_facts", {"year": call.query["year"]}), ("funding", "progress_report", {})]
        )
    )
    report = compose_supervision(facts, funding["cells"], utcnow())
    wanted = requested_format(call.query, call.operation.downloads)
    name = f"supervision-{report['year']}"
    if wanted == XLSX:
        return download(xlsx([supervision_table(report)]), XLSX, name)
    if wanted == PDF:
        title = f"{report['year']}年度市州考核督导"
        return download(pdf(title, supervision_lines(report), supervision_table(report)), PDF, name)
    return jsonify(SupervisionReportOut().dump(report))


@bp.put("/v1/reports/supervision/rubric")
@operation(
    summary="Set the rubric of a year's supervision: a weight per measure, together 100",
    description="Until the province sets one, a year is scored by the default rubric (docs/supervision.md).",
    tag=TAG,
    roles={"province"},
    body=SupervisionWeightsIn,
    responses={200: SupervisionWeightsOut},
)
def set_supervision_rubric(call: Call):
    return call.rpc("applications", "set_supervision_weights", rubric=call.body).response()


@bp.get("/dashboard")
@operation(
    summary="The province's dashboard: progress against the 2025 targets (a page)",
    description="The page is public; its data is not. Open it as `/dashboard#token=<JWT>` with a province (or "
    "prefecture) token: the script reads the token from the fragment, which browsers never send to "
    "the server (so it stays out of access logs), keeps it for the tab's session, removes it from the "
    "address bar, and fetches `/v1/reports/progress` with it as a Bearer token. Without one, the page "
    "asks for it.",
    tag=TAG,
    roles=PUBLIC,
    responses={200: "text/html"},
)
def dashboard(call: Call):
    return render_template("dashboard.html")


@bp.get("/dashboard.js")
@operation(summary="The dashboard page's script", tag=TAG, roles=PUBLIC, responses={200: "text/javascript"})
def dashboard_script(call: Call):
    return send_from_directory(STATIC, "dashboard.js", mimetype="text/javascript")
