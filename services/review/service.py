"""The review service's nameko entrypoints: the expert pool, assignment, reviews,
calibration and ranking, the public notice, objections and the final selection; and the
mid-term and acceptance panels over projects (docs/panels.md), whose logic lives in the
use-case layer (`usecases/panels.py`).

Commands take `actor` (the verified token's claims) and answer by the RPC reply contract
(`services.common.replies`). The rules are in `domain/`; this module reads, decides with
the domain, and writes with the store, each command in one transaction with its events.

Test and demo aid: with `CHUYI_ALLOW_SHORT_NOTICE=1` in the environment the province may
close a notice window sooner than its working days (any future instant); unset, as in
production, a window can only be lengthened.
"""
from __future__ import annotations

import base64
import binascii
import functools
import os
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timezone

from marshmallow import ValidationError
from services.common.rpc import rpc

from services.contracts.reference import PREFECTURES
from services.contracts.applications_events import EVENTS as APPLICATION_EVENTS
from services.common.messaging import handles
from services.common.providers import ChuyiService, MongoStore
from services.common.bilingual import Bilingual
from services.common.replies import Refused, bilingual, created, idempotent, ok, replying, role_refused
from services.common.statemachine import ReasonRequired
from services.common.store import utcnow
from services.contracts import review_api
from services.review import schemas
from services.review.domain.flow import assign
from services.review.domain.calibration import ReviewScore, calibrate
from services.review.domain.experts import call_policy, pairs_to_void, pool_expert, review_application
from services.review.domain.notice import ObjectionRefused
from services.review.domain.notice import ObjectionNotFound as NoticeObjectionNotFound
from services.review.domain.guides import GUIDES
from services.review.domain.notice import NOTICE, PublicNotice, publish_notice, stage_move
from services.contracts.review import OBJECTORS
from services.review.domain.ranking import TIE_RULE, QuotaPolicy, Ranking, prefecture_results, rank_reviews
from services.review.domain.reviews import (
    ASSIGNMENT, STANDING, FieldErrors, Review, ReviewClosed, Rubric, review_open, reviews_complete,
    visible_reviews, write_review,
)
from services.review.store import (
    AssignmentNotFound, DuplicateExpert, NotFound, ReviewStore, StaleSnapshot, new_id,
)
from services.review.usecases import panels as panel_cases
from services.contracts.funding_events import EVENTS as FUNDING_EVENTS

ALLOW_SHORT_NOTICE = "CHUYI_ALLOW_SHORT_NOTICE"
SOLVE_ATTEMPTS = 5
EVENT_ACTOR = "service:applications"
# Each refusal of the domain: its status and problem type (the most specific class wins); a
# state machine's refusal is explained by its guide (domain/guides.py).
REFUSALS = {
    NotFound: (404, "not-found"), NoticeObjectionNotFound: (404, "not-found"),
    ReviewClosed: (409, "review-closed"),
    DuplicateExpert: (409, "duplicate-expert"), ObjectionRefused: (409, "objection-refused"),
}
NO_NOTICE = Bilingual("No public notice has been published for this call: publish it first "
                      "(POST /v1/calls/{id}/notice).", "该遴选批次尚未发布公示：请先发布公示（POST /v1/calls/{id}/notice）。")
# The claim that names the party a role acts for (an objection's filer).
PARTY_CLAIMS = {"institution": "institution_id", "prefecture": "prefecture", "hrss": "sponsor"}


