"""The rules of an application's materials (申报材料): their kinds, the size limits, who may
read them, when they freeze, and which kinds a call requires before submission."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from services.applications.domain.access import may_see
from services.applications.domain.messages import Bilingual, DomainError, FieldsRefused, NotEditable, NotFound
from services.applications.domain.recommendation import Actor

EXPERT_ROLE = "expert"
DRAFT = "draft"

# Each kind of material, by code, with its name in Chinese and English.
KINDS: dict[str, Bilingual] = {
    "application_form": Bilingual("application form", "申报书"),
    "construction_plan": Bilingual("construction plan", "建设方案"),
    "evidence": Bilingual("supporting evidence", "佐证材料"),
    "other": Bilingual("other", "其他材料"),
}
MIB = 1024 * 1024


class TooLarge(DomainError):
    """A file, or the application's materials together, past the limit (413)."""


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 20 * MIB
    application_bytes: int = 100 * MIB

    def room(self, stored_bytes: int) -> int:
        """How many bytes the next file may have, given what the application already holds."""
        return min(self.file_bytes, self.application_bytes - stored_bytes)

    def refusal(self, stored_bytes: int) -> TooLarge:
        if self.application_bytes - stored_bytes < self.file_bytes:
            total, stored = _size(self.application_bytes), _size(stored_bytes)
            return TooLarge(Bilingual(
                f"The application's materials may total at most {total} ({stored} are already filed).",
                f"每份申报的材料合计不得超过 {total}（已上传 {stored}）"))
        return TooLarge(Bilingual(f"A file may have at most {_size(self.file_bytes)}.",
                                  f"单个文件不得超过 {_size(self.file_bytes)}"))


def _size(count: int) -> str:
    return f"{count / MIB:.1f} MB" if count >= MIB else f"{count} bytes"


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise FieldsRefused({"kind": [Bilingual(f"Must be one of: {', '.join(KINDS)}.",
                                                f"须为以下之一：{'、'.join(f'{c}（{k.zh}）' for c, k in KINDS.items())}")]})
    return kind


def check_changeable(application: Mapping) -> None:
    """Materials freeze at submission: only a draft's may be added or removed."""
    if application["state"] != DRAFT:
        raise NotEditable(Bilingual("The materials froze when the application was submitted.",
                                    "申报已提交，材料不可再增删"))


def missing_kinds(required: Iterable[str], filed: Iterable[str]) -> list[str]:
    have = set(filed)
    return [kind for kind in required if kind not in have]


def check_complete(required: Iterable[str], filed: Iterable[str]) -> None:
    """Submission needs every kind the call requires; the refusal names what is missing."""
    missing = missing_kinds(required, filed)
    if missing:
        raise FieldsRefused({"materials": [Bilingual(
            f"The call requires these materials: {', '.join(f'{k} ({KINDS[k].en})' for k in missing)}.",
            f"本批次要求上传以下材料：{'、'.join(KINDS[k].zh for k in missing)}")]})


def check_readable(actor: Actor, application: Mapping, review_deadline: datetime | None, now: datetime) -> None:
    """Who may read an application's materials: those who see the application (the institution,
    its recommending authority, the province), and an expert assigned to it until the review
    deadline (`review_deadline`, None when not assigned). Anyone else is told it does not exist."""
    if actor.role == EXPERT_ROLE:
        allowed = review_deadline is not None and now < review_deadline
    else:
        allowed = may_see(actor, application)
    if not allowed:
        raise NotFound(Bilingual("No such application.", "申报不存在"))


def watermark_text(actor: Actor, now: datetime) -> str:
    """The stamp on an expert's copy: a leaked copy names its reader and the time."""
    return f"仅供评审使用 · {actor.subject} ({actor.expert_id}) · {now.strftime('%Y-%m-%d %H:%M')} UTC"


def material_history(history: Iterable[Mapping], materials: Iterable[Mapping]) -> list[dict]:
    """The application's status history with its materials' steps woven in by time: who added or
    removed which file when. Materials are only ever marked removed, so this is the whole story;
    they change only in a draft."""
    steps = []
    for material in materials:
        what = {"id": material["_id"], **{key: material[key] for key in ("kind", "filename", "sha256", "size")}}
        steps.append({"event": "material_added", "from_state": DRAFT, "to_state": DRAFT,
                      "actor": material["uploaded_by"], "at": material["uploaded_at"], "reason": None, "material": what})
        if material.get("removed_at") is not None:
            steps.append({"event": "material_removed", "from_state": DRAFT, "to_state": DRAFT,
                          "actor": material.get("removed_by"), "at": material["removed_at"], "reason": None,
                          "material": what})
    return sorted([*history, *steps], key=lambda entry: entry["at"])
