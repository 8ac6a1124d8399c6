"""A visible stamp across every page of a PDF (the expert's copy), so a leaked copy names its
reader. The stamp is text in the CID font STSong-Light (Chinese without a font file), so it can
be read back by a text extractor too."""

from __future__ import annotations

import io
from typing import BinaryIO

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from services.common.errors import DomainError
from services.applications.domain.messages import Bilingual

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _stamp(text: str, width: float, height: float) -> PageObject:
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=(width, height))
    sheet.setFillColor(Color(0.8, 0.1, 0.1, alpha=0.35))
    sheet.setFont(FONT, 14)
    sheet.drawCentredString(width / 2, 24, text)
    sheet.saveState()
    sheet.translate(width / 2, height / 2)
    sheet.rotate(35)
    sheet.setFont(FONT, 22)
    sheet.drawCentredString(0, 0, text)
    sheet.restoreState()
    sheet.save()
    buffer.seek(0)
    return PdfReader(buffer).pages[0]


class Unstampable(DomainError):
    """A PDF that passed the checks but cannot be stamped: never sent unstamped to an expert."""

    status, kind = 422, "unstampable-pdf"


def watermark(source: BinaryIO, text: str, target: BinaryIO) -> None:
    """Writes `source` with `text` stamped over each page to `target`; Unstampable if it cannot."""
    try:
        _stamped(source, text, target)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise Unstampable(
            Bilingual(
                f"This PDF cannot be stamped for an expert's copy ({type(exc).__name__}); the province can read it.",
                "该 PDF 无法加盖评审水印，暂不能提供给评审专家；请联系省级管理部门",
            )
        ) from None


def _stamped(source: BinaryIO, text: str, target: BinaryIO) -> None:
    writer = PdfWriter(clone_from=PdfReader(source))
    stamps: dict[tuple[float, float], PageObject] = {}
    for page in writer.pages:
        box = page.mediabox
        size = (float(box.width), float(box.height))
        if size not in stamps:
            stamps[size] = _stamp(text, *size)
        page.merge_page(stamps[size], over=True)
    writer.write(target)
