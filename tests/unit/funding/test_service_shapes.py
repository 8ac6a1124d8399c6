"""What the funding service stores and answers, without a server: a rule survives the
round trip through its stored form, the budget year follows China's calendar, cursors
are opaque but checked, a call's allocation has its state machine, and a project's
reply adds up per source."""

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st
from marshmallow import ValidationError

from services.common.statemachine import TransitionNotAllowed
from services.funding.domain.allocation import CALL_ALLOCATION, allocate
from services.funding.domain.awards import ApprovedProject
from services.funding.domain.budget import BudgetKey, budget_year, line_id
from services.funding.domain.ledger import appropriation, check_ledger
from services.funding.domain.milestones import MilestoneRefused, record_milestone
from services.contracts.funding import MILESTONES, RESULTS
from services.funding.domain.money import SOURCES
from services.contracts.funding_rules import AwardTier, FundingRule, ShareAward, TieredAward, TrancheSpec
from services.funding.schemas import project_view
from services.contracts.funding_api import FundingRuleCreateSchema, FundingRuleSchema, ProjectFundingSchema
from services.funding.store import funding_fields, funding_from_document, project_document
from tests.unit.funding.test_ledger import rules

AT = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
PLAN = (TrancheSpec("approval", 40), TrancheSpec("mid_term", 30), TrancheSpec("acceptance", 30))


@settings(max_examples=60, deadline=None)
@given(rule=rules())
def test_a_rule_loads_back_from_its_stored_form_unchanged(rule):
    assert FundingRuleSchema().load(rule.as_dict()) == rule


def test_a_tiered_rule_with_an_open_last_tier_round_trips():
    rule = FundingRule(TieredAward((AwardTier(1, 2, 500), AwardTier(3, None, 300))), {"social": 1}, PLAN, "all")
    assert FundingRuleSchema().load(rule.as_dict()) == rule


def test_a_created_rule_keeps_its_id_and_name_and_refuses_an_id_that_cannot_be_a_path():
    loaded = FundingRuleCreateSchema().load(
        {"id": "hv-group-2026", "name": "高职专业群 2026", **FundingRule(ShareAward(80), {"social": 1}, PLAN).as_dict()}
    )
    assert loaded["id"] == "hv-group-2026" and loaded["name"] == "高职专业群 2026"
    assert loaded["rule"] == FundingRule(ShareAward(80), {"social": 1}, PLAN)
    with pytest.raises(ValidationError) as refused:
        FundingRuleCreateSchema().load({"id": "a/b", **FundingRule(ShareAward(80), {"social": 1}, PLAN).as_dict()})
    assert list(refused.value.messages) == ["id"]


@pytest.mark.parametrize(
    "at, year",
    [
        (datetime(2026, 12, 31, 15, 59, tzinfo=timezone.utc), 2026),  # 23:59 in Changsha
        (datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc), 2027),  # midnight in Changsha
        (datetime(2027, 1, 1, 0, 0, tzinfo=timezone.utc), 2027),
    ],
)
def test_the_budget_year_is_the_calendar_year_in_china(at, year):
    assert budget_year(at) == year


def test_a_naive_moment_has_no_budget_year():
    with pytest.raises(ValueError, match="timezone-aware"):
        budget_year(datetime(2026, 6, 1))


def test_a_budget_line_id_names_year_category_and_source_and_checks_them():
    assert line_id(2026, "hv-group", "social") == "2026:hv-group:social"
    with pytest.raises(ValueError, match="source must be one of"):
        line_id(2026, "hv-group", "bank")


def test_a_call_is_allocated_once_and_a_shortfall_leaves_it_pending():
    assert CALL_ALLOCATION.apply("pending", "budget_exhausted", "province:a", "short", AT)[0] == "pending"
    assert CALL_ALLOCATION.apply("pending", "allocate", "province:a", None, AT)[0] == "allocated"
    with pytest.raises(TransitionNotAllowed):
        CALL_ALLOCATION.apply("allocated", "allocate", "province:a", None, AT)


APPROVED = {"institution_id": "inst-1", "prefecture": "长沙市", "title": "智能制造专业群"}


def funded_project(rule=FundingRule(ShareAward(100), {"provincial_special": 2, "social": 1}, PLAN), request=1_000_001):
    allocation = allocate(
        "call-1",
        2026,
        "workshop",
        rule,
        [ApprovedProject("proj-1", 1, request)],
        {s: 10**12 for s in SOURCES},
        actor="province:a",
        at=AT,
    )
    return project_document(allocation.changes[0], APPROVED, AT), allocation.changes[0].funding, allocation


def test_a_stored_project_reads_back_as_the_same_funding():
    doc, funding, _ = funded_project()
    assert funding_from_document(doc) == funding


def test_a_project_reply_accounts_for_every_fen_per_source_after_a_failed_acceptance():
    doc, funding, _ = funded_project()
    for milestone, result in (("mid_term", "pass"), ("acceptance", "fail")):
        funding = record_milestone(funding, milestone, result, actor="province:a", reason="未通过", at=AT).funding
    doc = {**doc, **funding_fields(funding)}
    reply = ProjectFundingSchema().dump(project_view(doc, funding))
    assert [t["state"] for t in reply["tranches"]] == ["released", "clawed_back", "withheld"]
    for source, award in reply["award"]["by_source"].items():
        scheduled, released, withheld, clawed_back, kept = (
            reply[k]["by_source"][source] for k in ("scheduled", "released", "withheld", "clawed_back", "kept")
        )
        assert scheduled + released + withheld == award
        assert kept == released - clawed_back
    assert reply["award"]["total"] == 1_000_001
    assert reply["kept"]["total"] == reply["tranches"][0]["amount"]["total"]
    assert reply["status"] == "failed" and reply["clawback_policy"] == "beyond_approval"


@settings(max_examples=100, deadline=None)
@given(
    rule=rules(),
    request=st.integers(1, 10**10),
    steps=st.lists(st.tuples(st.sampled_from(MILESTONES), st.sampled_from(RESULTS)), max_size=8),
)
def test_after_any_milestones_on_the_stored_project_its_reply_and_the_ledger_agree(rule, request, steps):
    """The service's path: read the document, record the milestone, write its fields back."""
    doc, _, allocation = funded_project(rule, request)
    entries = [
        appropriation(BudgetKey(2026, "workshop", s), amount, AT) for s, amount in allocation.needed.items() if amount
    ] + list(allocation.entries)
    for milestone, result in steps:
        try:
            change = record_milestone(
                funding_from_document(doc), milestone, result, actor="province:a", reason="理由", at=AT
            )
        except MilestoneRefused:
            continue
        doc = {**doc, **funding_fields(change.funding)}
        entries += change.entries
    balances = check_ledger(entries)
    for source in SOURCES:
        assert sum(b for name, b in balances.accounts.items() if name.endswith(f":{source}")) == 0
    reply = ProjectFundingSchema().dump(project_view(doc, funding_from_document(doc)))
    position = balances.project_position("proj-1")
    for source, award in reply["award"]["by_source"].items():
        held = position.get(source, dict.fromkeys(("reserved", "released", "withheld", "clawed_back"), 0))
        assert (held["reserved"], held["released"], held["withheld"], held["clawed_back"]) == tuple(
            reply[k]["by_source"][source] for k in ("scheduled", "kept", "withheld", "clawed_back")
        )
        assert sum(held.values()) == award
