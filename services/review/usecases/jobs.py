"""Assignment runs as jobs: a call too large to solve within one request (its open
applications above the inline limit, or a run asked for in the background) is queued, and a
replica of the review service claims it and solves it (`run_next_job`), writing its progress
as it goes.

A job is queued, then solving under one replica's claim, then publishing its run, then done
or failed (with the problem). The claim is renewed by each progress write; a claim not
renewed within the stale period is the claim of a replica that died, and another replica
takes the job over.

A national call's run makes more than a million assignments: far more than one transaction
may write in MongoDB (60 s by default). So a job stages its new assignments first, unseen,
in the parts they will be published in; then saves the run in the transaction that moves the
job on to publishing, under the claim (a run is saved once even if a replica thought dead
comes back); then publishes the parts, a transaction and an `experts_assigned` event each.
While a run is published its call takes no other run or decline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from services.common.bilingual import Bilingual
from services.common.replies import bilingual, refusal_problem
from services.review.store import ClaimLost, ReviewStore, new_id
from services.review.usecases import assignment

log = logging.getLogger(__name__)

#: A job claimed this many times has been interrupted each time (its replica died): it fails.
MAX_CLAIMS = 3
#: Progress is written at each change of phase, and within a phase at most this often.
PROGRESS_EVERY = timedelta(seconds=1)

CRASHED = Bilingual(
    "The assignment failed unexpectedly; the operators have the details in the review service's log. "
    "Try again, or ask them.",
    "分配任务意外失败，详情已记入评审服务日志；请重试或联系运维人员。",
)
INTERRUPTED = Bilingual(
    f"The assignment was interrupted {MAX_CLAIMS} times (the service solving it stopped); try again.",
    f"分配任务已中断 {MAX_CLAIMS} 次（求解的服务停止运行）；请重试。",
)


def request_run(
    store: ReviewStore,
    call_id: str,
    deadline: datetime | None,
    background: bool,
    by: str,
    now: datetime,
    inline_max: int,
) -> tuple[str, dict]:
    """The province asks for an assignment run: solved at once ("run", the run) for a call of
    up to `inline_max` open applications, else, or when asked for in the `background`,
    queued ("job", the job) once the request's checks pass (`assignment.check_run`); one job
    per call at a time (AssignmentJobRunning names the one running)."""
    if not background and store.count_candidates(call_id) <= inline_max:
        return "run", assignment.run_assignment(store, call_id, deadline, by, now)
    assignment.check_run(store, call_id, deadline, now)
    job = {
        "_id": new_id("ajob"),
        "call_id": call_id,
        "state": "queued",
        "progress": {"phase": "queued"},
        "review_deadline": deadline,
        "requested_by": by,
        "requested_at": now,
        "started_at": None,
        "finished_at": None,
        "claims": 0,
    }
    return "job", store.add_assignment_job(job)


def get_job(store: ReviewStore, job_id: str) -> dict:
    """The job; once done, with its run (`run`): a national call's run makes more than a
    million assignments, so they are counted here and paged by run (GET /v1/assignments)."""
    job = store.assignment_job(job_id)
    if job["state"] == "done":
        job["run"] = store.run(job["run_id"])
    return job


def run_next_job(store: ReviewStore, holder: str, clock: Callable[[], datetime], stale_after: timedelta) -> str | None:
    """Claim a job (`claim_assignment_job`) for `holder` and take it to its end: solved and
    its run saved, then published part by part, then done; or failed with the problem (a
    refusal, or an unexpected error, logged). A job taken over while publishing goes on
    where its publishing stopped. Returns the job's id, None when there was none to claim."""
    now = clock()
    job = store.claim_assignment_job(holder, now, now - stale_after)
    if job is None:
        return None
    job_id = job["_id"]
    try:
        if job["state"] == "solving" and not _solve(store, job, holder, clock, now):
            return job_id
        run_id = job.get("run_id") or store.assignment_job(job_id)["run_id"]
        _publish(store, job_id, holder, run_id, clock, job["requested_by"])
    except ClaimLost:
        log.warning("assignment job %s was taken over by another replica; this one stops", job_id)
    except Exception:
        log.exception("assignment job %s stopped; it is taken up again at the next poll", job_id)
        store.release_assignment_job(job_id, holder)
    return job_id


