"""The audit log (MLPS 2.0): every service's records, merged newest first, for the province;
as JSON pages or an XLSX workbook. The records and their chains: services/common/audit.py."""

from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import fields

from services.common.clock import utcnow
from services.common import audit
from services.common.config import SERVICES
from services.common.fields import Text, UtcDateTime
from services.gateway.exports import Table, beijing_time, download, format_field, requested_format, xlsx
from services.gateway.routing import XLSX, Call, operation
from services.gateway.schemas import PageQuerySchema, PageSchema, StrictSchema

TAG = "audit"
# A workbook follows the pages itself, up to this many records from the cursor on.
EXPORT_MAX = 5000
bp = Blueprint("audit", __name__)


class AuditQuerySchema(PageQuerySchema):
    entity = Text(
        max_length=300,
        metadata={
            "description": "Only records that wrote this entity, `collection/id` (e.g. `applications/APP-2026-000001`)."
        },
    )
    actor = Text(max_length=200, metadata={"description": "Only records of this user (the token's `sub`)."})
    since = UtcDateTime(metadata={"description": "Only records at or after this time (RFC 3339)."})
    until = UtcDateTime(metadata={"description": "Only records before this time (RFC 3339)."})
    format = format_field("xlsx")


class AuditRecordSchema(StrictSchema):
    id = fields.String(required=True)
    service = fields.String(required=True, metadata={"description": "The service whose log holds it."})
    at = fields.String(required=True, metadata={"description": "When it committed (RFC 3339 UTC)."})
    actor = fields.String(required=True, metadata={"description": "The user (the token's `sub`)."})
    role = fields.String(required=True)
    scope = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "The scope claims the role had (institution_id, prefecture, ...)."},
    )
    operation = fields.String(required=True)
    entities = fields.List(fields.String(), required=True, metadata={"description": "What it wrote: `collection/id`."})
    events = fields.List(fields.String(), required=True)
    outcome = fields.String(
        required=True, metadata={"description": "ok, or not_committed (refused or failed: nothing was changed)."}
    )
    detail = fields.String(
        allow_none=True, required=True, metadata={"description": "Why it did not commit (the refusal's kind)."}
    )
    chain = fields.String(required=True)
    seq = fields.Integer(required=True)
    prev = fields.String(required=True, metadata={"description": "SHA-256 of the chain's record before it."})
    hash = fields.String(required=True, metadata={"description": "SHA-256 of this record's canonical encoding."})


class AuditPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditRecordSchema), required=True)


def _page(call: Call, filters: dict, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """One page of every service's records merged by (at, id), newest first; the cursor is the place
    of its last record, which every service reads in the same order."""
    found, more = [], False
    asked = {"limit": limit, **filters, **({"cursor": cursor} if cursor else {})}
    for reply in call.rpc_each([(service, "audit_log", asked) for service in SERVICES]):
        items = reply.body["items"]
        more = more or len(items) == limit
        found += items
    found.sort(key=lambda record: (record["at"], record["id"]), reverse=True)
    page = found[:limit]
    more = more or len(found) > limit
    return page, audit.encode_cursor({"at": page[-1]["at"], "_id": page[-1]["id"]}) if more and page else None


def _table(records: list[dict]) -> Table:
    return Table(
        "审计日志",
        (
            "时间",
            "时间(UTC)",
            "服务",
            "用户",
            "角色",
            "范围",
            "操作",
            "对象",
            "事件",
            "结果",
            "说明",
            "链",
            "序号",
            "哈希",
            "前一哈希",
        ),
        tuple(
            (
                beijing_time(r["at"]),
                r["at"],
                r["service"],
                r["actor"],
                r["role"],
                ", ".join(f"{k}={v}" for k, v in sorted(r["scope"].items())),
                r["operation"],
                "\n".join(r["entities"]),
                ", ".join(r["events"]),
                r["outcome"],
                r["detail"] or "",
                r["chain"],
                str(r["seq"]),
                r["hash"],
                r["prev"],
            )
            for r in records
        ),
    )


@bp.get("/v1/audit")
@operation(
    summary="The audit log: every state change a user made, hash-chained",
    description="Every service's audit records, newest first: who (user, role, scope), which operation, the "
    "entities it wrote (`collection/id`), the events it raised, when, and the outcome (`ok`, or "
    "`not_committed` for a command refused or failed inside its transaction). Each record carries its chain's previous hash and "
    "its own (SHA-256); `python -m chuyi audit verify` recomputes them. `?format=xlsx` answers a "
    f"workbook of up to {EXPORT_MAX} records from the cursor on, every cell text.",
    tag=TAG,
    roles={"province"},
    query=AuditQuerySchema,
    responses={200: AuditPageSchema},
    downloads=(XLSX,),
)
def audit_log(call: Call):
    query = call.query
    filters = {name: query[name] for name in ("entity",) if name in query}
    if "actor" in query:
        filters["who"] = query["actor"]
    for name in ("since", "until"):
        if name in query:
            filters[name] = query[name].isoformat().replace("+00:00", "Z")
    if requested_format(query, call.operation.downloads) == XLSX:
        records, cursor = [], query.get("cursor")
        while len(records) < EXPORT_MAX:
            page, cursor = _page(call, filters, min(audit.MAX_PAGE_SIZE, EXPORT_MAX - len(records)), cursor)
            records += page
            if cursor is None:
                break
        at = utcnow()
        return download(xlsx([_table(records)]), XLSX, f"audit-{at:%Y%m%d-%H%M%S}")
    items, next_cursor = _page(call, filters, query["limit"], query.get("cursor"))
    return jsonify(AuditPageSchema().dump({"items": items, "next_cursor": next_cursor}))
