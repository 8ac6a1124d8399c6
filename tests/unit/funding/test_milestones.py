from datetime import datetime, timedelta, timezone

import pytest

from services.common.statemachine import ReasonRequired
from services.funding.domain.awards import ApprovedProject, award_project
from services.funding.domain.milestones import MilestoneRefused, record_milestone, start_funding, withdraw
from services.contracts.funding_rules import FundingRule, ShareAward, TrancheSpec

AT = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
PLAN = (TrancheSpec("approval", 40), TrancheSpec("mid_term", 30), TrancheSpec("acceptance", 30))


def funded(clawback="beyond_approval", tranches=PLAN):
    rule = FundingRule(ShareAward(100), {"provincial_special": 1}, tranches, clawback)
    award = award_project(rule, ApprovedProject("proj-1", 1, 1_000_000))
    return start_funding("call-1", 2026, "workshop", award, clawback, actor="province:admin", at=AT).funding


def record(funding, *steps):
    changes = []
    for milestone, result in steps:
        change = record_milestone(
            funding,
            milestone,
            result,
            actor="province:admin",
            reason=None if result == "pass" else "整改",
            at=AT + timedelta(days=1),
        )
        funding = change.funding
        changes.append(change)
    return changes


def names(change):
    return [e.name for e in change.events]


def test_passing_both_milestones_releases_every_tranche():
    mid, accepted = record(funded(), ("mid_term", "pass"), ("acceptance", "pass"))
    assert names(mid) == ["tranche_released"] and mid.events[0].data["tranche"]["trigger"] == "mid_term"
    assert names(accepted) == ["tranche_released"]
    assert accepted.funding.status == "completed"
    assert accepted.funding.tranche_states == ("released",) * 3
    assert accepted.funding.position()["provincial_special"]["released"] == 1_000_000


def test_rectify_holds_the_tranche_until_a_later_pass():
    first, again, passed = record(funded(), ("mid_term", "rectify"), ("mid_term", "rectify"), ("mid_term", "pass"))
    assert first.events == again.events == () and first.entries == ()
    assert first.funding.status == "mid_term_rectifying"
    assert first.funding.tranche_states == ("released", "scheduled", "scheduled")
    assert names(passed) == ["tranche_released"]
    assert passed.funding.status == "awaiting_acceptance"


@pytest.mark.parametrize("policy, clawed", [("none", []), ("beyond_approval", [2]), ("all", [1, 2])])
def test_a_failed_acceptance_withholds_the_rest_and_claws_back_by_policy(policy, clawed):
    _, failed = record(funded(policy), ("mid_term", "pass"), ("acceptance", "fail"))
    assert failed.funding.status == "failed"
    withheld = [e for e in failed.events if e.name == "tranche_withheld"]
    assert [e.data["tranche"]["index"] for e in withheld] == [3]
    assert withheld[0].data["reason"] == "整改" and withheld[0].data["milestone"] == "acceptance"
    clawbacks = [e for e in failed.events if e.name == "funds_clawed_back"]
    assert [t["index"] for e in clawbacks for t in e.data["tranches"]] == clawed
    expected = {
        "reserved": 0,
        "released": 400_000 * (1 not in clawed) + 300_000 * (2 not in clawed),
        "withheld": 300_000,
        "clawed_back": 400_000 * (1 in clawed) + 300_000 * (2 in clawed),
    }
    assert failed.funding.position()["provincial_special"] == expected


def test_a_failed_mid_term_withholds_both_later_tranches():
    (failed,) = record(funded(), ("mid_term", "fail"))
    assert names(failed) == ["tranche_withheld", "tranche_withheld", "project_failed"]  # the approval tranche is kept
    assert failed.funding.tranche_states == ("released", "withheld", "withheld")
    left = failed.events[-1].data
    assert (left["milestone"], left["withheld"]["total"], left["clawed_back"]["total"]) == (
        "mid_term",
        sum(t["tranche"]["amount"]["total"] for t in map(lambda e: e.data, failed.events[:2])),
        0,
    )


