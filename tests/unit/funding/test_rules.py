import copy

import pytest
from marshmallow import ValidationError

from services.funding.domain.awards import ApprovedProject, award_project
from services.contracts.funding_rules import (
    AwardTier,
    FundingRule,
    InvalidRule,
    RankNotCovered,
    ShareAward,
    TieredAward,
    TrancheSpec,
)
from services.contracts.funding_api import FundingRuleSchema

YUAN = 100
PLAN = (TrancheSpec("approval", 40), TrancheSpec("mid_term", 30), TrancheSpec("acceptance", 30))
TIERS = TieredAward((AwardTier(1, 3, 5_000_000 * YUAN), AwardTier(4, 10, 3_000_000 * YUAN)))


def rule(award=TIERS, sources=None, tranches=PLAN, clawback="beyond_approval"):
    return FundingRule(award, sources or {"provincial_special": 1, "local_government": 1}, tranches, clawback)


def project(rank, request=10_000_000 * YUAN):
    return ApprovedProject(f"p{rank}", rank, request)


@pytest.mark.parametrize(
    "rank, award", [(1, 5_000_000 * YUAN), (3, 5_000_000 * YUAN), (4, 3_000_000 * YUAN), (10, 3_000_000 * YUAN)]
)
def test_a_tier_gives_its_fixed_amount_to_each_of_its_ranks(rank, award):
    assert award_project(rule(), project(rank)).total == award


def test_a_rank_beyond_the_last_tier_is_not_funded():
    with pytest.raises(RankNotCovered, match="rank 11 is beyond the last funded rank 10"):
        award_project(rule(), project(11))


def test_an_open_ended_last_tier_covers_every_later_rank():
    open_ended = TieredAward((AwardTier(1, 3, 500), AwardTier(4, None, 300)))
    assert award_project(rule(open_ended), project(250)).total == 300


@pytest.mark.parametrize(
    "request_fen, cap, award",
    [
        (1_000_001, None, 800_000),  # 80 % of 1,000,001 fen is 800,000.8: rounded down to the fen
        (1_000_000, 500_000, 500_000),  # capped
        (100, 500_000, 80),
    ],
)
def test_a_share_award_is_a_share_of_the_request_rounded_down_and_capped(request_fen, cap, award):
    assert award_project(rule(ShareAward(80, cap)), project(1, request_fen)).total == award


def test_the_award_splits_across_sources_and_tranches_to_the_fen():
    award = award_project(rule(ShareAward(100), {"provincial_special": 2, "local_government": 1}), project(1, 1_000))
    assert award.by_source == {"provincial_special": 667, "local_government": 333}
    for source, amount in award.by_source.items():
        assert sum(t.by_source[source] for t in award.tranches) == amount
    assert [t.by_source for t in award.tranches] == [
        {"provincial_special": 267, "local_government": 133},  # 266.8 / 133.2
        {"provincial_special": 200, "local_government": 100},  # 200.1 / 99.9
        {"provincial_special": 200, "local_government": 100},
    ]
    assert [t.total for t in award.tranches] == [400, 300, 300]


