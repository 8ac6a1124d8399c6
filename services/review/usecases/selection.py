"""The selection of a call: the ranking of its calibrated reviews within the quota, its
publication, the public notice (公示) and the objections filed against it, and the final
selection that goes to funding.

Each function is one unit of work over the store (a transaction, with its events); the
rules are the domain's (`domain/ranking.py`, `domain/calibration.py`, `domain/notice.py`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime

from services.common.bilingual import Bilingual
from services.common.replies import Refused
from services.contracts.reference import PREFECTURES
from services.review.domain import notice as notice_rules
from services.review.domain.calibration import ReviewScore
from services.common.actor import SCOPE_CLAIMS
from services.review.domain.notice import NOTICE, PublicNotice, stage_move
from services.review.domain.ranking import TIE_RULE, QuotaPolicy, Ranking, prefecture_results, rank_reviews
from services.review.domain.reviews import review_open, rfc3339
from services.review.store import ReviewStore, new_id

NO_NOTICE = Bilingual(
    "No public notice has been published for this call: publish it first (POST /v1/calls/{id}/notice).",
    "该遴选批次尚未发布公示：请先发布公示（POST /v1/calls/{id}/notice）。",
)


# ---------------------------------------------------------------- ranking


def get_ranking(store: ReviewStore, call_id: str) -> dict:
    """The call's ranking (RankingOut): as published, less the applications gone since; before
    that, a draft of the reviews as they stand."""
    call = store.call(call_id)
    return ranking_body(store, call, published_or_draft(store, call))


def publish_ranking(store: ReviewStore, call_id: str, by: str, now: datetime) -> dict:
    """Publish the ranking once every review is in or the review deadline has passed: the
    selected within the quota and the prefecture cap, and the reserve, in order. Reviews close."""

    def work(call):
        draft = draft_ranking(store, call)
        deadline = call.get("review_deadline")
        if deadline is None:
            raise Refused(
                409,
                Bilingual(
                    "No experts have been assigned in this call yet: assign them first (POST /v1/calls/{id}/assignments).",
                    "该遴选批次尚未分配评审专家：请先分配（POST /v1/calls/{id}/assignments）。",
                ),
                type="no-assignments",
            )
        if draft["outstanding"] and review_open(now, deadline):
            raise Refused(
                409,
                Bilingual(
                    f"{draft['outstanding']} review(s) are not in and the review deadline {rfc3339(deadline)} has "
                    "not passed: publish the ranking once they are in or after the deadline.",
                    f"尚有{draft['outstanding']}份评审意见未提交，且评审截止时间{rfc3339(deadline)}未到："
                    "请在全部提交后或截止后发布排名。",
                ),
                type="reviews-outstanding",
            )
        stage, audit = stage_move(call["_id"], call["stage"], "rank", who=by, now=now)
        ranking = draft["ranking"]
        published = {
            **{k: v for k, v in draft.items() if k != "ranking"},
            "record": ranking.to_record(),
            "published_at": now,
            "published_by": by,
        }
        store.update_call(call["_id"], {"stage": stage, "ranking": published}, history=[audit])
        store.close_candidates(call["_id"])  # a review written meanwhile conflicts, retries, and is refused
        candidates = {c["_id"]: c for c in store.candidates(call["_id"])}
        store.emit(
            "ranking_published",
            call["_id"],
            {
                "call_id": call["_id"],
                "quota": ranking.quota,
                "selected": [_ranked_data(e, candidates) for e in ranking.selected],
                "reserve": [_ranked_data(e, candidates) for e in ranking.reserve],
            },
        )
        return ranking_body(
            store,
            {**call, "stage": stage, "ranking": published},
            published_or_draft(store, {**call, "ranking": published}),
        )

    return store.in_call(call_id, work)


def draft_ranking(store: ReviewStore, call: Mapping) -> dict:
    """Calibrate and rank the call's reviews as they stand now."""
    candidates = store.candidates(call["_id"])
    eligible = {c["_id"]: c for c in candidates}
    reviewed = [
        a for a in store.assignments(call["_id"]) if a["status"] == "reviewed" and a["application_id"] in eligible
    ]
    calibration, ranking = rank_reviews(
        [ReviewScore(a["application_id"], a["expert_id"], a["review"]["total_hundredths"]) for a in reviewed],
        {c["_id"]: (c["prefecture"], c["submitted_at"]) for c in candidates},
        call["quota"],
        QuotaPolicy.for_call(call["category"], call["prefecture_cap"]),
    )
    k = call["review_plan"]["reviewers_per_application"]
    reviewed_per_app = Counter(a["application_id"] for a in reviewed)
    counts = {app: reviewed_per_app[app] for app in eligible}
    return {
        "ranking": ranking,
        "scores": [asdict(s) for s in calibration.scores.values()],
        "calibration": {
            "group_count": calibration.group_count,
            "residual_sd_hundredths": calibration.residual_sd_hundredths,
            "converged": calibration.converged,
            "expert_offsets": [asdict(o) for o in calibration.offsets.values()],
        },
        "unscored": [
            {"application_id": app, "title": eligible[app]["title"], "reason": "no review submitted"}
            for app, n in counts.items()
            if n == 0
        ],
        "outstanding": sum(max(0, k - n) for n in counts.values()),
    }


