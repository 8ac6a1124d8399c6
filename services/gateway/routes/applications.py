"""Catalogue and registry routes, served by the applications service."""
from __future__ import annotations

from flask import Blueprint, url_for

from services.gateway.auth import ANY_ROLE
from services.gateway.routing import Call, operation
from services.gateway.schemas import (
    InstitutionCreateSchema, InstitutionImportResultSchema, InstitutionSchema, ProgrammeListSchema,
)

SERVICE = "applications"
bp = Blueprint("applications", __name__)


@bp.get("/v1/programmes")
@operation(
    summary="List the programmes (categories) with quota, eligible institution types and selected-so-far counts",
    tag="catalogue", roles=ANY_ROLE, responses={200: ProgrammeListSchema},
)
def list_programmes(call: Call):
    return call.rpc(SERVICE, "list_programmes").response()


@bp.post("/v1/institutions")
@operation(
    summary="Register an institution", tag="institutions", roles={"province"}, body=InstitutionCreateSchema,
    idempotent=True, responses={201: InstitutionSchema}, problems=(409,),
)
def create_institution(call: Call):
    reply = call.rpc(SERVICE, "create_institution", institution=call.body)
    return reply.response(location=url_for(".get_institution", institution_id=reply.created_id()))


@bp.post("/v1/institutions:import")
@operation(
    summary="Import institutions from a CSV or XLSX file, all or nothing",
    description="A row-by-row error report comes back as a 422 problem whose errors are keyed by row and column.",
    tag="institutions", roles={"province"}, upload=True, idempotent=True,
    responses={201: InstitutionImportResultSchema}, problems=(409,),
)
def import_institutions(call: Call):
    return call.rpc(SERVICE, "import_institutions", **call.body).response()


@bp.get("/v1/institutions/<institution_id>")
@operation(
    summary="One institution",
    description="The province sees any institution, a prefecture those of its prefecture, an institution only "
                "itself; any other is answered 404.",
    tag="institutions", roles={"province", "prefecture", "institution"}, responses={200: InstitutionSchema},
    problems=(404,),
)
def get_institution(call: Call, institution_id: str):
    return call.rpc(SERVICE, "get_institution", institution_id=institution_id).response()
