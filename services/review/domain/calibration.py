"""Calibration of expert leniency and severity (专家评分校准).

Model: the total expert ``i`` gives application ``j`` (in points) is
``y_ij = q_j + b_i + e_ij``: the application's quality, the expert's offset (positive
for a lenient expert, negative for a severe one) and noise. We solve

    minimise  Σ (y_ij − q_j − b_i)²  +  ridge · Σ b_i²

The ridge is a prior that offsets are small: ``ridge = 1`` weighs like one extra review
at offset 0 per expert, so an expert with few reviews is corrected little. Offsets are
comparable only inside a connected group of the expert–application graph (an
application joined to its reviewers); at the optimum they sum to zero within each group
(shifting a group's offsets by ``c`` and its qualities by ``−c`` fits the same, and the
ridge is smallest at ``c = −mean``), and we project onto that constraint explicitly, so
one group's scores never move another's.

Solver: eliminating ``q`` (``q_j`` is the mean of ``y_ij − b_i`` over its reviewers)
leaves ``(L + ridge·I) b = c`` with ``L = D − B W⁻¹ Bᵀ`` (``B`` the expert×application
incidence, ``D``/``W`` the review counts per expert/application), solved by
Jacobi-preconditioned conjugate gradient with matrix–vector products made of two
``np.bincount`` passes over the reviews: O(reviews) per iteration, no dense matrix.
``L`` is positive semi-definite with eigenvalues at most ``max reviews per expert``, so
the condition number is at most ``(max_reviews + ridge) / ridge`` and CG reaches a
relative residual ``tol`` within about ``½·√cond·ln(2/tol)`` iterations (about 40 for
experts with 20 reviews each at the default tolerance; 17 with the Jacobi preconditioner
on the bench's 20,000 applications × 3 reviews). After ``MAX_ITERATIONS`` the result
says ``converged=False``.

Uncertainty: the pooled residual variance ``σ² = RSS / (reviews − parameters)`` with
``parameters = applications + experts − groups``; each application's own residual
spread is shrunk towards it (``PRIOR_DOF`` pseudo-reviews) so that applications whose
experts disagree get a wider band; the standard error of the calibrated score is
``σ_j · √(1/m_j + Σ_{i∈R(j)} 1/(L_ii + ridge) / m_j²)`` (``m_j`` reviews of ``j``;
``L_ii = Σ (m_j − 1)/m_j`` over expert ``i``'s reviews, what they tell about its
offset), a first-order estimate that ignores covariances; on the synthetic data of
``bench/rank.py`` its 95 % band covers the planted quality about 95 % of the time. When
no residual degrees of freedom remain (e.g. every application has its own experts),
the standard error is ``None``.

In and out, scores are integer hundredths of a point (0..10000). Calibrated scores are
not clamped to 0..100: a severely scored excellent application may calibrate above 100.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from services.common.errors import FieldErrors

DEFAULT_RIDGE = 1.0
DEFAULT_TOL = 1e-10
MAX_ITERATIONS = 1000
PRIOR_DOF = 10.0  # the pooled variance weighs like ten reviews against one application's own spread
BAND_Z = 1.96  # 95 % band
MAX_TOTAL_HUNDREDTHS = 10000


class ReviewScore(NamedTuple):
    """The least calibration needs of a review; ``reviews.Review`` has the same attributes."""

    application_id: str
    expert_id: str
    total_hundredths: int


@dataclass(frozen=True)
class CalibratedScore:
    application_id: str
    group: int
    review_count: int
    raw_mean_hundredths: int
    calibrated_hundredths: int
    stderr_hundredths: int | None
    band_low_hundredths: int | None
    band_high_hundredths: int | None


@dataclass(frozen=True)
class ExpertOffset:
    expert_id: str
    group: int
    review_count: int
    offset_hundredths: int


@dataclass(frozen=True)
class Calibration:
    scores: dict[str, CalibratedScore]
    offsets: dict[str, ExpertOffset]
    group_count: int
    residual_sd_hundredths: int | None
    iterations: int
    converged: bool


@dataclass(frozen=True)
class _Graph:
    expert: np.ndarray  # per review: expert index
    application: np.ndarray  # per review: application index
    points: np.ndarray  # per review: total in points (float)
    expert_reviews: np.ndarray  # n_i
    application_reviews: np.ndarray  # m_j

    def per_application_mean(self, per_review: np.ndarray) -> np.ndarray:
        sums = np.bincount(self.application, per_review, len(self.application_reviews))
        means: np.ndarray = sums / self.application_reviews
        return means

    def per_expert_sum(self, per_review: np.ndarray) -> np.ndarray:
        return np.bincount(self.expert, per_review, len(self.expert_reviews))

    def offset_information(self, ridge: float) -> np.ndarray:
        """Diagonal of ``L + ridge·I``: ``Σ_j (m_j − 1)/m_j + ridge`` per expert (a review
        of an application nobody else reviewed says nothing about the expert's offset)."""
        own_share = self.per_expert_sum(1.0 / self.application_reviews[self.application])
        information: np.ndarray = self.expert_reviews - own_share + ridge
        return information


def calibrate(
    reviews: Iterable[ReviewScore],
    *,
    ridge: float = DEFAULT_RIDGE,
    tol: float = DEFAULT_TOL,
) -> Calibration:
    """Calibrate the submitted reviews of one call (each has ``application_id``,
    ``expert_id``, ``total_hundredths``). Raises ``FieldErrors`` for a total out of
    range, the same expert reviewing an application twice, or ``ridge <= 0``."""
    if not ridge > 0:
        raise FieldErrors({"ridge": ["must be greater than 0"]})
    application_ids, expert_ids, graph = _index(reviews)
    if not application_ids:
        return Calibration({}, {}, 0, None, 0, True)
    application_group, expert_group, group_count = _groups(graph)
    offsets, iterations, converged = _solve_offsets(graph, ridge, tol)
    offsets -= _group_means(offsets, expert_group, group_count)
    quality = graph.per_application_mean(graph.points - offsets[graph.expert])
    residuals = graph.points - quality[graph.application] - offsets[graph.expert]
    sigma, stderr = _stderr(graph, residuals, ridge, group_count)

    calibrated = _hundredths(quality)
    columns = zip(
        application_ids,
        application_group.tolist(),
        graph.application_reviews.astype(np.int64).tolist(),
        _hundredths(graph.per_application_mean(graph.points)).tolist(),
        calibrated.tolist(),
        *_bands(calibrated, stderr),
    )
    experts = zip(
        expert_ids,
        expert_group.tolist(),
        graph.expert_reviews.astype(np.int64).tolist(),
        _hundredths(offsets).tolist(),
    )
    return Calibration(
        scores={row[0]: CalibratedScore(*row) for row in columns},
        offsets={row[0]: ExpertOffset(*row) for row in experts},
        group_count=group_count,
        residual_sd_hundredths=None if sigma is None else int(_hundredths(sigma)),
        iterations=iterations,
        converged=converged,
    )


def _index(reviews: Iterable[ReviewScore]) -> tuple[list[str], list[str], _Graph]:
    applications: dict[str, int] = {}
    experts: dict[str, int] = {}
    app_index, expert_index, totals = [], [], []
    for review in reviews:
        total = review.total_hundredths
        if type(total) is not int or not 0 <= total <= MAX_TOTAL_HUNDREDTHS:
            raise FieldErrors(
                {
                    "total_hundredths": [
                        f"must be a whole number from 0 to {MAX_TOTAL_HUNDREDTHS} "
                        f"(review of {review.application_id} by {review.expert_id})"
                    ]
                }
            )
        app_index.append(applications.setdefault(review.application_id, len(applications)))
        expert_index.append(experts.setdefault(review.expert_id, len(experts)))
        totals.append(total)
    application = np.asarray(app_index, dtype=np.int64)
    expert = np.asarray(expert_index, dtype=np.int64)
    pairs = expert * max(len(applications), 1) + application
    if len(np.unique(pairs)) != len(pairs):
        raise FieldErrors({"reviews": ["an expert may review an application only once"]})
    graph = _Graph(
        expert=expert,
        application=application,
        points=np.asarray(totals, dtype=np.float64) / 100.0,
        expert_reviews=np.bincount(expert, minlength=len(experts)).astype(np.float64),
        application_reviews=np.bincount(application, minlength=len(applications)).astype(np.float64),
    )
    return list(applications), list(experts), graph


def connected_components(n_nodes: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Component label (0..k−1, in order of each component's smallest node) of every
    node of the undirected graph with edges ``u[e]–v[e]``.

    Vectorised hook-and-jump: every edge whose ends have different roots hooks the
    larger root under the smaller one, then pointers jump until every node points at a
    root; repeat until no edge spans two roots.
    """
    parent = np.arange(n_nodes)
    while True:
        ru, rv = parent[u], parent[v]
        spanning = ru != rv
        if not spanning.any():
            break
        low = np.minimum(ru[spanning], rv[spanning])
        high = np.maximum(ru[spanning], rv[spanning])
        np.minimum.at(parent, high, low)
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return np.unique(parent, return_inverse=True)[1]


def _groups(graph: _Graph) -> tuple[np.ndarray, np.ndarray, int]:
    n_experts = len(graph.expert_reviews)
    n_nodes = n_experts + len(graph.application_reviews)
    labels = connected_components(n_nodes, graph.expert, n_experts + graph.application)
    return labels[n_experts:], labels[:n_experts], int(labels.max()) + 1


def _group_means(values: np.ndarray, group: np.ndarray, group_count: int) -> np.ndarray:
    sums = np.bincount(group, values, group_count)
    means: np.ndarray = (sums / np.bincount(group, minlength=group_count))[group]
    return means


def _solve_offsets(graph: _Graph, ridge: float, tol: float) -> tuple[np.ndarray, int, bool]:
    """Preconditioned conjugate gradient on ``(L + ridge·I) b = c`` (see module doc)."""
    diagonal = graph.expert_reviews + ridge

    def apply(b: np.ndarray) -> np.ndarray:
        mean_of_reviewers = graph.per_application_mean(b[graph.expert])
        applied: np.ndarray = diagonal * b - graph.per_expert_sum(mean_of_reviewers[graph.application])
        return applied

    centred = graph.points - graph.per_application_mean(graph.points)[graph.application]
    rhs = graph.per_expert_sum(centred)
    preconditioner = 1.0 / graph.offset_information(ridge)
    b = np.zeros_like(rhs)
    residual = rhs.copy()
    target = tol * np.linalg.norm(rhs)
    z = preconditioner * residual
    direction = z.copy()
    rz = residual @ z
    for iteration in range(MAX_ITERATIONS):
        if np.linalg.norm(residual) <= target:
            return b, iteration, True
        a_direction = apply(direction)
        step = rz / (direction @ a_direction)
        b += step * direction
        residual -= step * a_direction
        z = preconditioner * residual
        rz, rz_old = residual @ z, rz
        direction = z + (rz / rz_old) * direction
    return b, MAX_ITERATIONS, bool(np.linalg.norm(residual) <= target)


def _stderr(
    graph: _Graph, residuals: np.ndarray, ridge: float, group_count: int
) -> tuple[float | None, np.ndarray | None]:
    n_reviews = len(residuals)
    parameters = len(graph.application_reviews) + len(graph.expert_reviews) - group_count
    dof = n_reviews - parameters
    if dof <= 0:
        return None, None
    squares = residuals**2
    pooled = squares.sum() / dof
    # E[residual²] ≈ σ²·dof/reviews, hence the rescaling of each application's own spread
    m = graph.application_reviews
    own = np.bincount(graph.application, squares, len(m)) * (n_reviews / dof)
    variance = (PRIOR_DOF * pooled + own) / (PRIOR_DOF + m)
    offset_variance = np.bincount(graph.application, 1.0 / (graph.offset_information(ridge)[graph.expert]), len(m))
    return float(np.sqrt(pooled)), np.sqrt(variance * (1.0 / m + offset_variance / m**2))


def _hundredths(points: ArrayLike) -> np.ndarray:
    return np.rint(np.asarray(points) * 100.0).astype(np.int64)


def _bands(
    calibrated: np.ndarray, stderr: np.ndarray | None
) -> tuple[list[int | None], list[int | None], list[int | None]]:
    """Standard error, low and high end of the 95 % band, in hundredths (or all None)."""
    if stderr is None:
        unknown: list[int | None] = [None] * len(calibrated)
        return (unknown,) * 3
    half = _hundredths(BAND_Z * stderr)
    return (
        _hundredths(stderr).tolist(),
        (calibrated - half).tolist(),
        (calibrated + half).tolist(),
    )
