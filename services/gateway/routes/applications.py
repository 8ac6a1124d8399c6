"""Catalogue, registry, calls and applications routes, served by the applications service."""

from __future__ import annotations

from flask import Blueprint, url_for

from services.contracts.applications_api import (
    ApplicationIn,
    ApplicationOut,
    ApplicationPageOut,
    ApplicationPatch,
    ApplicationQuery,
    CallIn,
    CallOut,
    CallPageOut,
    CallQuery,
    DecisionIn,
    DeclineIn,
    EligibilityOverrideIn,
    ExtensionIn,
    ImportReportOut,
    InstitutionIn,
    InstitutionOut,
    InstitutionPageOut,
    InstitutionQuery,
    ProgrammeListOut,
    ProjectOut,
    ProjectPageOut,
    ProjectQuery,
)
from services.gateway.auth import ANY_ROLE
from services.gateway.routing import Call, operation

SERVICE = "applications"
bp = Blueprint("applications", __name__)

REGISTRY_READERS = {"province", "prefecture", "hrss", "institution"}
RECOMMENDERS = {"prefecture", "hrss"}
SCOPES = (
    "The province sees every record, a prefecture bureau those of its prefecture's institutions, an HRSS "
    "department those of the technician schools it sponsors, an institution only its own; any other is "
    "answered 404."
)


@bp.get("/v1/programmes")
@operation(
    summary="List the programmes (categories) with their 2025 target, selected (all years), held and available",
    description="A category's calls of every year (2022-2025) count toward its one 2025 target: `selected` is "
    "what their selections took, `held` what calls in progress may still select, `available` what a "
    "new call may offer.",
    tag="catalogue",
    roles=ANY_ROLE,
    responses={200: ProgrammeListOut},
    conditional=True,
)
def list_programmes(call: Call):
    return call.rpc(SERVICE, "list_programmes").response()


# ---------------------------------------------------------------- institutions


@bp.post("/v1/institutions")
@operation(
    summary="Register an institution",
    tag="institutions",
    roles={"province"},
    body=InstitutionIn,
    idempotent=True,
    responses={201: InstitutionOut},
    problems=(409,),
    description="The unified social credit code is checked (both check digits) and unique: a second "
    "institution with the same code is a 409.",
)
def create_institution(call: Call):
    reply = call.rpc(SERVICE, "create_institution", institution=call.body)
    return reply.response(location=url_for(".get_institution", institution_id=reply.created_id()))


@bp.post("/v1/institutions:import")
@operation(
    summary="Import institutions from a CSV or XLSX file, all or nothing",
    description="Columns (Chinese or English headers): 名称/name, 类型/type, 市州/prefecture, 县市区/county, "
    "主管部门/sponsor, 统一社会信用代码/credit_code. A file with any bad row imports nothing: the answer "
    "is a 422 problem (type import-rejected) whose errors are keyed `rows.<row>.<field>` (the header "
    "is row 1) or `file`, each message in Chinese and English.",
    tag="institutions",
    roles={"province"},
    upload=True,
    idempotent=True,
    responses={201: ImportReportOut},
    problems=(409,),
)
def import_institutions(call: Call):
    return call.rpc(SERVICE, "import_institutions", **call.body).response()


@bp.get("/v1/institutions")
@operation(
    summary="List institutions",
    description=SCOPES,
    tag="institutions",
    roles=REGISTRY_READERS,
    query=InstitutionQuery,
    responses={200: InstitutionPageOut},
)
def list_institutions(call: Call):
    return call.rpc(SERVICE, "list_institutions", **call.query).response()


@bp.get("/v1/institutions/<institution_id>")
@operation(
    summary="One institution",
    description=SCOPES,
    tag="institutions",
    roles=REGISTRY_READERS,
    responses={200: InstitutionOut},
    problems=(404,),
)
def get_institution(call: Call, institution_id: str):
    return call.rpc(SERVICE, "get_institution", institution_id=institution_id).response()


# ---------------------------------------------------------------- calls


@bp.post("/v1/calls")
@operation(
    summary="Create a call (遴选批次) for one category",
    description="The call is a draft until its opens_at, when it opens by itself (at once if opens_at has "
    "passed); it closes by itself at closes_at. Its quota is at most what is left of the category's "
    "quota (selected so far and held by unfinished calls count): more is a 409 (quota-exceeded).",
    tag="calls",
    roles={"province"},
    body=CallIn,
    idempotent=True,
    responses={201: CallOut},
    problems=(409,),
)
def create_call(call: Call):
    reply = call.rpc(SERVICE, "create_call", call=call.body)
    return reply.response(location=url_for(".get_call", call_id=reply.created_id()))


