"""Review routes: the expert pool, assignment, reviews, ranking, the public notice,
objections and the final selection, served by the review service."""

from __future__ import annotations

from flask import Blueprint, url_for

from services.gateway.exports import JSON, PDF, format_field, requested_format
from services.gateway.notice import notice_download
from services.gateway.routing import PUBLIC, XLSX, Call, operation
from services.contracts.review import MAX_OBJECTIONS_PER_FILER, OBJECTORS
from services.gateway.schemas import PageQuerySchema, StrictSchema
from services.contracts.review_api import (
    AssignmentFilterIn,
    AssignmentJobOut,
    AssignmentPageOut,
    AssignmentRunIn,
    AssignmentRunOut,
    AssignmentDeclineIn,
    AssignmentDeclineOut,
    ExpertFilterIn,
    ExpertImportOut,
    ExpertIn,
    ExpertOut,
    ExpertPageOut,
    NoticeIn,
    NoticeOut,
    ObjectionIn,
    ObjectionOut,
    RankingOut,
    ResolveIn,
    ReviewIn,
    ReviewOut,
    SelectionOut,
)

SERVICE = "review"
TAG = "review"
bp = Blueprint("review", __name__)


class ExpertQuery(PageQuerySchema, ExpertFilterIn):
    pass


class AssignmentQuery(PageQuerySchema, AssignmentFilterIn):
    pass


@bp.post("/v1/experts")
@operation(
    summary="Add an expert to the pool",
    description="The ID numbers (the expert's own, and declared conflicts with people) are kept only as person "
    "keys, to recognise the expert or a declared person in an applying team; they are never echoed.",
    tag=TAG,
    roles={"province"},
    body=ExpertIn,
    idempotent=True,
    responses={201: ExpertOut},
    problems=(409,),
)
def create_expert(call: Call):
    return call.rpc(SERVICE, "create_expert", expert=call.body).response()


@bp.post("/v1/experts:import")
@operation(
    summary="Import experts from a CSV or XLSX file, all or nothing",
    description="Columns (Chinese or English headers): 姓名/name, 身份证号/id_number, 单位编号/institution_id, "
    "单位名称/institution_name, 市州/prefecture, 专业大类/fields, 关键词/keywords, 评审类别/categories, "
    "回避单位/conflict_institution_ids, 回避人员身份证号/conflict_id_numbers, 评审上限/load_cap, "
    "是否可评审/available; several values in one cell are separated by ; or 、. A rejected file comes "
    "back as a 422 problem whose errors are keyed 'row N.<column>', each message in Chinese and English.",
    tag=TAG,
    roles={"province"},
    upload=True,
    idempotent=True,
    responses={201: ExpertImportOut},
    problems=(409,),
)
def import_experts(call: Call):
    return call.rpc(SERVICE, "import_experts", **call.body).response()


@bp.get("/v1/experts")
@operation(summary="The expert pool", tag=TAG, roles={"province"}, query=ExpertQuery, responses={200: ExpertPageOut})
def list_experts(call: Call):
    return call.rpc(SERVICE, "list_experts", **call.query).response()


@bp.post("/v1/calls/<call_id>/assignments")
@operation(
    summary="Assign experts to the call's eligible applications",
    description="Solves for the open review slots (all of them on the first run), keeping standing assignments, "
    "never assigning a conflicted pair. Answers the run's quality (total affinity, coverage, load "
    "spread), the applications left short with why, and how long the solve took. The first run sets "
    "the review deadline. Refused (409) while the call is open or once the ranking is published. "
    "A call of more open applications than the service solves at once (ASSIGN_INLINE_MAX_APPLICATIONS, "
    "20 000 by default), or a run asked for with background: true, is accepted (202) as a job instead, "
    "after the same checks: follow it at its Location (GET /v1/assignment-jobs/{job_id}). One job per call "
    "at a time: another request meanwhile is refused (409, assignment-job-running) naming it.",
    tag=TAG,
    roles={"province"},
    body=AssignmentRunIn,
    idempotent=True,
    responses={201: AssignmentRunOut, 202: AssignmentJobOut},
    problems=(404, 409),
)
def run_assignment(call: Call, call_id: str):
    reply = call.rpc(SERVICE, "run_assignment", call_id=call_id, run=call.body)
    if reply.status == 202:
        return reply.response(location=url_for(".get_assignment_job", job_id=reply.created_id()))
    return reply.response()


@bp.get("/v1/assignment-jobs/<job_id>")
@operation(
    summary="An assignment job: its state and progress; once done its run, once failed why",
    description="queued, then solving (progress: reading, scoring, solving with the flows solved of all, or "
    "in a call large enough to be auctioned the slots filled of all, saving), then done with the run as a run at once answers it, or failed with the problem "
    "the run was refused with (the call's assignments kept changing, the expert pool emptied, ...).",
    tag=TAG,
    roles={"province"},
    responses={200: AssignmentJobOut},
    problems=(404,),
)
def get_assignment_job(call: Call, job_id: str):
    return call.rpc(SERVICE, "get_assignment_job", job_id=job_id).response()


@bp.get("/v1/assignments")
@operation(
    summary="Assignments: an expert's own; the province's all (filter by call, application, expert, status)",
    tag=TAG,
    roles={"province", "expert"},
    query=AssignmentQuery,
    responses={200: AssignmentPageOut},
)
def list_assignments(call: Call):
    return call.rpc(SERVICE, "list_assignments", **call.query).response()


