"""Notices rendered from the templates: `templates/<channel>/<kind>.<txt|html>`, in Chinese.

The inbox template of a kind gives the title and the plain text (also the email's subject
and text part); the email template gives the HTML part, autoescaped; the SMS template one
short line. Undefined variables raise: a template that does not fit its context is a bug
to catch in the tests, not a blank in a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.contracts.funding import CLAWBACK_NAMES_ZH, RESULT_NAMES_ZH, SOURCE_NAMES_ZH, TRIGGER_NAMES_ZH
from services.contracts.notify import EMAIL, INBOX, SMS
from services.notify.domain.preferences import SHANGHAI

TEMPLATES = Path(__file__).resolve().parent / "templates"

LABELS = {**SOURCE_NAMES_ZH, **TRIGGER_NAMES_ZH, **CLAWBACK_NAMES_ZH, **RESULT_NAMES_ZH}
ROLES_ZH = {
    "institution": "申报单位",
    "prefecture": "市州主管部门",
    "province": "省级主管部门",
    "expert": "评审专家",
    "finance": "财政部门",
}


def shanghai(value: str | datetime) -> str:
    """An RFC 3339 time (or an aware datetime) as Beijing time: 2026年03月01日 16:00."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(SHANGHAI).strftime("%Y年%m月%d日 %H:%M")


def fen(amount: int) -> str:
    """Integer fen as yuan: 123456789 -> '1,234,567.89 元'."""
    sign = "-" if amount < 0 else ""
    yuan, cents = divmod(abs(amount), 100)
    return f"{sign}{yuan:,}.{cents:02d} 元"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        shanghai=shanghai,
        fen=fen,
        label=lambda code: LABELS.get(code, code),
        role=lambda code: ROLES_ZH.get(code, code),
    )
    return env


_env = _environment()


def _inbox(kind: str, context: Mapping) -> tuple[str, str]:
    template = _env.get_template(f"inbox/{kind}.txt")
    bound = template.new_context(dict(context))
    title, body = ("".join(template.blocks[name](bound)).strip() for name in ("title", "body"))
    return title, body


def render(kind: str, channel: str, context: Mapping) -> dict:
    """The message of a notice of `kind` on `channel`: inbox {title, body}, email
    {subject, text, html}, sms {text}."""
    title, body = _inbox(kind, context)
    if channel == INBOX:
        return {"title": title, "body": body}
    if channel == EMAIL:
        html = _env.get_template(f"email/{kind}.html").render(**context, heading=title)
        return {"subject": title, "text": body, "html": html}
    if channel == SMS:
        return {"text": _env.get_template(f"sms/{kind}.txt").render(**context).strip()}
    raise ValueError(f"no template for channel {channel!r}")
