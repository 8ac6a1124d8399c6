"""GET /v1/audit: every service's records merged newest first, paged with one cursor, for the
province only; the workbook's cells are text, a formula-looking value neutralised."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from services.common.config import SERVICES
from services.gateway.routing import XLSX


def record(service: str, n: int, **fields) -> dict:
    return {
        "id": f"{service}-{n:03d}",
        "service": service,
        "at": f"2026-03-01T08:00:{n:02d}.000Z",
        "actor": "u1",
        "role": "province",
        "scope": {},
        "operation": "create_call",
        "entities": [f"calls/C{n}"],
        "events": [],
        "outcome": "ok",
        "detail": None,
        "chain": f"calls/C{n}",
        "seq": 1,
        "prev": "0" * 64,
        "hash": "a" * 64,
        **fields,
    }


def serve(rpc, logs: dict[str, list[dict]]) -> None:
    """Each service answers like the kernel's audit_log: newest first, after the cursor, `limit` at most."""
    from services.common import pages

    for service in SERVICES:

        def answer(actor, limit, cursor=None, service=service, **filters):
            items = sorted(logs.get(service, []), key=lambda r: (r["at"], r["id"]), reverse=True)
            if cursor:
                at, last = pages.decode_cursor(cursor, 2)
                items = [
                    r
                    for r in items
                    if (r["at"], r["id"]) < (at.isoformat(timespec="milliseconds").replace("+00:00", "Z"), last)
                ]
            return {"status": 200, "body": {"items": items[:limit]}}

        rpc.on(service, "audit_log", answer)


def test_the_pages_merge_every_services_records_newest_first_without_a_gap_or_a_repeat(client, rpc, as_province):
    serve(
        rpc,
        {
            "applications": [record("applications", n) for n in (1, 4, 5)],
            "funding": [record("funding", n) for n in (2, 3)],
            "review": [record("review", 6)],
        },
    )
    seen, cursor = [], None
    while True:
        answer = client.get(
            "/v1/audit", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=as_province
        )
        assert answer.status_code == 200
        seen += [r["id"] for r in answer.json["items"]]
        cursor = answer.json["next_cursor"]
        if cursor is None:
            break
    assert seen == [
        "review-006",
        "applications-005",
        "applications-004",
        "funding-003",
        "funding-002",
        "applications-001",
    ]


def test_the_filters_reach_every_service_as_it_names_them(client, rpc, as_province):
    serve(rpc, {})
    answer = client.get(
        "/v1/audit",
        query_string={"entity": "calls/C1", "actor": "u9", "since": "2026-03-01T00:00:00+08:00"},
        headers=as_province,
    )
    assert answer.status_code == 200
    call = rpc.last("audit_log")
    assert (call.kwargs["entity"], call.kwargs["who"], call.kwargs["since"]) == (
        "calls/C1",
        "u9",
        "2026-02-28T16:00:00Z",
    )


def test_only_the_province_reads_the_audit_log(client, rpc, as_institution, as_prefecture):
    serve(rpc, {})
    assert client.get("/v1/audit", headers=as_institution).status_code == 403
    assert client.get("/v1/audit", headers=as_prefecture).status_code == 403
    assert client.get("/v1/audit").status_code == 401


def test_the_workbook_holds_text_cells_and_a_formula_stays_text(client, rpc, as_province):
    serve(rpc, {"applications": [record("applications", 1, actor='=HYPERLINK("http://x")')]})
    answer = client.get("/v1/audit", query_string={"format": "xlsx"}, headers=as_province)
    assert answer.status_code == 200 and answer.mimetype == XLSX
    sheet = load_workbook(io.BytesIO(answer.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("时间", "时间(UTC)", "服务", "用户")
    assert rows[1][3] == '\'=HYPERLINK("http://x")'
    assert all(isinstance(value, str) for value in rows[1] if value is not None)


def test_every_service_is_asked_at_once_with_the_requests_id(client, rpc, as_province):
    """A page waits for the slowest service, not for the sum of them: each service's answer here
    waits until every service has been asked (asked one after another, the first would wait in vain)."""
    import threading

    everyone_asked = threading.Barrier(len(SERVICES), timeout=5)
    for service in SERVICES:

        def answer(actor, limit, service=service, **filters):
            everyone_asked.wait()
            return {"status": 200, "body": {"items": [record(service, len(service))]}}

        rpc.on(service, "audit_log", answer)
    answer = client.get("/v1/audit", headers={**as_province, "X-Request-ID": "req-audit-1"})
    assert answer.status_code == 200, answer.json
    assert len(answer.json["items"]) == len(SERVICES)
    assert {c.correlation_id for c in rpc.calls if c.method == "audit_log"} == {"req-audit-1"}
