"""An auction for the assignment of a large call (Bertsekas' forward auction, Jacobi rounds).

Each application bids for its open slots among its pool of experts; each expert's free cap
is a set of units, each held by the highest bid for it. In a round every application with
open slots does at once what it would alone:

    net(e)   = value(application, e) − price(e)        over its pool, with at most one
                                                       expert per institution
    chosen   = its m best by net (m = open slots), next = the (m+1)-th best (or 0)
    bid(e)   = value(application, e) − max(next, colleague(e)) + ε      for each chosen e

where colleague(e) is the net of the best expert of e's institution after e: what the
application would take instead of e may be e's colleague, whom it cannot hold beside e
(bidding over it, the auction lost about 2 % on small random calls).

and each expert keeps its best bids, up to its free cap; whoever it no longer keeps bids
again in the next round. An expert's price is what a new bid must beat: the reservation
of its next free unit (the load spread's cost of that unit), or, with every unit held, its
lowest kept bid. Prices only rise, so the auction ends.

Why it is near the optimum (ε-complementary slackness). An application wins an expert
at a price within ε of its best alternative, and alternatives only grow dearer after: at
the end every application holds a set within ε per slot of its best at the final prices,
and an expert with a unit left free has the price of that unit. So the assignment is
within ε per slot of the best over the pool, and the prices are the duals that certify
it (`bench/assign_national.py` prices every pair of the call with them).

Filling comes first: a pair is worth its points plus FILL, more than any difference of
points, so an application leaves a slot empty only when no expert of its pool is left
that it can outbid for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from services.review.domain.affinity import AFFINITY_SCALE

FILL = 2.0 * AFFINITY_SCALE  # worth of a filled slot beyond its points
#: The bidding increment, in points. The assignment is within EPSILON per slot of the best
#: over the pool (a bound; measured at 60 000 × 5 of 20 000: 0.0025 % below ε = 1, in a sixth
#: of its rounds: docs/benchmarks.md).
EPSILON = 32.0
NARROW = 24  # columns an application looks at first (its pool is sorted best first)


class Auction(NamedTuple):
    held: np.ndarray  # rows × max demand: the pool columns each row won (-1: none)
    price: np.ndarray  # per expert: what a new bid must beat at the end, in points (0: no free cap)


def auction(
    values: np.ndarray,
    experts: np.ndarray,
    institution: np.ndarray,
    demand: np.ndarray,
    free: np.ndarray,
    unit_price: np.ndarray,
    epsilon: float = EPSILON,
    progress: Callable[[int, int], None] | None = None,
) -> Auction:
    """Assign each row up to demand[row] experts of its pool.

    values: rows × width, points of each pool pair, best first in each row (-inf: none);
    experts: rows × width, the expert position of each pool pair (-1: none);
    institution: the institution code of each expert position;
    free: per expert position, its free cap: its units;
    unit_price: the reservation price of each unit (the load spread's cost of it, in points),
    expert after expert and ascending within each, `free` of them each;
    progress: told after each round (slots filled, slots), the first never falling.
    """
    most = int(demand.max(initial=0))
    worth = np.where(np.isfinite(values), values + FILL, -np.inf)
    units = _Units(free, unit_price)
    held = _Held(len(values), most)
    choose = _Chooser(worth, experts, institution, units.price, held.columns, most)
    bidding = demand > 0
    queue = np.flatnonzero(bidding)
    while len(rows := queue[bidding[queue] & (held.count[queue] < demand[queue])]):
        wanted = demand[rows] - held.count[rows]
        columns, nets, colleague = choose(rows, wanted)
        runner_up = np.maximum(np.take_along_axis(nets, wanted[:, None], 1)[:, 0], 0)
        bids = (np.arange(nets.shape[1])[None, :] < wanted[:, None]) & (nets > 0)
        bidding[rows[~bids.any(axis=1)]] = False  # nothing left worth a bid: until outbid
        row, rank = np.nonzero(bids)
        if not len(row):
            break
        app, column = rows[row], columns[row, rank]
        # What the row would take instead: its next expert, or a colleague of the one it bids for.
        bid = worth[app, column] - np.maximum(runner_up[row], colleague[row, rank]) + epsilon
        won, lost = units.offer(experts[app, column], app, column, bid)
        held.lose(*lost)
        held.win(*won)
        bidding[lost[0]] = True
        queue = np.unique(np.concatenate([rows[bids.any(axis=1)], lost[0]]))
        if progress is not None:
            progress(int(held.count.sum()), int(demand.sum()))
    return Auction(held.columns[:, :most], np.where(free > 0, units.price[:-1], 0.0))


class _Units:
    """Every expert's free units, expert after expert: held ones first (by whom, for which pool
    column, at what bid), then the free ones at their reservation price. `price[expert]` is what
    a new bid must beat (inf: no free cap; the last entry stands for the missing expert, -1)."""

    def __init__(self, free: np.ndarray, unit_price: np.ndarray) -> None:
        self.cap = free.astype(np.int64)
        self.start = np.cumsum(self.cap) - self.cap
        self.reservation = unit_price.astype(np.float64)
        self.bid = self.reservation.copy()
        self.app = np.full(len(self.bid), -1, np.int64)
        self.column = np.full(len(self.bid), -1, np.int64)
        self.price = np.full(len(free) + 1, np.inf)
        has = self.cap > 0
        self.price[:-1][has] = self.reservation[self.start[has]]

    def offer(
        self, expert: np.ndarray, app: np.ndarray, column: np.ndarray, bid: np.ndarray
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Each expert offered bids keeps its best (held ones first at equal bids) while each
        beats the reservation of the unit it would take. Returns (won, lost) as (apps, columns)."""
        receiving = np.unique(expert)
        caps = self.cap[receiving]
        unit = np.repeat(self.start[receiving] - np.r_[0, np.cumsum(caps)[:-1]], caps) + np.arange(int(caps.sum()))
        standing = self.app[unit] >= 0
        of = np.concatenate([np.repeat(receiving, caps)[standing], expert])
        bids = np.concatenate([self.bid[unit][standing], bid])
        apps = np.concatenate([self.app[unit][standing], app])
        columns = np.concatenate([self.column[unit][standing], column])
        new = np.r_[np.zeros(int(standing.sum()), bool), np.ones(len(expert), bool)]
        order = np.lexsort((new, -bids, of))
        of, bids, apps, columns, new = (a[order] for a in (of, bids, apps, columns, new))
        first = np.flatnonzero(np.r_[True, of[1:] != of[:-1]])
        sizes = np.diff(np.r_[first, len(of)])
        place = np.arange(len(of)) - np.repeat(first, sizes)
        cap = self.cap[of]
        fits = (place < cap) & (bids >= self.reservation[self.start[of] + np.minimum(place, cap - 1)])
        kept = place < np.repeat(np.minimum.reduceat(np.where(fits, len(of), place), first), sizes)
        count = np.bincount(of[kept], minlength=len(self.cap))[receiving]
        at = (
            np.repeat(self.start[receiving], count)
            + np.arange(int(count.sum()))
            - np.repeat(np.cumsum(count) - count, count)
        )
        self.app[unit], self.column[unit], self.bid[unit] = -1, -1, self.reservation[unit]
        self.app[at], self.column[at], self.bid[at] = apps[kept], columns[kept], bids[kept]
        # Full: its lowest kept bid; else the reservation of its next free unit.
        self.price[receiving] = self.bid[self.start[receiving] + np.minimum(count, caps - 1)]
        won, lost = kept & new, ~kept & ~new
        return (apps[won], columns[won]), (apps[lost], columns[lost])


