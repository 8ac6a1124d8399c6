import pytest

from services.applications.domain.access import may_see, scope
from services.common.actor import Actor

RECORD = {"institution_id": "inst_1", "prefecture": "长沙市", "recommender_key": "hrss:湖南省人力资源和社会保障厅"}


@pytest.mark.parametrize(
    "actor, sees",
    [
        (Actor("province", "p"), True),
        (Actor("institution", "i", institution_id="inst_1"), True),
        (Actor("institution", "i", institution_id="inst_2"), False),
        (Actor("prefecture", "b", prefecture="长沙市"), True),
        (Actor("prefecture", "b", prefecture="株洲市"), False),
        (Actor("hrss", "h", sponsor="湖南省人力资源和社会保障厅"), True),
        (Actor("hrss", "h", sponsor="长沙市人力资源和社会保障局"), False),
        (Actor("expert", "e"), False),
        (Actor("finance", "f"), False),
        (Actor("institution", "i"), False),
    ],
)
def test_each_role_sees_its_own_scope_only(actor, sees):
    assert may_see(actor, RECORD) is sees


def test_a_scope_names_what_a_record_must_match():
    assert scope(Actor("province", "p")) == {}
    assert scope(Actor("prefecture", "b", prefecture="长沙市")) == {"prefecture": "长沙市"}
    assert scope(Actor("hrss", "h", sponsor="湖南省人社厅")) == {"recommender_key": "hrss:湖南省人社厅"}
    assert scope(Actor("expert", "e")) is None


def test_an_actor_comes_from_the_tokens_claims():
    actor = Actor.from_claims(
        {
            "sub": "u1",
            "role": "hrss",
            "sponsor": "湖南省人社厅",
            "institution_id": None,
            "prefecture": None,
            "expert_id": None,
        }
    )
    assert (actor.role, actor.sponsor, actor.audit_name) == ("hrss", "湖南省人社厅", "hrss:u1")
