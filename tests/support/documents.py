"""Small documents of each accepted type, and the refused variants, made on the spot."""

from __future__ import annotations

import io
import zipfile

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))


def pdf(text: str = "申报书 正文", *, pages: int = 1, encrypt: str | None = None) -> bytes:
    """A PDF with `text` on each page."""
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, encrypt=encrypt, pageCompression=0)
    for _ in range(pages):
        sheet.setFont("STSong-Light", 16)
        sheet.drawString(72, 720, text)
        sheet.showPage()
    sheet.save()
    return buffer.getvalue()


def pdf_with_javascript() -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter(clone_from=io.BytesIO(pdf()))
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert('hi');")}
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def ooxml(
    main_part: str = "word/document.xml", extra: dict[str, bytes] | None = None, content_types: bool = True
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if content_types:
            archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(main_part, "<document/>")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    return buffer.getvalue()