class _Held:
    """The pool columns each row holds (rows × most, -1: a slot open) and how many."""

    def __init__(self, rows: int, most: int) -> None:
        self.columns = np.full((rows, max(most, 1)), -1, np.int64)
        self.count = np.zeros(rows, np.int64)

    def lose(self, app: np.ndarray, column: np.ndarray) -> None:
        slot = np.argmax(self.columns[app] == column[:, None], axis=1)
        self.columns[app, slot] = -1
        np.subtract.at(self.count, app, 1)

    def win(self, app: np.ndarray, column: np.ndarray) -> None:
        order = np.argsort(app, kind="stable")
        app, column = app[order], column[order]
        first = np.flatnonzero(np.r_[True, app[1:] != app[:-1]])
        sizes = np.diff(np.r_[first, len(app)])
        open_slots = np.argsort(self.columns[app[first]] >= 0, axis=1, kind="stable")  # open ones first
        nth = np.arange(len(app)) - np.repeat(first, sizes)
        self.columns[app, open_slots[np.repeat(np.arange(len(first)), sizes), nth]] = column
        np.add.at(self.count, app, 1)


class _Choice(NamedTuple):
    columns: np.ndarray  # rows × count: pool columns, best net first
    nets: np.ndarray  # their nets (-inf: none)
    colleague: np.ndarray  # the net of the best expert of the same institution left out (-inf: none)


