import random
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.review.domain.calibration import ReviewScore, calibrate
from services.review.domain.ranking import (
    HELD_BY_PREFECTURE_CAP,
    HELD_BY_QUOTA,
    QuotaPolicy,
    RankEntry,
    Ranking,
    prefecture_results,
    rank,
    rank_reviews,
)
from services.common.errors import FieldErrors

PREFECTURES = [
    "长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "常德市",
    "张家界市", "益阳市", "郴州市", "永州市", "怀化市", "娄底市", "湘西土家族苗族自治州",
]  # fmt: skip
T0 = datetime(2026, 4, 1, 2, 0, tzinfo=timezone.utc)


def entry(app_id, calibrated, prefecture="长沙市", raw=7000, stderr=200, minutes=0):
    return RankEntry(
        application_id=app_id,
        prefecture=prefecture,
        calibrated_hundredths=calibrated,
        raw_mean_hundredths=raw,
        stderr_hundredths=stderr,
        submitted_at=T0 + timedelta(minutes=minutes),
    )


def ids(ranked):
    return [r.entry.application_id for r in ranked]


def test_quota_is_the_cut_line_and_the_rest_is_an_ordered_reserve():
    ranking = rank([entry("c", 7000), entry("a", 9000), entry("d", 6000), entry("b", 8000)], 2)
    assert ids(ranking.entries) == ["a", "b", "c", "d"]
    assert [r.rank for r in ranking.entries] == [1, 2, 3, 4]
    assert ids(ranking.selected) == ["a", "b"]
    assert [(r.held_back_by, r.reserve_position) for r in ranking.reserve] == [
        (HELD_BY_QUOTA, 1),
        (HELD_BY_QUOTA, 2),
    ]
    assert ranking.shortfall == 0


@pytest.mark.parametrize(
    "winner, loser, rule",
    [
        (entry("x", 8000, raw=7100), entry("y", 8000, raw=7000), "higher raw mean"),
        (entry("x", 8000, stderr=150), entry("y", 8000, stderr=300), "lower uncertainty"),
        (entry("x", 8000, stderr=300), entry("y", 8000, stderr=None), "unknown uncertainty last"),
        (entry("x", 8000, minutes=1), entry("y", 8000, minutes=2), "earlier submission"),
        (entry("a2", 8000), entry("b1", 8000), "application id"),
    ],
)
def test_ties_are_broken_by_the_documented_rule(winner, loser, rule):
    for order in ([winner, loser], [loser, winner]):
        assert ids(rank(order, 1).selected) == [winner.application_id], rule


def test_submission_times_compare_across_time_zones():
    beijing = timezone(timedelta(hours=8))
    earlier = RankEntry("z", "长沙市", 8000, 7000, 200, datetime(2026, 4, 1, 9, 59, tzinfo=beijing))
    later = RankEntry("a", "长沙市", 8000, 7000, 200, T0)  # 10:00 Beijing
    assert ids(rank([later, earlier], 1).selected) == ["z"]


def test_prefecture_cap_holds_back_and_the_next_prefecture_takes_the_place():
    entries = [
        entry("cs1", 9500, "长沙市"),
        entry("cs2", 9400, "长沙市"),
        entry("cs3", 9300, "长沙市"),
        entry("zz1", 8000, "株洲市"),
        entry("xt1", 7000, "湘潭市"),
    ]
    ranking = rank(entries, 3, QuotaPolicy(prefecture_cap=2))
    assert ids(ranking.selected) == ["cs1", "cs2", "zz1"]
    held = {r.entry.application_id: (r.held_back_by, r.reserve_position) for r in ranking.reserve}
    assert held == {"cs3": (HELD_BY_PREFECTURE_CAP, 1), "xt1": (HELD_BY_QUOTA, 2)}
    assert [r.rank for r in ranking.entries] == [1, 2, 3, 4, 5]


