"""The public notice (公示) of a call as a download: its list as an XLSX workbook or a PDF
document, from the review service's notice as `GET /v1/calls/{id}/notice` answers it."""

from __future__ import annotations

from flask import Response

from services.contracts.catalogue import UnknownCategory, catalogue
from services.gateway.exports import PDF, Table, beijing_time, download, pdf, xlsx

LIST_HEADERS = ("排名", "项目名称", "申报单位", "市州", "申报书编号", "状态")
ENTRY_STATE_ZH = {"published": "拟立项", "finalized": "已立项"}
REMOVED_ZH = "已撤销"


def _category_name(code: str) -> str:
    try:
        return catalogue()[code].name_zh
    except UnknownCategory:
        return code


def notice_table(notice: dict) -> Table:
    """The noticed applications by rank, then those taken off the list after publication."""
    state = ENTRY_STATE_ZH.get(notice["status"], notice["status"])
    rows = [
        (e["rank"], e["title"], e["institution_name"], e["prefecture"], e["application_id"], label)
        for entries, label in ((notice["selected"], state), (notice["removed"], REMOVED_ZH))
        for e in entries
    ]
    return Table("公示名单", LIST_HEADERS, tuple(rows))


def notice_facts(notice: dict) -> list[tuple[str, str]]:
    """What the notice says besides its list, as (label, text)."""
    if notice["status"] == "finalized":
        state = "公示结束，已立项"
    else:
        state = "公示中" if notice["window_open"] else "公示期已结束"
    return [
        ("类别", _category_name(notice["category"])),
        ("公示期（北京时间）", f"{beijing_time(notice['opens_at'])} 至 {beijing_time(notice['closes_at'])}"),
        ("状态", state),
        ("未处理的异议", f"{notice['open_objections']} 件"),
    ]


def notice_download(notice: dict, media_type: str) -> Response:
    """The notice as `media_type` (XLSX or PDF)."""
    table, facts = notice_table(notice), notice_facts(notice)
    if media_type == PDF:
        content = pdf(f"{notice['call_title']} 公示名单", [f"{label}：{text}" for label, text in facts], table)
    else:
        about = Table(
            "公示信息", ("项目", "内容"), (("遴选批次", notice["call_title"]), ("批次编号", notice["call_id"]), *facts)
        )
        content = xlsx([table, about])
    return download(content, media_type, f"notice-{notice['call_id']}")