def answers(method):
    """`replying` with the domain's field errors as 422s naming the field."""
    @functools.wraps(method)
    def run(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except FieldErrors as exc:
            raise ValidationError(exc.errors) from None
        except ReasonRequired as exc:
            raise ValidationError({"reason": [str(exc)]}) from None
    return replying(REFUSALS, GUIDES)(run)


def who(actor: dict) -> str:
    return f"{actor['role']}:{actor['sub']}"


def require(actor: dict, *roles: str) -> None:
    if actor.get("role") not in roles:
        raise role_refused(actor.get("role"), roles)


def rfc3339(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


class ReviewService(ChuyiService):
    name = "review"
    store = MongoStore(ReviewStore)

    # ------------------------------------------------------------ experts

    @rpc
    @answers
    def create_expert(self, actor, expert, idempotency_key=None, request_fingerprint=None):
        require(actor, "province")
        data = review_api.ExpertIn().load(expert)
        return idempotent(self.store, actor, idempotency_key, request_fingerprint,
                          lambda: created(review_api.ExpertOut().dump(self.store.add_experts([data], who(actor))[0])))

    @rpc
    @answers
    def import_experts(self, actor, filename, content_b64, idempotency_key=None, request_fingerprint=None):
        require(actor, "province")
        schemas.UploadIn().load({"filename": filename, "content_b64": content_b64})
        try:
            content = base64.b64decode(content_b64, validate=True)
        except binascii.Error:
            raise ValidationError({"file": ["Not valid base64."]}) from None

        def command():
            parsed = schemas.import_experts(content, self.store.person_keys())
            if not parsed.ok:
                raise Refused(422, Bilingual(f"{filename}: {len(parsed.errors)} problem(s); nothing was imported.",
                                             f"{filename}：{len(parsed.errors)}处问题，未导入任何专家。"),
                              errors=_row_errors(parsed.errors), type="import-rejected")
            docs = self.store.add_experts(list(parsed.experts), who(actor))
            return created(review_api.ExpertImportOut().dump(
                {"imported": len(docs), "expert_ids": [d["_id"] for d in docs]}))
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, command)

    @rpc
    @answers
    def list_experts(self, actor, **query):
        require(actor, "province")
        query = schemas.ExpertListIn().load(query)
        limit, cursor = query.pop("limit"), query.pop("cursor", None)
        filters = {{"category": "categories", "field": "fields"}.get(k, k): v for k, v in query.items()}
        items, next_cursor = self.store.page("experts", filters, limit, cursor)
        return ok(review_api.ExpertPageOut().dump({"items": items, "next_cursor": next_cursor}))

    # ------------------------------------------------------------ assignment

    @rpc
    @answers
    def run_assignment(self, actor, call_id, run=None, idempotency_key=None, request_fingerprint=None):
        require(actor, "province")
        deadline = review_api.AssignmentRunIn().load(run or {}).get("review_deadline")
        return idempotent(self.store, actor, idempotency_key, request_fingerprint,
                          lambda: created(review_api.AssignmentRunOut().dump(self._solve(call_id, actor, deadline=deadline))))

    @rpc
    @answers
    def list_assignments(self, actor, **query):
        require(actor, "province", "expert")
        query = schemas.AssignmentListIn().load(query)
        limit, cursor = query.pop("limit"), query.pop("cursor", None)
        if actor["role"] == "expert":
            query["expert_id"] = actor["expert_id"]
        items, next_cursor = self.store.page("assignments", query, limit, cursor)
        return ok(review_api.AssignmentPageOut().dump({"items": items, "next_cursor": next_cursor}))

    @rpc
    @answers
    def decline_assignment(self, actor, assignment_id, decline, idempotency_key=None, request_fingerprint=None):
        require(actor, "expert")
        reason = review_api.AssignmentDeclineIn().load(decline)["reason"]
        assignment = self._own_assignment(actor, assignment_id)

        def command():
            run = self._solve(assignment["call_id"], actor, decline=(assignment, reason))
            return ok(review_api.AssignmentDeclineOut().dump(
                {"assignment": self.store.assignment(assignment_id), "replacement": run}))
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, command)

    def _solve(self, call_id: str, actor: dict, *, deadline: datetime | None = None, decline=None) -> dict:
        """Assign experts to the open slots of the call (after a decline: without that pair),
        keeping every standing assignment; retried when the call moves meanwhile."""
        for _ in range(SOLVE_ATTEMPTS):
            try:
                return self._solve_once(call_id, actor, deadline, decline)
            except StaleSnapshot:
                continue
        raise Refused(409, Bilingual("The call's assignments kept changing while solving; try again.",
                                     "求解期间该批次的评审任务持续变化，请重试。"), type="assignments-changing")

    def _solve_once(self, call_id, actor, deadline, decline) -> dict:
        now, by = utcnow(), who(actor)
        call = self.store.call(call_id)
        deadline = _review_deadline(call, deadline, now, declining=decline is not None)
        candidates, experts = self.store.candidates(call_id), self.store.experts()
        records = self.store.assignments(call_id)
        policy, applications, pool, applied = _assignment_inputs(call, candidates, experts)
        if applications and not pool:
            raise Refused(409, Bilingual("The expert pool is empty: add experts (POST /v1/experts) before assigning.",
                                         "专家库为空：请先添加专家（POST /v1/experts）再分配。"), type="expert-pool-empty")
        moves = _void_moves(applications, pool, policy, records, applied, by, now)
        events = []
        if decline is not None:
            move, event = _decline(call_id, records, *decline, by, now)
            moves.append(move)
            events.append(event)
        fixed, excluded = _fixed_and_excluded(records, {m[0] for m in moves}, applications, pool)
        result = assign(applications, pool, policy, fixed=fixed, excluded_pairs=excluded,
                        applied_institution_ids=applied)
        run_id = new_id("run")
        new = _new_assignments(result.pairs, call_id, run_id, candidates, experts, deadline, by, now)
        run = _run_record(run_id, call, "replacement" if decline else "run", deadline, new, result, moves,
                          len(fixed), len(applications), by, now)
        events.append(("experts_assigned", call_id, _assigned_data(call_id, new, result.unfilled, deadline)))
        history = [{"subject": f"run:{run_id}", "event": run["kind"], "from_state": call["stage"],
                    "to_state": call["stage"], "actor": by, "at": now, "reason": decline[1] if decline else None,
                    "assigned": len(new), "unfilled": len(result.unfilled)}]
        saved = self.store.save_run(call_id, call["version"], run, new, moves, {"review_deadline": deadline},
                                    history, events)
        return {**saved, "assigned": new}

    def _own_assignment(self, actor: dict, assignment_id: str) -> dict:
        assignment = self.store.assignment(assignment_id)
        if actor["role"] == "expert" and assignment["expert_id"] != actor.get("expert_id"):
            raise AssignmentNotFound(assignment_id)
        return assignment

    # ------------------------------------------------------------ reviews

    @rpc
    @answers
    def put_review(self, actor, assignment_id, review):
        require(actor, "expert")
        sheet = review_api.ReviewIn().load(review)
        assignment = self._own_assignment(actor, assignment_id)

        def work(call):
            now, current = utcnow(), self.store.assignment(assignment_id)
            if call["stage"] != "reviewing":
                raise Refused(409, Bilingual("The call's ranking is published: reviews are closed.",
                                             "该遴选批次的排名已发布，评审已结束。"), type="review-closed")
            previous = Review(**current["review"]) if current.get("review") else None
            written = write_review(
                Rubric.from_dicts(call["review_plan"]["rubric"]), application_id=current["application_id"],
                expert_id=current["expert_id"], scores=sheet["scores"], comments=sheet["comments"], now=now,
                deadline=call["review_deadline"], previous=previous)
            status, entry = ASSIGNMENT.apply(current["status"], "submit", who(actor), None, now)
            self.store.move_assignment(assignment_id, current["status"], status, entry.as_dict(),
                                       {"review": asdict(written)})
            self.store.emit("review_submitted", current["application_id"], {
                "call_id": call["_id"], "assignment_id": assignment_id, "application_id": current["application_id"],
                "expert_id": current["expert_id"], "total_hundredths": written.total_hundredths})
            self._complete_if_all_in(call, current["application_id"], now)
            return self._review_body(self.store.assignment(assignment_id), call, actor, now)
        return ok(self.store.in_application(assignment["call_id"], assignment["application_id"], work))

    def _complete_if_all_in(self, call: dict, application_id: str, now: datetime) -> None:
        candidate = self.store.candidate(application_id)
        if candidate.get("reviews_completed_at"):
            return
        standing = [a for a in self.store.assignments(application_id=application_id) if a["status"] in STANDING]
        if not reviews_complete([a["status"] for a in standing], call["review_plan"]["reviewers_per_application"]):
            return
        scores = calibrate([ReviewScore(application_id, a["expert_id"], a["review"]["total_hundredths"])
                            for a in standing]).scores[application_id]  # its raw mean, as the ranking shows it
        self.store.set_candidate(application_id, {"reviews_completed_at": now})
        self.store.emit("reviews_completed", application_id, {
            "call_id": call["_id"], "application_id": application_id, "review_count": scores.review_count,
            "raw_mean_hundredths": scores.raw_mean_hundredths})

    @rpc
    @answers
    def get_review(self, actor, assignment_id):
        require(actor, "expert", "province")
        assignment = self._own_assignment(actor, assignment_id)
        return ok(self._review_body(assignment, self.store.call(assignment["call_id"]), actor, utcnow()))

    def _review_body(self, assignment: dict, call: dict, actor: dict, now: datetime) -> dict:
        deadline = call.get("review_deadline") or now
        standing = [a for a in self.store.assignments(application_id=assignment["application_id"])
                    if a["status"] in STANDING and a.get("review")]
        reviews = [Review(**a["review"]) for a in standing]
        if actor["role"] == "expert":
            visible = visible_reviews(assignment["expert_id"], reviews, now=now, deadline=deadline)
        else:
            visible = reviews
        others = [r for r in visible if r.expert_id != assignment["expert_id"]]
        label = {a["expert_id"]: chr(ord("A") + i) for i, a in enumerate(standing)}
        own = next((r for r in reviews if r.expert_id == assignment["expert_id"]), None)
        return review_api.ReviewOut().dump({
            "assignment_id": assignment["_id"], "call_id": assignment["call_id"],
            "application_id": assignment["application_id"], "application_title": assignment["application_title"],
            "status": assignment["status"], "review_deadline": call.get("review_deadline"),
            "editable": assignment["status"] in STANDING and call["stage"] == "reviewing" and review_open(now, deadline),
            "rubric": call["review_plan"]["rubric"], "review": asdict(own) if own else None,
            "others_visible": actor["role"] != "expert" or (own is not None and not review_open(now, deadline)),
            "others": [{**asdict(r), "reviewer": label[r.expert_id]} for r in others],
        })

    # ------------------------------------------------------------ ranking

    @rpc
    @answers
    def get_ranking(self, actor, call_id):
        require(actor, "province")
        call = self.store.call(call_id)
        return ok(self._ranking_body(call, self._published_or_draft(call)))

    @rpc
    @answers
    def publish_ranking(self, actor, call_id, idempotency_key=None, request_fingerprint=None):
        require(actor, "province")

        def work(call):
            now = utcnow()
            draft = self._draft_ranking(call)
            deadline = call.get("review_deadline")
            if deadline is None:
                raise Refused(409, Bilingual(
                    "No experts have been assigned in this call yet: assign them first (POST /v1/calls/{id}/assignments).",
                    "该遴选批次尚未分配评审专家：请先分配（POST /v1/calls/{id}/assignments）。"), type="no-assignments")
            if draft["outstanding"] and review_open(now, deadline):
                raise Refused(409, Bilingual(
                    f"{draft['outstanding']} review(s) are not in and the review deadline {rfc3339(deadline)} has "
                    "not passed: publish the ranking once they are in or after the deadline.",
                    f"尚有{draft['outstanding']}份评审意见未提交，且评审截止时间{rfc3339(deadline)}未到："
                    "请在全部提交后或截止后发布排名。"), type="reviews-outstanding")
            stage, audit = stage_move(call["_id"], call["stage"], "rank", who=who(actor), now=now)
            ranking = draft["ranking"]
            published = {**{k: v for k, v in draft.items() if k != "ranking"}, "record": ranking.to_record(),
                         "published_at": now, "published_by": who(actor)}
            self.store.update_call(call["_id"], {"stage": stage, "ranking": published}, history=[audit])
            self.store.close_candidates(call["_id"])  # a review written meanwhile conflicts, retries, and is refused
            candidates = {c["_id"]: c for c in self.store.candidates(call["_id"])}
            self.store.emit("ranking_published", call["_id"], {
                "call_id": call["_id"], "quota": ranking.quota,
                "selected": [_ranked_data(e, candidates) for e in ranking.selected],
                "reserve": [_ranked_data(e, candidates) for e in ranking.reserve]})
            return self._ranking_body({**call, "stage": stage, "ranking": published},
                                      self._published_or_draft({**call, "ranking": published}))
        return idempotent(self.store, actor, idempotency_key, request_fingerprint,
                          lambda: ok(self.store.in_call(call_id, work)))

    def _draft_ranking(self, call: dict) -> dict:
        """Calibrate and rank the call's reviews as they stand now."""
        candidates = self.store.candidates(call["_id"])
        eligible = {c["_id"]: c for c in candidates}
        reviewed = [a for a in self.store.assignments(call["_id"])
                    if a["status"] == "reviewed" and a["application_id"] in eligible]
        calibration, ranking = rank_reviews(
            [ReviewScore(a["application_id"], a["expert_id"], a["review"]["total_hundredths"]) for a in reviewed],
            {c["_id"]: (c["prefecture"], c["submitted_at"]) for c in candidates},
            call["quota"], QuotaPolicy.for_call(call["category"], call["prefecture_cap"]))
        k = call["review_plan"]["reviewers_per_application"]
        reviewed_per_app = Counter(a["application_id"] for a in reviewed)
        counts = {app: reviewed_per_app[app] for app in eligible}
        return {
            "ranking": ranking,
            "scores": [asdict(s) for s in calibration.scores.values()],
            "calibration": {
                "group_count": calibration.group_count, "residual_sd_hundredths": calibration.residual_sd_hundredths,
                "converged": calibration.converged,
                "expert_offsets": [asdict(o) for o in calibration.offsets.values()]},
            "unscored": [{"application_id": app, "title": eligible[app]["title"], "reason": "no review submitted"}
                         for app, n in counts.items() if n == 0],
            "outstanding": sum(max(0, k - n) for n in counts.values()),
        }

    def _published_or_draft(self, call: dict) -> dict:
        published = call.get("ranking")
        if published is None:
            return {**self._draft_ranking(call), "published_at": None}
        return {**published, "ranking": _current_ranking(call)}

    def _ranking_body(self, call: dict, state: dict) -> dict:
        ranking: Ranking = state["ranking"]
        candidates = {c["_id"]: c for c in self.store.candidates(call["_id"], status=None)}
        scores = {s["application_id"]: s for s in state["scores"]}
        entries = [{**e.to_dict(), **_applicant(candidates, e.entry.application_id),
                    **{k: scores[e.entry.application_id][k]
                       for k in ("band_low_hundredths", "band_high_hundredths", "review_count")}}
                   for e in ranking.entries]
        return review_api.RankingOut().dump({
            "call_id": call["_id"], "status": "published" if state["published_at"] else "draft",
            "quota": ranking.quota, "prefecture_cap": ranking.policy.prefecture_cap,
            "one_per_prefecture": ranking.policy.one_each, "tie_rule": TIE_RULE, "entries": entries,
            "reserve": [e.entry.application_id for e in ranking.reserve], "shortfall": ranking.shortfall,
            "prefectures": [r.to_dict() for r in prefecture_results(
                ranking, PREFECTURES if ranking.policy.one_each else ())],
            "unscored": state["unscored"], "calibration": state["calibration"],
            "outstanding_reviews": state["outstanding"], "review_deadline": call.get("review_deadline"),
            "published_at": state["published_at"], "left": call.get("left", []),
        })

    # ------------------------------------------------------------ notice and selection

    @rpc
    @answers
    def publish_notice(self, actor, call_id, notice=None, idempotency_key=None, request_fingerprint=None):
        require(actor, "province")
        terms = review_api.NoticeIn().load(notice or {})

        def work(call):
            if call["stage"] != "ranked":
                raise NOTICE.refuse(call["stage"], "publish")
            published = publish_notice(
                call["_id"], _current_ranking(call), who=who(actor), now=utcnow(),
                working_days=terms["window_working_days"], holidays=set(terms["holidays"]),
                makeup_workdays=set(terms["makeup_workdays"]), closes_at=terms.get("closes_at"),
                allow_short_window=os.environ.get(ALLOW_SHORT_NOTICE) == "1")
            self.store.update_call(call["_id"], {"stage": published.status, "notice": published.to_record()},
                                   history=published.history)
            candidates = {c["_id"]: c for c in self.store.candidates(call["_id"], status=None)}
            self.store.emit("notice_published", call["_id"], {
                "call_id": call["_id"], "opens_at": rfc3339(published.opens_at),
                "closes_at": rfc3339(published.closes_at),
                "selected": [_ranked_data(e, candidates) for e in published.ranking.selected]})
            return {"id": call["_id"], **self._notice_body({**call, "notice": published.to_record()})}
        return idempotent(self.store, actor, idempotency_key, request_fingerprint,
                          lambda: created(self.store.in_call(call_id, work)))

    @rpc
    @answers
    def get_notice(self, call_id, actor=None):
        call = self.store.call(call_id)
        if "notice" not in call:
            raise Refused(404, NO_NOTICE, type="not-found")
        return ok(self._notice_body(call))

    def _notice_body(self, call: dict) -> dict:
        notice = PublicNotice.from_record(call["_id"], call["notice"], _current_ranking(call))
        candidates = {c["_id"]: c for c in self.store.candidates(call["_id"], status=None)}
        published = Ranking.from_record(call["ranking"]["record"])
        current = set(notice.ranking.selected_ids)
        return review_api.NoticeOut().dump({
            "call_id": call["_id"], "call_title": call["title"], "category": call["category"],
            "status": notice.status, "opens_at": notice.opens_at, "closes_at": notice.closes_at,
            "window_open": notice.window_open(utcnow()),
            "selected": [{"rank": e.rank, "application_id": e.entry.application_id,
                          **_applicant(candidates, e.entry.application_id), "prefecture": e.entry.prefecture}
                         for e in notice.ranking.selected],
            "removed": [{"rank": e.rank, "application_id": e.entry.application_id,
                         **_applicant(candidates, e.entry.application_id), "prefecture": e.entry.prefecture}
                        for e in published.selected if e.entry.application_id not in current
                        and e.entry.application_id in _gone(call)],
            "open_objections": len(notice.open_objections),
        })

    @rpc
    @answers
    def file_objection(self, actor, call_id, objection, idempotency_key=None, request_fingerprint=None):
        require(actor, *OBJECTORS)
        data = review_api.ObjectionIn().load(objection)
        filer = f"{actor['role']}:{actor.get(PARTY_CLAIMS[actor['role']])}"

        def work(call):
            notice = _notice(call)
            filed = notice.file_objection(new_id("obj"), data["application_id"], who=who(actor), now=utcnow(),
                                          grounds=data["grounds"], filer=filer)
            self.store.update_call(call["_id"], {"notice": filed.to_record()}, history=filed.history)
            made = filed.objections[-1]
            self.store.emit("objection_filed", call["_id"], {
                "call_id": call["_id"], "objection_id": made.objection_id,
                "application_id": made.application_id, "filed_by_role": actor["role"]})
            return created(review_api.ObjectionOut().dump({**asdict(made), "call_id": call["_id"]}))
        return idempotent(self.store, actor, idempotency_key, request_fingerprint,
                          lambda: self.store.in_call(call_id, work))

    @rpc
    @answers
    def resolve_objection(self, actor, objection_id, resolution, idempotency_key=None, request_fingerprint=None):
        require(actor, "province")
        data = review_api.ResolveIn().load(resolution)

        def work(call):
            notice = _notice(call)
            resolved = notice.resolve_objection(objection_id, upheld=data["decision"] == "upheld", who=who(actor),
                                                now=utcnow(), reason=data["reason"])
            audit = resolved.history[-1]
            removed = [audit["removed"]] if "removed" in audit else []
            promoted = audit.get("promoted", [])
            self.store.update_call(call["_id"], {"notice": resolved.to_record()}, history=resolved.history)
            made = resolved.objection(objection_id)
            self.store.emit("objection_resolved", call["_id"], {
                "call_id": call["_id"], "objection_id": objection_id, "application_id": made.application_id,
                "upheld": made.status == "upheld", "reason": made.resolution, "removed": removed,
                "promoted": promoted})
            return review_api.ObjectionOut().dump({**asdict(made), "call_id": call["_id"], "removed": removed,
                                                "promoted": promoted})
        return idempotent(self.store, actor, idempotency_key, request_fingerprint,
                          lambda: ok(self.store.in_call(self.store.call_of_objection(objection_id), work)))

    @rpc
    @answers
    def finalize_selection(self, actor, call_id, idempotency_key=None, request_fingerprint=None):
        require(actor, "province")

        def work(call):
            now = utcnow()
            final = _notice(call).finalize(who=who(actor), now=now)
            self.store.update_call(call["_id"], {"stage": final.status, "notice": final.to_record(),
                                                 "finalized_at": now}, history=final.history)
            candidates = {c["_id"]: c for c in self.store.candidates(call["_id"], status=None)}
            approved = [{"application_id": e.entry.application_id, "institution_id": candidates[e.entry.application_id]["institution_id"],
                         "prefecture": e.entry.prefecture, "rank": e.rank,
                         "title": candidates[e.entry.application_id]["title"],
                         "budget_request_fen": candidates[e.entry.application_id]["budget_request_fen"]}
                        for e in final.ranking.selected]
            reserve = [{"application_id": e.entry.application_id, "prefecture": e.entry.prefecture, "rank": e.rank,
                        "reserve_position": e.reserve_position} for e in final.ranking.reserve]
            self.store.emit("selection_finalized", call["_id"], {
                "call_id": call["_id"], "category": call["category"], "funding_rule": call["funding_rule"],
                "quota": call["quota"], "year": call.get("year"), "approved": approved, "reserve": reserve})
            return review_api.SelectionOut().dump({"call_id": call["_id"], "status": final.status, "finalized_at": now,
                                                "approved": approved})
        return idempotent(self.store, actor, idempotency_key, request_fingerprint,
                          lambda: ok(self.store.in_call(call_id, work)))

    # ------------------------------------------------------------ panels (mid-term review, acceptance)

    @rpc
    @answers
    def open_panel(self, actor, panel, idempotency_key=None, request_fingerprint=None):
        require(actor, "province")
        data = review_api.PanelIn().load(panel)
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, lambda: created(
            review_api.PanelOut().dump(panel_cases.open_panel(self.store, data, who(actor), utcnow()))))

    @rpc
    @answers
    def list_panels(self, actor, **query):
        require(actor, "province")
        query = schemas.PanelListIn().load(query)
        limit, cursor = query.pop("limit"), query.pop("cursor", None)
        items, next_cursor = self.store.page("panels", query, limit, cursor)
        items = [panel_cases.with_rule(p) for p in items]
        return ok(review_api.PanelPageOut().dump({"items": items, "next_cursor": next_cursor}))

    @rpc
    @answers
    def get_panel(self, actor, panel_id):
        require(actor, "province")
        return ok(review_api.PanelOut().dump(panel_cases.get_panel(self.store, panel_id)))

    @rpc
    @answers
    def assign_panel(self, actor, panel_id, idempotency_key=None, request_fingerprint=None):
        require(actor, "province")
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, lambda: created(
            review_api.PanelRunOut().dump(panel_cases.assign_panel(self.store, panel_id, who(actor), utcnow()))))

    @rpc
    @answers
    def list_panel_assignments(self, actor, **query):
        require(actor, "province", "expert")
        query = schemas.PanelAssignmentListIn().load(query)
        limit, cursor = query.pop("limit"), query.pop("cursor", None)
        if actor["role"] == "expert":
            query["expert_id"] = actor["expert_id"]
        items, next_cursor = self.store.page("panel_assignments", query, limit, cursor)
        return ok(review_api.PanelAssignmentPageOut().dump({"items": items, "next_cursor": next_cursor}))

    @rpc
    @answers
    def put_panel_review(self, actor, assignment_id, review):
        require(actor, "expert")
        sheet = review_api.ReviewIn().load(review)
        return ok(review_api.PanelAssignmentOut().dump(
            panel_cases.put_panel_review(self.store, actor, assignment_id, sheet, who(actor), utcnow())))

    @rpc
    @answers
    def decline_panel_assignment(self, actor, assignment_id, decline, idempotency_key=None, request_fingerprint=None):
        require(actor, "expert")
        reason = review_api.AssignmentDeclineIn().load(decline)["reason"]
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, lambda: ok(
            review_api.PanelDeclineOut().dump(panel_cases.decline_panel_assignment(
                self.store, actor, assignment_id, reason, who(actor), utcnow()))))

    @rpc
    @answers
    def propose_panel(self, actor, panel_id, idempotency_key=None, request_fingerprint=None):
        require(actor, "province")
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, lambda: ok(
            review_api.PanelOut().dump(panel_cases.propose_results(self.store, panel_id, who(actor), utcnow()))))

    @rpc
    @answers
    def confirm_panel_result(self, actor, panel_id, project_id, confirmation=None, idempotency_key=None,
                             request_fingerprint=None):
        require(actor, "province")
        data = review_api.PanelConfirmIn().load(confirmation or {})
        return idempotent(self.store, actor, idempotency_key, request_fingerprint, lambda: ok(
            review_api.PanelResultOut().dump(panel_cases.confirm_result(self.store, panel_id, project_id, data,
                                                                     who(actor), utcnow()))))

    @handles("applications", "project_established")
    def project_established(self, event):
        panel_cases.project_established(self.store, APPLICATION_EVENTS["project_established"].load(event.data))

    @handles("funding", "project_failed")
    def project_failed(self, event):
        panel_cases.project_failed(self.store, FUNDING_EVENTS["project_failed"].load(event.data))

    @handles("funding", "tranche_released")
    def tranche_released(self, event):
        panel_cases.tranche_released(self.store, FUNDING_EVENTS["tranche_released"].load(event.data))

    @handles("funding", "project_withdrawn")
    def project_withdrawn(self, event):
        panel_cases.project_withdrawn(self.store, FUNDING_EVENTS["project_withdrawn"].load(event.data))

    # ------------------------------------------------------------ events from applications

    @handles("applications", "call_opened")
    def call_opened(self, event):
        data = APPLICATION_EVENTS["call_opened"].load(event.data)
        self.store.touch_call(data["call_id"], {"$set": {
            "category": data["category"], "title": data["title"], "quota": data["quota"],
            "prefecture_cap": data["prefecture_cap"], "review_plan": data["review_plan"],
            "funding_rule": data["funding_rule"], "opens_at": parse_time(data["opens_at"]),
            "closes_at": parse_time(data["closes_at"]), "year": data["year"]}})

    @handles("applications", "call_closed")
    def call_closed(self, event):
        data = APPLICATION_EVENTS["call_closed"].load(event.data)
        self.store.touch_call(data["call_id"], {"$set": {"closed_at": parse_time(data["closed_at"])}})

    @handles("applications", "application_submitted")
    def application_submitted(self, event):
        data = APPLICATION_EVENTS["application_submitted"].load(event.data)
        self.store.touch_call(data["call_id"], {"$addToSet": {"applied_institution_ids": data["institution_id"]}})

    @handles("applications", "eligibility_checked")
    def eligibility_checked(self, event):
        data = APPLICATION_EVENTS["eligibility_checked"].load(event.data)
        self.store.touch_call(data["call_id"], {"$addToSet": {"applied_institution_ids": data["institution_id"]}})
        if not data["eligible"]:
            self._leave(data["application_id"], "ineligible", data["reason"] or "found ineligible")
            return
        applicant = data["applicant"]
        self.store.keep_candidate(data["application_id"], {
            "call_id": data["call_id"], "institution_id": data["institution_id"], "prefecture": data["prefecture"],
            "category": data["category"], "status": "eligible",
            **{k: applicant[k] for k in ("institution_name", "title", "summary", "industry_fields", "keywords",
                                         "team_person_keys", "budget_request_fen")},
            "submitted_at": parse_time(applicant["submitted_at"])})
        self._void_excluded(data["call_id"])

    @handles("applications", "application_withdrawn")
    def application_withdrawn(self, event):
        data = APPLICATION_EVENTS["application_withdrawn"].load(event.data)
        self._leave(data["application_id"], "withdrawn", data["reason"] or "withdrawn by the applicant")

    def _leave(self, application_id: str, status: str, why: str) -> None:
        """The application leaves the review: its assignments are void; after the ranking is
        published it leaves the current cut too (the reserve moves up) until finalization."""
        candidate = self.store.candidate(application_id)
        if candidate is None:
            return
        now = utcnow()
        self.store.set_candidate(application_id, {"status": status})
        for a in self.store.assignments(application_id=application_id):
            if a["status"] in STANDING:
                to, entry = ASSIGNMENT.apply(a["status"], "void", EVENT_ACTOR, why, now)
                self.store.move_assignment(a["_id"], a["status"], to, entry.as_dict(), {"reason": entry.reason})
        call = self.store.db.calls.find_one({"_id": candidate["call_id"]}, session=self.store.session)
        if call and call["stage"] in ("ranked", "published"):
            self.store.update_call(call["_id"], push={"left": application_id}, history=[{
                "subject": f"application:{application_id}", "event": status, "from_state": call["stage"],
                "to_state": call["stage"], "actor": EVENT_ACTOR, "at": now, "reason": why}])

    def _void_excluded(self, call_id: str) -> None:
        """Void standing assignments a rule now excludes (an expert's institution has applied since)."""
        call = self.store.db.calls.find_one({"_id": call_id}, session=self.store.session)
        records = self.store.assignments(call_id)
        if not call or "category" not in call or call["stage"] != "reviewing" or not records:
            return
        policy, applications, pool, applied = _assignment_inputs(
            call, self.store.candidates(call_id), self.store.experts())
        for assignment_id, from_status, to, entry, fields in _void_moves(
                applications, pool, policy, records, applied, EVENT_ACTOR, utcnow()):
            self.store.move_assignment(assignment_id, from_status, to, entry, fields)