class _Chooser:
    """Each bidding row's best pool columns by net value, at most one per institution and none
    of an institution it already holds: `wanted + 1` of them."""

    def __init__(
        self,
        worth: np.ndarray,
        experts: np.ndarray,
        institution: np.ndarray,
        price: np.ndarray,
        held: np.ndarray,
        most: int,
    ) -> None:
        self.worth, self.price, self.held, self.most = worth, price, held, most
        self.expert_at = np.where(experts >= 0, experts, len(institution))  # the missing one: price inf
        self.institution_at = np.where(experts >= 0, institution[np.maximum(experts, 0)], -1)

    def __call__(self, rows: np.ndarray, wanted: np.ndarray) -> _Choice:
        width = self.worth.shape[1]
        narrow = min(width, max(NARROW, 4 * self.most))
        choice = self._best(rows, narrow, 2 * self.most + 2)
        if narrow < width:
            # A column further on is worth at most its value (prices are >= 0); the pool is
            # sorted, so only rows whose next value could still enter their best, or be a
            # colleague worth more than their next, look further.
            enough = np.take_along_axis(choice.nets, wanted[:, None], 1)[:, 0]
            further = np.flatnonzero(self.worth[rows, narrow] > enough)
            if len(further):
                wider = self._best(rows[further], width, 2 * self.most + 2)
                for mine, theirs in zip(choice, wider):
                    mine[further] = theirs
        return choice

    def _best(self, rows: np.ndarray, width: int, count: int) -> _Choice:
        net = self.worth[rows, :width] - self.price[self.expert_at[rows, :width]]
        institution = self.institution_at[rows, :width]
        held = self.held[rows]
        for column in held.T:  # an institution held (the held expert's own column included)
            mine = np.where(column >= 0, self.institution_at[rows, np.maximum(column, 0)], -2)
            net[institution == mine[:, None]] = -np.inf
        choice = _best_distinct(net, institution, count)
        # A row needs its best most + 1 of distinct institutions (anything after them is worth
        # no more than its next, colleagues included); where colleagues crowd them out of the
        # first `count`, it looks at all.
        short = np.isfinite(choice.nets).sum(axis=1) < np.minimum(self.most + 1, np.isfinite(net).sum(axis=1))
        if short.any() and count < width:
            every = _best_distinct(net[short], institution[short], width)
            for mine, theirs in zip(choice, every):
                mine[short] = theirs[:, :count]
        return choice


def _best_distinct(net: np.ndarray, institution: np.ndarray, count: int) -> _Choice:
    """Per row, its `count` best columns by net, a column dropped (-inf) where an institution
    repeats a better one, best first (equal nets: the earlier column, the seed's order); with
    each kept column's best colleague, the best of its institution after it."""
    if net.shape[1] < count:
        padding = np.full((len(net), count - net.shape[1]), -np.inf)
        net = np.hstack([net, padding])
        institution = np.hstack([institution, np.full(padding.shape, -1, institution.dtype)])
    if count < net.shape[1]:
        top = np.argpartition(-net, count - 1, axis=1)[:, :count]
    else:
        top = np.broadcast_to(np.arange(net.shape[1]), net.shape).copy()
    value, where = np.take_along_axis(net, top, 1), np.take_along_axis(institution, top, 1)
    colleague = np.full(top.shape, -np.inf)
    kept = np.ones(top.shape, bool)
    ranked = np.sort(where, axis=1)
    repeats = np.flatnonzero((ranked[:, 1:] == ranked[:, :-1]).any(axis=1))
    if len(repeats):
        colleague[repeats], kept[repeats] = _colleagues(value[repeats], where[repeats], top[repeats])
    nets = np.where(kept, value, -np.inf)
    order = np.lexsort((top, -nets), axis=1)
    return _Choice(*(np.take_along_axis(a, order, 1) for a in (top, nets, colleague)))


def _colleagues(value: np.ndarray, where: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows whose columns repeat an institution: each column's best colleague after it (by
    net, then column), and whether it is the first of its institution (kept)."""
    row = np.repeat(np.arange(len(value)), value.shape[1])
    flat, institution = value.ravel(), where.ravel()
    # By row, institution, then best first: the first of each institution is kept, the next
    # one is its colleague.
    order = np.lexsort((top.ravel(), -flat, institution, row))
    group = row[order] * (int(institution.max(initial=0)) + 2) + institution[order]
    first = np.r_[True, group[1:] != group[:-1]]
    followed = np.r_[~first[1:], False]
    colleague, kept = np.empty(len(flat)), np.empty(len(flat), bool)
    colleague[order] = np.where(first & followed, np.r_[flat[order][1:], -np.inf], -np.inf)
    kept[order] = first
    return colleague.reshape(value.shape), kept.reshape(value.shape)