@pytest.mark.parametrize(
    "build, errors",
    [
        (
            lambda: rule(TieredAward((AwardTier(2, 3, 500),))),
            {
                "award.tiers.0.from_rank": [
                    "must be 1: tiers start at rank 1 and follow each other without gap or overlap"
                ]
            },
        ),
        (
            lambda: rule(TieredAward((AwardTier(1, 3, 500), AwardTier(5, 9, 300)))),
            {
                "award.tiers.1.from_rank": [
                    "must be 4: tiers start at rank 1 and follow each other without gap or overlap"
                ]
            },
        ),
        (
            lambda: rule(TieredAward((AwardTier(1, None, 500), AwardTier(2, 9, 300)))),
            {"award.tiers.0.to_rank": ["only the last tier may be open-ended"]},
        ),
        (
            lambda: rule(TieredAward((AwardTier(1, 3, 0),))),
            {"award.tiers.0.amount": ["must be a positive integer number of fen"]},
        ),
        (
            lambda: rule(TieredAward((AwardTier(1, 3, 12.5),))),
            {"award.tiers.0.amount": ["must be a positive integer number of fen"]},
        ),
        (lambda: rule(TieredAward(())), {"award.tiers": ["at least one tier is required"]}),
        (lambda: rule(ShareAward(0)), {"award.percent": ["must be an integer from 1 to 100"]}),
        (lambda: rule(ShareAward(50, -1)), {"award.cap": ["must be a positive integer number of fen"]}),
        (
            lambda: rule(sources={"municipal": 1}),
            {
                "sources.municipal": [
                    "unknown funding source; expected one of ['provincial_special', 'local_special_bond', 'local_government', 'social']"
                ]
            },
        ),
        (lambda: rule(sources={"social": 0}), {"sources.social": ["weight must be a positive integer"]}),
        (
            lambda: rule(tranches=(TrancheSpec("approval", 40), TrancheSpec("mid_term", 30))),
            {"tranches": ["percentages must sum to 100, got 70"]},
        ),
        (
            lambda: rule(tranches=(TrancheSpec("mid_term", 50), TrancheSpec("approval", 50))),
            {"tranches": ["at most one tranche per trigger, in the order ['approval', 'mid_term', 'acceptance']"]},
        ),
        (
            lambda: rule(tranches=(TrancheSpec("payday", 100),)),
            {"tranches.0.trigger": ["must be one of ['approval', 'mid_term', 'acceptance']"]},
        ),
        (lambda: rule(tranches=()), {"tranches": ["at least one tranche is required"]}),
        (lambda: rule(clawback="some"), {"clawback": ["must be one of ['none', 'beyond_approval', 'all']"]}),
    ],
)
def test_a_bad_rule_names_each_field_and_its_rule(build, errors):
    with pytest.raises(InvalidRule) as refused:
        build()
    assert refused.value.errors == errors


RULE_JSON = {
    "award": {
        "method": "tiers",
        "tiers": [
            {"from_rank": 1, "to_rank": 3, "amount": 500_000_000},
            {"from_rank": 4, "to_rank": None, "amount": 300_000_000},
        ],
    },
    "sources": {"provincial_special": 3, "local_government": 2},
    "tranches": [
        {"trigger": "approval", "percent": 40},
        {"trigger": "mid_term", "percent": 30},
        {"trigger": "acceptance", "percent": 30},
    ],
    "clawback": "all",
}


def test_the_rule_schema_loads_a_rule_and_dumps_it_back_unchanged():
    loaded = FundingRuleSchema().load(RULE_JSON)
    assert isinstance(loaded, FundingRule) and loaded.clawback == "all"
    assert award_project(loaded, project(2)).total == 500_000_000
    assert FundingRuleSchema().dump(loaded) == RULE_JSON


def test_a_share_rule_round_trips_and_the_claw_back_defaults_to_beyond_approval():
    body = {
        "award": {"method": "share", "percent": 80, "cap": 300_000_000},
        "sources": {"social": 1},
        "tranches": [{"trigger": "approval", "percent": 100}],
    }
    loaded = FundingRuleSchema().load(body)
    assert loaded.clawback == "beyond_approval"
    assert FundingRuleSchema().dump(loaded) == {**body, "clawback": "beyond_approval"}


@pytest.mark.parametrize(
    "change, errors",
    [
        (lambda r: r["award"].update(percent=50), {"award": {"percent": ["not used by the 'tiers' method"]}}),
        (lambda r: r.update(award={"method": "share"}), {"award": {"percent": ["required by the 'share' method"]}}),
        (lambda r: r["tranches"][0].update(percent=40.0), {"tranches": {0: {"percent": ["Not a valid integer."]}}}),
        (lambda r: r.update(extra=1), {"extra": ["Unknown field."]}),
        (lambda r: r["tranches"].pop(), {"tranches": ["percentages must sum to 100, got 70"]}),
        (
            lambda r: r["award"]["tiers"][1].update(from_rank=5),
            {
                "award.tiers.1.from_rank": [
                    "must be 4: tiers start at rank 1 and follow each other without gap or overlap"
                ]
            },
        ),
    ],
)
def test_the_rule_schema_reports_field_errors(change, errors):
    body = copy.deepcopy(RULE_JSON)
    change(body)
    with pytest.raises(ValidationError) as refused:
        FundingRuleSchema().load(body)
    assert refused.value.messages == errors
