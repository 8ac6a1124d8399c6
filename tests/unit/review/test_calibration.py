from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from services.review.domain.calibration import (
    ReviewScore,
    calibrate,
    connected_components,
)
from services.common.errors import FieldErrors
from services.review.domain.reviews import Rubric, write_review

NOISE_SD = 4.0
OFFSET_SD = 6.0


def synthetic(seed, n_apps=600, n_experts=200, per_app=3, prefix=""):
    """Planted quality and expert offsets (points); totals in hundredths."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(70, 8, n_apps)
    offsets = rng.normal(0, OFFSET_SD, n_experts)
    offsets -= offsets.mean()
    reviews = []
    for j in range(n_apps):
        for i in rng.choice(n_experts, per_app, replace=False):
            points = quality[j] + offsets[i] + rng.normal(0, NOISE_SD)
            total = int(np.clip(round(points * 100), 0, 10000))
            reviews.append(ReviewScore(f"{prefix}a{j}", f"{prefix}e{i}", total))
    return reviews, quality, offsets


def estimated_offsets(calibration, n_experts, prefix=""):
    return np.array([calibration.offsets[f"{prefix}e{i}"].offset_hundredths / 100 for i in range(n_experts)])


def scores_of(calibration, n_apps, field, prefix=""):
    return np.array([getattr(calibration.scores[f"{prefix}a{j}"], field) / 100 for j in range(n_apps)])


def test_recovers_planted_expert_offsets():
    # 15 reviews per expert: the offset error is about NOISE_SD·√(1.5/15) ≈ 1.3 points
    reviews, _, planted = synthetic(seed=1, n_apps=1000)
    result = calibrate(reviews)
    assert result.converged and result.group_count == 1
    estimated = estimated_offsets(result, 200)
    assert np.corrcoef(estimated, planted)[0, 1] > 0.95
    assert np.abs(estimated - planted).mean() < NOISE_SD / 2


def test_calibrated_scores_track_quality_better_than_raw_means():
    reviews, quality, _ = synthetic(seed=2)
    result = calibrate(reviews)
    calibrated = scores_of(result, 600, "calibrated_hundredths")
    raw = scores_of(result, 600, "raw_mean_hundredths")
    assert np.abs(calibrated - quality).mean() < 0.8 * np.abs(raw - quality).mean()


def test_residual_sd_estimates_the_noise():
    reviews, _, _ = synthetic(seed=3)
    sd = calibrate(reviews).residual_sd_hundredths / 100
    assert 0.8 * NOISE_SD < sd < 1.2 * NOISE_SD


def test_matches_dense_ridge_least_squares():
    reviews, _, _ = synthetic(seed=4, n_apps=40, n_experts=15)
    ridge = 1.0
    result = calibrate(reviews, ridge=ridge)
    apps = sorted({r.application_id for r in reviews})
    experts = sorted({r.expert_id for r in reviews})
    design = np.zeros((len(reviews) + len(experts), len(apps) + len(experts)))
    target = np.zeros(len(design))
    for row, r in enumerate(reviews):
        design[row, apps.index(r.application_id)] = 1
        design[row, len(apps) + experts.index(r.expert_id)] = 1
        target[row] = r.total_hundredths / 100
    for k in range(len(experts)):  # the ridge as pseudo-observations b_k = 0
        design[len(reviews) + k, len(apps) + k] = np.sqrt(ridge)
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    for k, expert_id in enumerate(experts):
        dense = 100 * solution[len(apps) + k]
        assert abs(result.offsets[expert_id].offset_hundredths - dense) <= 1
    for k, app_id in enumerate(apps):
        assert abs(result.scores[app_id].calibrated_hundredths - 100 * solution[k]) <= 1


def test_disconnected_groups_do_not_move_each_other():
    group_a, _, _ = synthetic(seed=5, n_apps=200, n_experts=60, prefix="A")
    group_b, _, _ = synthetic(seed=6, n_apps=200, n_experts=60, prefix="B")
    severe_b = [r._replace(total_hundredths=max(r.total_hundredths - 1500, 0)) for r in group_b]
    alone = calibrate(group_a)
    together = calibrate(group_a + severe_b)
    assert together.group_count == 2
    for app_id, score in alone.scores.items():
        assert together.scores[app_id].calibrated_hundredths == score.calibrated_hundredths
        assert together.scores[app_id].raw_mean_hundredths == score.raw_mean_hundredths
    for expert_id, offset in alone.offsets.items():
        assert together.offsets[expert_id].offset_hundredths == offset.offset_hundredths
    groups = {p: {together.scores[f"{p}a{j}"].group for j in range(200)} for p in "AB"}
    assert len(groups["A"]) == len(groups["B"]) == 1 and groups["A"] != groups["B"]


def test_offsets_sum_to_zero_within_each_group_even_when_one_group_is_all_severe():
    group_a, _, _ = synthetic(seed=7, n_apps=100, n_experts=30, prefix="A")
    group_b, _, _ = synthetic(seed=8, n_apps=100, n_experts=30, prefix="B")
    severe_b = [r._replace(total_hundredths=max(r.total_hundredths - 2000, 0)) for r in group_b]
    result = calibrate(group_a + severe_b)
    for prefix in "AB":
        offsets = estimated_offsets(result, 30, prefix)
        assert abs(offsets.sum()) <= 30 * 0.005  # rounding of each to hundredths


def test_application_with_its_own_experts_keeps_its_raw_mean():
    reviews, _, _ = synthetic(seed=9, n_apps=100, n_experts=30)
    isolated = [ReviewScore("solo", f"solo-e{k}", total) for k, total in enumerate((6000, 7550, 9025))]
    score = calibrate(reviews + isolated).scores["solo"]
    assert score.calibrated_hundredths == score.raw_mean_hundredths == 7525


def test_disagreeing_reviewers_widen_the_band():
    reviews, _, _ = synthetic(seed=10)
    spread = {"a0": (3000, 7000, 9900), "a1": (7000, 7000, 7000)}
    reviews = [
        r._replace(total_hundredths=spread[r.application_id][k % 3]) if r.application_id in spread else r
        for k, r in enumerate(reviews)
    ]
    scores = calibrate(reviews).scores
    assert scores["a0"].stderr_hundredths > 2 * scores["a1"].stderr_hundredths
    for s in scores.values():
        assert s.band_low_hundredths < s.calibrated_hundredths < s.band_high_hundredths


def test_more_reviews_narrow_the_band():
    reviews, _, _ = synthetic(seed=11, per_app=5)
    two_of_five = [r for r in reviews if r.application_id == "a0"][3:]
    three = [r for r in reviews if r not in two_of_five]
    narrower = calibrate(reviews).scores["a0"].stderr_hundredths
    assert calibrate(three).scores["a0"].stderr_hundredths > narrower


def test_no_band_without_residual_degrees_of_freedom():
    reviews = [
        ReviewScore("a", "e1", 7000),
        ReviewScore("a", "e2", 8000),
        ReviewScore("b", "e3", 6000),
    ]
    result = calibrate(reviews)
    assert result.residual_sd_hundredths is None
    for s in result.scores.values():
        assert (s.stderr_hundredths, s.band_low_hundredths, s.band_high_hundredths) == (None,) * 3
    assert [result.scores[a].calibrated_hundredths for a in "ab"] == [7500, 6000]


def test_takes_submitted_reviews_directly():
    rubric = Rubric.from_dicts([{"code": "plan", "name": "建设方案", "weight": 100, "max_score": 100}])
    deadline = datetime(2026, 5, 1, tzinfo=timezone.utc)
    reviews = [
        write_review(
            rubric,
            application_id=app_id,
            expert_id=expert_id,
            scores={"plan": points},
            comments="同意",
            now=deadline - timedelta(days=1),
            deadline=deadline,
        )
        for app_id, expert_id, points in [("x", "e1", 80), ("x", "e2", 70), ("y", "e1", 60)]
    ]
    assert calibrate(reviews).scores["x"].raw_mean_hundredths == 7500


def test_empty_input_gives_empty_calibration():
    result = calibrate([])
    assert (result.scores, result.offsets, result.group_count) == ({}, {}, 0)


@pytest.mark.parametrize(
    "reviews, field",
    [
        ([ReviewScore("a", "e", 10001)], "total_hundredths"),
        ([ReviewScore("a", "e", 75.5)], "total_hundredths"),
        ([ReviewScore("a", "e", 7000), ReviewScore("a", "e", 8000)], "reviews"),
    ],
)
def test_bad_reviews_are_refused(reviews, field):
    with pytest.raises(FieldErrors) as caught:
        calibrate(reviews)
    assert field in caught.value.errors


def test_ridge_must_be_positive():
    with pytest.raises(FieldErrors) as caught:
        calibrate([ReviewScore("a", "e", 7000)], ridge=0)
    assert "ridge" in caught.value.errors


def test_connected_components_labels_each_component_once():
    # 0–1–2 and 3–4 joined; 5 alone; 6–4 joins 6 to the second
    labels = connected_components(7, np.array([0, 1, 3, 6]), np.array([1, 2, 4, 4]))
    assert labels.tolist() == [0, 0, 0, 1, 1, 2, 1]


def test_connected_components_of_a_long_shuffled_path_is_one():
    order = np.random.default_rng(0).permutation(5000)
    assert connected_components(5000, order[:-1], order[1:]).max() == 0
