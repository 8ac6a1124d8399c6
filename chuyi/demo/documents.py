"""The documents the demo files: each application's form (申报书), a small PDF in Chinese made with
reportlab from what the application says, so that its experts read a real document; an evidence
file (佐证材料) of an annual report, a one-page PDF; and the workbooks the province imports (the
institution register, the expert lists)."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import openpyxl

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from services.contracts.reference import INSTITUTION_TYPES

FONT = "STSong-Light"  # a CID font: Chinese without a font file
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
LINE_CHARS = 36


def application_form(institution: str, application: Mapping) -> bytes:
    """申报书: the institution, the title, the summary, the plan and the money asked for."""
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    sheet.setTitle(f"{institution} {application.get('title', '')} 申报书")
    width, height = A4
    y = height - 72

    def line(text: str, size: int = 11, gap: int = 18) -> None:
        nonlocal y
        if y < 72:
            sheet.showPage()
            y = height - 72
        sheet.setFont(FONT, size)
        sheet.drawString(72, y, text)
        y -= gap

    sheet.setFont(FONT, 20)
    sheet.drawCentredString(width / 2, y, "楚怡职业教育行动计划项目申报书")
    y -= 40
    line(f"申报单位：{institution}", 13, 22)
    line(f"项目名称：{application.get('title', '')}", 13, 22)
    budget = application.get("budget_request_fen")
    if budget:
        line(f"申请资金：{budget / 1_000_000:.1f} 万元", 13, 30)
    for heading, text in (
        ("一、项目概述", application.get("summary", "")),
        ("二、建设方案", application.get("construction_plan", "")),
    ):
        line(heading, 14, 22)
        for paragraph in str(text).splitlines()[:20] or [""]:
            for piece in textwrap.wrap(paragraph, LINE_CHARS) or [""]:
                line(piece)
        y -= 8
    targets = application.get("yearly_targets") or []
    if targets:
        line("三、年度目标", 14, 22)
        for target in targets:
            line(f"{target.get('year')}年：{target.get('target', '')}")
    sheet.showPage()
    sheet.save()
    return buffer.getvalue()


def evidence_file(institution: str, title: str, lines: list[str]) -> bytes:
    """佐证材料: one page headed by its title and the institution, with `lines` below."""
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    sheet.setTitle(f"{institution} {title}")
    width, height = A4
    sheet.setFont(FONT, 18)
    sheet.drawCentredString(width / 2, height - 72, title)
    sheet.setFont(FONT, 12)
    for number, text in enumerate([f"单位：{institution}", *lines]):
        sheet.drawString(72, height - 120 - 20 * number, text[: LINE_CHARS + 10])
    sheet.showPage()
    sheet.save()
    return buffer.getvalue()


def institution_register(institutions) -> bytes:
    """The institution register the province imports (XLSX)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "申报单位"
    sheet.append(["名称", "类型", "市州", "县市区", "主管部门", "统一社会信用代码"])
    for institution in institutions:
        b = institution.body
        sheet.append(
            [b["name"], INSTITUTION_TYPES[b["type"]], b["prefecture"], b["county"], b["sponsor"], b["credit_code"]]
        )
    return _saved(book)


EXPERT_COLUMNS = {
    "姓名": "name",
    "身份证号": "id_number",
    "单位编号": "institution_id",
    "单位名称": "institution_name",
    "市州": "prefecture",
    "专业大类": "fields",
    "关键词": "keywords",
    "评审类别": "categories",
    "回避单位": "conflict_institution_ids",
    "回避人员身份证号": "conflict_id_numbers",
    "评审上限": "load_cap",
    "是否可评审": "available",
}


def expert_list(bodies: Sequence[dict]) -> bytes:
    """A list of experts the province imports into the pool (XLSX)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "评审专家"
    sheet.append(list(EXPERT_COLUMNS))
    for body in bodies:
        sheet.append([_cell(body.get(name)) for name in EXPERT_COLUMNS.values()])
    return _saved(book)


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "；".join(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


def _saved(book: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
