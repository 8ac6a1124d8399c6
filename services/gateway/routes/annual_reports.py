"""Annual progress reports (年度建设进展报告) routes, served by the applications service (which
keeps the projects they report on: docs/reports.md)."""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from services.contracts.applications import MATERIAL_KINDS, MEDIA_TYPES, REPORT_MATERIAL_KINDS
from services.contracts.applications_api import (
    AnnualReportDraftIn,
    AnnualReportFileIn,
    AnnualReportIn,
    AnnualReportOut,
    AnnualReportPageOut,
    AnnualReportQuery,
    DeadlineExtensionIn,
    DecisionIn,
    DeclineIn,
    MaterialListOut,
    MaterialOut,
    OverdueOut,
    ReportWindowIn,
    ReportWindowListOut,
    ReportWindowOut,
)
from services.common.fields import BaseSchema, Text, choice
from services.gateway.auth import ANY_ROLE
from services.gateway.routes.materials import download, upload
from services.gateway.routing import Call, operation

SERVICE = "applications"
TAG = "annual reports"
bp = Blueprint("annual_reports", __name__)

READERS = {"province", "finance", "prefecture", "hrss", "institution"}
RECOMMENDERS = {"prefecture", "hrss"}
# Finance (which reads reports) and experts pass the role check only to be answered 404 like
# anyone else the files are not for: a report's files do not admit to existing.
EVIDENCE_ROLES = READERS | {"expert"}
WHO_READS_EVIDENCE = (
    "The project's institution, its recommending authority (prefecture bureau or HRSS department) "
    "and the province read a report's evidence files; anyone else (another institution or "
    "prefecture, finance, an expert) is answered 404."
)
SCOPES = (
    "A project's readers read its reports: the province and finance every one, a prefecture bureau its "
    "prefecture's, an HRSS department its sponsored schools', an institution its own; any other is "
    "answered 404."
)


@bp.post("/v1/report-windows")
@operation(
    summary="Open the annual progress reports of a year, with a deadline (one window per year)",
    description="Every project standing that year (its call of the year or before, established by the deadline, "
    "not failed) owes one report. Filing opens at opens_at (now if absent); a report first filed "
    "after due_at is late. Institutions not filed yet are reminded remind_hours before due_at "
    "(annual_report_due). A second window for the year is a 409 (window-exists).",
    tag=TAG,
    roles={"province"},
    body=ReportWindowIn,
    idempotent=True,
    responses={201: ReportWindowOut},
    problems=(409,),
)
def open_report_window(call: Call):
    reply = call.rpc(SERVICE, "open_report_window", window=call.body)
    return reply.response(location=url_for(".get_report_window", window_id=reply.created_id()))


@bp.get("/v1/report-windows")
@operation(
    summary="List the reporting windows, by year",
    tag=TAG,
    roles=ANY_ROLE,
    responses={200: ReportWindowListOut},
    conditional=True,
)
def list_report_windows(call: Call):
    return call.rpc(SERVICE, "list_report_windows").response()


@bp.get("/v1/report-windows/<window_id>")
@operation(
    summary="One reporting window",
    tag=TAG,
    roles=ANY_ROLE,
    responses={200: ReportWindowOut},
    problems=(404,),
    conditional=True,
)
def get_report_window(call: Call, window_id: str):
    return call.rpc(SERVICE, "get_report_window", window_id=window_id).response()


@bp.post("/v1/report-windows/<window_id>/extend")
@operation(
    summary="Move a reporting deadline later, before it has passed",
    description="Only before the deadline (409 deadline-passed after it); the new due_at must be later than the "
    "current one (422 naming due_at). Reports filed by the new deadline are on time; those not filed "
    "yet are reminded again as it nears. Emits report_window_extended.",
    tag=TAG,
    roles={"province"},
    body=DeadlineExtensionIn,
    responses={200: ReportWindowOut},
    problems=(404, 409),
)
def extend_report_window(call: Call, window_id: str):
    return call.rpc(SERVICE, "extend_report_window", window_id=window_id, extension=call.body).response()


