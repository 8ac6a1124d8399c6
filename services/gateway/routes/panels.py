"""Expert panels for the mid-term review (中期检查) and the acceptance (验收) of projects,
served by the review service (docs/panels.md): the province opens a panel and assigns its
experts, experts score their projects, the panel proposes, the province confirms each
project's result (or overrides it with a reason), which funding then records."""

from __future__ import annotations

from flask import Blueprint, url_for

from services.gateway.routing import Call, operation
from services.gateway.schemas import PageQuerySchema
from services.contracts.review_api import (
    AssignmentDeclineIn,
    PanelAssignmentFilterIn,
    PanelAssignmentOut,
    PanelAssignmentPageOut,
    PanelConfirmIn,
    PanelDeclineOut,
    PanelFilterIn,
    PanelIn,
    PanelOut,
    PanelPageOut,
    PanelResultOut,
    PanelRunOut,
    ReviewIn,
)

SERVICE = "review"
TAG = "panels"
bp = Blueprint("panels", __name__)


class PanelQuery(PageQuerySchema, PanelFilterIn):
    pass


class PanelAssignmentQuery(PageQuerySchema, PanelAssignmentFilterIn):
    pass


@bp.post("/v1/panels")
@operation(
    summary="Open a mid-term or acceptance panel over projects",
    description="Over `project_ids`, or every standing project of a `category` (and `year`) still awaiting the "
    "milestone. The panel's rubric (weights adding up to 100), experts per project, review deadline, "
    "and thresholds on the calibrated score: pass from `pass_from` (default 75.00), rectify from "
    "`rectify_from` (default 60.00), fail below; a rectification's deadline `rectify_days` (default 90) "
    "after the confirmation. A project that failed, has passed the milestone, or is in another open "
    "panel of the milestone is refused (422 naming `project_ids.<i>`).",
    tag=TAG,
    roles={"province"},
    body=PanelIn,
    idempotent=True,
    responses={201: PanelOut},
    problems=(404, 409),
)
def open_panel(call: Call):
    reply = call.rpc(SERVICE, "open_panel", panel=call.body)
    return reply.response(location=url_for(".get_panel", panel_id=reply.created_id()))


@bp.get("/v1/panels")
@operation(
    summary="The panels (filter by milestone and status)",
    tag=TAG,
    roles={"province"},
    query=PanelQuery,
    responses={200: PanelPageOut},
)
def list_panels(call: Call):
    return call.rpc(SERVICE, "list_panels", **call.query).response()


@bp.get("/v1/panels/<panel_id>")
@operation(
    summary="A panel: its projects, rubric, thresholds, and once proposed each project's calibrated score "
    "and proposed and confirmed result",
    tag=TAG,
    roles={"province"},
    responses={200: PanelOut},
    problems=(404,),
)
def get_panel(call: Call, panel_id: str):
    return call.rpc(SERVICE, "get_panel", panel_id=panel_id).response()


@bp.post("/v1/panels/<panel_id>/assignments")
@operation(
    summary="Assign experts to the panel's projects, conflict-free",
    description="The selection's solver and conflict-of-interest rules (回避): never an expert of the project's own "
    "institution, a declared conflict, a member of its team, nor (for the school-, group- and "
    "base-level categories, unless the panel says otherwise) its prefecture; only available experts "
    "who review the category. A later run fills the open slots and keeps standing assignments.",
    tag=TAG,
    roles={"province"},
    idempotent=True,
    responses={201: PanelRunOut},
    problems=(404, 409),
)
def assign_panel(call: Call, panel_id: str):
    return call.rpc(SERVICE, "assign_panel", panel_id=panel_id).response()


@bp.get("/v1/panel-assignments")
@operation(
    summary="Panel assignments: an expert's own; the province's all (filter by panel, project, expert, status)",
    tag=TAG,
    roles={"province", "expert"},
    query=PanelAssignmentQuery,
    responses={200: PanelAssignmentPageOut},
)
def list_panel_assignments(call: Call):
    return call.rpc(SERVICE, "list_panel_assignments", **call.query).response()


@bp.put("/v1/panel-assignments/<assignment_id>/review")
@operation(
    summary="Score a project of your panel: a whole score per rubric criterion, and comments",
    description="Editable until the panel's review deadline and while the panel has not proposed.",
    tag=TAG,
    roles={"expert"},
    body=ReviewIn,
    responses={200: PanelAssignmentOut},
    problems=(404, 409),
)
def put_panel_review(call: Call, assignment_id: str):
    return call.rpc(SERVICE, "put_panel_review", assignment_id=assignment_id, review=call.body).response()


@bp.post("/v1/panel-assignments/<assignment_id>/decline")
@operation(
    summary="Decline a project of your panel, with a reason; a replacement is assigned",
    description="Only a project not yet scored, before the panel's deadline. The replacement fills the open slot "
    "with the same rules and never offers the declined pair again.",
    tag=TAG,
    roles={"expert"},
    body=AssignmentDeclineIn,
    idempotent=True,
    responses={200: PanelDeclineOut},
    problems=(404, 409),
)
def decline_panel_assignment(call: Call, assignment_id: str):
    return call.rpc(SERVICE, "decline_panel_assignment", assignment_id=assignment_id, decline=call.body).response()


@bp.post("/v1/panels/<panel_id>/proposal")
@operation(
    summary="The panel proposes: scores calibrated for expert leniency, each project's result by the thresholds",
    description="Once every review is in, or the review deadline has passed and every project has a review "
    "(409 `panel-not-ready` otherwise). Reviews close.",
    tag=TAG,
    roles={"province"},
    idempotent=True,
    responses={200: PanelOut},
    problems=(404, 409),
)
def propose_panel(call: Call, panel_id: str):
    return call.rpc(SERVICE, "propose_panel", panel_id=panel_id).response()


@bp.post("/v1/panels/<panel_id>/projects/<project_id>/confirm")
@operation(
    summary="Confirm a project's result (or override it with a reason): funding records it",
    description="An empty body confirms the proposed result; another `result` overrides it and needs a `reason` "
    "(422 naming `reason`). A rectify result gets its deadline (`rectify_by`, or the panel's "
    "rectify_days from now). The confirmed result is the project's milestone result in funding, as "
    "POST /v1/projects/{id}/milestones records it: pass releases the tranche, fail withholds what is "
    "unpaid and claws back what the funding rule names; a failed project leaves.",
    tag=TAG,
    roles={"province"},
    body=PanelConfirmIn,
    idempotent=True,
    responses={200: PanelResultOut},
    problems=(404, 409),
)
def confirm_panel_result(call: Call, panel_id: str, project_id: str):
    return call.rpc(
        SERVICE, "confirm_panel_result", panel_id=panel_id, project_id=project_id, confirmation=call.body
    ).response()
