"""Affinity: how well an expert's expertise matches an application, in integer points.

The formula (one definition, used by the solver, the checker and the benchmark)::

    affinity = FIELD_WEIGHT · cos(fields) + KEYWORD_WEIGHT · cos(keywords)
    cos(X, Y) = |X ∩ Y| / sqrt(|X| · |Y|)        (Ochiai coefficient; 0 when X or Y is empty)
    points    = round(AFFINITY_SCALE · affinity)  (half to even; 0 .. 10 000)

Fields come from the controlled vocabulary of industry fields; keywords are free text,
compared after `normalize_term` (NFKC, trimmed, case-folded, so full-width ＡＩ matches
ai). Weights: the controlled fields carry most (0.7), the free keywords refine within
them (0.3). Cosine rather than Jaccard because it is a scaled dot product:
the solver scores a whole block of pairs with one matrix product. It still prefers a
specialist to a generalist who lists every field (the square root of the expert's count
in the denominator). Whether an expert may review the application's category at all is
a hard rule (see `conflicts.exclusion_reasons`), not part of the affinity.

`AffinityScorer` is the bulk form: `block` gives float32 scores good for ranking (the
unrounded value, so within half a point of the points): one matrix product over the
fields and the most widely shared keywords, plus a sparse join for the other keywords.
`points` gives the exact integer points of chosen pairs from integer intersection
counts, through the same `points_from_counts` as `affinity_points`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Sequence
from collections.abc import Set as AbstractSet
from itertools import chain, repeat
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

FIELD_WEIGHT = 0.7
KEYWORD_WEIGHT = 0.3
AFFINITY_SCALE = 10_000

# Keywords shared by more pairs than this go to the dense matrix product with the fields;
# the rest are joined sparsely. Bounds the sparse join whatever the keyword distribution.
SPARSE_KEYWORD_PAIRS = 4_000_000
MAX_DENSE_KEYWORDS = 512


class Terms(Protocol):
    """What affinity reads of an application or an expert: its industry fields and keywords."""

    @property
    def fields(self) -> AbstractSet[str]: ...
    @property
    def keywords(self) -> AbstractSet[str]: ...


def normalize_term(term: str) -> str:
    """The comparable form of a keyword: NFKC, trimmed, case-folded."""
    return unicodedata.normalize("NFKC", term).strip().casefold()


def points_from_counts(
    field_common: ArrayLike,
    field_app: ArrayLike,
    field_expert: ArrayLike,
    keyword_common: ArrayLike,
    keyword_app: ArrayLike,
    keyword_expert: ArrayLike,
) -> np.ndarray:
    """Exact affinity points from set sizes (arrays or scalars, broadcast); int32."""

    def cosine(common: ArrayLike, left: ArrayLike, right: ArrayLike) -> np.ndarray:
        numerator, denominator = np.asarray(common, np.float64), np.sqrt(np.multiply(left, right, dtype=np.float64))
        return np.divide(
            numerator, denominator, out=np.zeros(np.broadcast(numerator, denominator).shape), where=denominator > 0
        )

    value = FIELD_WEIGHT * cosine(field_common, field_app, field_expert) + KEYWORD_WEIGHT * cosine(
        keyword_common, keyword_app, keyword_expert
    )
    return np.rint(AFFINITY_SCALE * value).astype(np.int32)


def affinity_points(application: Terms, expert: Terms) -> int:
    """The affinity of one pair, straight from the sets (the readable reference)."""
    return int(
        points_from_counts(
            len(application.fields & expert.fields),
            len(application.fields),
            len(expert.fields),
            len(application.keywords & expert.keywords),
            len(application.keywords),
            len(expert.keywords),
        )
    )


def incidence(
    sets: Sequence[Collection[str]], vocabulary: dict[str, int], grow: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(row, term code) for every member of every set. New terms join `vocabulary`, or,
    with grow=False, get code -1 (they can match nothing already coded)."""
    members = list(chain.from_iterable(sets))
    if grow:  # sorted: set iteration follows string hashes, which differ from run to run
        for term in sorted(set(members).difference(vocabulary)):
            vocabulary[term] = len(vocabulary)
    rows = np.repeat(np.arange(len(sets)), np.fromiter(map(len, sets), np.int64, len(sets)))
    return rows, np.fromiter(map(vocabulary.get, members, repeat(-1)), np.int64, len(members))