# ---------------------------------------------------------------- helpers (no I/O)


def _row_errors(errors) -> dict[str, list[str]]:
    """An import's row errors as problem field errors: 'row 3.身份证号' -> ['中文 / English']."""
    flat: dict[str, list[str]] = {}
    for e in errors:
        where = "file" if e.row is None else f"row {e.row}.{e.column or e.field or 'row'}"
        flat.setdefault(where, []).append(bilingual(e.message))
    return flat


def _review_deadline(call: dict, given: datetime | None, now: datetime, *, declining: bool) -> datetime:
    if "closed_at" not in call:
        raise Refused(409, Bilingual("The call is still open for applications: assign experts after it closes.",
                                     "该遴选批次仍在受理申报：请在截止后分配评审专家。"), type="call-not-closed")
    if call["stage"] != "reviewing":
        raise Refused(409, Bilingual("The ranking of this call is published: assignments are final.",
                                     "该遴选批次的排名已发布，评审任务不再变动。"), type="assignments-final")
    deadline = given or call.get("review_deadline")
    if deadline is None:
        raise ValidationError({"review_deadline": ["Missing: the first assignment run sets the review deadline."]})
    if given is not None and given <= now:
        raise ValidationError({"review_deadline": ["Must be in the future."]})
    if declining and not review_open(now, deadline):
        raise ReviewClosed(deadline)
    return deadline


