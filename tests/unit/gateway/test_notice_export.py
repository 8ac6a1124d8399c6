"""The public notice's list as a download, without a token: XLSX (read back with openpyxl)
and PDF (its text read back from the page's content stream)."""

from __future__ import annotations

import base64
import io
import re
import zlib

import pytest
from openpyxl import load_workbook

from services.gateway.exports import PDF
from services.gateway.routing import XLSX
from services.contracts.review_api import NoticeEntryOut, NoticeOut
from tests.unit.gateway.fake_rpc import problem

TITLE = "2026年楚怡高水平高职高专专业群遴选"
NOTICE = {
    "call_id": "call_0123",
    "call_title": TITLE,
    "category": "hv-group",
    "status": "published",
    "opens_at": "2026-03-02T01:00:00.000Z",
    "closes_at": "2026-03-06T09:30:00.000Z",
    "window_open": True,
    "selected": [
        {
            "rank": 1,
            "application_id": "app_1",
            "title": "智能制造专业群",
            "institution_name": "长沙职业技术学院",
            "prefecture": "长沙市",
        },
        {
            "rank": 2,
            "application_id": "app_2",
            "title": "现代农业专业群",
            "institution_name": "湖南生物机电职业技术学院",
            "prefecture": "长沙市",
        },
    ],
    "removed": [
        {
            "rank": 3,
            "application_id": "app_3",
            "title": "轨道交通专业群",
            "institution_name": "株洲某职业学院",
            "prefecture": "株洲市",
        }
    ],
    "open_objections": 1,
}


@pytest.fixture(autouse=True)
def review(rpc):
    rpc.on(
        "review",
        "get_notice",
        lambda call_id: (
            {"status": 200, "body": {**NOTICE, "call_id": call_id}}
            if call_id == "call_0123"
            else problem(404, "Not Found", "No public notice has been published for this call.")
        ),
    )


def test_the_notice_here_has_the_fields_of_the_review_service_s_notice():
    assert set(NOTICE) == set(NoticeOut().fields)
    assert all(set(entry) == set(NoticeEntryOut().fields) for entry in NOTICE["selected"] + NOTICE["removed"])


def test_the_notice_as_xlsx_lists_the_selection_then_the_removed_under_chinese_headers(client):
    response = client.get("/v1/calls/call_0123/notice?format=xlsx")
    assert response.status_code == 200 and response.mimetype == XLSX
    assert response.headers["Content-Disposition"] == 'attachment; filename="notice-call_0123.xlsx"'
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["公示名单", "公示信息"]
    rows = list(book["公示名单"].iter_rows(values_only=True))
    assert rows == [
        ("排名", "项目名称", "申报单位", "市州", "申报书编号", "状态"),
        (1, "智能制造专业群", "长沙职业技术学院", "长沙市", "app_1", "拟立项"),
        (2, "现代农业专业群", "湖南生物机电职业技术学院", "长沙市", "app_2", "拟立项"),
        (3, "轨道交通专业群", "株洲某职业学院", "株洲市", "app_3", "已撤销"),
    ]
    facts = dict(list(book["公示信息"].iter_rows(values_only=True))[1:])
    assert facts["遴选批次"] == TITLE and facts["类别"] == "楚怡高水平高职高专专业群"
    assert facts["公示期（北京时间）"] == "2026年03月02日 09:00 至 2026年03月06日 17:30"
    assert facts["状态"] == "公示中" and facts["未处理的异议"] == "1 件"


def test_the_accept_header_chooses_the_download_and_json_stays_the_default(client):
    assert client.get("/v1/calls/call_0123/notice", headers={"Accept": XLSX}).mimetype == XLSX
    plain = client.get("/v1/calls/call_0123/notice")
    assert plain.mimetype == "application/json" and plain.json["call_title"] == TITLE


def test_a_call_without_a_notice_is_404_in_every_format(client):
    for query in ("", "?format=xlsx", "?format=pdf"):
        assert client.get(f"/v1/calls/call_none/notice{query}").status_code == 404


def test_an_unknown_format_is_a_422_naming_the_parameter(client):
    response = client.get("/v1/calls/call_0123/notice?format=docx")
    assert response.status_code == 422 and "format" in response.json["errors"]


def pdf_text(document: bytes) -> str:
    """The text shown on the pages: reportlab writes each content stream ASCII85 + Flate
    encoded, and the CID font's strings (encoding UniGB-UCS2-H) as UTF-16BE literals."""
    shown = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", document, re.S):
        content = zlib.decompress(base64.a85decode(stream.strip(), adobe=True))
        for literal in re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", content, re.S):
            raw = re.sub(rb"\\([0-7]{1,3}|.)", _unescape, literal)
            shown.append(raw.decode("utf-16-be") if len(raw) % 2 == 0 else raw.decode("latin-1"))
    return "\n".join(shown)


def _unescape(match: re.Match) -> bytes:
    escaped = match.group(1)
    if escaped[:1].isdigit():
        return bytes([int(escaped, 8)])
    return {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(escaped, escaped)


def test_the_notice_as_pdf_shows_the_title_the_window_and_every_entry(client):
    response = client.get("/v1/calls/call_0123/notice?format=pdf")
    assert response.status_code == 200 and response.mimetype == PDF
    assert response.headers["Content-Disposition"] == 'attachment; filename="notice-call_0123.pdf"'
    assert response.data.startswith(b"%PDF-")
    text = pdf_text(response.data)
    assert f"{TITLE} 公示名单" in text
    assert "2026年03月02日 09:00 至 2026年03月06日 17:30" in text
    for entry in ("智能制造专业群", "湖南生物机电职业技术学院", "轨道交通专业群", "已撤销"):
        assert entry in text
    assert client.get("/v1/calls/call_0123/notice", headers={"Accept": PDF}).data.startswith(b"%PDF-")
