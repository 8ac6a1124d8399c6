"""What a route answers as JSON, also as a download: an XLSX workbook (openpyxl) or a PDF
document (reportlab, with the Adobe CID font STSong-Light for Chinese, which viewers supply:
nothing is embedded), and which of them the caller asked for: the `format` query parameter,
else the Accept header."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any, Sequence
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from flask import Response, request
from marshmallow import fields, validate
from openpyxl import Workbook
from openpyxl.styles import Font
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus import Table as PdfTable

from services.gateway.routing import XLSX

JSON = "application/json"
PDF = "application/pdf"
FORMATS = {"json": JSON, "xlsx": XLSX, "pdf": PDF}
SUFFIXES = {XLSX: "xlsx", PDF: "pdf"}
BEIJING = ZoneInfo("Asia/Shanghai")
CJK_FONT = "STSong-Light"
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_COLUMN_WIDTH = 60
_PORTRAIT_COLUMNS = 8  # a table of more columns is printed on a landscape page
# OWASP's CSV-injection rule: a text cell starting with one of these is read as a formula
# (or as DDE) by spreadsheet programs.
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def format_field(*offered: str) -> fields.String:
    """The `format` query parameter of a route that answers JSON or the `offered` formats."""
    names = ["json", *offered]
    return fields.String(
        validate=validate.OneOf(names),
        metadata={
            "description": f"{' or '.join(names)}; without it, the Accept header chooses ({', '.join(FORMATS[n] for n in names)})"
        },
    )


def requested_format(query: dict, offered: Sequence[str]) -> str:
    """The media type to answer: the `format` query parameter's, else the one of JSON and
    `offered` that the Accept header prefers (JSON when it takes none of them)."""
    if "format" in query:
        return FORMATS[query["format"]]
    return request.accept_mimetypes.best_match([JSON, *offered], default=JSON)


@dataclass(frozen=True)
class Table:
    """A sheet of a workbook, or the table of a document: a name, headers and rows."""

    name: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def spreadsheet_cell(value: Any) -> Any:
    """A value as a spreadsheet cell may hold it: text that a spreadsheet program would take
    for a formula gets a leading apostrophe, so it shows as the text it is."""
    if isinstance(value, str) and value.startswith(_FORMULA_LEADS):
        return "'" + value
    return value


def xlsx(tables: Sequence[Table]) -> bytes:
    """A workbook with one sheet per table, the headers bold in a frozen first row; every cell
    written through `spreadsheet_cell`."""
    book = Workbook()
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(table.name)
        sheet.append([spreadsheet_cell(header) for header in table.headers])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([spreadsheet_cell(value) for value in row])
        sheet.freeze_panes = "A2"
        for index, header in enumerate(table.headers):
            width = max(_display_width(value) for value in (header, *(row[index] for row in table.rows)))
            sheet.column_dimensions[sheet.cell(1, index + 1).column_letter].width = min(width + 2, _MAX_COLUMN_WIDTH)
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def _display_width(value: Any) -> int:
    """Columns a value takes on screen: a Chinese character takes two."""
    text = "" if value is None else str(value)
    return sum(2 if ord(char) > 0x2E7F else 1 for char in text)


def _column_shares(table: Table) -> list[float]:
    """Each column's share of the page width: half shared equally (so that no column of a wide
    table is too narrow for its padding), half by its widest value (capped, so that a long
    text wraps rather than crowding out the others)."""
    widths = [min(max(_display_width(value) for value in column), 40) for column in zip(table.headers, *table.rows)]
    return [0.5 / len(widths) + 0.5 * width / sum(widths) for width in widths]


def pdf(title: str, lines: Sequence[str], table: Table) -> bytes:
    """An A4 document: the title, a few lines under it, then the table (its header row
    repeated on every page)."""
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    heading = ParagraphStyle(
        "heading", fontName=CJK_FONT, fontSize=16, leading=22, alignment=1, wordWrap="CJK", spaceAfter=4 * mm
    )
    body = ParagraphStyle("body", fontName=CJK_FONT, fontSize=10, leading=14, wordWrap="CJK")
    cell = ParagraphStyle("cell", parent=body, fontSize=9, leading=12)

    def paragraph(text: Any, style: ParagraphStyle) -> Paragraph:
        return Paragraph(escape("" if text is None else str(text)), style)

    page = landscape(A4) if len(table.headers) > _PORTRAIT_COLUMNS else A4
    page_width = page[0] - 36 * mm
    grid = PdfTable(
        [[paragraph(value, cell) for value in row] for row in (table.headers, *table.rows)],
        colWidths=[page_width * share for share in _column_shares(table)],
        repeatRows=1,
        hAlign="LEFT",
    )
    grid.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    out = BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=page,
        title=title,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    document.build([paragraph(title, heading), *(paragraph(line, body) for line in lines), Spacer(1, 4 * mm), grid])
    return out.getvalue()


def download(content: bytes, media_type: str, name: str) -> Response:
    """The file as an attachment named `<name>.<suffix>` (unsafe characters of `name` replaced)."""
    filename = f"{_UNSAFE_IN_FILENAME.sub('-', name).strip('-') or 'export'}.{SUFFIXES[media_type]}"
    return Response(
        content,
        mimetype=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Vary": "Accept"},
    )


def beijing_time(moment: str | datetime | None) -> str:
    """An RFC 3339 time (or an aware datetime) as Beijing time: 2026年03月01日 16:00."""
    if moment is None:
        return ""
    at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return at.astimezone(BEIJING).strftime("%Y年%m月%d日 %H:%M")