def _assignment_inputs(call: dict, candidates: list[dict], experts: list[dict]):
    applications = [review_application(c, call["category"]) for c in candidates]
    applied = set(call["applied_institution_ids"]) | {c["institution_id"] for c in candidates}
    return call_policy(call), applications, [pool_expert(e) for e in experts], applied


def _void_moves(applications, pool, policy, records, applied, by: str, now: datetime) -> list[tuple]:
    moves = []
    for assignment_id, why in pairs_to_void(applications, pool, policy, records, applied).items():
        current = _current(records, assignment_id)["status"]
        to, entry = ASSIGNMENT.apply(current, "void", by, why, now)
        moves.append((assignment_id, current, to, entry.as_dict(), {"reason": entry.reason}))
    return moves


def _decline(call_id: str, records: list[dict], assignment: dict, reason: str, by: str, now: datetime):
    """The decline of `assignment` (a move of the run) and its event."""
    current = _current(records, assignment["_id"])["status"]
    status, entry = ASSIGNMENT.apply(current, "decline", by, reason, now)
    move = (assignment["_id"], current, status, entry.as_dict(), {"reason": entry.reason})
    return move, ("assignment_declined", call_id, {
        "call_id": call_id, "assignment_id": assignment["_id"], "application_id": assignment["application_id"],
        "expert_id": assignment["expert_id"], "reason": entry.reason})


