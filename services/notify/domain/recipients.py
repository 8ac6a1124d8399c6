"""Who is told what: the recipients of each event kind, and what each of them is told.

A recipient is a scope, as a token carries it: an institution's users share
`institution:<id>`, a prefecture bureau's `prefecture:<name>`, an expert is
`expert:<id>`, an HRSS department `hrss:<sponsor>`, and the provincial office and finance
are `province` and `finance`.
Each rule takes the event's data (loaded with its producer's schema) and the
service's directory, and answers one notice per recipient, with only what concerns
that recipient in its context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.common.actor import SCOPE_CLAIMS
from services.common.errors import DomainError
from services.contracts.reference import PREFECTURES

PROVINCE = "province"
FINANCE = "finance"
DRAFT = "draft"  # an application withdrawn from draft was never seen by its recommender

#: An event's data, an actor's claims, an entry of a list in an event: open JSON documents.
Data = Mapping[str, Any]


def institution(institution_id: str) -> str:
    return f"institution:{institution_id}"


def prefecture(name: str) -> str:
    return f"prefecture:{name}"


def expert(expert_id: str) -> str:
    return f"expert:{expert_id}"


def hrss(sponsor: str) -> str:
    return f"hrss:{sponsor}"


class NoRecipient(DomainError):
    """The actor's token lacks the scope its role needs."""

    status, kind = 403, None


class NotKnownYet(LookupError):
    """The directory lacks a fact the event needs, which comes by another queue (a
    project's institution comes with review's selection_finalized): the event is to be
    tried again later, and dead-lettered if the fact never comes."""


def recipient_of(actor: Data) -> str:
    """The recipient whose messages a user reads: its role's scope."""
    role: str | None = actor.get("role")
    if role in (PROVINCE, FINANCE):
        return role
    if role not in SCOPE_CLAIMS:
        raise NoRecipient(f"no recipient for role {role!r}")
    claim = SCOPE_CLAIMS[role]
    if not actor.get(claim):
        raise NoRecipient(f"a {role} needs the claim {claim}")
    return f"{role}:{actor[claim]}"  # as institution(), prefecture(), expert() and hrss() name it


def audience(recipient: str) -> str:
    """The role a recipient belongs to: what templates address."""
    return recipient.split(":", 1)[0]


@dataclass(frozen=True)
class Party:
    """An application as this service knows it: whose it is and who recommends it."""

    application_id: str
    institution_id: str
    prefecture: str
    title: str | None = None
    recommender: str | None = None  # the recipient that recommends it

    def entry(self, **extra: Any) -> dict[str, Any]:
        return {
            "application_id": self.application_id,
            "institution_id": self.institution_id,
            "prefecture": self.prefecture,
            "title": self.title or self.application_id,
            **extra,
        }


@dataclass(frozen=True)
class Notice:
    """What one recipient is told. `shareable`: the event itself may go to the recipient's
    webhooks; False when it holds what the recipient must not see (another's part)."""

    recipient: str
    kind: str
    context: dict[str, Any] = field(default_factory=dict)
    shareable: bool = True


class Directory(Protocol):
    """What this service has learned from events (it reads no other service's data)."""

    def call_name(self, call_id: str) -> str | None: ...
    def application(self, application_id: str) -> Party | None: ...
    def parties_of_call(self, call_id: str) -> list[Party]: ...
    def known_institutions(self) -> list[str]: ...
    def approval(self, call_id: str, rank: int) -> Party | None: ...
    def project(self, project_id: str) -> Party | None: ...


#: What the notices of an event kind are, from its data.
Rule = Callable[[Data, Directory], list[Notice]]


def notices_for(kind: str, data: Data, directory: Directory) -> list[Notice]:
    """The notices an event of `kind` gives: at most one per recipient."""
    return RULES[kind](data, directory)


def recommender_of(recommender: Data, prefecture_name: str) -> str:
    # Technician schools are recommended by their HRSS sponsor, which has no role of its
    # own on the platform yet: the provincial office receives what it would.
    return prefecture(prefecture_name) if recommender["kind"] == "prefecture_bureau" else PROVINCE


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _grouped(entries: Iterable[Data], *keys: Callable[[Data], str]) -> dict[str, list[Data]]:
    """Entries grouped by each recipient they concern, in first-seen order."""
    groups: dict[str, list[Data]] = {}
    for entry in entries:
        for key in keys:
            groups.setdefault(key(entry), []).append(entry)
    return groups


