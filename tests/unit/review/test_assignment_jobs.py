"""Assignment runs as jobs (services/review/usecases/jobs.py) on the in-memory store: a call
above the inline limit, or a run asked for in the background, is queued after the request's
checks; a replica claims it, solves it as a run at once would, and ends it done with the run
or failed with the problem; one job per call at a time; a claim that went stale is taken over.
The threshold is given as a parameter here; the service reads ASSIGN_INLINE_MAX_APPLICATIONS."""
# ruff: noqa: F811 (`store` is the closed call's fixture, imported)

import copy
from datetime import timedelta

import pytest
from marshmallow import ValidationError

from services.common.replies import Refused
from services.contracts import review_api
from services.review.store import AssignmentJobRunning, CallNotFound
from services.review.usecases import assignment, jobs
from tests.unit.review.test_selection_usecases import NOW, PROVINCE, events, run, store  # noqa: F401 (the fixture)

DEADLINE = NOW + timedelta(days=7)
STALE = timedelta(minutes=15)


def request(store, *, inline_max=3, background=False, deadline=DEADLINE, call_id="call_1"):
    """The province asks for a run of the four-application call, with an inline limit of 3."""
    return jobs.request_run(store, call_id, deadline, background, PROVINCE, NOW, inline_max)


def work(store, holder="replica-a", at=NOW):
    return jobs.run_next_job(store, holder, lambda: at, STALE)


def pairs(assigned):
    return {(a["application_id"], a["expert_id"]) for a in assigned}


def test_a_call_above_the_limit_is_queued_and_nothing_is_assigned_yet(store):
    kind, job = request(store)
    assert kind == "job"
    shown = review_api.AssignmentJobOut().dump(job)
    assert shown["state"] == "queued" and shown["progress"] == {"phase": "queued"}
    assert (shown["call_id"], shown["requested_by"], shown["requested_at"]) == (
        "call_1",
        PROVINCE,
        "2026-06-01T02:00:00Z",
    )
    assert store.assignments("call_1") == [] and "experts_assigned" not in store.emitted_names()


def test_a_call_within_the_limit_is_solved_at_once_unless_asked_for_in_the_background(store):
    kind, done = request(store, inline_max=4)
    assert kind == "run" and len(done["assigned"]) == 8
    kind, job = request(store, inline_max=4, background=True)
    assert kind == "job" and job["state"] == "queued"


def test_a_job_solves_to_done_with_the_assignments_a_run_at_once_gives(store):
    at_once = run(copy.deepcopy(store))
    _, job = request(store)
    assert work(store) == job["_id"]
    done = jobs.get_job(store, job["_id"])
    shown = review_api.AssignmentJobOut().dump(done)
    assert shown["state"] == "done" and shown["progress"] == {"phase": "done"}
    assert shown["started_at"] == shown["finished_at"] == "2026-06-01T02:00:00Z"
    assert shown["run"]["kind"] == "run" and shown["run"]["quality"]["coverage"] == 1.0
    assert shown["run"]["assigned_count"] == 8 and "assigned" not in shown["run"]  # paged by run, not listed
    by_run = store.assignments("call_1", run_id=shown["run"]["id"])
    assert pairs(by_run) == pairs(at_once["assigned"]) == pairs(store.assignments("call_1"))
    [assigned] = events(store, "experts_assigned")
    assert len(assigned["assignments"]) == 8
    assert work(store) is None  # nothing left to do


def test_the_progress_goes_through_the_phases_in_order(store):
    _, job = request(store)
    work(store)
    assert [p["phase"] for p in store.job_progress] == ["reading", "scoring", "solving", "saving"]
    assert {"done": 0, "total": 1}.items() <= store.job_progress[2].items()


def test_a_second_request_while_one_is_queued_is_refused_naming_it(store):
    _, job = request(store)
    with pytest.raises(AssignmentJobRunning) as running:
        request(store, background=True)
    assert (running.value.status, running.value.kind) == (409, "assignment-job-running")
    assert job["_id"] in running.value.message.en and job["_id"] in running.value.message.zh
    assert len(store.job_docs) == 1
    work(store)
    kind, again = request(store)  # once done, the province may ask again
    assert kind == "job" and again["_id"] != job["_id"]