def published_or_draft(store: ReviewStore, call: Mapping) -> dict:
    """The published ranking as it stands now (less the applications gone), else a draft."""
    published = call.get("ranking")
    if published is None:
        return {**draft_ranking(store, call), "published_at": None}
    return {**published, "ranking": _current_ranking(call)}


def ranking_body(store: ReviewStore, call: Mapping, state: Mapping) -> dict:
    """The ranking as its reply shows it (RankingOut), each entry with its applicant."""
    ranking: Ranking = state["ranking"]
    candidates = {c["_id"]: c for c in store.candidates(call["_id"], status=None)}
    scores = {s["application_id"]: s for s in state["scores"]}
    entries = [
        {
            **e.to_dict(),
            **_applicant(candidates, e.entry.application_id),
            **{
                k: scores[e.entry.application_id][k]
                for k in ("band_low_hundredths", "band_high_hundredths", "review_count")
            },
        }
        for e in ranking.entries
    ]
    return {
        "call_id": call["_id"],
        "status": "published" if state["published_at"] else "draft",
        "quota": ranking.quota,
        "prefecture_cap": ranking.policy.prefecture_cap,
        "one_per_prefecture": ranking.policy.one_each,
        "tie_rule": TIE_RULE,
        "entries": entries,
        "reserve": [e.entry.application_id for e in ranking.reserve],
        "shortfall": ranking.shortfall,
        "prefectures": [
            r.to_dict() for r in prefecture_results(ranking, PREFECTURES if ranking.policy.one_each else ())
        ],
        "unscored": state["unscored"],
        "calibration": state["calibration"],
        "outstanding_reviews": state["outstanding"],
        "review_deadline": call.get("review_deadline"),
        "published_at": state["published_at"],
        "left": call.get("left", []),
    }


# ---------------------------------------------------------------- notice


def publish_notice(
    store: ReviewStore, call_id: str, terms: Mapping, by: str, now: datetime, *, allow_short_window: bool = False
) -> dict:
    """Publish the ranked call's selected list for public notice (公示) over a window of working
    days (or until `closes_at`, only later unless `allow_short_window`). Answers the notice."""

    def work(call):
        if call["stage"] != "ranked":
            raise NOTICE.refuse(call["stage"], "publish")
        published = notice_rules.publish_notice(
            call["_id"],
            _current_ranking(call),
            who=by,
            now=now,
            working_days=terms["window_working_days"],
            holidays=set(terms["holidays"]),
            makeup_workdays=set(terms["makeup_workdays"]),
            closes_at=terms.get("closes_at"),
            allow_short_window=allow_short_window,
        )
        store.update_call(
            call["_id"], {"stage": published.status, "notice": published.to_record()}, history=published.history
        )
        candidates = {c["_id"]: c for c in store.candidates(call["_id"], status=None)}
        store.emit(
            "notice_published",
            call["_id"],
            {
                "call_id": call["_id"],
                "opens_at": rfc3339(published.opens_at),
                "closes_at": rfc3339(published.closes_at),
                "selected": [_ranked_data(e, candidates) for e in published.ranking.selected],
            },
        )
        return notice_body(store, {**call, "notice": published.to_record()}, now)

    return store.in_call(call_id, work)


def get_notice(store: ReviewStore, call_id: str, now: datetime) -> dict:
    """The call's public notice (NoticeOut): who is selected now, who was removed, and whether
    its window is open. Public."""
    call = store.call(call_id)
    if "notice" not in call:
        raise Refused(404, NO_NOTICE, type="not-found")
    return notice_body(store, call, now)


def notice_body(store: ReviewStore, call: Mapping, now: datetime) -> dict:
    """The notice as its reply shows it (NoticeOut)."""
    notice = PublicNotice.from_record(call["_id"], call["notice"], _current_ranking(call))
    candidates = {c["_id"]: c for c in store.candidates(call["_id"], status=None)}
    published = Ranking.from_record(call["ranking"]["record"])
    current = set(notice.ranking.selected_ids)
    return {
        "call_id": call["_id"],
        "call_title": call["title"],
        "category": call["category"],
        "status": notice.status,
        "opens_at": notice.opens_at,
        "closes_at": notice.closes_at,
        "window_open": notice.window_open(now),
        "selected": [
            {
                "rank": e.rank,
                "application_id": e.entry.application_id,
                **_applicant(candidates, e.entry.application_id),
                "prefecture": e.entry.prefecture,
            }
            for e in notice.ranking.selected
        ],
        "removed": [
            {
                "rank": e.rank,
                "application_id": e.entry.application_id,
                **_applicant(candidates, e.entry.application_id),
                "prefecture": e.entry.prefecture,
            }
            for e in published.selected
            if e.entry.application_id not in current and e.entry.application_id in _gone(call)
        ],
        "open_objections": len(notice.open_objections),
    }


# ---------------------------------------------------------------- objections


