"""Assigning experts to a call's applications: an assignment run over the open slots, an
expert's decline and its replacement, and the voiding of pairs a rule now excludes.

Each function is one unit of work over the store (a transaction, with its events); the
rules are the domain's (`domain/experts.py`, `domain/flow.py`, `domain/reviews.py`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict
from functools import partial
from datetime import datetime
from typing import NamedTuple

from marshmallow import ValidationError

from services.common.bilingual import Bilingual
from services.common.compute import off_the_loop
from services.common.replies import Refused
from services.review.domain.experts import (
    call_policy,
    pairs_to_void,
    pool_expert,
    publication_parts,
    review_application,
)
from services.review.domain.assignment import AssignedPair, AssignmentResult, Expert
from services.review.domain.flow import (
    Progress,
    assign,
    beyond_fields_cannot_beat,
    replacement_rounds,
    slot_scores,
)
from services.review.domain.reviews import ASSIGNMENT, STANDING, ReviewClosed, review_open, rfc3339
from services.review.store import AssignmentNotFound, ClaimLost, ReviewStore, StaleSnapshot, new_id

#: How often a run is solved again when the call's assignments moved while solving.
SOLVE_ATTEMPTS = 5
#: A job's run is published in parts of about this many assignments (`publication_parts`):
#: a transaction each, well within MongoDB's limits on a transaction's time and size.
PART_SIZE = 5_000
#: Assignments a rule excludes are voided in transactions of this many, outside an event's.
VOID_CHUNK = 1_000


def run_assignment(store: ReviewStore, call_id: str, deadline: datetime | None, by: str, now: datetime) -> dict:
    """Assign experts to the open slots of the call once it has closed, keeping every standing
    assignment, never a pair a conflict-of-interest or qualification rule excludes (standing
    pairs a rule now excludes are voided), never a declined pair again. The first run sets
    the review deadline; a later one may move it (for every standing assignment)."""
    return _save_decided(store, lambda: _decide(store, call_id, by, now, deadline))


def check_run(store: ReviewStore, call_id: str, deadline: datetime | None, now: datetime) -> None:
    """Refuse at once what `run_assignment` would refuse for the call as it stands (not
    closed, ranking published, no deadline, an empty pool), without solving."""
    call = store.call(call_id)
    _review_deadline(call, deadline, now, declining=False)
    if store.count_candidates(call_id) and not store.has_experts():
        raise _pool_empty()


def run_job(
    store: ReviewStore,
    call_id: str,
    deadline: datetime | None,
    by: str,
    now: datetime,
    progress: Progress,
    hold: Callable[[dict], None],
) -> dict:
    """`run_assignment` for a job (`usecases/jobs.py`), for a call of any size: its new
    assignments are staged in the parts they are published in (`publication_parts`), then
    the run is saved, with `hold({"run_id": ..., "parts": ...})` (the job moves on under its
    claim, else ClaimLost) and the call marked publishing it; `publish_next_part` publishes
    them. `progress` is told of each phase, staging included. Returns the run. What is staged
    for the call and not saved (by an interrupted solve, a stale attempt, a failure) is dropped;
    not after ClaimLost: the call's staging is then another replica's."""
    try:
        for _ in range(SOLVE_ATTEMPTS):
            store.drop_staged(call_id)
            decision = _decide(store, call_id, by, now, deadline, progress)
            run_id = decision.run["_id"]
            parts = publication_parts(decision.pairs, PART_SIZE)
            for number, part in enumerate(parts, 1):  # made part by part: a national run's records take gigabytes
                store.stage_assignments([{**a, "part": number} for a in decision.records(part)])
                progress("staging", number, len(parts))
            progress("saving", None, None)

            def save(decision=decision, run_id=run_id, parts=parts) -> dict:
                hold({"run_id": run_id, "parts": len(parts)})
                return store.save_run(
                    call_id,
                    decision.call["version"],
                    {**decision.run, "parts": len(parts), "published_parts": 0},
                    [],
                    decision.moves,
                    {**_deadline(decision), "publishing_run_id": run_id},
                    decision.history,
                    decision.events,
                )

            try:
                return store.atomic(save)
            except StaleSnapshot:
                continue
        raise _kept_changing()
    except ClaimLost:
        raise
    except Exception:
        store.drop_staged(call_id)
        raise


def publish_next_part(store: ReviewStore, run_id: str, progress: Callable[[int], None]) -> bool:
    """Publish the run's first part not yet published, in one transaction: its assignments, and
    `experts_assigned` for them (the last part's with the run's unfilled slots). The last part
    ends the publishing: the call is free for runs again (and `void_excluded`, held back while
    publishing, is for the job to call). `progress(part)` is told within
    the transaction (it raises ClaimLost when the job is no longer held). False when the run
    was published already."""

    def work() -> bool:
        run = store.run(run_id)
        call_id, part = run["call_id"], run["published_parts"] + 1
        if part > run["parts"]:
            return False
        progress(part)
        published = store.publish_part(run_id, part)
        last = part == run["parts"]
        unfilled = run["unfilled"] if last else []
        store.emit("experts_assigned", call_id, _assigned_data(call_id, published, unfilled, run, part))
        if last:
            store.update_call(call_id, {"publishing_run_id": None})
        return True

    return store.atomic(work)


def decline_assignment(store: ReviewStore, assignment: Mapping, reason: str, by: str, now: datetime) -> dict:
    """An expert declines their assignment (`own_assignment`), with a reason, before the
    review deadline: the application's open slots are filled again at once, never with the
    declined pair, by a replacement run that solves that application alone, over the experts
    best for it with cap left in the call (`replacement_rounds`): first those who share one of
    its fields, and every qualified expert only when those could be beaten by one who shares
    none (`beyond_fields_cannot_beat`). So a decline reads one application, the experts who
    may take it and the loads of the best, whatever the size of the call. The application's
    other standing pairs a rule now excludes are voided with it."""
    replacement = _save_decided(store, lambda: _decide_replacement(store, assignment, reason, by, now))
    return {"assignment": store.assignment(assignment["_id"]), "replacement": replacement}


def own_assignment(store: ReviewStore, actor: Mapping, assignment_id: str) -> dict:
    """The assignment, if the actor may see it (an expert only their own: another's is 404)."""
    assignment = store.assignment(assignment_id)
    if actor["role"] == "expert" and assignment["expert_id"] != actor.get("expert_id"):
        raise AssignmentNotFound(assignment_id)
    return assignment


def _save_decided(store: ReviewStore, decide: Callable[[], _Decision]) -> dict:
    """The run `decide()` makes, saved in one transaction with its `experts_assigned`; decided
    again when the call moves meanwhile. Returns the run with its new assignments."""
    for _ in range(SOLVE_ATTEMPTS):
        decision = decide()
        new = decision.records(decision.pairs)
        try:
            saved = _save_at_once(store, decision, new)
        except StaleSnapshot:
            continue
        return {**saved, "assigned": new}
    raise _kept_changing()


def _save_at_once(store: ReviewStore, decision: _Decision, new: list[dict]) -> dict:
    """Save the run with all its new assignments and one `experts_assigned` (else StaleSnapshot)."""
    call_id = decision.call["_id"]
    run = {**decision.run, "parts": 1, "published_parts": 1}
    events = [
        *decision.events,
        ("experts_assigned", call_id, _assigned_data(call_id, new, decision.unfilled, run, 1)),
    ]
    return store.save_run(
        call_id, decision.call["version"], run, new, decision.moves, _deadline(decision), decision.history, events
    )


def _deadline(decision: _Decision) -> dict:
    """The call's review deadline to set, if the run moves it (every standing assignment's moves
    with it: a national call's 1.5 million)."""
    moved = decision.deadline != decision.call.get("review_deadline")
    return {"review_deadline": decision.deadline} if moved else {}


class _Decision(NamedTuple):
    """A run decided from the call as read (`call`, at its version)."""

    call: dict
    deadline: datetime
    run: dict
    pairs: list[AssignedPair]
    records: Callable[[Sequence[AssignedPair]], list[dict]]  # the new assignments of pairs, as stored
    unfilled: list[dict]
    moves: list[tuple]
    history: list[dict]
    events: list[tuple[str, str, dict]]


def _decide(
    store: ReviewStore,
    call_id: str,
    by: str,
    now: datetime,
    deadline: datetime | None,
    progress: Progress | None = None,
) -> _Decision:
    """One run, decided from the call as read: to be saved only if the call has not moved
    since (else StaleSnapshot)."""
    if progress:
        progress("reading", None, None)
    call = _assignable(store.call(call_id))
    deadline = _review_deadline(call, deadline, now, declining=False)
    candidates, experts = store.candidates(call_id), store.experts()
    records = store.assignments(call_id)
    policy, applications, pool, applied = _assignment_inputs(call, candidates, experts)
    if applications and not pool:
        raise _pool_empty()
    moves = _void_moves(applications, pool, policy, records, applied, by, now)
    fixed, excluded = _fixed_and_excluded(records, {m[0] for m in moves}, applications, pool)
    result = off_the_loop(  # seconds to minutes of CPU: the service's other green threads go on meanwhile
        lambda report: assign(
            applications,
            pool,
            policy,
            fixed=fixed,
            excluded_pairs=excluded,
            applied_institution_ids=applied,
            progress=report,
        ),
        progress,
    )
    records_of = _assignment_records(call_id, candidates, experts, deadline, by, now)
    return _decision(call, deadline, result, records_of, moves, [], len(fixed), len(applications), by, now)


def _decide_replacement(store: ReviewStore, assignment: Mapping, reason: str, by: str, now: datetime) -> _Decision:
    """The replacement run of a decline, decided from the call and the application as read:
    to be saved only if the call has not moved since (else StaleSnapshot)."""
    call_id, application_id = assignment["call_id"], assignment["application_id"]
    call = _assignable(store.call(call_id))
    deadline = _review_deadline(call, None, now, declining=True)
    records = store.assignments(application_id=application_id)
    decline, declined = _decline(call_id, records, assignment, reason, by, now)
    others = [r for r in records if r["_id"] != assignment["_id"]]
    candidate = store.candidate(application_id)
    staying = [candidate] if candidate and candidate["call_id"] == call_id and candidate["status"] == "eligible" else []
    holding = store.experts({r["expert_id"] for r in others if r["status"] in STANDING})
    policy, applications, holders, applied = _assignment_inputs(call, staying, holding)
    moves = [*_void_moves(applications, holders, policy, others, applied, by, now), decline]
    fixed, _ = _fixed_and_excluded(others, {m[0] for m in moves}, applications, holders)
    on_it = {expert_id for _, expert_id in fixed}
    never = {r["expert_id"] for r in records if r["status"] in STANDING or r["status"] == "declined"}
    slot = _Slot(store, call, policy, applications, [e for e in holders if e.id in on_it], fixed, applied, never)
    result = slot.fill(sharing_fields=applications[0].fields) if applications else slot.solve([])
    if applications and not beyond_fields_cannot_beat(result, policy):
        result = slot.fill(sharing_fields=None)
    experts = [*holding, *(slot.read[pair.expert_id] for pair in result.pairs)]
    return _decision(
        call,
        deadline,
        result,
        _assignment_records(call_id, staying, experts, deadline, by, now),
        moves,
        [declined],
        len(fixed),
        len(applications),
        by,
        now,
        reason=reason,
    )


class _Slot:
    """The open slots of one application (of `applications`, none if it left), solved alone
    over the experts best for it, with what each holds in the call (`replacement_rounds`)."""

    def __init__(self, store, call, policy, applications, holding_on, fixed, applied, never) -> None:
        self.store, self.call, self.policy, self.applications = store, call, policy, applications
        self.holding_on, self.fixed, self.applied, self.never = holding_on, fixed, applied, never
        self.read: dict[str, dict] = {}  # the records of the experts offered so far, by id
        self.experts: dict[str, Expert] = {}
        self.held: dict[str, int] = {}

    def fill(self, sharing_fields: Collection[str] | None) -> AssignmentResult:
        """Over the qualified experts (sharing one of `sharing_fields`, if given), round by round."""
        application, scored = self.applications[0], []
        for batch in self.store.qualified_experts(self.call["category"], sharing_fields):
            scored += off_the_loop(  # a national pool: seconds of CPU, in batches
                lambda _, batch=batch: slot_scores(
                    application, [pool_expert(e) for e in batch], self.policy, self.applied, self.never
                )
            )
        return _first_filling(self.solve, replacement_rounds(scored, self.policy.load_spread))

    def solve(self, expert_ids: list[str]) -> AssignmentResult:
        unseen = [expert_id for expert_id in expert_ids if expert_id not in self.experts]
        if unseen:
            self.read |= {e["_id"]: e for e in self.store.experts(unseen)}
            self.experts |= {expert_id: pool_expert(self.read[expert_id]) for expert_id in unseen}
            self.held |= dict.fromkeys(unseen, 0) | self.store.expert_loads(self.call["_id"], unseen)
        offered = [*self.holding_on, *(self.experts[expert_id] for expert_id in expert_ids)]
        return off_the_loop(
            lambda _: assign(self.applications, offered, self.policy, self.fixed, (), self.applied, held=self.held)
        )


def _first_filling(solve: Callable[[list[str]], AssignmentResult], rounds: list[list[str]]) -> AssignmentResult:
    """`solve` over the first of `rounds` that fills the open slots, else over the last (all)."""
    for offered in rounds[:-1]:
        result = solve(offered)
        if not result.unfilled:
            return result
    return solve(rounds[-1] if rounds else [])


def _assignable(call: dict) -> dict:
    """The call, unless a job is publishing a run of it (its new assignments are not all in place)."""
    if call.get("publishing_run_id"):
        raise _publishing(call["publishing_run_id"])
    return call


def _decision(call, deadline, result, records, moves, events, standing, n_apps, by, now, *, reason=None) -> _Decision:
    """The run of `result` (a replacement when it has a decline's `reason`), its history entry,
    and what makes its new assignments' records (`_assignment_records`)."""
    kind = "replacement" if reason else "run"
    run_id = new_id("run")
    run = _run_record(run_id, call, kind, deadline, len(result.pairs), result, moves, standing, n_apps, by, now)
    # A replacement is recorded by its run and the declined assignment's own history, not on the
    # call's record: a national call sees tens of thousands of declines, and a document holds 16 MB.
    history = (
        []
        if reason
        else [
            {
                "subject": f"run:{run_id}",
                "event": kind,
                "from_state": call["stage"],
                "to_state": call["stage"],
                "actor": by,
                "at": now,
                "reason": None,
                "assigned": len(result.pairs),
                "unfilled": len(result.unfilled),
            }
        ]
    )
    return _Decision(
        call, deadline, run, result.pairs, partial(records, run_id), run["unfilled"], moves, history, events
    )


def void_excluded(store: ReviewStore, call_id: str, by: str, now: datetime) -> None:
    """Void standing assignments a rule now excludes (an expert's institution has applied
    since, the application left): in the caller's transaction, or, outside one (after a job
    has published its run: a national call's records), in transactions of VOID_CHUNK moves."""
    call = store.known_call(call_id)
    if not call or "category" not in call or call["stage"] != "reviewing" or call.get("publishing_run_id"):
        return  # while a run is published: its job voids once it is
    records = store.assignments(call_id)
    if not records:
        return
    policy, applications, pool, applied = _assignment_inputs(call, store.candidates(call_id), store.experts())
    moves = _void_moves(applications, pool, policy, records, applied, by, now)
    for at in range(0, len(moves), VOID_CHUNK):
        store.atomic(lambda chunk=moves[at : at + VOID_CHUNK]: [store.move_assignment(*move) for move in chunk])


# ---------------------------------------------------------------- helpers (no I/O)


def _kept_changing() -> Refused:
    return Refused(
        409,
        Bilingual(
            "The call's assignments kept changing while solving; try again.",
            "求解期间该批次的评审任务持续变化，请重试。",
        ),
        type="assignments-changing",
    )


def _publishing(run_id: str) -> Refused:
    return Refused(
        409,
        Bilingual(
            f"The call's assignment run {run_id} is being published; try again once its job is done.",
            f"该遴选批次的分配结果 {run_id} 正在发布；请在分配任务完成后重试。",
        ),
        type="assignments-publishing",
    )


def _pool_empty() -> Refused:
    return Refused(
        409,
        Bilingual(
            "The expert pool is empty: add experts (POST /v1/experts) before assigning.",
            "专家库为空：请先添加专家（POST /v1/experts）再分配。",
        ),
        type="expert-pool-empty",
    )


def _review_deadline(call: dict, given: datetime | None, now: datetime, *, declining: bool) -> datetime:
    if "closed_at" not in call:
        raise Refused(
            409,
            Bilingual(
                "The call is still open for applications: assign experts after it closes.",
                "该遴选批次仍在受理申报：请在截止后分配评审专家。",
            ),
            type="call-not-closed",
        )
    if call["stage"] != "reviewing":
        raise Refused(
            409,
            Bilingual(
                "The ranking of this call is published: assignments are final.",
                "该遴选批次的排名已发布，评审任务不再变动。",
            ),
            type="assignments-final",
        )
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


def _decline(call_id: str, records: list[dict], assignment: Mapping, reason: str, by: str, now: datetime):
    """The decline of `assignment` (a move of the run) and its event."""
    current = _current(records, assignment["_id"])["status"]
    status, entry = ASSIGNMENT.apply(current, "decline", by, reason, now)
    move = (assignment["_id"], current, status, entry.as_dict(), {"reason": entry.reason})
    return move, (
        "assignment_declined",
        call_id,
        {
            "call_id": call_id,
            "assignment_id": assignment["_id"],
            "application_id": assignment["application_id"],
            "expert_id": assignment["expert_id"],
            "reason": entry.reason,
        },
    )


def _fixed_and_excluded(records: list[dict], leaving: set[str], applications, pool):
    """The pairs that stand (less those leaving in this run), and the pairs never to offer
    again (declined, or leaving in this run) among the applications and experts at hand."""
    apps, experts = {a.id for a in applications}, {e.id for e in pool}
    fixed = [
        (r["application_id"], r["expert_id"]) for r in records if r["status"] in STANDING and r["_id"] not in leaving
    ]
    never_again = [
        (r["application_id"], r["expert_id"]) for r in records if r["status"] == "declined" or r["_id"] in leaving
    ]
    return fixed, [(a, e) for a, e in never_again if a in apps and e in experts]


def _assigned_data(call_id: str, new: list[dict], unfilled: list[dict], run: dict, part: int) -> dict:
    deadline = run["review_deadline"]
    return {
        "call_id": call_id,
        "run_id": run["_id"],
        "part": part,
        "parts": run["parts"],
        "unfilled": unfilled,
        "assignments": [
            {
                "assignment_id": a["_id"],
                "application_id": a["application_id"],
                "expert_id": a["expert_id"],
                "review_deadline": rfc3339(deadline),
            }
            for a in new
        ],
    }


def _current(records: list[dict], assignment_id: str) -> dict:
    return next(r for r in records if r["_id"] == assignment_id)


def _assignment_records(call_id, candidates, experts, deadline, by, now):
    """What makes a run's new assignments' records of pairs, as stored: `records(run_id, pairs)`."""
    apps = {c["_id"]: (c["title"], c["institution_name"]) for c in candidates}
    names = {e["_id"]: e["name"] for e in experts}

    def records(run_id: str, pairs: Sequence[AssignedPair]) -> list[dict]:
        return [
            {
                "_id": new_id("asg"),
                "call_id": call_id,
                "run_id": run_id,
                "application_id": pair.application_id,
                "application_title": apps[pair.application_id][0],
                "institution_name": apps[pair.application_id][1],
                "expert_id": pair.expert_id,
                "expert_name": names[pair.expert_id],
                "status": "assigned",
                "affinity": pair.affinity,
                "review_deadline": deadline,
                "assigned_at": now,
                "reason": None,
                # Every audit entry has a from-state (AuditEntryOut); a record's first starts from "new", as objections' do.
                "history": [
                    {
                        "event": "assign",
                        "from_state": "new",
                        "to_state": "assigned",
                        "actor": by,
                        "at": now,
                        "reason": None,
                    }
                ],
            }
            for pair in pairs
        ]

    return records


def _run_record(run_id, call, kind, deadline, assigned, result, moves, standing, n_apps, by, now) -> dict:
    k = call["review_plan"]["reviewers_per_application"]
    slots, filled = k * n_apps, standing + assigned
    return {
        "_id": run_id,
        "call_id": call["_id"],
        "kind": kind,
        "review_deadline": deadline,
        "assigned_count": assigned,
        "unfilled": [u._asdict() for u in result.unfilled],
        "voided": [{"assignment_id": m[0], "reason": m[4]["reason"]} for m in moves if m[2] == "void"],
        "quality": {
            "total_affinity": result.total_affinity,
            "mean_affinity": result.total_affinity / assigned if assigned else None,
            "slots": slots,
            "filled": filled,
            "coverage": filled / slots if slots else 1.0,
            "load": asdict(result.load),
            "feasibility": asdict(result.feasibility),
            "candidate_pairs": result.candidate_pairs,
        },
        "seconds": result.seconds,
        "created_at": now,
        "created_by": by,
    }
