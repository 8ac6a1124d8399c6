"""Supervision: the progress report, composed from the applications and funding services,
as JSON or XLSX, and the province's dashboard page that draws it."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from flask import Blueprint, jsonify, render_template, send_from_directory

from services.gateway.exports import download, format_field, requested_format, xlsx
from services.gateway.progress import PROVINCE_SCOPE, ProgressReportSchema, compose_report, report_tables
from services.gateway.routing import PUBLIC, XLSX, Call, operation
from services.gateway.schemas import StrictSchema

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
    tag=TAG, roles={"province", "prefecture"}, query=ProgressQuery, responses={200: ProgressReportSchema},
    downloads=(XLSX,),
)
def progress_report(call: Call):
    approvals = call.rpc("applications", "progress_report").body
    funding = call.rpc("funding", "progress_report").body
    scope = call.actor.prefecture if call.actor.role == "prefecture" else PROVINCE_SCOPE
    at = datetime.now(timezone.utc)
    report = compose_report(scope, approvals, funding, at)
    if requested_format(call.query, call.operation.downloads) == XLSX:
        return download(xlsx(report_tables(report)), XLSX, f"progress-report-{at:%Y%m%d}")
    return jsonify(ProgressReportSchema().dump(report))


@bp.get("/dashboard")
@operation(
    summary="The province's dashboard: progress against the 2025 targets (a page)",
    description="The page is public; its data is not. Open it as `/dashboard#token=<JWT>` with a province (or "
                "prefecture) token: the script reads the token from the fragment, which browsers never send to "
                "the server (so it stays out of access logs), keeps it for the tab's session, removes it from the "
                "address bar, and fetches `/v1/reports/progress` with it as a Bearer token. Without one, the page "
                "asks for it.",
    tag=TAG, roles=PUBLIC, responses={200: "text/html"},
)
def dashboard(call: Call):
    return render_template("dashboard.html")


@bp.get("/dashboard.js")
@operation(summary="The dashboard page's script", tag=TAG, roles=PUBLIC, responses={200: "text/javascript"})
def dashboard_script(call: Call):
    return send_from_directory(STATIC, "dashboard.js", mimetype="text/javascript")