@bp.get("/v1/report-windows/<window_id>/overdue")
@operation(
    summary="The window's missing and late reports",
    description="`missing`: the due projects without a report (overdue once `past_due`); `late`: reports first "
    "filed after the deadline. The province sees every prefecture, a prefecture bureau its own.",
    tag=TAG,
    roles={"province", "prefecture"},
    responses={200: OverdueOut},
    problems=(404,),
)
def overdue_reports(call: Call, window_id: str):
    return call.rpc(SERVICE, "overdue_reports", window_id=window_id).response()


@bp.post("/v1/projects/<project_id>/annual-reports/drafts")
@operation(
    summary="Start the project's annual progress report for a year as a draft",
    description="By the project's institution, once the year's window has opened, to gather its evidence files "
    "(POST /v1/annual-reports/{id}/materials) before filing it. Filing the year's report (POST "
    "/v1/projects/{id}/annual-reports) files the draft. A draft is not filed: until then the project's "
    "report counts as missing, and the reminder still goes out. One report per project and year (409 "
    "already-filed).",
    tag=TAG,
    roles={"institution"},
    body=AnnualReportDraftIn,
    idempotent=True,
    responses={201: AnnualReportOut},
    problems=(404, 409),
)
def start_annual_report(call: Call, project_id: str):
    reply = call.rpc(SERVICE, "start_annual_report", project_id=project_id, report=call.body)
    return reply.response(location=url_for(".get_annual_report", report_id=reply.created_id()))


@bp.post("/v1/projects/<project_id>/annual-reports")
@operation(
    summary="File the project's annual progress report for a year",
    description="By the project's institution, once the year's window has opened: a summary and every target "
    "of the plan for that year (yearly_targets), each by its index among the year's targets, as met, "
    "partly_met or not_met with evidence. Files the year's draft if one was started. One report per "
    "project and year (409 already-filed: refile it once returned). After the deadline it is accepted "
    "and marked late. Emits annual_report_filed.",
    tag=TAG,
    roles={"institution"},
    body=AnnualReportFileIn,
    idempotent=True,
    responses={201: AnnualReportOut},
    problems=(404, 409),
)
def file_annual_report(call: Call, project_id: str):
    reply = call.rpc(SERVICE, "file_annual_report", project_id=project_id, report=call.body)
    return reply.response(location=url_for(".get_annual_report", report_id=reply.created_id()))


@bp.get("/v1/annual-reports")
@operation(
    summary="List annual progress reports",
    description=SCOPES,
    tag=TAG,
    roles=READERS,
    query=AnnualReportQuery,
    responses={200: AnnualReportPageOut},
)
def list_annual_reports(call: Call):
    return call.rpc(SERVICE, "list_annual_reports", **call.query).response()


@bp.get("/v1/annual-reports/<report_id>")
@operation(
    summary="One annual progress report, with its evidence files and its history (who, when, from, to, why; "
    "evidence files added and removed)",
    description=SCOPES,
    tag=TAG,
    roles=READERS,
    responses={200: AnnualReportOut},
    problems=(404,),
    conditional=True,
)
def get_annual_report(call: Call, report_id: str):
    return call.rpc(SERVICE, "get_annual_report", report_id=report_id).response()


@bp.post("/v1/annual-reports/<report_id>/refile")
@operation(
    summary="File a returned report again (the whole content, as for filing)",
    tag=TAG,
    roles={"institution"},
    body=AnnualReportIn,
    idempotent=True,
    responses={200: AnnualReportOut},
    problems=(404, 409),
)
def refile_annual_report(call: Call, report_id: str):
    return call.rpc(SERVICE, "refile_annual_report", report_id=report_id, report=call.body).response()


@bp.post("/v1/annual-reports/<report_id>/endorse")
@operation(
    summary="Endorse a filed report (审核推荐), with an optional comment",
    description="By the project's recommending authority: its prefecture bureau, or the HRSS sponsor of a "
    "technician school (403 not-recommender for anyone else who can see it).",
    tag=TAG,
    roles=RECOMMENDERS,
    body=DecisionIn,
    idempotent=True,
    responses={200: AnnualReportOut},
    problems=(403, 404, 409),
)
def endorse_annual_report(call: Call, report_id: str):
    return call.rpc(SERVICE, "endorse_annual_report", report_id=report_id, decision=call.body).response()


