"""What a material's bytes are, decided from the bytes alone (never from its name), and whether
they are safe to hand to a reviewer: the checks run on a seekable binary stream (the file as
stored), read in pieces, so a large file is never held whole.

PDF: it parses, it is not encrypted, and no action reachable from the catalogue, its pages or
their annotations runs JavaScript or launches a program (an action nothing refers to never
runs). A plain scan of the bytes for the action names catches the same in uncompressed files.
OOXML (DOCX, XLSX): a zip holding `[Content_Types].xml` and the main part of its type, no
macros (`vbaProject.bin`) and no archive inside it. JPEG and PNG: the signature and the
image's own end marker.
"""

from __future__ import annotations

import zipfile
from typing import BinaryIO

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import DictionaryObject, PdfObject

from services.common.errors import DomainError
from services.applications.domain.messages import Bilingual
from services.contracts.applications import DOCX, JPEG, PDF, PNG, XLSX


_OOXML_MAIN_PARTS = {"word/document.xml": DOCX, "xl/workbook.xml": XLSX}
_ARCHIVE_SIGNATURES = (b"PK\x03\x04", b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b", b"\xd0\xcf\x11\xe0", b"BZh")
_ACTIVE_TOKENS = (b"/JavaScript", b"/JS", b"/Launch")
_CHUNK = 256 * 1024
_MAX_NAME = 255


class UnsupportedType(DomainError):
    """The content is none of the accepted types (415)."""

    status, kind = 415, "unsupported-content"


class UnsafeContent(DomainError):
    """The content is of an accepted type but refused: encrypted, active or nested (422)."""

    status, kind = 422, "unsafe-content"


class BadFilename(DomainError):
    """The name carries a path or is not a plain file name (422)."""

    status, kind = 422, "bad-filename"


def check_filename(name: str) -> str:
    """The name as given when it is a plain file name: no path, no control characters."""
    if not name or len(name) > _MAX_NAME or name.strip() in (".", ".."):
        raise BadFilename(
            Bilingual(f"The file name must be 1 to {_MAX_NAME} characters.", f"文件名须为 1 至 {_MAX_NAME} 个字符")
        )
    if any(ch in name for ch in "/\\") or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise BadFilename(
            Bilingual("The file name must not contain a path or control characters.", "文件名不得包含路径或控制字符")
        )
    return name


def media_type(stream: BinaryIO) -> str:
    """The checked type of the content, or a refusal saying why."""
    stream.seek(0)
    head = stream.read(8)
    if head.startswith(b"%PDF-"):
        _check_pdf(stream)
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return _check_ooxml(stream)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        _check_trailer(stream, b"IEND\xaeB`\x82", "PNG")
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        _check_trailer(stream, b"\xff\xd9", "JPEG")
        return JPEG
    raise UnsupportedType(
        Bilingual(
            "Only PDF, DOCX, XLSX, JPEG and PNG files are accepted (decided by content).",
            "仅接受 PDF、DOCX、XLSX、JPEG、PNG 文件（按文件内容判断）",
        )
    )


def _unsafe(en: str, zh: str) -> UnsafeContent:
    return UnsafeContent(Bilingual(en, zh))


def _check_pdf(stream: BinaryIO) -> None:
    if _contains_any(stream, _ACTIVE_TOKENS):
        raise _active_pdf()
    stream.seek(0)
    try:
        reader = PdfReader(stream)
        if reader.is_encrypted:
            raise _unsafe("Encrypted PDF files are not accepted.", "不接受加密的 PDF 文件")
        root = reader.trailer["/Root"].get_object()
        if not isinstance(root, DictionaryObject):  # a broken document catalogue: the PDF cannot be read
            raise TypeError(f"the document catalogue is {type(root).__name__}, not a dictionary")
        if _runs_code(root.get("/OpenAction")) or _runs_code(root.get("/AA")) or _has_scripts(root):
            raise _active_pdf()
        for page in reader.pages:
            annotations = page.get("/Annots")
            for annotation in annotations.get_object() if annotations else ():
                annotation = annotation.get_object()
                if _runs_code(annotation.get("/A")) or _runs_code(annotation.get("/AA")):
                    raise _active_pdf()
            if _runs_code(page.get("/AA")):
                raise _active_pdf()
    except UnsafeContent:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise UnsupportedType(Bilingual(f"The PDF file cannot be read: {exc}.", "PDF 文件无法解析")) from None


def _active_pdf() -> UnsafeContent:
    return _unsafe(
        "PDF files with JavaScript or launch actions are not accepted.", "不接受含 JavaScript 或启动程序动作的 PDF 文件"
    )


def _has_scripts(root: DictionaryObject) -> bool:
    names = root.get("/Names")
    return bool(names and "/JavaScript" in names.get_object())


def _runs_code(action: PdfObject | None, depth: int = 0) -> bool:
    """Whether an action (with its /Next chain) or an additional-actions dictionary runs code.
    An /OpenAction may also be a destination (an array): that runs nothing."""
    if action is None or depth > 32:
        return depth > 32
    action = action.get_object()
    if not isinstance(action, DictionaryObject):
        return False
    if action.get("/S") in ("/JavaScript", "/Launch") or "/JS" in action:
        return True
    if "/S" in action:
        nexts = action.get("/Next")
        nexts = nexts.get_object() if nexts is not None else None
        return any(_runs_code(n, depth + 1) for n in (nexts if isinstance(nexts, list) else [nexts]))
    return any(_runs_code(value, depth + 1) for value in action.values())


def _contains_any(stream: BinaryIO, tokens: tuple[bytes, ...]) -> bool:
    """Whether the raw bytes hold any token, read in pieces that overlap by a token's length."""
    overlap = max(len(t) for t in tokens) - 1
    stream.seek(0)
    tail = b""
    while chunk := stream.read(_CHUNK):
        window = tail + chunk
        if any(_token_at_boundary(window, token) for token in tokens):
            return True
        tail = window[-overlap:]
    return False


def _token_at_boundary(window: bytes, token: bytes) -> bool:
    """`/JS` inside `/JSomething` is another name: a token counts only where the name ends."""
    start = window.find(token)
    while start != -1:
        after = window[start + len(token) : start + len(token) + 1]
        if not after or not (after.isalnum() or after in b"#_-."):
            return True
        start = window.find(token, start + 1)
    return False


def _check_ooxml(stream: BinaryIO) -> str:
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
            if "[Content_Types].xml" not in names:
                raise UnsupportedType(
                    Bilingual(
                        "The zip file is not an Office document (no [Content_Types].xml).",
                        "该 zip 文件不是 Office 文档（缺少 [Content_Types].xml）",
                    )
                )
            kind = next((_OOXML_MAIN_PARTS[n] for n in names if n in _OOXML_MAIN_PARTS), None)
            if kind is None:
                raise UnsupportedType(
                    Bilingual(
                        "Only DOCX and XLSX Office documents are accepted.", "仅接受 DOCX 和 XLSX 格式的 Office 文档"
                    )
                )
            if any(n.lower().endswith("vbaproject.bin") for n in names):
                raise _unsafe("Office files with macros are not accepted.", "不接受含宏的 Office 文件")
            for info in archive.infolist():
                if info.is_dir():
                    continue
                with archive.open(info) as member:
                    if member.read(4).startswith(_ARCHIVE_SIGNATURES):
                        raise _unsafe(
                            f"Archives inside the file are not accepted ({info.filename}).",
                            f"文件内不得嵌套压缩包（{info.filename}）",
                        )
            return kind
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise UnsupportedType(Bilingual(f"The Office file cannot be read: {exc}.", "Office 文件无法解析")) from None


def _check_trailer(stream: BinaryIO, marker: bytes, kind: str) -> None:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(max(0, size - 64 * 1024))
    if marker not in stream.read():
        raise UnsupportedType(Bilingual(f"The {kind} image is truncated or damaged.", f"{kind} 图片不完整或已损坏"))