def _institution_of(entry: Data) -> str:
    return institution(entry["institution_id"])


def _prefecture_of(entry: Data) -> str:
    return prefecture(entry["prefecture"])


def call_name_of(directory: Directory, call_id: str) -> str:
    return directory.call_name(call_id) or call_id


def _to(kind: str, recipients: Iterable[str], **context: Any) -> list[Notice]:
    return [Notice(r, kind, {**context, "audience": audience(r)}) for r in _unique(recipients)]


def _each(kind: str, groups: Mapping[str, list[Data]], shareable: bool = True, **context: Any) -> list[Notice]:
    return [
        Notice(r, kind, {**context, "audience": audience(r), "entries": entries}, shareable)
        for r, entries in groups.items()
    ]


def titled(directory: Directory, entry: Data) -> dict[str, Any]:
    """`entry` (with an application_id) and the application's title, as well as it is known."""
    party = directory.application(entry["application_id"])
    return {**entry, "title": entry.get("title") or (party.title if party else None) or entry["application_id"]}


def _title(directory: Directory, application_id: str) -> str:
    title: str = titled(directory, {"application_id": application_id})["title"]
    return title


# --- applications ------------------------------------------------------------------------


def _call_opened(data: Data, directory: Directory) -> list[Notice]:
    recipients = [prefecture(p) for p in PREFECTURES] + [institution(i) for i in directory.known_institutions()]
    return _to("call_opened", recipients, data=data, call_name=data["title"])


def _call_closed(data: Data, directory: Directory) -> list[Notice]:
    parties = directory.parties_of_call(data["call_id"])
    recipients = [institution(p.institution_id) for p in parties] + [prefecture(p.prefecture) for p in parties]
    return _to("call_closed", recipients, data=data, call_name=call_name_of(directory, data["call_id"]))


def _call_extended(data: Data, directory: Directory) -> list[Notice]:
    return _to(
        "call_extended",
        [institution(i) for i in data["institution_ids"]],
        data=data,
        call_name=call_name_of(directory, data["call_id"]),
    )


def _call_cancelled(data: Data, directory: Directory) -> list[Notice]:
    """Each institution with the applications it had in the call, and each prefecture with its own."""
    entries = [titled(directory, e) for e in data["closed_applications"]]
    return _each(
        "call_cancelled",
        _grouped(entries, _institution_of, _prefecture_of),
        call_name=call_name_of(directory, data["call_id"]),
        reason=data["reason"],
    )


def _project_established(data: Data, directory: Directory) -> list[Notice]:
    recipients = [institution(data["institution_id"]), prefecture(data["prefecture"]), FINANCE]
    return _to("project_established", recipients, data=data, call_name=call_name_of(directory, data["call_id"]))


def _project_replaced(data: Data, directory: Directory) -> list[Notice]:
    """The successor's institution, whose application takes the place from the reserve list, and
    the province, which gave it."""
    return _to(
        "project_replaced",
        [institution(data["institution_id"]), PROVINCE],
        data=data,
        call_name=call_name_of(directory, data["call_id"]),
    )


def _application_submitted(data: Data, directory: Directory) -> list[Notice]:
    recipients = [institution(data["institution_id"]), recommender_of(data["recommender"], data["prefecture"])]
    return _to("application_submitted", recipients, data=data, call_name=call_name_of(directory, data["call_id"]))


def _application_withdrawn(data: Data, directory: Directory) -> list[Notice]:
    party = directory.application(data["application_id"])
    recipients = [institution(data["institution_id"])]
    if data["from_state"] != DRAFT and party and party.recommender:
        recipients.append(party.recommender)
    return _to(
        "application_withdrawn",
        recipients,
        data=data,
        title=_title(directory, data["application_id"]),
        call_name=call_name_of(directory, data["call_id"]),
    )


def _to_institution(kind: str) -> Rule:
    def rule(data: Data, directory: Directory) -> list[Notice]:
        return _to(
            kind,
            [institution(data["institution_id"])],
            data=data,
            title=_title(directory, data["application_id"]),
            call_name=call_name_of(directory, data["call_id"]),
        )

    return rule


