"""The demo's application form (申报书): a small PDF in Chinese, made with reportlab from what the
application says, so each application files a real document and its experts read it."""
from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

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
    for heading, text in (("一、项目概述", application.get("summary", "")),
                          ("二、建设方案", application.get("construction_plan", ""))):
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