def test_sv_prefecture_selects_the_best_of_each_prefecture():
    rng = random.Random(7)
    entries = [
        entry(f"{p}-{k}", rng.randrange(5000, 10000), p, minutes=k)
        for p in PREFECTURES
        for k in range(rng.randrange(1, 5))
    ]
    ranking = rank(entries, 14, QuotaPolicy.for_call("sv-prefecture"))
    best = {
        p: max((e for e in entries if e.prefecture == p), key=lambda e: e.calibrated_hundredths) for p in PREFECTURES
    }
    assert sorted(ids(ranking.selected)) == sorted(e.application_id for e in best.values())
    assert {r.held_back_by for r in ranking.reserve} == {HELD_BY_PREFECTURE_CAP}


def test_sv_prefecture_with_a_prefecture_missing_leaves_its_place_empty():
    entries = [entry(f"{p}-1", 8000, p) for p in PREFECTURES[:13]]
    entries += [entry("长沙市-2", 9900, "长沙市")]
    ranking = rank(entries, 14, QuotaPolicy.for_call("sv-prefecture"))
    assert len(ranking.selected) == 13 and ranking.shortfall == 1
    assert ids(ranking.reserve) == ["长沙市-1"]


def test_sv_prefecture_cannot_raise_its_cap():
    with pytest.raises(FieldErrors) as caught:
        QuotaPolicy.for_call("sv-prefecture", prefecture_cap=2)
    assert "prefecture_cap" in caught.value.errors


def test_other_categories_take_the_calls_cap():
    assert QuotaPolicy.for_call("hv-group", 3) == QuotaPolicy(prefecture_cap=3)
    assert QuotaPolicy.for_call("hv-group") == QuotaPolicy()


def test_removing_a_selected_application_moves_the_reserve_up_under_the_same_cap():
    entries = [
        entry("cs1", 9500, "长沙市"),
        entry("cs2", 9400, "长沙市"),
        entry("zz1", 8000, "株洲市"),
        entry("xt1", 7000, "湘潭市"),
    ]
    ranking = rank(entries, 2, QuotaPolicy(prefecture_cap=1))
    assert ids(ranking.selected) == ["cs1", "zz1"]
    rerun = ranking.without(["zz1"])
    assert ids(rerun.selected) == ["cs1", "xt1"]  # cs2 is still held back by the cap
    assert ids(ranking.without(["cs1"]).selected) == ["cs2", "zz1"]


def test_entries_come_from_a_calibration():
    reviews = [
        ReviewScore("a", "e1", 8000),
        ReviewScore("a", "e2", 9000),
        ReviewScore("b", "e1", 6000),
    ]
    score = calibrate(reviews).scores["a"]
    made = RankEntry.from_calibrated(score, prefecture="益阳市", submitted_at=T0)
    assert (made.application_id, made.calibrated_hundredths, made.raw_mean_hundredths) == (
        "a",
        score.calibrated_hundredths,
        8500,
    )


def test_to_dict_states_rank_flag_and_constraint():
    ranking = rank([entry("a", 9000), entry("b", 8000)], 1)
    assert ranking.entries[1].to_dict() == {
        "application_id": "b",
        "prefecture": "长沙市",
        "rank": 2,
        "within_quota": False,
        "held_back_by": HELD_BY_QUOTA,
        "reserve_position": 1,
        "calibrated_hundredths": 8000,
        "raw_mean_hundredths": 7000,
        "stderr_hundredths": 200,
    }


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda: rank([], -1), "quota"),
        (lambda: rank([entry("a", 1), entry("a", 2)], 1), "entries"),
        (lambda: QuotaPolicy(prefecture_cap=0), "prefecture_cap"),
    ],
)
def test_bad_input_names_the_field(call, field):
    with pytest.raises(FieldErrors) as caught:
        call()
    assert field in caught.value.errors


