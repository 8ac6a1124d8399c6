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
from services.review.domain.reviews import STANDING
from services.review.usecases import assignment, jobs
from tests.unit.review.test_selection_usecases import (  # noqa: F401 (the fixture)
    NOW,
    PROVINCE,
    as_expert,
    events,
    run,
    store,
    withdraw_app_1,
)

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
    phases = ["reading", "scoring", "solving", "staging", "saving", "publishing"]
    assert [p["phase"] for p in store.job_progress] == phases
    assert {"done": 0, "total": 1}.items() <= store.job_progress[2].items()
    assert store.job_progress[-1] == {"phase": "publishing", "done": 0, "total": 1}


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


@pytest.fixture
def small_parts(monkeypatch):
    """Runs published in parts of two assignments or more (the fixture's experts have about two each)."""
    monkeypatch.setattr(assignment, "PART_SIZE", 2)


def stop_at_part(store, monkeypatch, stop: int):
    """The replica publishing stops with an error at part `stop` (the database went away)."""
    publish = store.publish_part

    def publish_part(run_id, part):
        if part == stop:
            raise ConnectionError("the database went away")
        return publish(run_id, part)

    monkeypatch.setattr(store, "publish_part", publish_part)
    return lambda: monkeypatch.setattr(store, "publish_part", publish)


def test_a_run_is_published_in_parts_each_telling_its_experts_once(store, small_parts):
    _, job = request(store)
    work(store)
    parts = events(store, "experts_assigned")
    assert len(parts) > 1 and [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    assert {p["parts"] for p in parts} == {len(parts)} and {p["run_id"] for p in parts} == {job_id_run(store, job)}
    experts_by_part = [{a["expert_id"] for a in p["assignments"]} for p in parts]
    assert all(not (a & b) for i, a in enumerate(experts_by_part) for b in experts_by_part[i + 1 :])
    published = [a["assignment_id"] for p in parts for a in p["assignments"]]
    assert sorted(published) == sorted(a["_id"] for a in store.assignments("call_1")) and len(published) == 8
    assert all(p["unfilled"] == [] for p in parts[:-1])
    assert parts[-1]["unfilled"] == store.run(job_id_run(store, job))["unfilled"]
    assert jobs.get_job(store, job["_id"])["state"] == "done"
    assert store.staged_docs == {} and store.call("call_1")["publishing_run_id"] is None


def job_id_run(store, job):
    return store.assignment_job(job["_id"])["run_id"]


def test_assignments_staged_by_a_replica_that_died_are_never_seen(store):
    _, job = request(store)
    store.claim_assignment_job("replica-a", NOW, NOW - STALE)  # it stages a part, then dies
    store.stage_assignments(
        [{"_id": "asg_dead", "call_id": "call_1", "run_id": "run_dead", "application_id": "app_1", "part": 1}]
    )
    assert store.assignments("call_1") == []
    assert work(store, "replica-b", at=NOW + timedelta(minutes=20)) == job["_id"]
    assigned = store.assignments("call_1")
    assert len(assigned) == 8 and {a["run_id"] for a in assigned} == {job_id_run(store, job)}
    assert store.staged_docs == {}


def test_a_failed_solve_leaves_nothing_staged(store, monkeypatch):
    _, job = request(store)
    stage = store.stage_assignments

    def stage_then_fail(assignments):
        stage(assignments)
        raise ValueError("a bug after staging")

    monkeypatch.setattr(store, "stage_assignments", stage_then_fail)
    work(store)
    assert jobs.get_job(store, job["_id"])["state"] == "failed"
    assert store.staged_docs == {} and store.assignments("call_1") == []
    assert not store.call("call_1").get("publishing_run_id")


def test_a_job_stopped_while_publishing_is_taken_up_where_it_stopped(store, monkeypatch, small_parts):
    _, job = request(store)
    resume = stop_at_part(store, monkeypatch, 2)
    work(store, "replica-a")
    stopped = jobs.get_job(store, job["_id"])
    assert stopped["state"] == "publishing" and stopped["progress"]["phase"] == "publishing"
    [first] = events(store, "experts_assigned")
    assert len(store.assignments("call_1")) == len(first["assignments"]) < 8
    resume()
    assert work(store, "replica-b", at=NOW + timedelta(seconds=1)) == job["_id"]  # let go of: no stale wait
    parts = events(store, "experts_assigned")
    assert [p["part"] for p in parts] == list(range(1, parts[0]["parts"] + 1))  # each part once
    assert len(store.assignments("call_1")) == 8 and jobs.get_job(store, job["_id"])["state"] == "done"


def test_while_a_run_is_published_the_call_takes_no_other_run_or_decline(store, monkeypatch, small_parts):
    _, job = request(store)
    resume = stop_at_part(store, monkeypatch, 2)
    work(store)
    published = store.assignments("call_1")[0]
    for attempt in (
        lambda: run(store),
        lambda: assignment.decline_assignment(
            store, assignment.own_assignment(store, as_expert(published), published["_id"]), "有合作关系", "e", NOW
        ),
    ):
        with pytest.raises(Refused) as publishing:
            attempt()
        assert (publishing.value.status, publishing.value.type) == (409, "assignments-publishing")
        assert job_id_run(store, job) in publishing.value.detail
    resume()
    work(store, "replica-b", at=NOW + timedelta(seconds=1))
    assert run(store)["assigned"] == []  # published: the call takes runs again (all its slots are filled)


def test_what_left_the_review_while_publishing_is_voided_once_the_run_is_published(store, monkeypatch, small_parts):
    _, job = request(store)
    resume = stop_at_part(store, monkeypatch, 2)
    work(store)
    withdraw_app_1(store, "in_review", "撤回", NOW)
    resume()
    work(store, "replica-b", at=NOW + timedelta(seconds=1))
    of_app_1 = store.assignments(application_id="app_1")
    assert len(of_app_1) == 2 and all(a["status"] not in STANDING for a in of_app_1)
    assert all(a["status"] in STANDING for a in store.assignments("call_1") if a["application_id"] != "app_1")


def test_with_assign_jobs_off_review_leaves_the_job_to_the_job_runner(store, monkeypatch):
    from nameko.testing.services import worker_factory

    from services.common.clock import utcnow
    from services.review import service

    _, job = request(store, deadline=utcnow() + timedelta(days=7))  # the service's timer runs on the real clock
    monkeypatch.setattr(service, "ASSIGN_JOBS", "off")
    worker_factory(service.ReviewService, store=store).run_assignment_jobs()
    assert jobs.get_job(store, job["_id"])["state"] == "queued"
    worker_factory(service.AssignmentJobRunner, store=store).run_assignment_jobs()
    assert jobs.get_job(store, job["_id"])["state"] == "done" and len(store.assignments("call_1")) == 8


def test_the_job_runner_works_on_reviews_database_and_outbox():
    from services.common.providers import MongoStore
    from services.review.service import AssignmentJobRunner

    assert isinstance(AssignmentJobRunner.store, MongoStore) and AssignmentJobRunner.store.owner == "review"