def join_on_key(
    left_rows: np.ndarray, left_keys: np.ndarray, right_rows: np.ndarray, right_keys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every (left row, right row) whose keys are equal, once per matching key."""
    order = np.argsort(right_keys, kind="stable")
    sorted_keys, sorted_rows = right_keys[order], right_rows[order]
    starts = np.searchsorted(sorted_keys, left_keys, "left")
    counts = np.searchsorted(sorted_keys, left_keys, "right") - starts
    total = int(counts.sum())
    first = np.repeat(starts - np.cumsum(counts) + counts, counts)
    return np.repeat(left_rows, counts), sorted_rows[first + np.arange(total)]


def entries_in_block(
    keys: np.ndarray, n_experts: int, rows: np.ndarray, column_of_expert: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the sorted pair keys (app · n_experts + expert) fall in a block.

    `rows` are the block's application positions, ascending; `column_of_expert[e]` is
    expert e's column in the block or -1. Returns (row, column, index into keys).
    """
    # Each row's own run of keys: the rows of a block may lie far apart (blocks by fields).
    lo, hi = np.searchsorted(keys, rows * n_experts), np.searchsorted(keys, (rows + 1) * n_experts)
    counts = hi - lo
    index = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    row, column = np.repeat(np.arange(len(rows)), counts), column_of_expert[keys[index] % n_experts]
    hit = np.flatnonzero(column >= 0)
    return row[hit], column[hit], index[hit]


class AffinityScorer:
    """Affinity of applications (rows) against experts (columns), in bulk.

    `applications` and `experts` are sequences of objects with `fields` and `keywords`
    sets; rows and columns are their positions in those sequences.
    """

    def __init__(self, applications: Sequence[Terms], experts: Sequence[Terms]) -> None:
        self._n_experts = len(experts)
        fields: dict[str, int] = {}
        keywords: dict[str, int] = {}
        app_field = incidence([a.fields for a in applications], fields)
        exp_field = incidence([e.fields for e in experts], fields)
        app_keyword = incidence([a.keywords for a in applications], keywords)
        exp_keyword = incidence([e.keywords for e in experts], keywords)
        self._count = {
            "field_app": np.bincount(app_field[0], minlength=len(applications)),
            "field_expert": np.bincount(exp_field[0], minlength=len(experts)),
            "keyword_app": np.bincount(app_keyword[0], minlength=len(applications)),
            "keyword_expert": np.bincount(exp_keyword[0], minlength=len(experts)),
        }
        # Dense columns are every field, then the keywords too widely shared to join sparsely.
        dense_column = np.full(len(keywords), -1, np.int64)
        dense_keywords = self._dense_keywords(app_keyword[1], exp_keyword[1], len(keywords))
        dense_column[dense_keywords] = np.arange(len(dense_keywords))
        self._n_fields = len(fields)
        app_fields, app_dense = self._binary(len(applications), len(fields), app_field, app_keyword, dense_column)
        exp_fields, exp_dense = self._binary(len(experts), len(fields), exp_field, exp_keyword, dense_column)
        self._app_field_bits, self._app_keyword_bits = np.packbits(app_fields, axis=1), np.packbits(app_dense, axis=1)
        self._exp_field_bits, self._exp_keyword_bits = np.packbits(exp_fields, axis=1), np.packbits(exp_dense, axis=1)
        self._app_weighted = self._weighted(app_fields, app_dense, "app")
        self._exp_weighted = self._weighted(exp_fields, exp_dense, "expert")
        app_sparse = dense_column[app_keyword[1]] < 0
        exp_sparse = dense_column[exp_keyword[1]] < 0
        pair_app, pair_exp = join_on_key(
            app_keyword[0][app_sparse],
            app_keyword[1][app_sparse],
            exp_keyword[0][exp_sparse],
            exp_keyword[1][exp_sparse],
        )
        keys = np.sort(pair_app * self._n_experts + pair_exp)  # one per shared keyword: count the runs
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else keys
        self._sparse_key, self._sparse_common = keys[starts], np.diff(np.r_[starts, len(keys)])

    @staticmethod
    def _binary(
        n_rows: int,
        n_fields: int,
        field_incidence: tuple[np.ndarray, np.ndarray],
        keyword_incidence: tuple[np.ndarray, np.ndarray],
        dense_column: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        fields = np.zeros((n_rows, n_fields), bool)
        fields[field_incidence] = True
        dense = np.zeros((n_rows, int(dense_column.max(initial=-1)) + 1), bool)
        row, column = keyword_incidence[0], dense_column[keyword_incidence[1]]
        dense[row[column >= 0], column[column >= 0]] = True
        return fields, dense

    def _weighted(self, fields: np.ndarray, dense: np.ndarray, side: str) -> np.ndarray:
        """Binary rows scaled so that an application row · an expert row is the float score."""
        field_n, keyword_n = (np.sqrt(np.maximum(self._count[f"{kind}_{side}"], 1)) for kind in ("field", "keyword"))
        if side == "app":
            field_n, keyword_n = (
                field_n / (FIELD_WEIGHT * AFFINITY_SCALE),
                keyword_n / (KEYWORD_WEIGHT * AFFINITY_SCALE),
            )
        weighted = np.empty(
            (len(fields), fields.shape[1] + dense.shape[1]), np.float32
        )  # no float64 copy: 650 MB at 300 000 rows
        np.divide(fields, field_n[:, None].astype(np.float32), out=weighted[:, : fields.shape[1]])
        np.divide(dense, keyword_n[:, None].astype(np.float32), out=weighted[:, fields.shape[1] :])
        return weighted

    def _dense_keywords(self, app_codes: np.ndarray, exp_codes: np.ndarray, n_keywords: int) -> np.ndarray:
        """The most-shared keywords, as few as keep the sparse join within its budget."""
        pairs = np.bincount(app_codes, minlength=n_keywords) * np.bincount(exp_codes, minlength=n_keywords)
        by_pairs = np.argsort(-pairs, kind="stable")
        if pairs.sum() <= SPARSE_KEYWORD_PAIRS:
            return by_pairs[:0]
        left_sparse = pairs.sum() - np.cumsum(pairs[by_pairs])
        return by_pairs[: min(np.count_nonzero(left_sparse > SPARSE_KEYWORD_PAIRS) + 1, MAX_DENSE_KEYWORDS)]

    def field_groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Applications and experts grouped by their set of fields: (group of each application,
        group of each expert, cosine of the fields of every application group × expert group,
        float32). A pair's score is at most FIELD_WEIGHT · AFFINITY_SCALE · that cosine plus
        KEYWORD_WEIGHT · AFFINITY_SCALE."""
        app_sets, app_group = np.unique(self._app_field_bits, axis=0, return_inverse=True)
        exp_sets, exp_group = np.unique(self._exp_field_bits, axis=0, return_inverse=True)
        app_bits, exp_bits = (
            np.unpackbits(app_sets, axis=1).astype(np.float32),
            np.unpackbits(exp_sets, axis=1).astype(np.float32),
        )
        denominator = np.sqrt(np.outer(app_bits.sum(axis=1), exp_bits.sum(axis=1)))
        common = app_bits @ exp_bits.T
        cosine = np.divide(common, denominator, out=np.zeros_like(common), where=denominator > 0)
        return app_group.ravel(), exp_group.ravel(), cosine

    def block(self, rows: np.ndarray, columns: np.ndarray, column_of_expert: np.ndarray) -> np.ndarray:
        """Float32 unrounded scores of `rows` × `columns`; `rows` sorted ascending.

        `column_of_expert[e]` is the position of expert e in `columns`, or -1.
        """
        app = self._app_weighted[rows]
        used = np.flatnonzero(app.any(axis=0))  # rows of a few fields use few dimensions
        scores: np.ndarray
        if len(used) < 0.75 * app.shape[1]:
            scores = app[:, used] @ self._exp_weighted[np.ix_(columns, used)].T
        else:
            scores = app @ self._exp_weighted[columns].T
        row, column, at = entries_in_block(self._sparse_key, self._n_experts, rows, column_of_expert)
        app, expert = rows[row], columns[column]
        weight = (AFFINITY_SCALE * KEYWORD_WEIGHT) / np.sqrt(
            self._count["keyword_app"][app] * self._count["keyword_expert"][expert]
        )
        scores[row, column] += (self._sparse_common[at] * weight).astype(np.float32)
        return scores

    def points(self, apps: np.ndarray, experts: np.ndarray) -> np.ndarray:
        """Exact integer points of the pairs (apps[i], experts[i])."""

        def common(app_bits: np.ndarray, exp_bits: np.ndarray) -> np.ndarray:
            counts: np.ndarray = np.bitwise_count(app_bits[apps] & exp_bits[experts]).sum(axis=1, dtype=np.int64)
            return counts

        keyword_common = common(self._app_keyword_bits, self._exp_keyword_bits)
        if len(self._sparse_key):
            key = apps * self._n_experts + experts
            at = np.minimum(np.searchsorted(self._sparse_key, key), len(self._sparse_key) - 1)
            keyword_common += np.where(self._sparse_key[at] == key, self._sparse_common[at], 0)
        c = self._count
        return points_from_counts(
            common(self._app_field_bits, self._exp_field_bits),
            c["field_app"][apps],
            c["field_expert"][experts],
            keyword_common,
            c["keyword_app"][apps],
            c["keyword_expert"][experts],
        )