def test_a_stale_claim_is_taken_over_and_a_fresh_one_is_not(store):
    _, job = request(store)
    assert store.claim_assignment_job("replica-a", NOW, NOW - STALE)["_id"] == job["_id"]  # then replica-a dies
    assert work(store, "replica-b", at=NOW + timedelta(minutes=5)) is None
    assert jobs.get_job(store, job["_id"])["state"] == "solving"
    assert work(store, "replica-b", at=NOW + timedelta(minutes=20)) == job["_id"]
    assert jobs.get_job(store, job["_id"])["state"] == "done"
    # replica-a, back after all, can neither write progress nor end the job again
    assert not store.assignment_job_progress(job["_id"], "replica-a", {"phase": "solving"}, NOW)
    assert len(events(store, "experts_assigned")) == 1


def test_a_job_interrupted_again_and_again_ends_failed(store):
    _, job = request(store)
    for minutes in (0, 20, 40):
        store.claim_assignment_job(
            f"replica-{minutes}", NOW + timedelta(minutes=minutes), NOW + timedelta(minutes=minutes) - STALE
        )
    work(store, "replica-d", at=NOW + timedelta(minutes=60))
    failed = jobs.get_job(store, job["_id"])
    assert failed["state"] == "failed" and failed["problem"]["type"] == "assignment-interrupted"
    assert store.assignments("call_1") == []


def test_a_refused_solve_ends_the_job_failed_with_the_problem(store):
    _, job = request(store)
    pool, store.expert_docs = store.expert_docs, {}  # the pool emptied meanwhile
    work(store)
    failed = review_api.AssignmentJobOut().dump(jobs.get_job(store, job["_id"]))
    assert failed["state"] == "failed" and failed["finished_at"] == "2026-06-01T02:00:00Z"
    assert (failed["problem"]["status"], failed["problem"]["type"]) == (409, "expert-pool-empty")
    assert "专家库为空" in failed["problem"]["detail"] and "expert pool is empty" in failed["problem"]["detail"]
    assert "run" not in failed and store.assignments("call_1") == []
    store.expert_docs = pool
    assert request(store)[0] == "job"  # a failed job does not hold the call


def test_a_deadline_passed_before_the_job_runs_fails_it_naming_the_field(store):
    _, job = request(store, deadline=NOW + timedelta(hours=1))
    work(store, at=NOW + timedelta(hours=2))
    failed = review_api.AssignmentJobOut().dump(jobs.get_job(store, job["_id"]))
    assert failed["state"] == "failed" and failed["problem"]["status"] == 422
    assert list(failed["problem"]["errors"]) == ["review_deadline"]


def test_an_unexpected_error_ends_the_job_failed_rather_than_looping(store, monkeypatch):
    _, job = request(store)

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(assignment, "assign", broken)
    work(store)
    failed = jobs.get_job(store, job["_id"])
    assert failed["state"] == "failed" and failed["problem"]["type"] == "assignment-failed"
    assert work(store) is None


def test_bad_requests_make_no_job(store):
    with pytest.raises(ValidationError) as no_deadline:
        request(store, deadline=None)
    assert "review_deadline" in no_deadline.value.messages
    with pytest.raises(ValidationError) as past:
        request(store, deadline=NOW - timedelta(days=1))
    assert "review_deadline" in past.value.messages
    with pytest.raises(CallNotFound):
        request(store, call_id="call_unknown", background=True)
    store.call_docs["call_1"]["stage"] = "ranked"
    with pytest.raises(Refused) as final:
        request(store)
    assert final.value.type == "assignments-final"
    store.call_docs["call_1"]["stage"] = "reviewing"
    store.expert_docs.clear()
    with pytest.raises(Refused) as empty:
        request(store)
    assert empty.value.type == "expert-pool-empty"
    store.call_docs["call_1"].pop("closed_at")
    with pytest.raises(Refused) as still_open:
        request(store)
    assert still_open.value.type == "call-not-closed"
    assert store.job_docs == {}