@bp.get("/v1/calls")
@operation(
    summary="List calls",
    description="Drafts are listed for the province only.",
    tag="calls",
    roles=ANY_ROLE,
    query=CallQuery,
    responses={200: CallPageOut},
    conditional=True,
)
def list_calls(call: Call):
    return call.rpc(SERVICE, "list_calls", **call.query).response()


@bp.get("/v1/calls/<call_id>")
@operation(
    summary="One call, with its status history",
    description="A draft is the province's only.",
    tag="calls",
    roles=ANY_ROLE,
    responses={200: CallOut},
    problems=(404,),
    conditional=True,
)
def get_call(call: Call, call_id: str):
    return call.rpc(SERVICE, "get_call", call_id=call_id).response()


@bp.post("/v1/calls/<call_id>/open")
@operation(
    summary="Open a draft call now, before its opens_at",
    tag="calls",
    roles={"province"},
    idempotent=True,
    responses={200: CallOut},
    problems=(404, 409),
)
def open_call(call: Call, call_id: str):
    return call.rpc(SERVICE, "open_call", call_id=call_id).response()


@bp.post("/v1/calls/<call_id>/close")
@operation(
    summary="Close an open call's window now, before its closes_at",
    tag="calls",
    roles={"province"},
    body=DecisionIn,
    responses={200: CallOut},
    problems=(404, 409),
    description="The call goes on to recommendation and review as if its time had come (call_closed).",
)
def close_call_early(call: Call, call_id: str):
    return call.rpc(SERVICE, "close_call_early", call_id=call_id, decision=call.body).response()


@bp.post("/v1/calls/<call_id>/extend")
@operation(
    summary="Extend an open call's window to a later closes_at; its applicants are told",
    tag="calls",
    roles={"province"},
    body=ExtensionIn,
    responses={200: CallOut},
    problems=(404, 409),
    description="Only before the window has passed (409 window-closed after it); the new closes_at must be "
    "later than the current one (422). Emits call_extended.",
)
def extend_call(call: Call, call_id: str):
    return call.rpc(SERVICE, "extend_call", call_id=call_id, extension=call.body).response()


@bp.post("/v1/calls/<call_id>/cancel")
@operation(
    summary="Cancel a draft or open call, with a reason",
    description="All or nothing: the call is cancelled, each of its unsettled applications closed "
    "(call_cancelled), exactly the quota it held released, and its applicants told. Once review has "
    "started a call cannot be cancelled (409).",
    tag="calls",
    roles={"province"},
    body=DeclineIn,
    responses={200: CallOut},
    problems=(404, 409),
)
def cancel_call(call: Call, call_id: str):
    return call.rpc(SERVICE, "cancel_call", call_id=call_id, decision=call.body).response()


# ---------------------------------------------------------------- projects

PROJECT_READERS = {"province", "finance", "prefecture", "hrss", "institution"}
PROJECT_SCOPES = (
    "The province and finance see every project, a prefecture bureau its prefecture's, an HRSS "
    "department its sponsored schools', an institution its own; any other is answered 404."
)


@bp.get("/v1/projects")
@operation(
    summary="List projects (立项项目)",
    description=PROJECT_SCOPES,
    tag="projects",
    roles=PROJECT_READERS,
    query=ProjectQuery,
    responses={200: ProjectPageOut},
    conditional=True,
)
def list_projects(call: Call):
    return call.rpc(SERVICE, "list_projects", **call.query).response()


@bp.get("/v1/projects/<project_id>")
@operation(
    summary="One project: plan, yearly targets, money, milestones, history",
    description=PROJECT_SCOPES,
    tag="projects",
    roles=PROJECT_READERS,
    responses={200: ProjectOut},
    problems=(404,),
    conditional=True,
)
def get_project(call: Call, project_id: str):
    return call.rpc(SERVICE, "get_project", project_id=project_id).response()


@bp.post("/v1/projects/<project_id>/successor")
@operation(
    summary="Give the place of a project that left to its call's reserve list (动态调整，候补递补)",
    description="The province's other choice for a failed or withdrawn project's place (the default returns it to "
    "the category for a later call): the best-ranked application waiting on the project's call's "
    "reserve list (review's final cut, after upheld objections) that the call's cap per prefecture "
    "admits is approved in its place and becomes a project (project_established); funding awards it "
    "by the call's rule at the rank of the place (project_replaced); the place counts as selected "
    "again in GET /v1/programmes. The reserve list is valid for one year after the call's selection "
    "was finalized. All or nothing; 409 when the project has not left (project-not-left), its place "
    "went to the reserve list already or a later call holds it (place-taken), the list has expired "
    "(reserve-expired) or no waiting application remains on it (reserve-empty).",
    tag="projects",
    roles={"province"},
    idempotent=True,
    responses={201: ProjectOut},
    problems=(404, 409),
)
def give_place_to_reserve(call: Call, project_id: str):
    reply = call.rpc(SERVICE, "give_place_to_reserve", project_id=project_id)
    return reply.response(location=url_for(".get_project", project_id=reply.created_id()))


