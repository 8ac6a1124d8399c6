"""The demo data generator: deterministic, shaped as Hunan, and valid for the real schemas."""

import random
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from statistics import mean

import pytest
from marshmallow import ValidationError

from chuyi.demo import generate, resolve, review_comment, simulated_scores
from services.common import credit_code
from services.applications.domain.applications import application_limit, check_submittable, missing_fields
from services.contracts.catalogue import catalogue
from services.contracts.reference import (
    HIGHER_VOCATIONAL,
    Institution,
    PREFECTURES,
    SECONDARY_VOCATIONAL,
    TECHNICIAN,
    VOCATIONAL_UNDERGRADUATE,
)
from services.contracts.applications_api import ApplicationIn, ApplicationPatch, CallIn, InstitutionIn
from services.common.personal import mobile_problem, resident_id_problem
from services.common.vocabulary import INDUSTRY_FIELDS
from services.contracts.review_api import ExpertIn

CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def demo():
    return generate()


@pytest.fixture(scope="module")
def institutions(demo):
    return {i.key: i for i in demo.institutions}


def every_application(demo):
    for call in demo.calls:
        for application in demo.applications[call.key]:
            yield call, application


def bodies_by_schema(demo):
    return {
        InstitutionIn: [(i.key, i.body) for i in demo.institutions],
        CallIn: [(c.key, c.body) for c in demo.calls],
        ApplicationIn: [(a.key, a.body) for _, a in every_application(demo)],
        ExpertIn: [(e.key, e.body) for e in demo.experts],
    }


# ---------------------------------------------------------------- determinism and sizes


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    first, again, other = generate(11, 60, 150), generate(11, 60, 150), generate(12, 60, 150)
    assert first == again
    assert first.institutions != other.institutions
    assert first.applications != other.applications


def test_institutions_do_not_change_with_the_number_of_experts():
    assert generate(11, 60, 10).institutions == generate(11, 60, 150).institutions


def test_default_sizes_and_type_mix_follow_hunan(demo):
    assert len(demo.institutions) == 400
    assert len(demo.experts) == 2000
    types = Counter(i.body["type"] for i in demo.institutions)
    assert 2 <= types[VOCATIONAL_UNDERGRADUATE] <= 4
    assert 70 <= types[HIGHER_VOCATIONAL] <= 80
    assert 270 <= types[SECONDARY_VOCATIONAL] <= 290
    assert 35 <= types[TECHNICIAN] <= 45


def test_sizes_scale_with_the_request():
    demo = generate(5, institutions=200, experts=50)
    types = Counter(i.body["type"] for i in demo.institutions)
    assert len(demo.institutions) == 200 and len(demo.experts) == 50
    assert 35 <= types[HIGHER_VOCATIONAL] <= 40
    assert 135 <= types[SECONDARY_VOCATIONAL] <= 147


