"""Recommendation (主管部门推荐): who may recommend or decline an application, and the cap.

A prefecture bureau (role `prefecture`, scope `prefecture`) recommends the institutions of
its prefecture; a technician school's HRSS sponsor (role `hrss`, scope `sponsor`)
recommends that school. The cap counts recommendations per recommending authority
(`Recommender.key`); the service enforces it atomically, this module states
the rule and its error.
"""

from __future__ import annotations

from services.common.actor import Actor
from services.contracts.reference import HRSS, PREFECTURE_BUREAU, Recommender
from services.applications.domain.messages import Bilingual, NotRecommender, RecommendationCapReached

PREFECTURE_ROLE = "prefecture"
HRSS_ROLE = "hrss"


def may_recommend(actor: Actor, recommender: Recommender) -> bool:
    """Whether `actor` is the recommending authority `recommender` (an institution's, or the one
    an application recorded when it was made)."""
    if recommender.kind == PREFECTURE_BUREAU:
        return actor.role == PREFECTURE_ROLE and actor.prefecture == recommender.authority
    return recommender.kind == HRSS and actor.role == HRSS_ROLE and actor.sponsor == recommender.authority


def check_may_recommend(actor: Actor, recommender: Recommender) -> None:
    """For both recommend and decline. Raises NotRecommender."""
    if not may_recommend(actor, recommender):
        raise NotRecommender(
            Bilingual(
                "only the institution's own recommending authority may recommend or decline "
                "its application: its prefecture bureau, or for a technician school its HRSS sponsor",
                "只有申报单位的推荐单位可以推荐或不推荐：所在市州教育行政部门；"
                "技工院校由其人力资源社会保障主管部门推荐",
            )
        )


def check_recommendation_cap(cap: int, recommended_count: int) -> None:
    """`recommended_count`: this authority's recommendations already made in the call.
    Raises RecommendationCapReached."""
    if recommended_count >= cap:
        raise RecommendationCapReached(
            Bilingual(
                f"the recommendation cap of {cap} for this call is reached",
                f"已达到本批次推荐名额上限（{cap}项）",
            )
        )