def test_each_move_leaves_an_audit_entry():
    (change,) = record(funded(), ("mid_term", "rectify"))
    assert change.audit.as_dict() == {
        "event": "mid_term_rectify",
        "from_state": "awaiting_mid_term",
        "to_state": "mid_term_rectifying",
        "actor": "province:admin",
        "at": AT + timedelta(days=1),
        "reason": "整改",
    }


@pytest.mark.parametrize(
    "steps, refused, message",
    [
        (
            [],
            ("acceptance", "pass"),
            "acceptance of project proj-1 needs a passed mid-term review; the mid-term review is not recorded yet",
        ),
        ([("mid_term", "rectify")], ("acceptance", "fail"), "the mid-term review is in rectification"),
        ([("mid_term", "pass")], ("mid_term", "pass"), "the mid-term review of project proj-1 has passed already"),
        (
            [("mid_term", "fail")],
            ("mid_term", "pass"),
            "project proj-1 has failed a milestone: nothing more is recorded",
        ),
        ([("mid_term", "pass"), ("acceptance", "fail")], ("acceptance", "rectify"), "has failed a milestone"),
        (
            [("mid_term", "pass"), ("acceptance", "pass")],
            ("acceptance", "pass"),
            "passed acceptance: its funding is complete",
        ),
    ],
)
def test_milestones_out_of_order_are_refused_with_the_reason(steps, refused, message):
    funding = record(funded(), *steps)[-1].funding if steps else funded()
    with pytest.raises(MilestoneRefused, match=message):
        record(funding, refused)


@pytest.mark.parametrize(
    "milestone, result, message",
    [("final", "pass", "milestone must be one of"), ("mid_term", "ok", "result must be one of")],
)
def test_unknown_milestones_and_results_are_refused(milestone, result, message):
    with pytest.raises(ValueError, match=message):
        record_milestone(funded(), milestone, result, actor="a", reason=None, at=AT)


@pytest.mark.parametrize("result", ["rectify", "fail"])
def test_rectify_and_fail_need_a_reason(result):
    with pytest.raises(ReasonRequired):
        record_milestone(funded(), "mid_term", result, actor="a", reason="  ", at=AT)


def test_a_plan_without_a_mid_term_tranche_still_needs_the_mid_term_review():
    funding = funded(tranches=(TrancheSpec("approval", 50), TrancheSpec("acceptance", 50)))
    (mid,) = record(funding, ("mid_term", "pass"))
    assert mid.events == ()
    with pytest.raises(MilestoneRefused):
        record(funding, ("acceptance", "pass"))


def test_a_withdrawal_before_the_mid_term_review_goes_as_a_failed_mid_term():
    withdrawn = withdraw(funded(), actor="province:admin", reason="学校申请撤销", at=AT + timedelta(days=30))
    (failed,) = record(funded(), ("mid_term", "fail"))
    assert withdrawn.funding.status == "withdrawn" and withdrawn.audit.event == "withdraw"
    assert withdrawn.funding.tranche_states == failed.funding.tranche_states == ("released", "withheld", "withheld")
    assert names(withdrawn) == ["tranche_withheld", "tranche_withheld", "project_withdrawn"]
    assert [e.data["milestone"] for e in withdrawn.events[:2]] == ["mid_term", "mid_term"]  # what it waited for
    left = withdrawn.events[-1].data
    assert "milestone" not in left and left["reason"] == "学校申请撤销"
    assert left["withheld"] == failed.events[-1].data["withheld"] and left["clawed_back"]["total"] == 0


def test_a_withdrawal_needs_a_reason_and_a_project_still_under_way():
    with pytest.raises(ReasonRequired):
        withdraw(funded(), actor="province:admin", reason=" ", at=AT)
    (failed,) = record(funded(), ("mid_term", "fail"))
    with pytest.raises(MilestoneRefused, match="failed a milestone"):
        withdraw(failed.funding, actor="province:admin", reason="撤销", at=AT)
    withdrawn = withdraw(funded(), actor="province:admin", reason="撤销", at=AT).funding
    with pytest.raises(MilestoneRefused, match="withdrawn") as refused:
        record_milestone(withdrawn, "mid_term", "pass", actor="province:admin", reason=None, at=AT)
    assert "已撤销" in refused.value.why.zh