def _annual_report_due(data: Data, directory: Directory) -> list[Notice]:
    return _to("annual_report_due", [institution(data["institution_id"])], data=data)


def _annual_report_filed(data: Data, directory: Directory) -> list[Notice]:
    """The institution (its receipt) and the recommending authority, which endorses or returns it."""
    return _to(
        "annual_report_filed",
        [institution(data["institution_id"]), recommender_of(data["recommender"], data["prefecture"])],
        data=data,
    )


def _annual_report_returned(data: Data, directory: Directory) -> list[Notice]:
    return _to("annual_report_returned", [institution(data["institution_id"])], data=data)


def _annual_report_endorsed(data: Data, directory: Directory) -> list[Notice]:
    """The institution, and the province, which accepts it next."""
    return _to("annual_report_endorsed", [institution(data["institution_id"]), PROVINCE], data=data)


def _annual_report_accepted(data: Data, directory: Directory) -> list[Notice]:
    return _to("annual_report_accepted", [institution(data["institution_id"])], data=data)


def _annual_reports_missing(data: Data, directory: Directory) -> list[Notice]:
    return _to("annual_reports_missing", [prefecture(data["prefecture"])], data=data)


# --- review ------------------------------------------------------------------------------


def _experts_assigned(data: Data, directory: Directory) -> list[Notice]:
    assignments = [titled(directory, a) for a in data["assignments"]]
    groups = _grouped(assignments, lambda a: expert(a["expert_id"]))
    return _each("experts_assigned", groups, shareable=False, call_name=call_name_of(directory, data["call_id"]))


def _to_province(kind: str) -> Rule:
    def rule(data: Data, directory: Directory) -> list[Notice]:
        context = {"data": data, "call_name": call_name_of(directory, data["call_id"])}
        if "application_id" in data:
            context["entry"] = titled(directory, {"application_id": data["application_id"]})
        return _to(kind, [PROVINCE], **context)

    return rule


def _to_selected(kind: str, listed: str, *shared: str) -> Rule:
    """Each institution in the list, with its entries, and each prefecture, with its own."""

    def rule(data: Data, directory: Directory) -> list[Notice]:
        entries = [titled(directory, e) for e in data[listed]]
        groups = _grouped(entries, _institution_of, _prefecture_of)
        return _each(kind, groups, call_name=call_name_of(directory, data["call_id"]), **{k: data[k] for k in shared})

    return rule


def _objection_resolved(data: Data, directory: Directory) -> list[Notice]:
    call_name = call_name_of(directory, data["call_id"])
    notices = _to(
        "objection_resolved",
        [PROVINCE],
        data=data,
        call_name=call_name,
        entry=titled(directory, {"application_id": data["application_id"]}),
    )
    concerned: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for role, ids in (
        ("objected", [data["application_id"]]),
        ("removed", data["removed"]),
        ("promoted", data["promoted"]),
    ):
        for application_id in ids:
            party = directory.application(application_id)
            if party is None:
                raise NotKnownYet(
                    f"objection_resolved: application {application_id} is not known yet: "
                    "its ranking has not been handled"
                )
            mine = concerned.setdefault(
                institution(party.institution_id), {"objected": [], "removed": [], "promoted": []}
            )
            mine[role].append(party.entry())
    for recipient, mine in concerned.items():
        # the objection's reason goes only to the institution it was about
        verdict = {"upheld": data["upheld"], "reason": data["reason"]} if mine["objected"] else {}
        notices.append(
            Notice(
                recipient,
                "objection_resolved",
                {"call_name": call_name, "audience": "institution", **mine, **verdict},
                shareable=bool(mine["objected"]),
            )
        )
    return notices


def _panel_experts_assigned(data: Data, directory: Directory) -> list[Notice]:
    """Each expert with the projects of the panel they are to score."""
    groups = _grouped(data["assignments"], lambda a: expert(a["expert_id"]))
    return _each(
        "panel_experts_assigned", groups, shareable=False, panel_title=data["title"], milestone=data["milestone"]
    )


