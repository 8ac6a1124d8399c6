"""The funding use-case tests' world: a fixed instant, a rule, a selection and budget lines."""

from datetime import datetime, timezone

from services.contracts.funding_rules import AwardTier, FundingRule, TieredAward, TrancheSpec
from services.funding.domain.budget import BudgetKey
from services.funding.usecases import budgets

AT = datetime(2026, 6, 1, 2, tzinfo=timezone.utc)
MILLION = 1_000_000
RULE = FundingRule(
    TieredAward((AwardTier(1, None, MILLION),)),
    {"provincial_special": 1, "local_government": 1},
    (TrancheSpec("approval", 40), TrancheSpec("mid_term", 30), TrancheSpec("acceptance", 30)),
    "beyond_approval",
)


def selection(call_id="call_1", rule_id="rule_1", ranks=(1, 2), category="hv-group", year=None):
    return {
        "call_id": call_id,
        "category": category,
        "funding_rule": rule_id,
        "quota": 5,
        "year": year,
        "approved": [
            {
                "application_id": f"app_{call_id}_{rank}",
                "institution_id": f"inst_{rank}",
                "prefecture": "长沙市",
                "rank": rank,
                "title": f"项目 {rank}",
                "budget_request_fen": 5 * MILLION,
            }
            for rank in ranks
        ],
    }


def budget(store, amounts, year=2026, category="hv-group"):
    for source, amount in amounts.items():
        budgets.appropriate(store, BudgetKey(year, category, source), amount, AT)