def _fixed_and_excluded(records: list[dict], leaving: set[str], applications, pool):
    """The pairs that stand (less those leaving in this run), and the pairs never to offer
    again (declined, or leaving in this run) among the applications and experts at hand."""
    apps, experts = {a.id for a in applications}, {e.id for e in pool}
    fixed = [(r["application_id"], r["expert_id"]) for r in records
             if r["status"] in STANDING and r["_id"] not in leaving]
    never_again = [(r["application_id"], r["expert_id"]) for r in records
                   if r["status"] == "declined" or r["_id"] in leaving]
    return fixed, [(a, e) for a, e in never_again if a in apps and e in experts]


def _assigned_data(call_id: str, new: list[dict], unfilled, deadline: datetime) -> dict:
    return {"call_id": call_id, "unfilled": [u._asdict() for u in unfilled],
            "assignments": [{"assignment_id": a["_id"], "application_id": a["application_id"],
                             "expert_id": a["expert_id"], "review_deadline": rfc3339(deadline)} for a in new]}


def _current(records: list[dict], assignment_id: str) -> dict:
    return next(r for r in records if r["_id"] == assignment_id)


def _new_assignments(pairs, call_id, run_id, candidates, experts, deadline, by, now) -> list[dict]:
    apps = {c["_id"]: c for c in candidates}
    names = {e["_id"]: e["name"] for e in experts}
    return [{
        "_id": new_id("asg"), "call_id": call_id, "run_id": run_id, "application_id": pair.application_id,
        "application_title": apps[pair.application_id]["title"],
        "institution_name": apps[pair.application_id]["institution_name"], "expert_id": pair.expert_id,
        "expert_name": names[pair.expert_id], "status": "assigned", "affinity": pair.affinity,
        "review_deadline": deadline, "assigned_at": now, "reason": None,
        # Every audit entry has a from-state (AuditEntryOut); a record's first starts from "new", as objections' do.
        "history": [{"event": "assign", "from_state": "new", "to_state": "assigned", "actor": by, "at": now,
                     "reason": None}],
    } for pair in pairs]