@given(
    st.lists(st.tuples(st.integers(0, 10000), st.sampled_from(PREFECTURES[:4])), max_size=30),
    st.integers(0, 12),
    st.one_of(st.none(), st.integers(1, 3)),
)
def test_selection_respects_quota_and_cap_and_no_reserve_entry_could_have_fitted(rows, quota, cap):
    entries = [entry(f"a{k}", score, p) for k, (score, p) in enumerate(rows)]
    ranking = rank(entries, quota, QuotaPolicy(prefecture_cap=cap))
    selected = ranking.selected
    assert len(selected) <= quota
    per_prefecture = {}
    for r in selected:
        per_prefecture[r.entry.prefecture] = per_prefecture.get(r.entry.prefecture, 0) + 1
    assert cap is None or max(per_prefecture.values(), default=0) <= cap
    for r in ranking.reserve:
        full = per_prefecture.get(r.entry.prefecture, 0) == cap
        assert len(selected) == quota or full
        assert r.held_back_by == (HELD_BY_PREFECTURE_CAP if full else HELD_BY_QUOTA)
    assert [r.reserve_position for r in ranking.reserve] == list(range(1, len(ranking.reserve) + 1))
    scores = [r.entry.calibrated_hundredths for r in ranking.entries]
    assert scores == sorted(scores, reverse=True)


def test_one_per_prefecture_is_satisfied_only_with_exactly_one_selected():
    entries = [entry("cs1", 9000, "长沙市"), entry("cs2", 8000, "长沙市"), entry("zz1", 7000, "株洲市")]
    ranking = rank(entries, 14, QuotaPolicy.for_call("sv-prefecture"))
    results = {r.prefecture: r for r in prefecture_results(ranking, PREFECTURES)}
    assert len(results) == 14
    assert (results["长沙市"].ranked, results["长沙市"].selected, results["长沙市"].satisfied) == (2, 1, True)
    assert results["株洲市"].satisfied and results["株洲市"].rule == "exactly_one"
    assert not results["湘潭市"].satisfied and results["湘潭市"].ranked == 0  # no eligible application there
    left_out = rank(entries, 1, QuotaPolicy.for_call("sv-prefecture"))  # a quota below the prefectures
    assert not {r.prefecture: r for r in prefecture_results(left_out)}["株洲市"].satisfied


def test_a_cap_is_reported_per_prefecture_and_no_cap_means_no_rule():
    entries = [entry("cs1", 9000, "长沙市"), entry("cs2", 8000, "长沙市"), entry("zz1", 7000, "株洲市")]
    capped = prefecture_results(rank(entries, 3, QuotaPolicy(prefecture_cap=1)))
    assert [(r.prefecture, r.selected, r.cap, r.rule, r.satisfied) for r in capped] == [
        ("长沙市", 1, 1, "cap", True),
        ("株洲市", 1, 1, "cap", True),
    ]
    free = prefecture_results(rank(entries, 3))
    assert [(r.selected, r.rule, r.satisfied) for r in free] == [(2, None, True), (1, None, True)]


def test_a_ranking_record_ranks_again_into_the_same_ranking_less_who_left():
    entries = [
        entry("cs1", 9500, "长沙市"),
        entry("cs2", 9400, "长沙市"),
        entry("zz1", 9000, "株洲市"),
        entry("xt1", 8000, "湘潭市"),
    ]
    ranking = rank(entries, 2, QuotaPolicy.for_call("hv-group", 1))
    record = ranking.to_record()
    assert Ranking.from_record(record) == ranking
    assert Ranking.from_record(record, leaving=["cs1"]) == ranking.without(["cs1"])
    assert Ranking.from_record(rank(entries, 2, QuotaPolicy.for_call("sv-prefecture")).to_record()).policy.one_each


def test_rank_reviews_calibrates_then_ranks_with_each_applicants_prefecture_and_time():
    reviews = [
        ReviewScore("a", "lenient", 9000),
        ReviewScore("a", "severe", 7000),
        ReviewScore("b", "lenient", 8000),
        ReviewScore("b", "severe", 7600),
    ]
    applicants = {"a": ("长沙市", T0), "b": ("株洲市", T0 + timedelta(minutes=1))}
    calibration, ranking = rank_reviews(reviews, applicants, 1, QuotaPolicy())
    assert ids(ranking.selected) == ["a"] and ids(ranking.reserve) == ["b"]
    assert ranking.entries[1].entry.prefecture == "株洲市"
    assert calibration.offsets["lenient"].offset_hundredths > 0 > calibration.offsets["severe"].offset_hundredths