@bp.post("/v1/assignments/<assignment_id>/decline")
@operation(
    summary="Decline an assignment, with a reason; a replacement is assigned",
    description="Only an assignment not yet reviewed, before the review deadline. The replacement re-solves only "
    "the open slots and never offers the declined pair again.",
    tag=TAG,
    roles={"expert"},
    body=AssignmentDeclineIn,
    idempotent=True,
    responses={200: AssignmentDeclineOut},
    problems=(404, 409),
)
def decline_assignment(call: Call, assignment_id: str):
    return call.rpc(SERVICE, "decline_assignment", assignment_id=assignment_id, decline=call.body).response()


@bp.put("/v1/assignments/<assignment_id>/review")
@operation(
    summary="Write or edit your review: a whole score per rubric criterion, and comments",
    description="Editable until the review deadline (and while the ranking is unpublished). The total is the "
    "weighted sum on a 0-100 scale, in hundredths.",
    tag=TAG,
    roles={"expert"},
    body=ReviewIn,
    responses={200: ReviewOut},
    problems=(404, 409),
)
def put_review(call: Call, assignment_id: str):
    return call.rpc(SERVICE, "put_review", assignment_id=assignment_id, review=call.body).response()


@bp.get("/v1/assignments/<assignment_id>/review")
@operation(
    summary="A review, with what the other experts scored where the visibility rule allows",
    description="An expert sees the other reviews of the application only after submitting their own and once "
    "the review deadline has passed; the province sees all.",
    tag=TAG,
    roles={"expert", "province"},
    responses={200: ReviewOut},
    problems=(404,),
)
def get_review(call: Call, assignment_id: str):
    return call.rpc(SERVICE, "get_review", assignment_id=assignment_id).response()


@bp.get("/v1/calls/<call_id>/ranking")
@operation(
    summary="The call's calibrated ranking within its quota",
    description="Before publication, computed from the reviews as they stand (draft); after, the published "
    "ranking less the applications taken off since. Calibrated and raw scores with a 95 % band, rank, "
    "within-quota flag, per-prefecture constraint results, the reserve list.",
    tag=TAG,
    roles={"province"},
    responses={200: RankingOut},
    problems=(404,),
)
def get_ranking(call: Call, call_id: str):
    return call.rpc(SERVICE, "get_ranking", call_id=call_id).response()


@bp.post("/v1/calls/<call_id>/ranking")
@operation(
    summary="Publish the ranking",
    description="Once every review is in, or the review deadline has passed. Reviews close with it.",
    tag=TAG,
    roles={"province"},
    idempotent=True,
    responses={200: RankingOut},
    problems=(404, 409),
)
def publish_ranking(call: Call, call_id: str):
    return call.rpc(SERVICE, "publish_ranking", call_id=call_id).response()


@bp.post("/v1/calls/<call_id>/notice")
@operation(
    summary="Publish the public notice (公示) of the selection",
    description="The window closes after window_working_days working days (default 5, counted from the next day "
    "in Asia/Shanghai, skipping the holidays given and counting the make-up working days), or at a "
    "later closes_at.",
    tag=TAG,
    roles={"province"},
    body=NoticeIn,
    idempotent=True,
    responses={201: NoticeOut},
    problems=(404, 409),
)
def publish_notice(call: Call, call_id: str):
    reply = call.rpc(SERVICE, "publish_notice", call_id=call_id, notice=call.body)
    return reply.response(location=url_for(".get_notice", call_id=call_id))


class NoticeQuery(StrictSchema):
    format = format_field("xlsx", "pdf")


@bp.get("/v1/calls/<call_id>/notice")
@operation(
    summary="The public notice of a call (no token needed)",
    description="`?format=xlsx` or `?format=pdf` (or the Accept header) answers its list as a download.",
    tag=TAG,
    roles=PUBLIC,
    query=NoticeQuery,
    responses={200: NoticeOut},
    problems=(404,),
    downloads=(XLSX, PDF),
    conditional=True,
)
def get_notice(call: Call, call_id: str):
    reply = call.rpc(SERVICE, "get_notice", call_id=call_id)
    wanted = requested_format(call.query, call.operation.downloads)
    return reply.response() if wanted == JSON else notice_download(reply.body, wanted)


@bp.post("/v1/calls/<call_id>/objections")
@operation(
    summary="Object (异议) to an application of the noticed selection, during the window",
    description="Filed by an institution, a prefecture bureau or an HRSS department; each party objects once "
    f"to an application and at most {MAX_OBJECTIONS_PER_FILER} times to a notice (409 beyond).",
    tag=TAG,
    roles=set(OBJECTORS),
    body=ObjectionIn,
    idempotent=True,
    responses={201: ObjectionOut},
    problems=(403, 404, 409),
)
def file_objection(call: Call, call_id: str):
    return call.rpc(SERVICE, "file_objection", call_id=call_id, objection=call.body).response()


@bp.post("/v1/objections/<objection_id>/resolve")
@operation(
    summary="Resolve an objection: upheld (the application leaves, the reserve moves up) or dismissed",
    tag=TAG,
    roles={"province"},
    body=ResolveIn,
    idempotent=True,
    responses={200: ObjectionOut},
    problems=(404, 409),
)
def resolve_objection(call: Call, objection_id: str):
    return call.rpc(SERVICE, "resolve_objection", objection_id=objection_id, resolution=call.body).response()


@bp.post("/v1/calls/<call_id>/finalize")
@operation(
    summary="Approve the selection (立项)",
    description="Refused (409) while the notice window is open or an objection is open.",
    tag=TAG,
    roles={"province"},
    idempotent=True,
    responses={200: SelectionOut},
    problems=(404, 409),
)
def finalize_selection(call: Call, call_id: str):
    return call.rpc(SERVICE, "finalize_selection", call_id=call_id).response()
