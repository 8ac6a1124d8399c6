"""Public notice (公示) of a call's selection, objections (异议) and finalization (立项).

The window. The province publishes the ranking's selection at a start instant; the
window closes after ``working_days`` (default 5) working days counted as the Civil Code
counts periods (民法典 第二百零一条、第二百零三条): the day of publication does not count,
counting starts on the next day, and the period ends at 24:00 of its last day. Days are
calendar days in Asia/Shanghai; a working day is Monday–Friday unless it is one of the
given holidays, or a Saturday/Sunday made a working day (调休) by the given make-up
dates. So a notice published on Monday 2026-03-02 10:00 (Beijing) with no holidays
closes at 24:00 Beijing on Monday 2026-03-09, i.e. 2026-03-09T16:00:00Z. Instants go
in and out in UTC.

The stages of a call's selection (``NOTICE``): ``reviewing`` until the province
publishes the ranking (``rank``), then ``ranked``, ``published`` with the notice and
``finalized``. A province may lengthen the window by giving its own ``closes_at``, never
shorten it below the legal one, unless ``allow_short_window`` (a test and demo aid, off
in production) lets any later instant close it.

The rules. During the window (``opens_at <= now < closes_at``) anyone authenticated may
file an objection, with grounds, against an application of the current selection. The
province resolves each open objection, with reasons, at any time before finalization:
``uphold`` takes the application out and re-runs the cut under the same quota and
constraints, so the reserve list moves up; ``dismiss`` changes nothing else. The call is
finalized only once the window has closed and no objection is open.

Each notice is immutable: every operation returns a new ``PublicNotice`` whose
``history`` ends with the audit entry of the move (event, from, to, who, when, why).
Illegal moves raise ``TransitionNotAllowed`` (from ``services.common.statemachine``); a
legal move that a rule blocks right now (window not open, window not closed, open
objections) raises its subclass ``TransitionBlocked`` carrying from/to/why.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo
from typing import Any

from services.common.bilingual import Bilingual
from services.common.errors import DomainError, NotFound
from services.common.statemachine import (
    AuditEntry,
    StateMachine,
    Transition,
    TransitionNotAllowed,
)
from services.contracts.review import MAX_OBJECTIONS_PER_FILER
from services.review.domain.ranking import Ranking
from services.common.errors import FieldErrors
from services.review.domain.reviews import rfc3339, utc

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_WORKING_DAYS = 5

NOTICE = StateMachine(
    "public notice",
    ["reviewing", "ranked", "published", "finalized"],
    [
        Transition("rank", {"reviewing"}, "ranked"),
        Transition("publish", {"ranked"}, "published"),
        Transition("finalize", {"published"}, "finalized"),
    ],
)
OBJECTION = StateMachine(
    "objection",
    ["new", "open", "upheld", "dismissed"],
    [
        Transition("file", {"new"}, "open", requires_reason=True),
        Transition("uphold", {"open"}, "upheld", requires_reason=True),
        Transition("dismiss", {"open"}, "dismissed", requires_reason=True),
    ],
)


class TransitionBlocked(TransitionNotAllowed):
    """A declared transition that a rule forbids at this moment; `why` says which rule, in both languages."""

    def __init__(self, machine: StateMachine, from_state: str, event: str, to_state: str, why: Bilingual):
        super().__init__(from_state, event, (event,), machine.name, why)
        self.to_state = to_state
        self.args = (f"'{event}' from '{from_state}' to '{to_state}' is blocked: {why}",)


class ObjectionRefused(DomainError):
    """An objection this filer may not file: a second one to the same application, or one
    beyond MAX_OBJECTIONS_PER_FILER."""

    status, kind = 409, "objection-refused"


class ObjectionNotFound(NotFound):
    def __init__(self, objection_id: str):
        self.objection_id = objection_id
        super().__init__(Bilingual(f"no objection {objection_id!r} on this notice", f"本公示没有异议 {objection_id}"))


def is_working_day(day: date, holidays: Collection[date], makeup_workdays: Collection[date]) -> bool:
    if day in makeup_workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def notice_closes_at(
    start: datetime,
    working_days: int = DEFAULT_WORKING_DAYS,
    *,
    holidays: Collection[date] = frozenset(),
    makeup_workdays: Collection[date] = frozenset(),
) -> datetime:
    """The UTC instant the window opened at ``start`` closes (rule in the module doc)."""
    errors: dict[str, list[str]] = {}
    if type(working_days) is not int or working_days < 1:
        errors["working_days"] = ["must be a whole number of at least 1"]
    if both := sorted(set(holidays) & set(makeup_workdays)):
        errors["makeup_workdays"] = [f"dates also listed as holidays: {', '.join(map(str, both))}"]
    if errors:
        raise FieldErrors(errors)
    day = utc(start, "start").astimezone(SHANGHAI).date()
    counted = 0
    while counted < working_days:
        day += timedelta(days=1)
        counted += is_working_day(day, holidays, makeup_workdays)
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), SHANGHAI)
    return utc(end_of_day)


@dataclass(frozen=True)
class Objection:
    objection_id: str
    application_id: str
    filed_by: str
    filed_at: datetime
    grounds: str
    status: str = "open"
    # The party that filed (role and scope claim, e.g. "institution:inst_1"); `filed_by` is the person.
    filer: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None


@dataclass(frozen=True)
class PublicNotice:
    call_id: str
    status: str
    ranking: Ranking  # the current cut: selection and reserve after upheld objections
    opens_at: datetime
    closes_at: datetime
    objections: tuple[Objection, ...] = ()
    history: tuple[dict[str, Any], ...] = ()

    def to_record(self) -> dict[str, Any]:
        """The notice without its ranking, as plain data (the ranking is kept apart: it is
        the published one less the applications that left)."""
        return {
            "status": self.status,
            "opens_at": self.opens_at,
            "closes_at": self.closes_at,
            "objections": [asdict(o) for o in self.objections],
        }

    @classmethod
    def from_record(cls, call_id: str, record: dict[str, Any], ranking: Ranking) -> PublicNotice:
        """The notice of ``to_record``, with its current ``ranking``; history starts empty
        (the caller keeps the audit trail and appends what each move adds)."""
        return cls(
            call_id=call_id,
            status=record["status"],
            ranking=ranking,
            opens_at=utc(record["opens_at"], "opens_at"),
            closes_at=utc(record["closes_at"], "closes_at"),
            objections=tuple(Objection(**o) for o in record["objections"]),
        )

    @property
    def upheld_application_ids(self) -> tuple[str, ...]:
        return tuple(o.application_id for o in self.objections if o.status == "upheld")

    def window_open(self, now: datetime) -> bool:
        return self.status == "published" and self.opens_at <= utc(now, "now") < self.closes_at

    @property
    def open_objections(self) -> tuple[Objection, ...]:
        return tuple(o for o in self.objections if o.status == "open")

    def objection(self, objection_id: str) -> Objection:
        for o in self.objections:
            if o.objection_id == objection_id:
                return o
        raise ObjectionNotFound(objection_id)

    def file_objection(
        self,
        objection_id: str,
        application_id: str,
        *,
        who: str,
        now: datetime,
        grounds: str,
        filer: str | None = None,
    ) -> PublicNotice:
        """Raises ``TransitionBlocked`` outside the window, ``FieldErrors`` for a reused
        id or an application not in the selection, ``ReasonRequired`` without grounds,
        ``ObjectionRefused`` for a `filer`'s second objection to one application or one
        beyond MAX_OBJECTIONS_PER_FILER."""
        if not self.window_open(now):
            opens, closes = rfc3339(self.opens_at), rfc3339(self.closes_at)
            why = Bilingual(
                f"the notice window ({opens} to {closes}) is not open: objections are filed within it",
                f"公示期（{opens}至{closes}）未在进行中：异议须在公示期内提出",
            )
            raise TransitionBlocked(OBJECTION, "new", "file", "open", why)
        errors = {}
        if not isinstance(objection_id, str) or not objection_id:
            errors["objection_id"] = ["must be a non-empty id"]
        elif any(o.objection_id == objection_id for o in self.objections):
            errors["objection_id"] = [f"objection {objection_id!r} already exists"]
        if application_id not in self.ranking.selected_ids:
            errors["application_id"] = ["must be an application in the noticed selection"]
        if errors:
            raise FieldErrors(errors)
        filer = filer or who
        own = [o for o in self.objections if (o.filer or o.filed_by) == filer]
        if any(o.application_id == application_id for o in own):
            raise ObjectionRefused(
                Bilingual(
                    f"{filer} has already objected to application {application_id}; "
                    "add to that objection's grounds through the province instead",
                    f"{filer} 已对申报书 {application_id} 提出过异议；如需补充理由，请经省级主管部门提出",
                )
            )
        if len(own) >= MAX_OBJECTIONS_PER_FILER:
            raise ObjectionRefused(
                Bilingual(
                    f"{filer} has filed {len(own)} objections to this notice, the most one party may",
                    f"{filer} 已对本公示提出{len(own)}项异议，已达每方上限",
                )
            )
        _, entry = OBJECTION.apply("new", "file", who, grounds, now)
        assert entry.reason is not None  # "file" requires a reason: apply raised ReasonRequired without one
        objection = Objection(objection_id, application_id, who, entry.at, entry.reason, filer=filer)
        return replace(
            self,
            objections=self.objections + (objection,),
            history=self.history + (_audit(f"objection:{objection_id}", entry),),
        )

    def resolve_objection(
        self, objection_id: str, *, upheld: bool, who: str, now: datetime, reason: str
    ) -> PublicNotice:
        """Uphold (the application leaves, the reserve moves up) or dismiss. Raises
        ``ObjectionNotFound``, ``TransitionNotAllowed`` (already
        resolved), ``ReasonRequired`` without reasons."""
        objection = self.objection(objection_id)
        event = "uphold" if upheld else "dismiss"
        status, entry = OBJECTION.apply(objection.status, event, who, reason, now)
        ranking = self.ranking
        details = {}
        if upheld:
            ranking = ranking.without([objection.application_id])
            promoted = [a for a in ranking.selected_ids if a not in self.ranking.selected_ids]
            details = {"removed": objection.application_id, "promoted": promoted}
        resolved = replace(objection, status=status, resolved_by=who, resolved_at=entry.at, resolution=entry.reason)
        return replace(
            self,
            ranking=ranking,
            objections=tuple(resolved if o is objection else o for o in self.objections),
            history=self.history + (_audit(f"objection:{objection_id}", entry, details),),
        )

    def finalize(self, *, who: str, now: datetime, reason: str | None = None) -> PublicNotice:
        """Approve the selection (``ranking.selected_ids``). Raises ``TransitionBlocked``
        before the window closes or while an objection is open, ``TransitionNotAllowed``
        when already finalized."""
        if NOTICE.can(self.status, "finalize"):
            why = None
            if utc(now, "now") < self.closes_at:
                closes = rfc3339(self.closes_at)
                why = Bilingual(
                    f"the notice window closes at {closes}: finalize after it",
                    f"公示期至{closes}结束，须在其后确定立项",
                )
            elif self.open_objections:
                ids = ", ".join(o.objection_id for o in self.open_objections)
                why = Bilingual(
                    f"objections still open: {ids}; resolve each (POST /v1/objections/{{id}}/resolve)",
                    f"尚有未处理的异议：{ids}；请逐项处理（POST /v1/objections/{{id}}/resolve）",
                )
            if why:
                raise TransitionBlocked(NOTICE, self.status, "finalize", "finalized", why)
        status, entry = NOTICE.apply(self.status, "finalize", who, reason, now)
        audit = _audit(f"notice:{self.call_id}", entry)
        return replace(self, status=status, history=self.history + (audit,))


def window_closes_at(
    now: datetime,
    working_days: int = DEFAULT_WORKING_DAYS,
    *,
    closes_at: datetime | None = None,
    allow_short_window: bool = False,
    holidays: Collection[date] = frozenset(),
    makeup_workdays: Collection[date] = frozenset(),
) -> datetime:
    """When a window opened ``now`` closes: the legal close (``notice_closes_at``), or the
    province's later ``closes_at``. Raises ``FieldErrors`` for a ``closes_at`` not after
    ``now``, or before the legal close unless ``allow_short_window``."""
    legal = notice_closes_at(now, working_days, holidays=holidays, makeup_workdays=makeup_workdays)
    if closes_at is None:
        return legal
    closes_at = utc(closes_at, "closes_at")
    if closes_at <= utc(now, "now"):
        raise FieldErrors({"closes_at": ["must be in the future"]})
    if closes_at < legal and not allow_short_window:
        raise FieldErrors(
            {
                "closes_at": [
                    f"must not be before {rfc3339(legal)}, the close of {working_days} "
                    "working days: a window may be lengthened, never shortened"
                ]
            }
        )
    return closes_at


def publish_notice(
    call_id: str,
    ranking: Ranking,
    *,
    who: str,
    now: datetime,
    working_days: int = DEFAULT_WORKING_DAYS,
    holidays: Collection[date] = frozenset(),
    makeup_workdays: Collection[date] = frozenset(),
    closes_at: datetime | None = None,
    allow_short_window: bool = False,
) -> PublicNotice:
    """Publish ``ranking``'s selection now; the window closes per ``window_closes_at``."""
    closes_at = window_closes_at(
        now,
        working_days,
        closes_at=closes_at,
        allow_short_window=allow_short_window,
        holidays=holidays,
        makeup_workdays=makeup_workdays,
    )
    status, entry = NOTICE.apply("ranked", "publish", who, None, now)
    return PublicNotice(
        call_id=call_id,
        status=status,
        ranking=ranking,
        opens_at=entry.at,
        closes_at=closes_at,
        history=(_audit(f"notice:{call_id}", entry),),
    )


def stage_move(call_id: str, current: str, event: str, *, who: str, now: datetime) -> tuple[str, dict[str, Any]]:
    """Move a call's selection stage by ``event`` (see ``NOTICE``): the new stage and its
    audit entry. Raises ``TransitionNotAllowed``."""
    stage, entry = NOTICE.apply(current, event, who, None, now)
    return stage, _audit(f"notice:{call_id}", entry)


def _audit(subject: str, entry: AuditEntry, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"subject": subject, **entry.as_dict(), **(details or {})}