@bp.post("/v1/annual-reports/<report_id>/return")
@operation(
    summary="Return a report to its institution, with a reason (required)",
    description="A filed report by its recommending authority; an endorsed one by the province. The institution "
    "refiles it. Emits annual_report_returned (the institution is told why).",
    tag=TAG,
    roles=RECOMMENDERS | {"province"},
    body=DeclineIn,
    idempotent=True,
    responses={200: AnnualReportOut},
    problems=(403, 404, 409),
)
def return_annual_report(call: Call, report_id: str):
    return call.rpc(SERVICE, "return_annual_report", report_id=report_id, decision=call.body).response()


@bp.post("/v1/annual-reports/<report_id>/accept")
@operation(
    summary="Accept an endorsed report (省级验收), with an optional comment",
    tag=TAG,
    roles={"province"},
    body=DecisionIn,
    idempotent=True,
    responses={200: AnnualReportOut},
    problems=(404, 409),
)
def accept_annual_report(call: Call, report_id: str):
    return call.rpc(SERVICE, "accept_annual_report", report_id=report_id, decision=call.body).response()


# ------------------------------------------------------------ evidence files (佐证材料)


class EvidenceUploadQuery(BaseSchema):
    kind = choice({code: MATERIAL_KINDS[code].zh for code in REPORT_MATERIAL_KINDS}, load_default="evidence")
    filename = Text(255, required=True, metadata={"description": "the file's name, without any path"})


@bp.post("/v1/annual-reports/<report_id>/materials")
@operation(
    summary="File an evidence file (佐证材料: PDF, DOCX, XLSX, JPEG or PNG) with a draft or returned report",
    description="By the project's institution while the report is a draft or returned for changes; from filing "
    "until it is returned, and once endorsed or accepted, the files are frozen (409 not-editable). The "
    "body is the file itself; the type is decided from the content, with the same refusals as an "
    "application's materials: 415 another type or content that does not open, 422 an unsafe file or "
    "a name with a path, 413 a file past MATERIALS_MAX_FILE_BYTES (20 MB) or the report's files past "
    "MATERIALS_MAX_REPORT_BYTES (50 MB). kind is evidence (default) or other. The same content filed "
    "twice is stored once.",
    tag=TAG,
    roles={"institution"},
    query=EvidenceUploadQuery,
    streams=True,
    responses={201: MaterialOut},
    problems=(404, 409),
)
def file_report_material(call: Call, report_id: str):
    return upload(call, f"/internal/annual-reports/{report_id}/materials", f"/v1/annual-reports/{report_id}/materials")


@bp.get("/v1/annual-reports/<report_id>/materials")
@operation(
    summary="List an annual report's evidence files",
    description=WHO_READS_EVIDENCE,
    tag=TAG,
    roles=EVIDENCE_ROLES,
    responses={200: MaterialListOut},
    problems=(404,),
)
def list_report_materials(call: Call, report_id: str):
    return call.rpc(SERVICE, "list_report_materials", report_id=report_id).response()


@bp.get("/v1/annual-reports/<report_id>/materials/<material_id>")
@operation(
    summary="Download an annual report's evidence file",
    description=f"{WHO_READS_EVIDENCE} Content-Disposition names the file (RFC 5987 filename* for Chinese names); "
    "ETag is the content's SHA-256 and Range requests are answered 206.",
    tag=TAG,
    roles=EVIDENCE_ROLES,
    responses={200: "application/octet-stream"},
    downloads=MEDIA_TYPES,
    problems=(404,),
)
def read_report_material(call: Call, report_id: str, material_id: str):
    return download(call, f"/internal/annual-reports/{report_id}/materials/{material_id}")


@bp.delete("/v1/annual-reports/<report_id>/materials/<material_id>")
@operation(
    summary="Remove an evidence file from a draft or returned report (it stays in the history)",
    tag=TAG,
    roles={"institution"},
    responses={204: None},
    problems=(404, 409),
)
def remove_report_material(call: Call, report_id: str, material_id: str):
    call.rpc(SERVICE, "remove_report_material", report_id=report_id, material_id=material_id)
    return Response(status=204)