# ---------------------------------------------------------------- applications


@bp.post("/v1/applications")
@operation(
    summary="Start a draft application for an open call",
    description="For the institution of the token. One per institution per call in school, specialty, base and "
    "group categories; up to the call's per_institution_limit in person and team categories (409 "
    "application-limit-reached beyond). Team members' ID numbers and phones are never answered "
    "unmasked.",
    tag="applications",
    roles={"institution"},
    body=ApplicationIn,
    idempotent=True,
    responses={201: ApplicationOut},
    problems=(403, 409),
)
def create_application(call: Call):
    reply = call.rpc(SERVICE, "create_application", application=call.body)
    return reply.response(location=url_for(".get_application", application_id=reply.created_id()))


@bp.get("/v1/applications")
@operation(
    summary="List applications",
    description=SCOPES,
    tag="applications",
    roles=REGISTRY_READERS,
    query=ApplicationQuery,
    responses={200: ApplicationPageOut},
)
def list_applications(call: Call):
    return call.rpc(SERVICE, "list_applications", **call.query).response()


@bp.get("/v1/applications/<application_id>")
@operation(
    summary="One application, with its status history (who, when, from, to, why)",
    description=SCOPES,
    tag="applications",
    roles=REGISTRY_READERS,
    responses={200: ApplicationOut},
    problems=(404,),
)
def get_application(call: Call, application_id: str):
    return call.rpc(SERVICE, "get_application", application_id=application_id).response()


@bp.patch("/v1/applications/<application_id>")
@operation(
    summary="Change a draft: the fields given replace the stored ones",
    tag="applications",
    roles={"institution"},
    body=ApplicationPatch,
    responses={200: ApplicationOut},
    problems=(404, 409),
)
def update_application(call: Call, application_id: str):
    return call.rpc(SERVICE, "update_application", application_id=application_id, changes=call.body).response()


@bp.post("/v1/applications/<application_id>/submit")
@operation(
    summary="Submit a draft",
    description="Within the call's window only (after it: 409 window-closed). Needs industry_fields. The "
    "automatic eligibility rules run and their findings are stored with the application.",
    tag="applications",
    roles={"institution"},
    idempotent=True,
    responses={200: ApplicationOut},
    problems=(404, 409),
)
def submit_application(call: Call, application_id: str):
    return call.rpc(SERVICE, "submit_application", application_id=application_id).response()


@bp.post("/v1/applications/<application_id>/withdraw")
@operation(
    summary="Withdraw an application (draft, submitted or recommended), with an optional reason",
    tag="applications",
    roles={"institution"},
    body=DecisionIn,
    idempotent=True,
    responses={200: ApplicationOut},
    problems=(404, 409),
)
def withdraw_application(call: Call, application_id: str):
    return call.rpc(SERVICE, "withdraw_application", application_id=application_id, decision=call.body).response()


@bp.post("/v1/applications/<application_id>/recommend")
@operation(
    summary="Recommend a submitted application",
    description="By its recommending authority: the prefecture bureau for its prefecture's institutions, the "
    "HRSS sponsor for a technician school (403 for anyone else who can see it). At most the call's "
    "prefecture_cap per authority: beyond it, 409 recommendation-cap-reached.",
    tag="applications",
    roles=RECOMMENDERS,
    body=DecisionIn,
    idempotent=True,
    responses={200: ApplicationOut},
    problems=(403, 404, 409),
)
def recommend_application(call: Call, application_id: str):
    return call.rpc(SERVICE, "recommend_application", application_id=application_id, decision=call.body).response()


@bp.post("/v1/applications/<application_id>/decline")
@operation(
    summary="Decline to recommend a submitted application (a reason is required)",
    tag="applications",
    roles=RECOMMENDERS,
    body=DeclineIn,
    idempotent=True,
    responses={200: ApplicationOut},
    problems=(403, 404, 409),
)
def decline_application(call: Call, application_id: str):
    return call.rpc(SERVICE, "decline_application", application_id=application_id, decision=call.body).response()


@bp.post("/v1/applications/<application_id>/eligibility")
@operation(
    summary="Decide the eligibility of a recommended application",
    description="The automatic rules run again; `eligible` equal to their outcome confirms it, the other value "
    "overrides it and needs a reason. Emits eligibility_checked.",
    tag="applications",
    roles={"province"},
    body=EligibilityOverrideIn,
    idempotent=True,
    responses={200: ApplicationOut},
    problems=(404, 409),
)
def decide_eligibility(call: Call, application_id: str):
    return call.rpc(SERVICE, "decide_eligibility", application_id=application_id, decision=call.body).response()