def test_prefectures_spread_as_in_hunan(demo):
    by_prefecture = defaultdict(Counter)
    for institution in demo.institutions:
        by_prefecture[institution.body["prefecture"]][institution.body["type"]] += 1
    higher = {p: counts[HIGHER_VOCATIONAL] for p, counts in by_prefecture.items()}
    assert max(higher, key=higher.get) == "长沙市"
    assert higher["长沙市"] > sum(higher.values()) / 3
    assert all(by_prefecture[p][SECONDARY_VOCATIONAL] > 0 for p in PREFECTURES)
    totals = sorted(sum(by_prefecture[p].values()) for p in PREFECTURES)
    assert sum(by_prefecture["湘西土家族苗族自治州"].values()) < totals[len(totals) // 2]


def test_the_smallest_world_still_has_a_secondary_school_in_every_prefecture():
    demo = generate(3, institutions=20, experts=40)
    prefectures = {i.body["prefecture"] for i in demo.institutions if i.body["type"] == SECONDARY_VOCATIONAL}
    assert prefectures == set(PREFECTURES)
    schools = {i.key: i.body["prefecture"] for i in demo.institutions}
    assert {schools[a.institution] for a in demo.applications["call-2023-sv-prefecture"]} == set(PREFECTURES)


def test_too_few_institutions_or_a_naive_opening_time_is_refused():
    with pytest.raises(ValueError, match="institutions must be at least"):
        generate(institutions=19)
    with pytest.raises(ValueError, match="opens_at"):
        generate(institutions=20, experts=0, opens_at=datetime(2026, 3, 1))


# ---------------------------------------------------------------- the real schemas


def test_every_body_loads_with_its_schema(demo):
    for schema_class, bodies in bodies_by_schema(demo).items():
        schema = schema_class()
        for key, body in bodies:
            try:
                schema.load(body)
            except ValidationError as error:
                pytest.fail(f"{key} does not load with {schema_class.__name__}: {error.messages}")


def test_bodies_fill_every_field_their_schema_requires(demo):
    for schema_class, bodies in bodies_by_schema(demo).items():
        required = {field.data_key or name for name, field in schema_class().fields.items() if field.required}
        for key, body in bodies:
            missing = sorted(required - set(body))
            assert not missing, f"{schema_class.__name__} requires {missing}, which the generator does not fill ({key})"


def test_applications_can_be_submitted_and_also_load_as_a_patch(demo):
    patch = ApplicationPatch()
    for call, application in every_application(demo):
        category = catalogue()[call.body["category"]]
        assert missing_fields(category, application.body) == (), application.key
        check_submittable(application.body)
        patch.load({name: value for name, value in application.body.items() if name != "call_id"})


def test_credit_codes_are_valid_and_unique(demo):
    codes = [i.body["credit_code"] for i in demo.institutions] + [o.credit_code for o in demo.organisations]
    assert [c for c in codes if credit_code.problem(c)] == []
    assert len(set(codes)) == len(codes)


def test_people_carry_valid_and_unique_id_numbers_and_mobiles(demo):
    experts = [e.body["id_number"] for e in demo.experts]
    assert len(set(experts)) == len(experts)
    members = [m for _, a in every_application(demo) for m in a.body.get("team_members", [])]
    numbers = experts + [m["id_number"] for m in members]
    assert [n for n in numbers if resident_id_problem(n)] == []
    phones = [e.contact["phone"] for e in demo.experts] + [m["phone"] for m in members]
    assert [p for p in phones if mobile_problem(p)] == []


# ---------------------------------------------------------------- institutions


def test_technician_schools_are_sponsored_by_human_resources_and_social_security(demo):
    technician_schools = [i.body for i in demo.institutions if i.body["type"] == TECHNICIAN]
    assert [s for s in technician_schools if "人力资源和社会保障" not in s["sponsor"]] == []
    assert {Institution.from_record(s).recommender.kind for s in technician_schools} == {"hrss"}


def test_institution_names_are_unique_chinese_names(demo):
    names = [i.body["name"] for i in demo.institutions]
    assert len(set(names)) == len(names)
    assert all(CHINESE.search(name) for name in names)


# ---------------------------------------------------------------- calls


def test_a_call_for_every_category_with_fitting_terms(demo):
    calls = {c.body["category"]: c.body for c in demo.calls}
    assert set(calls) == set(catalogue().codes)
    assert calls["sv-prefecture"]["prefecture_cap"] == 1
    assert {c["review_plan"]["reviewers_per_application"] for c in calls.values()} == {3, 5}
    for code, call in calls.items():
        assert call["quota"] <= catalogue()[code].quota
        assert call["funding_rule"] == f"rule-{code}-{catalogue().quota_year}"
        assert all(CHINESE.search(c["name"]) for c in call["review_plan"]["rubric"])


def test_calls_open_when_asked_and_targets_start_in_the_calls_action_year():
    opens_at = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
    demo = generate(2, institutions=30, experts=20, opens_at=opens_at, window=timedelta(hours=2))
    windows = {(c.body["opens_at"], c.body["closes_at"]) for c in demo.calls}
    assert windows == {("2026-12-01T08:00:00Z", "2026-12-01T10:00:00Z")}
    years = {tuple(t["year"] for t in a.body["yearly_targets"]) for _, a in every_application(demo)}
    assert years == {(2025, 2026, 2027)}  # a call opening after 2025 belongs to the action's last year
    early = generate(2, institutions=30, experts=20, opens_at=datetime(2023, 3, 1, tzinfo=timezone.utc))
    assert {tuple(t["year"] for t in a.body["yearly_targets"]) for _, a in every_application(early)} == {
        (2023, 2024, 2025)
    }


def test_a_round_of_another_action_year_has_its_own_calls_and_applications_but_the_same_institutions():
    opens_at = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
    first = generate(2, institutions=30, experts=20, opens_at=opens_at, action_year=2022)
    second = generate(2, institutions=30, experts=20, opens_at=opens_at, action_year=2023)
    assert [i.body for i in first.institutions] == [i.body for i in second.institutions]
    assert {c.body["year"] for c in first.calls} == {2022} and {c.body["year"] for c in second.calls} == {2023}
    assert all(c.body["title"].startswith("2022年") for c in first.calls)
    assert not {c.key for c in first.calls} & {c.key for c in second.calls}
    keys = lambda demo: {a.key for _, a in every_application(demo)}  # noqa: E731
    assert not keys(first) & keys(second)
    assert {tuple(t["year"] for t in a.body["yearly_targets"]) for _, a in every_application(second)} == {
        (2023, 2024, 2025)
    }
    with pytest.raises(ValueError, match="action_year"):
        generate(2, institutions=30, experts=20, opens_at=opens_at, action_year=2026)


# ---------------------------------------------------------------- applications


def test_only_eligible_institutions_apply_within_their_limit(demo, institutions):
    for call in demo.calls:
        category = catalogue()[call.body["category"]]
        applications = demo.applications[call.key]
        assert all(category.accepts(institutions[a.institution].body["type"]) for a in applications)
        assert all(a.body["call_id"] == call.key for a in applications)
        per_institution = Counter(a.institution for a in applications)
        assert max(per_institution.values()) <= application_limit(category, call.body["per_institution_limit"])


def test_recommenders_can_recommend_every_application_but_for_the_one_per_prefecture_call(demo, institutions):
    for call in demo.calls:
        if catalogue()[call.body["category"]].one_per_prefecture:
            continue
        authorities = Counter(
            Institution.from_record(institutions[a.institution].body).recommender.key
            for a in demo.applications[call.key]
        )
        assert max(authorities.values()) <= call.body["prefecture_cap"], call.key


def test_every_prefecture_puts_forward_several_candidates_for_its_rebuilt_school(demo, institutions):
    applications = demo.applications["call-2023-sv-prefecture"]
    candidates = Counter(institutions[a.institution].body["prefecture"] for a in applications)
    assert set(candidates) == set(PREFECTURES)
    assert min(candidates.values()) >= 2


def test_budgets_lie_in_the_call_range(demo):
    for call, application in every_application(demo):
        assert call.body["budget_min_fen"] <= application.body["budget_request_fen"] <= call.body["budget_max_fen"]


def test_person_and_team_applications_name_their_members(demo):
    for call, application in every_application(demo):
        category = catalogue()[call.body["category"]]
        members = application.body.get("team_members", [])
        assert bool(members) == ("team_members" in category.required_fields)
        if category.applicant == "team":
            assert len(members) >= 5


def test_applications_have_chinese_titles_and_plans(demo):
    for _, application in every_application(demo):
        assert CHINESE.search(application.body["title"])
        assert application.body["construction_plan"].count("\n") >= 3


def test_almost_every_application_finds_enough_experts_of_its_field_outside_its_prefecture(demo, institutions):
    experts = defaultdict(set)
    for expert in demo.experts:
        if expert.body["available"]:
            for category in expert.body["categories"]:
                for field in expert.body["fields"]:
                    experts[category, field].add((expert.key, expert.body["prefecture"]))
    served = []
    for call, application in every_application(demo):
        prefecture = institutions[application.institution].body["prefecture"]
        matching = {
            key
            for field in application.body["industry_fields"]
            for key, where in experts[call.body["category"], field]
            if where != prefecture
        }
        served.append(len(matching) >= call.body["review_plan"]["reviewers_per_application"])
    assert mean(served) >= 0.98


# ---------------------------------------------------------------- experts


def test_experts_come_from_institutions_universities_and_enterprises(demo, institutions):
    organisations = {o.key: o for o in demo.organisations}
    employers = [e.body["institution_id"] for e in demo.experts]
    assert set(employers) <= set(institutions) | set(organisations)
    kinds = Counter(organisations[k].kind if k in organisations else "applicant" for k in employers)
    assert kinds["school"] + kinds["research_institute"] > len(employers) / 5
    assert kinds["enterprise"] > len(employers) / 5
    assert kinds["applicant"] > len(employers) / 5


def test_expert_profiles_are_plausible(demo):
    assert 7 <= mean(e.body["load_cap"] for e in demo.experts) <= 9
    assert 0.9 <= mean(e.body["available"] for e in demo.experts) < 1
    for expert in demo.experts:
        assert 1 <= len(expert.body["fields"]) <= 3 and set(expert.body["fields"]) <= set(INDUSTRY_FIELDS)
        assert set(expert.body["categories"]) <= set(catalogue().codes)


def test_conflicts_are_there_to_be_found(demo, institutions):
    members = {
        m["id_number"]: a.institution for _, a in every_application(demo) for m in a.body.get("team_members", [])
    }
    declared_people = [n for e in demo.experts for n in e.body["conflict_id_numbers"]]
    declared_institutions = [k for e in demo.experts for k in e.body["conflict_institution_ids"]]
    assert declared_people and set(declared_people) <= set(members)
    assert declared_institutions and set(declared_institutions) <= set(institutions)
    in_other_teams = [
        e
        for e in demo.experts
        if members.get(e.body["id_number"], e.body["institution_id"]) != e.body["institution_id"]
    ]
    assert in_other_teams, "some experts sit in a team of another institution (only the team rule keeps them out)"


# ---------------------------------------------------------------- simulated reviews


RUBRIC = [
    {"code": "foundation", "name": "建设基础", "weight": 30, "max_score": 30},
    {"code": "plan", "name": "建设方案", "weight": 70, "max_score": 10},
]


def share(scores, rubric=RUBRIC):
    return sum(c["weight"] * scores[c["code"]] / c["max_score"] for c in rubric) / 100


def test_simulated_scores_are_whole_points_within_each_maximum():
    rng = random.Random(1)
    for quality, leniency in [(0.0, -0.15), (1.0, 0.15), (0.6, 0.0)]:
        for _ in range(50):
            scores = simulated_scores(RUBRIC, quality, leniency, rng)
            assert set(scores) == {"foundation", "plan"}
            assert all(isinstance(s, int) and 0 <= s <= c["max_score"] for c, s in zip(RUBRIC, scores.values()))


def test_scores_follow_quality_and_leniency_so_calibration_can_recover_them():
    rng = random.Random(2)
    qualities = [rng.uniform(0.5, 0.85) for _ in range(400)]
    lenient = [share(simulated_scores(RUBRIC, q, 0.06, rng)) for q in qualities]
    strict = [share(simulated_scores(RUBRIC, q, -0.04, rng)) for q in qualities]
    assert mean(lenient) - mean(strict) == pytest.approx(0.10, abs=0.02)
    better = [s for q, s in zip(qualities, strict) if q > 0.75]
    worse = [s for q, s in zip(qualities, strict) if q < 0.6]
    assert mean(better) > mean(worse) + 0.1


def test_review_comments_fit_the_scores():
    rng = random.Random(3)
    full = {c["code"]: c["max_score"] for c in RUBRIC}
    none = {c["code"]: 0 for c in RUBRIC}
    praise = {review_comment(RUBRIC, full, rng) for _ in range(20)}
    blame = {review_comment(RUBRIC, none, rng) for _ in range(20)}
    assert praise and blame and not praise & blame
    assert all(CHINESE.search(comment) for comment in praise | blame)


# ---------------------------------------------------------------- resolving demo keys


def test_resolve_swaps_demo_keys_for_real_ids_everywhere_in_a_body(demo):
    expert = next(
        e for e in demo.experts if e.body["conflict_institution_ids"] and e.body["institution_id"].startswith("inst-")
    )
    ids = {i.key: f"real-{i.key}" for i in demo.institutions}
    resolved = resolve(expert.body, ids)
    assert resolved["institution_id"] == f"real-{expert.body['institution_id']}"
    assert resolved["conflict_institution_ids"] == [f"real-{k}" for k in expert.body["conflict_institution_ids"]]
    assert resolved["name"] == expert.body["name"] and resolved["fields"] == expert.body["fields"]
    application = demo.applications["call-2023-hv-school"][0]
    assert resolve(application.body, {"call-2023-hv-school": "c1"})["call_id"] == "c1"