def _run_record(run_id, call, kind, deadline, new, result, moves, standing, n_apps, by, now) -> dict:
    k = call["review_plan"]["reviewers_per_application"]
    slots, filled = k * n_apps, standing + len(new)
    return {
        "_id": run_id, "call_id": call["_id"], "kind": kind, "review_deadline": deadline,
        "assignment_ids": [a["_id"] for a in new], "unfilled": [u._asdict() for u in result.unfilled],
        "voided": [{"assignment_id": m[0], "reason": m[4]["reason"]} for m in moves if m[2] == "void"],
        "quality": {
            "total_affinity": result.total_affinity,
            "mean_affinity": result.total_affinity / len(new) if new else None,
            "slots": slots, "filled": filled, "coverage": filled / slots if slots else 1.0,
            "load": asdict(result.load), "feasibility": asdict(result.feasibility),
            "candidate_pairs": result.candidate_pairs},
        "seconds": result.seconds, "created_at": now, "created_by": by,
    }


def _gone(call: dict) -> set[str]:
    """Applications taken off the published ranking: left the review, or an objection upheld."""
    notice = call.get("notice") or {"objections": []}
    upheld = {o["application_id"] for o in notice["objections"] if o["status"] == "upheld"}
    return set(call.get("left", [])) | upheld


def _current_ranking(call: dict) -> Ranking:
    return Ranking.from_record(call["ranking"]["record"], leaving=_gone(call))


def _notice(call: dict) -> PublicNotice:
    if "notice" not in call:
        raise Refused(404, NO_NOTICE, type="not-found")
    return PublicNotice.from_record(call["_id"], call["notice"], _current_ranking(call))


def _applicant(candidates: dict, application_id: str) -> dict:
    c = candidates[application_id]
    return {"title": c["title"], "institution_id": c["institution_id"], "institution_name": c["institution_name"]}


def _ranked_data(entry, candidates: dict) -> dict:
    return {"application_id": entry.entry.application_id,
            "institution_id": candidates[entry.entry.application_id]["institution_id"],
            "prefecture": entry.entry.prefecture, "rank": entry.rank,
            "calibrated_hundredths": entry.entry.calibrated_hundredths}
