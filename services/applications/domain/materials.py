"""The rules of materials: the files an application is filed with (申报材料) and the evidence
files of an annual progress report (佐证材料). Their owner is an application or a report: its
kinds of file, when its files may change, its size limit and who reads them differ; the rest
(types, names, limits per file, history) is the same."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.applications.domain.access import may_see
from services.common.errors import DomainError
from services.applications.domain.messages import Bilingual, FieldsRefused, NotEditable, NotFound
from services.common.actor import Actor
from services.applications.domain.reports import DRAFT as REPORT_DRAFT
from services.applications.domain.reports import RETURNED as REPORT_RETURNED
from services.contracts.applications import MATERIAL_KINDS, REPORT_MATERIAL_KINDS

EXPERT_ROLE = "expert"
DRAFT = "draft"

MIB = 1024 * 1024


@dataclass(frozen=True)
class OwnerKind:
    """What materials may be filed with, and its rules."""

    name: str
    field: str  # the material's field naming its owner
    noun: Bilingual
    kinds: tuple[str, ...]
    changeable: frozenset[str]  # the owner's states in which files are added and removed
    frozen: Bilingual  # why not, in any other state
    experts_read: bool  # whether an expert assigned to it reads its files until the review deadline


APPLICATION = OwnerKind(
    "application",
    "application_id",
    Bilingual("application", "申报"),
    tuple(MATERIAL_KINDS),
    frozenset({DRAFT}),
    Bilingual("The materials froze when the application was submitted.", "申报已提交，材料不可再增删"),
    True,
)
ANNUAL_REPORT = OwnerKind(
    "annual_report",
    "report_id",
    Bilingual("annual report", "年度报告"),
    REPORT_MATERIAL_KINDS,
    frozenset({REPORT_DRAFT, REPORT_RETURNED}),
    Bilingual(
        "Evidence files change only while the report is a draft or returned for changes: they froze when it was filed.",
        "年度报告佐证材料仅可在草稿或被退回修改时增删；报送后不可再增删",
    ),
    False,
)


@dataclass(frozen=True)
class Owner:
    kind: OwnerKind
    id: str

    @property
    def query(self) -> dict[str, str]:
        """What its materials' documents say of it."""
        return {self.kind.field: self.id}


class TooLarge(DomainError):
    """A file, or its owner's materials together, past the limit (413)."""

    status, kind = 413, "too-large"


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 20 * MIB
    application_bytes: int = 100 * MIB
    report_bytes: int = 50 * MIB

    def total(self, owner: OwnerKind) -> int:
        return self.report_bytes if owner is ANNUAL_REPORT else self.application_bytes

    def room(self, stored_bytes: int, owner: OwnerKind = APPLICATION) -> int:
        """How many bytes the next file may have, given what its owner already holds."""
        return min(self.file_bytes, self.total(owner) - stored_bytes)

    def refusal(self, stored_bytes: int, owner: OwnerKind = APPLICATION) -> TooLarge:
        if self.total(owner) - stored_bytes < self.file_bytes:
            total, stored = _size(self.total(owner)), _size(stored_bytes)
            return TooLarge(
                Bilingual(
                    f"The {owner.noun.en}'s materials may total at most {total} ({stored} are already filed).",
                    f"每份{owner.noun.zh}的材料合计不得超过 {total}（已上传 {stored}）",
                )
            )
        return TooLarge(
            Bilingual(
                f"A file may have at most {_size(self.file_bytes)}.", f"单个文件不得超过 {_size(self.file_bytes)}"
            )
        )


def _size(count: int) -> str:
    return f"{count / MIB:.1f} MB" if count >= MIB else f"{count} bytes"


def check_kind(kind: str, owner: OwnerKind = APPLICATION) -> str:
    if kind not in owner.kinds:
        raise FieldsRefused(
            {
                "kind": [
                    Bilingual(
                        f"Must be one of: {', '.join(owner.kinds)}.",
                        f"须为以下之一：{'、'.join(f'{c}（{MATERIAL_KINDS[c].zh}）' for c in owner.kinds)}",
                    )
                ]
            }
        )
    return kind


def check_changeable(doc: Mapping[str, Any], owner: OwnerKind = APPLICATION) -> None:
    """An application's materials freeze at submission; a report's evidence at filing, and
    thaw when it is returned for changes."""
    if doc["state"] not in owner.changeable:
        raise NotEditable(owner.frozen)


def missing_kinds(required: Iterable[str], filed: Iterable[str]) -> list[str]:
    have = set(filed)
    return [kind for kind in required if kind not in have]


def check_complete(required: Iterable[str], filed: Iterable[str]) -> None:
    """Submission needs every kind the call requires; the refusal names what is missing."""
    missing = missing_kinds(required, filed)
    if missing:
        raise FieldsRefused(
            {
                "materials": [
                    Bilingual(
                        f"The call requires these materials: {', '.join(f'{k} ({MATERIAL_KINDS[k].en})' for k in missing)}.",
                        f"本批次要求上传以下材料：{'、'.join(MATERIAL_KINDS[k].zh for k in missing)}",
                    )
                ]
            }
        )


def check_readable(
    actor: Actor,
    doc: Mapping[str, Any],
    review_deadline: datetime | None,
    now: datetime,
    owner: OwnerKind = APPLICATION,
) -> None:
    """Who may read the materials: the owning institution, its recommending authority and the
    province (finance, which reads reports, does not read their files); for an application an
    expert assigned to it until the review deadline (`review_deadline`, None when not assigned).
    Anyone else is told it does not exist."""
    if actor.role == EXPERT_ROLE:
        allowed = owner.experts_read and review_deadline is not None and now < review_deadline
    else:
        allowed = may_see(actor, doc)
    if not allowed:
        raise NotFound(Bilingual(f"No such {owner.noun.en}.", f"{owner.noun.zh}不存在"))


def watermark_text(actor: Actor, now: datetime) -> str:
    """The stamp on an expert's copy: a leaked copy names its reader and the time."""
    return f"仅供评审使用 · {actor.sub} ({actor.expert_id}) · {now.strftime('%Y-%m-%d %H:%M')} UTC"


def material_history(
    history: Iterable[Mapping[str, Any]], materials: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The owner's status history with its materials' steps woven in by time: who added or
    removed which file when, and in which state of the owner (an application's are all in its
    draft, which older materials do not record). Materials are only ever marked removed, so this
    is the whole story."""
    steps: list[Mapping[str, Any]] = []
    for material in materials:
        what = {"id": material["_id"], **{key: material[key] for key in ("kind", "filename", "sha256", "size")}}
        added_in = material.get("owner_state", DRAFT)
        steps.append(
            {
                "event": "material_added",
                "from_state": added_in,
                "to_state": added_in,
                "actor": material["uploaded_by"],
                "at": material["uploaded_at"],
                "reason": None,
                "material": what,
            }
        )
        if material.get("removed_at") is not None:
            removed_in = material.get("removed_in", DRAFT)
            steps.append(
                {
                    "event": "material_removed",
                    "from_state": removed_in,
                    "to_state": removed_in,
                    "actor": material.get("removed_by"),
                    "at": material["removed_at"],
                    "reason": None,
                    "material": what,
                }
            )
    return sorted([*history, *steps], key=lambda entry: entry["at"])
