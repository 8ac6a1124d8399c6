from datetime import datetime, timedelta, timezone

import pytest

from services.contracts.catalogue import catalogue
from services.applications.domain.eligibility import (
    EligibilityContext,
    Finding,
    applicant_snapshot,
    check_eligibility,
    decide_eligibility,
)
from services.contracts.reference import Institution
from services.applications.domain.messages import Bilingual, DecisionReasonRequired, RuleNotOverridable

AT = datetime(2026, 4, 2, 1, 0, tzinfo=timezone.utc)
SECONDARY = Institution("新化县楚怡工业学校", "secondary_vocational", "娄底市", "新化县", "新化县人民政府", "C")
COLLEGE = Institution("长沙职业技术学院", "higher_vocational", "长沙市", "长沙县", "长沙市人民政府", "C")
COMPLETE = {
    "title": "建设方案",
    "summary": "摘要",
    "construction_plan": "方案",
    "yearly_targets": [{"year": 2026, "target": "目标"}],
    "budget_request_fen": 2_000_000_00,
    "industry_fields": ["46"],
}


def context(category="sv-excellent", institution=SECONDARY, application=COMPLETE, **overrides):
    terms = {
        "budget_min_fen": 1_000_000_00,
        "budget_max_fen": 3_000_000_00,
        "per_institution_limit": 1,
        "others_of_institution": 0,
    }
    return EligibilityContext(catalogue()[category], institution, application, **{**terms, **overrides})


def by_rule(findings):
    return {f.rule: f for f in findings}


def test_a_fitting_application_passes_every_rule_with_reasons():
    findings = check_eligibility(context())
    assert [f.rule for f in findings] == ["institution_type", "required_fields", "budget_range", "institution_limit"]
    assert all(f.passed for f in findings)
    assert all(f.as_dict()["reason_zh"] and f.as_dict()["reason_en"] for f in findings)


def test_institution_type_must_fit_the_category():
    finding = by_rule(check_eligibility(context(category="hv-school")))["institution_type"]
    assert not finding.passed
    assert (
        finding.reason.en
        == "a secondary_vocational institution may not apply to hv-school, which takes higher_vocational"
    )
    assert finding.reason.zh == "单位类型“中职”不符合“楚怡高水平高职专科院校”的申报条件（限高职专科）"


def test_one_per_prefecture_only_for_the_prefecture_schools():
    assert "one_per_prefecture" not in by_rule(check_eligibility(context()))
    alone = by_rule(check_eligibility(context(category="sv-prefecture")))["one_per_prefecture"]
    assert alone.passed
    second = by_rule(check_eligibility(context(category="sv-prefecture", others_of_prefecture=1)))["one_per_prefecture"]
    assert not second.passed
    assert "娄底市" in second.reason.zh and "exactly one per prefecture" in second.reason.en
    earlier = by_rule(check_eligibility(context(category="sv-prefecture", prefecture_already_selected=True)))
    assert not earlier["one_per_prefecture"].passed
    assert "earlier call" in earlier["one_per_prefecture"].reason.en


def test_required_fields_of_the_category():
    finding = by_rule(check_eligibility(context(category="master-studio", institution=COLLEGE)))["required_fields"]
    assert not finding.passed
    assert finding.reason.en == "missing: team_members, enterprise_partner"
    assert finding.reason.zh == "缺少：团队成员、合作企业"
    incomplete = {**COMPLETE, "summary": ""}
    assert not by_rule(check_eligibility(context(application=incomplete)))["required_fields"].passed


@pytest.mark.parametrize(
    "requested, passed",
    [(1_000_000_00, True), (3_000_000_00, True), (999_999_99, False), (3_000_000_01, False), (None, False)],
)
def test_budget_request_within_the_call_range(requested, passed):
    application = {**COMPLETE, "budget_request_fen": requested}
    finding = by_rule(check_eligibility(context(application=application)))["budget_range"]
    assert finding.passed is passed
    if requested == 999_999_99:
        assert (
            finding.reason.en
            == "the request of 999,999.99 yuan is outside the call's range 1,000,000.00-3,000,000.00 yuan"
        )


