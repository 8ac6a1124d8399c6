"""Benchmark: calibration + ranking of one call at provincial scale
(services/review/domain/calibration.py, ranking.py).

20 000 applications × 3 reviews from 8 000 experts (synthetic, seeded): planted quality
N(70, 8) points, expert offsets N(0, 5) centred, noise N(0, 4), totals rounded to
hundredths and clipped to 0..100; 14 prefectures; a call with quota 400 and at most 40
per prefecture.

Measured in one run, from the same list of review records:
- ours: ``calibrate`` + ``RankEntry.from_calibrated`` + ``rank`` (best of 3), and its
  peak traced memory (tracemalloc, which sees numpy's buffers) in a separate pass;
- baseline (the raw limit): raw-mean ranking, i.e. index the ids, ``np.bincount``
  means, one ``np.lexsort``, take the top ``quota`` (no calibration, no caps);
- the dense least-squares solve of the same model (``np.linalg.lstsq`` on the full design
  matrix with the ridge as pseudo-rows) at 1/20 of the size, beside ours at that size,
  with the largest disagreement between the two, and its O(rows·cols²) extrapolation
  to full size;
- quality: offset recovery (correlation, mean absolute error), 95 % band coverage of
  the planted quality, and how much of the planted-quality selection each ranking keeps.

The last line is one JSON object. Run: .venv/bin/python bench/rank.py [--scale S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.review.domain.calibration import ReviewScore, calibrate  # noqa: E402
from services.review.domain.ranking import QuotaPolicy, RankEntry, rank  # noqa: E402

PREFECTURES = (
    "长沙市",
    "株洲市",
    "湘潭市",
    "衡阳市",
    "邵阳市",
    "岳阳市",
    "常德市",
    "张家界市",
    "益阳市",
    "郴州市",
    "永州市",
    "怀化市",
    "娄底市",
    "湘西土家族苗族自治州",
)
REVIEWS_PER_APPLICATION = 3
QUOTA, CAP = 400, 40
NOISE_SD, OFFSET_SD = 4.0, 5.0
DENSE_FRACTION = 20
T0 = datetime(2026, 4, 1, tzinfo=timezone.utc)


class Call:
    """A seeded synthetic call: planted truth and the review records experts produced."""

    def __init__(self, n_apps: int, n_experts: int, seed: int = 2022):
        rng = np.random.default_rng(seed)
        self.quality = rng.normal(70, 8, n_apps)
        self.offsets = rng.normal(0, OFFSET_SD, n_experts)
        self.offsets -= self.offsets.mean()
        experts = _distinct_experts(rng, n_apps, n_experts)
        apps = np.repeat(np.arange(n_apps), REVIEWS_PER_APPLICATION)
        experts = experts.ravel()
        points = self.quality[apps] + self.offsets[experts] + rng.normal(0, NOISE_SD, len(apps))
        totals = np.clip(np.rint(points * 100), 0, 10000).astype(int)
        self.reviews = [
            ReviewScore(f"app-{a}", f"expert-{e}", int(t))
            for a, e, t in zip(apps.tolist(), experts.tolist(), totals.tolist())
        ]
        self.prefecture = {f"app-{a}": PREFECTURES[p] for a, p in enumerate(rng.integers(0, 14, n_apps))}
        minutes = rng.integers(0, 60 * 24 * 30, n_apps)
        self.submitted_at = {f"app-{a}": T0 + timedelta(minutes=int(m)) for a, m in enumerate(minutes)}
        self.policy = QuotaPolicy(prefecture_cap=CAP)


def _distinct_experts(rng, n_apps: int, n_experts: int) -> np.ndarray:
    """Distinct experts for each application: redraw the rows that repeat one."""
    picks = rng.integers(0, n_experts, (n_apps, REVIEWS_PER_APPLICATION))
    while True:
        s = np.sort(picks, axis=1)
        clash = (s[:, 1:] == s[:, :-1]).any(axis=1)
        if not clash.any():
            return picks
        picks[clash] = rng.integers(0, n_experts, (int(clash.sum()), REVIEWS_PER_APPLICATION))


def ours(call: Call):
    calibration = calibrate(call.reviews)
    entries = [
        RankEntry.from_calibrated(score, prefecture=call.prefecture[app_id], submitted_at=call.submitted_at[app_id])
        for app_id, score in calibration.scores.items()
    ]
    return calibration, rank(entries, QUOTA, call.policy)


def raw_mean_ranking(call: Call) -> list[str]:
    index: dict[str, int] = {}
    apps = np.fromiter(
        (index.setdefault(r.application_id, len(index)) for r in call.reviews), np.int64, len(call.reviews)
    )
    totals = np.fromiter((r.total_hundredths for r in call.reviews), np.int64, len(call.reviews))
    means = np.bincount(apps, totals) / np.bincount(apps)
    ids = np.array(list(index))
    return ids[np.lexsort((ids, -means))[:QUOTA]].tolist()


def timed(fn, *args, repeat: int = 3):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_mb(fn, *args) -> float:
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def dense_offsets(call: Call, ridge: float = 1.0) -> dict[str, float]:
    apps = sorted({r.application_id for r in call.reviews})
    experts = sorted({r.expert_id for r in call.reviews})
    a_index = {a: k for k, a in enumerate(apps)}
    e_index = {e: len(apps) + k for k, e in enumerate(experts)}
    rows = len(call.reviews) + len(experts)
    design = np.zeros((rows, len(apps) + len(experts)))
    target = np.zeros(rows)
    for row, r in enumerate(call.reviews):
        design[row, a_index[r.application_id]] = design[row, e_index[r.expert_id]] = 1
        target[row] = r.total_hundredths / 100
    design[len(call.reviews) + np.arange(len(experts)), len(apps) + np.arange(len(experts))] = np.sqrt(ridge)
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    return {e: solution[k] for e, k in e_index.items()}


def selection_by(call: Call, hundredths: dict[str, int]) -> set[str]:
    """The selection the call's quota and caps give when ranked by these scores alone."""
    entries = [
        RankEntry(app_id, call.prefecture[app_id], h, h, 0, call.submitted_at[app_id])
        for app_id, h in hundredths.items()
    ]
    return set(rank(entries, QUOTA, call.policy).selected_ids)