def _solve(store: ReviewStore, job: dict, holder: str, clock: Callable[[], datetime], now: datetime) -> bool:
    """Solve the job and save its run (the job moves on to publishing): True; or end it
    failed: False."""
    job_id = job["_id"]
    if job["claims"] > MAX_CLAIMS:
        _fail(store, job_id, holder, clock, 409, INTERRUPTED, "assignment-interrupted")
        return False

    def hold(saved: dict) -> None:
        publishing = {"phase": "publishing", "done": 0, "total": saved["parts"]}
        fields = {"state": "publishing", "run_id": saved["run_id"], "progress": publishing, "heartbeat_at": clock()}
        if not store.update_assignment_job(job_id, holder, fields):
            raise ClaimLost(job_id)

    try:
        assignment.run_job(
            store,
            job["call_id"],
            job["review_deadline"],
            job["requested_by"],
            now,
            _Progress(store, job_id, holder, clock),
            hold,
        )
    except ClaimLost:
        raise
    except Exception as exc:
        answer = refusal_problem(exc)
        if answer is None:
            log.exception("assignment job %s failed", job_id)
            _fail(store, job_id, holder, clock, 500, CRASHED, "assignment-failed")
        else:
            store.update_assignment_job(
                job_id, holder, {"state": "failed", "finished_at": clock(), "problem": _problem(answer)}
            )
        return False
    return True


def _publish(store: ReviewStore, job_id: str, holder: str, run_id: str, clock: Callable[[], datetime], by: str) -> None:
    """Publish the job's run part by part, void what a rule excluded meanwhile, then end the
    job done. An error here leaves the job publishing (its run is saved), released to be
    taken up again."""
    run = store.run(run_id)

    def progress(part: int) -> None:
        if not store.assignment_job_progress(
            job_id, holder, {"phase": "publishing", "done": part - 1, "total": run["parts"]}, clock()
        ):
            raise ClaimLost(job_id)

    while assignment.publish_next_part(store, run_id, progress):
        pass
    assignment.void_excluded(store, run["call_id"], by, clock())  # what left while it was published
    store.update_assignment_job(
        job_id, holder, {"state": "done", "finished_at": clock(), "progress": {"phase": "done"}}
    )


class _Progress:
    """The job's progress callback: each phase's first report is written, later ones of the
    same phase at most every PROGRESS_EVERY; a write that finds the claim lost raises ClaimLost."""

    def __init__(self, store: ReviewStore, job_id: str, holder: str, clock: Callable[[], datetime]) -> None:
        self.store, self.job_id, self.holder, self.clock = store, job_id, holder, clock
        self.phase: str | None = None
        self.written_at: datetime | None = None

    def __call__(self, phase: str, done: int | None, total: int | None) -> None:
        now = self.clock()
        if phase == self.phase and self.written_at is not None and now - self.written_at < PROGRESS_EVERY:
            return
        self.phase, self.written_at = phase, now
        counts = {k: v for k, v in (("done", done), ("total", total)) if v is not None}
        if not self.store.assignment_job_progress(self.job_id, self.holder, {"phase": phase, **counts}, now):
            raise ClaimLost(self.job_id)


def _problem(answer: dict) -> dict:
    return {"status": answer["status"], **answer["problem"]}


def _fail(
    store: ReviewStore,
    job_id: str,
    holder: str,
    clock: Callable[[], datetime],
    status: int,
    why: Bilingual,
    kind: str,
) -> None:
    problem = {"status": status, "title": "Assignment failed", "detail": bilingual(why), "type": kind}
    store.update_assignment_job(job_id, holder, {"state": "failed", "finished_at": clock(), "problem": problem})