def file_objection(store: ReviewStore, call_id: str, data: Mapping, actor: Mapping, by: str, now: datetime) -> dict:
    """An objection against a selected application, filed within the notice window by a party
    (an institution, a prefecture or the sponsor, named by the actor's claim)."""
    filer = f"{actor['role']}:{actor.get(SCOPE_CLAIMS[actor['role']])}"  # the party the objector acts for

    def work(call):
        notice = _notice(call)
        filed = notice.file_objection(
            new_id("obj"), data["application_id"], who=by, now=now, grounds=data["grounds"], filer=filer
        )
        store.update_call(call["_id"], {"notice": filed.to_record()}, history=filed.history)
        made = filed.objections[-1]
        store.emit(
            "objection_filed",
            call["_id"],
            {
                "call_id": call["_id"],
                "objection_id": made.objection_id,
                "application_id": made.application_id,
                "filed_by_role": actor["role"],
            },
        )
        return {**asdict(made), "call_id": call["_id"]}

    return store.in_call(call_id, work)


def resolve_objection(store: ReviewStore, objection_id: str, data: Mapping, by: str, now: datetime) -> dict:
    """The province upholds or rejects an objection, with a reason; upheld, the application
    leaves the selected list and the first of the reserve moves up."""

    def work(call):
        notice = _notice(call)
        resolved = notice.resolve_objection(
            objection_id, upheld=data["decision"] == "upheld", who=by, now=now, reason=data["reason"]
        )
        audit = resolved.history[-1]
        removed = [audit["removed"]] if "removed" in audit else []
        promoted = audit.get("promoted", [])
        store.update_call(call["_id"], {"notice": resolved.to_record()}, history=resolved.history)
        made = resolved.objection(objection_id)
        store.emit(
            "objection_resolved",
            call["_id"],
            {
                "call_id": call["_id"],
                "objection_id": objection_id,
                "application_id": made.application_id,
                "upheld": made.status == "upheld",
                "reason": made.resolution,
                "removed": removed,
                "promoted": promoted,
            },
        )
        return {**asdict(made), "call_id": call["_id"], "removed": removed, "promoted": promoted}

    return store.in_call(store.call_of_objection(objection_id), work)


# ---------------------------------------------------------------- final selection


def finalize_selection(store: ReviewStore, call_id: str, by: str, now: datetime) -> dict:
    """Once the notice window has closed with no objection open: the selection is final, and
    `selection_finalized` takes the approved applications and the reserve list to funding."""

    def work(call):
        final = _notice(call).finalize(who=by, now=now)
        store.update_call(
            call["_id"],
            {"stage": final.status, "notice": final.to_record(), "finalized_at": now},
            history=final.history,
        )
        candidates = {c["_id"]: c for c in store.candidates(call["_id"], status=None)}
        approved = [
            {
                "application_id": e.entry.application_id,
                "institution_id": candidates[e.entry.application_id]["institution_id"],
                "prefecture": e.entry.prefecture,
                "rank": e.rank,
                "title": candidates[e.entry.application_id]["title"],
                "budget_request_fen": candidates[e.entry.application_id]["budget_request_fen"],
            }
            for e in final.ranking.selected
        ]
        reserve = [
            {
                "application_id": e.entry.application_id,
                "prefecture": e.entry.prefecture,
                "rank": e.rank,
                "reserve_position": e.reserve_position,
            }
            for e in final.ranking.reserve
        ]
        store.emit(
            "selection_finalized",
            call["_id"],
            {
                "call_id": call["_id"],
                "category": call["category"],
                "funding_rule": call["funding_rule"],
                "quota": call["quota"],
                "year": call.get("year"),
                "approved": approved,
                "reserve": reserve,
            },
        )
        return {"call_id": call["_id"], "status": final.status, "finalized_at": now, "approved": approved}

    return store.in_call(call_id, work)


# ---------------------------------------------------------------- helpers (no I/O)


def _gone(call: Mapping) -> set[str]:
    """Applications taken off the published ranking: left the review, or an objection upheld."""
    notice = call.get("notice") or {"objections": []}
    upheld = {o["application_id"] for o in notice["objections"] if o["status"] == "upheld"}
    return set(call.get("left", [])) | upheld


def _current_ranking(call: Mapping) -> Ranking:
    return Ranking.from_record(call["ranking"]["record"], leaving=_gone(call))


def _notice(call: Mapping) -> PublicNotice:
    if "notice" not in call:
        raise Refused(404, NO_NOTICE, type="not-found")
    return PublicNotice.from_record(call["_id"], call["notice"], _current_ranking(call))


def _applicant(candidates: dict, application_id: str) -> dict:
    c = candidates[application_id]
    return {"title": c["title"], "institution_id": c["institution_id"], "institution_name": c["institution_name"]}


def _ranked_data(entry, candidates: dict) -> dict:
    return {
        "application_id": entry.entry.application_id,
        "institution_id": candidates[entry.entry.application_id]["institution_id"],
        "prefecture": entry.entry.prefecture,
        "rank": entry.rank,
        "calibrated_hundredths": entry.entry.calibrated_hundredths,
    }