def test_per_institution_limit():
    person = dict(category="master-teacher", institution=COLLEGE, per_institution_limit=2)
    assert by_rule(check_eligibility(context(**person, others_of_institution=1)))["institution_limit"].passed
    over = by_rule(check_eligibility(context(**person, others_of_institution=2)))["institution_limit"]
    assert not over.passed
    assert over.reason.en == "application 3 of the institution in this call; the limit is 2"
    assert not by_rule(check_eligibility(context(others_of_institution=1)))["institution_limit"].passed


def test_province_confirms_without_a_reason():
    findings = check_eligibility(context())
    decision = decide_eligibility(findings, True, "province:u1", None, AT)
    assert decision.eligible and not decision.overridden
    assert decision.event == "confirm_eligible"


def test_overriding_needs_a_reason_both_ways():
    failing = check_eligibility(context(budget_max_fen=1_500_000_00))
    with pytest.raises(DecisionReasonRequired) as caught:
        decide_eligibility(failing, True, "province:u1", "  ", AT)
    assert "budget_range" in caught.value.message.en
    decision = decide_eligibility(failing, True, "province:u1", "经核实预算口径有误", AT)
    assert decision.overridden and decision.reason == "经核实预算口径有误"
    with pytest.raises(DecisionReasonRequired):
        decide_eligibility(check_eligibility(context()), False, "province:u1", None, AT)
    ineligible = decide_eligibility(failing, False, "province:u1", None, AT)
    assert ineligible.event == "rule_ineligible" and not ineligible.overridden


def test_the_notices_institution_type_limit_cannot_be_overridden_whatever_the_reason():
    technician = Institution("湖南工贸技师学院", "technician", "长沙市", "雨花区", "湖南省人力资源和社会保障厅", "C")
    failing = check_eligibility(context(category="vu-group", institution=technician))
    with pytest.raises(RuleNotOverridable) as caught:
        decide_eligibility(failing, True, "province:u1", "经研究同意", AT)
    assert "technician" in caught.value.message.en and "不可推翻" in caught.value.message.zh
    assert decide_eligibility(failing, False, "province:u1", None, AT).event == "rule_ineligible"


def test_decision_record_round_trips_its_findings():
    findings = check_eligibility(context(category="hv-school"))
    beijing = timezone(timedelta(hours=8))
    record = decide_eligibility(findings, False, "province:u1", None, AT.astimezone(beijing)).as_dict()
    assert record["at"] == AT and record["at"].tzinfo == timezone.utc
    restored = tuple(Finding.from_dict(f) for f in record["findings"])
    assert restored == findings
    assert [f.reason.zh for f in restored] == [f.reason.zh for f in findings]
    assert isinstance(restored[0].reason, Bilingual)


def test_the_applicant_snapshot_is_what_review_needs_and_fits_the_event_contract():
    from services.contracts.applications_events import ApplicantSnapshot

    application = {**COMPLETE, "keywords": ["机电"], "team_members": [{"name": "李华", "person_key": "k1"}]}
    snapshot = applicant_snapshot(SECONDARY, application, AT + timedelta(microseconds=5))
    assert snapshot["institution_name"] == "新化县楚怡工业学校" and snapshot["county"] == "新化县"
    assert snapshot["team_person_keys"] == ["k1"] and snapshot["industry_fields"] == ["46"]
    assert snapshot["submitted_at"] == "2026-04-02T01:00:00.000005Z"
    assert ApplicantSnapshot().validate(snapshot) == {}
    bare = applicant_snapshot(SECONDARY, {"title": "只有标题"}, AT)
    assert (bare["summary"], bare["keywords"], bare["budget_request_fen"]) == ("", [], 0)
    assert ApplicantSnapshot().validate(bare) == {}