def _panel_results_proposed(data: Data, directory: Directory) -> list[Notice]:
    """The province, which is to confirm each result: how many of each."""
    counts = {result: sum(r["result"] == result for r in data["results"]) for result in ("pass", "rectify", "fail")}
    return _to("panel_results_proposed", [PROVINCE], data=data, counts=counts)


def _panel_result_confirmed(data: Data, directory: Directory) -> list[Notice]:
    """The project's institution and its recommending authority (the prefecture bureau, or the
    province for an HRSS-sponsored school), as its application named it; the prefecture bureau
    when the application is not known here."""
    return _to(
        "panel_result_confirmed",
        [institution(data["institution_id"]), _project_authority(data, directory)],
        data=data,
        title=data["title"],
    )


def _rectification_due(data: Data, directory: Directory) -> list[Notice]:
    """The project's institution and its recommending authority, as for the panel's result, and
    the province, which is to review the project again."""
    return _to(
        "rectification_due",
        [institution(data["institution_id"]), _project_authority(data, directory), PROVINCE],
        data=data,
    )


def _project_authority(data: Data, directory: Directory) -> str:
    """The project's recommending authority as its application named it; the prefecture bureau
    when the application is not known here."""
    party = directory.application(data["project_id"])
    return party.recommender if party is not None and party.recommender else prefecture(data["prefecture"])


# --- funding -----------------------------------------------------------------------------


def _to_project(kind: str, find: Callable[[Directory, Data], Party | None]) -> Rule:
    """The project's institution and finance."""

    def rule(data: Data, directory: Directory) -> list[Notice]:
        party = find(directory, data)
        if party is None:
            raise NotKnownYet(
                f"{kind}: the institution of project {data['project_id']} (call {data['call_id']}) "
                "is not known yet: its selection_finalized has not been handled"
            )
        return _to(
            kind,
            [institution(party.institution_id), FINANCE],
            data=data,
            call_name=call_name_of(directory, data["call_id"]),
            title=party.title or data["project_id"],
        )

    return rule


def _by_approval(directory: Directory, data: Data) -> Party | None:
    return directory.approval(data["call_id"], data["rank"])


def _by_project(directory: Directory, data: Data) -> Party | None:
    return directory.project(data["project_id"])


def _budget_exhausted(data: Data, directory: Directory) -> list[Notice]:
    return _to("budget_exhausted", [PROVINCE, FINANCE], data=data, call_name=call_name_of(directory, data["call_id"]))


RULES: dict[str, Rule] = {
    "call_opened": _call_opened,
    "call_closed": _call_closed,
    "call_extended": _call_extended,
    "call_cancelled": _call_cancelled,
    "project_established": _project_established,
    "project_replaced": _project_replaced,
    "annual_report_due": _annual_report_due,
    "annual_report_filed": _annual_report_filed,
    "annual_report_returned": _annual_report_returned,
    "annual_report_endorsed": _annual_report_endorsed,
    "annual_report_accepted": _annual_report_accepted,
    "annual_reports_missing": _annual_reports_missing,
    "application_submitted": _application_submitted,
    "application_withdrawn": _application_withdrawn,
    "application_recommended": _to_institution("application_recommended"),
    "application_declined": _to_institution("application_declined"),
    "eligibility_checked": _to_institution("eligibility_checked"),
    "experts_assigned": _experts_assigned,
    "assignment_declined": _to_province("assignment_declined"),
    "ranking_published": _to_province("ranking_published"),
    "notice_published": _to_selected("notice_published", "selected", "opens_at", "closes_at"),
    "objection_filed": _to_province("objection_filed"),
    "objection_resolved": _objection_resolved,
    "selection_finalized": _to_selected("selection_finalized", "approved"),
    "panel_experts_assigned": _panel_experts_assigned,
    "panel_results_proposed": _panel_results_proposed,
    "panel_result_confirmed": _panel_result_confirmed,
    "rectification_due": _rectification_due,
    "funds_allocated": _to_project("funds_allocated", _by_approval),
    "tranche_released": _to_project("tranche_released", _by_project),
    "tranche_withheld": _to_project("tranche_withheld", _by_project),
    "funds_clawed_back": _to_project("funds_clawed_back", _by_project),
    "project_failed": _to_project("project_failed", _by_project),
    "project_withdrawn": _to_project("project_withdrawn", _by_project),
    "budget_exhausted": _budget_exhausted,
}