def quality_report(call: Call, calibration, ranking) -> dict:
    n_experts = len(call.offsets)
    present = [i for i in range(n_experts) if f"expert-{i}" in calibration.offsets]
    estimated = np.array([calibration.offsets[f"expert-{i}"].offset_hundredths / 100 for i in present])
    planted = call.offsets[present]
    scores = [calibration.scores[f"app-{j}"] for j in range(len(call.quality))]
    low = np.array([s.band_low_hundredths for s in scores]) / 100
    high = np.array([s.band_high_hundredths for s in scores]) / 100
    truth = selection_by(call, {f"app-{j}": int(round(q * 100)) for j, q in enumerate(call.quality)})
    raw_top = selection_by(call, {s.application_id: s.raw_mean_hundredths for s in scores})
    return {
        "offset_recovery_corr": round(float(np.corrcoef(estimated, planted)[0, 1]), 4),
        "offset_mae_points": round(float(np.abs(estimated - planted).mean()), 3),
        "band95_coverage": round(float(np.mean((low <= call.quality) & (call.quality <= high))), 4),
        "selection_overlap_calibrated": round(len(truth & set(ranking.selected_ids)) / QUOTA, 4),
        "selection_overlap_raw": round(len(truth & raw_top) / QUOTA, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 20 000 × 8 000")
    args = parser.parse_args()
    n_apps, n_experts = int(20000 * args.scale), int(8000 * args.scale)
    call = Call(n_apps, n_experts)
    print(
        f"{n_apps} applications × {REVIEWS_PER_APPLICATION} reviews from {n_experts} experts; "
        f"quota {QUOTA}, at most {CAP} per prefecture"
    )

    seconds, (calibration, ranking) = timed(ours, call)
    base_seconds, _ = timed(raw_mean_ranking, call)
    memory, base_memory = peak_mb(ours, call), peak_mb(raw_mean_ranking, call)
    print(
        f"calibrate + rank      {seconds:8.3f} s  peak {memory:7.1f} MB  "
        f"({calibration.iterations} CG iterations, converged={calibration.converged}, "
        f"{calibration.group_count} group(s))"
    )
    print(f"raw-mean ranking      {base_seconds:8.3f} s  peak {base_memory:7.1f} MB  (baseline)")

    small = Call(max(n_apps // DENSE_FRACTION, 50), max(n_experts // DENSE_FRACTION, 20), seed=7)
    dense_seconds, dense = timed(dense_offsets, small, repeat=1)
    small_seconds, (small_calibration, _) = timed(ours, small, repeat=1)
    disagreement = max(abs(small_calibration.offsets[e].offset_hundredths / 100 - b) for e, b in dense.items())
    dense_full_estimate = dense_seconds * DENSE_FRACTION**3
    print(
        f"dense lstsq at 1/{DENSE_FRACTION}   {dense_seconds:8.3f} s  "
        f"(ours at 1/{DENSE_FRACTION}: {small_seconds:.3f} s; "
        f"largest offset difference {disagreement:.4f} points; "
        f"full size by O(rows·cols²): about {dense_full_estimate:,.0f} s)"
    )

    report = quality_report(call, calibration, ranking)
    for key, value in report.items():
        print(f"{key:30s} {value}")
    print(
        json.dumps(
            {
                "seconds": round(seconds, 4),
                "baseline_seconds": round(base_seconds, 4),
                "ratio": round(seconds / base_seconds, 2),
                "peak_mb": round(memory, 1),
                "baseline_peak_mb": round(base_memory, 1),
                "cg_iterations": calibration.iterations,
                "dense_fraction": DENSE_FRACTION,
                "dense_lstsq_seconds_at_fraction": round(dense_seconds, 4),
                "ours_seconds_at_fraction": round(small_seconds, 4),
                "dense_full_size_estimate_seconds": round(dense_full_estimate),
                "dense_max_offset_difference_points": round(disagreement, 4),
                **report,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
