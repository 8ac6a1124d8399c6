"""The supervision figures: funded projects summed per (category, prefecture), money by
source (allocated, disbursed including what was clawed back later, clawed back) and
milestones passed."""

from datetime import datetime, timedelta, timezone

from services.funding.domain.awards import ApprovedProject, award_project
from services.funding.domain.milestones import record_milestone, start_funding
from services.funding.domain.money import SOURCES
from services.funding.domain.progress import FundedProject, progress_cells
from services.contracts.funding_rules import FundingRule, ShareAward, TrancheSpec

AT = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
PLAN = (TrancheSpec("approval", 40), TrancheSpec("mid_term", 30), TrancheSpec("acceptance", 30))
RULE = FundingRule(ShareAward(100), {"provincial_special": 3, "social": 1}, PLAN, "beyond_approval")


def project(project_id, category, prefecture, request, *steps):
    """A funded project after its milestones `steps` ((milestone, result), ...)."""
    award = award_project(RULE, ApprovedProject(project_id, 1, request))
    funding = start_funding("call-1", 2026, category, award, RULE.clawback, actor="province:admin", at=AT).funding
    for milestone, result in steps:
        funding = record_milestone(
            funding,
            milestone,
            result,
            actor="province:admin",
            reason=None if result == "pass" else "未达标",
            at=AT + timedelta(days=30),
        ).funding
    passed = tuple(milestone for milestone, result in steps if result == "pass")
    return FundedProject(prefecture, funding, passed)


def test_projects_of_one_category_and_prefecture_are_summed_in_one_cell():
    cells = progress_cells(
        [
            project("p1", "workshop", "长沙市", 1_000_000),
            project("p2", "workshop", "长沙市", 2_000_000, ("mid_term", "pass")),
        ]
    )
    assert len(cells) == 1
    (cell,) = cells
    assert (cell["category"], cell["prefecture"], cell["projects"]) == ("workshop", "长沙市", 2)
    assert cell["allocated"] == {
        "provincial_special": 2_250_000,
        "local_special_bond": 0,
        "local_government": 0,
        "social": 750_000,
    }
    # approval tranches (40 %) of both, and the mid-term tranche (30 %) of the second
    assert sum(cell["disbursed"].values()) == 400_000 + 800_000 + 600_000
    assert cell["clawed_back"] == dict.fromkeys(SOURCES, 0)
    assert cell["milestones_passed"] == {"mid_term": 1, "acceptance": 0}


def test_cells_are_apart_per_category_and_prefecture_and_in_order():
    cells = progress_cells(
        [
            project("p1", "workshop", "衡阳市", 100),
            project("p2", "hv-group", "长沙市", 100),
            project("p3", "workshop", "长沙市", 100),
        ]
    )
    assert [(c["category"], c["prefecture"], c["projects"]) for c in cells] == [
        ("hv-group", "长沙市", 1),
        ("workshop", "衡阳市", 1),
        ("workshop", "长沙市", 1),
    ]


def test_money_clawed_back_stays_disbursed_and_is_shown_as_clawed_back():
    failed = project("p1", "hv-group", "岳阳市", 1_000_000, ("mid_term", "pass"), ("acceptance", "fail"))
    completed = project("p2", "hv-group", "岳阳市", 1_000_000, ("mid_term", "pass"), ("acceptance", "pass"))
    (cell,) = progress_cells([failed, completed])
    assert sum(cell["allocated"].values()) == 2_000_000
    # the failed project had approval + mid-term released (70 %), the mid-term part then clawed back
    assert sum(cell["disbursed"].values()) == 700_000 + 1_000_000
    assert sum(cell["clawed_back"].values()) == 300_000
    assert cell["milestones_passed"] == {"mid_term": 2, "acceptance": 1}


def test_no_projects_no_cells():
    assert progress_cells([]) == []
