"""An auction for the assignment of a large call (Bertsekas' forward auction, Gauss-Seidel).

Each application bids for its open slots among its pool of experts; each expert's free cap
is a set of units, each held by the highest bid for it. Applications with open slots bid one
after another (a queue, in order of position at first); one that bids does what it would
alone:

    net(e)   = value(application, e) − price(e)        over its pool, with at most one
                                                       expert per institution
    chosen   = its m best by net (m = open slots), next = the (m+1)-th best (or 0)
    bid(e)   = value(application, e) − max(next, colleague(e)) + ε      for each chosen e

where colleague(e) is the net of the best expert of e's institution after e: what the
application would take instead of e may be e's colleague, whom it cannot hold beside e
(bidding over it, the auction lost about 2 % on small random calls).

and each expert keeps its best bids, up to its free cap; an application it no longer keeps
goes back in the queue. An expert's price is what a new bid must beat: the reservation of
its next free unit (the load spread's cost of that unit), or, with every unit held, its
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

Why compiled (numba), one bid at a time. The first version bid in Jacobi rounds, every
application with open slots at once, in numpy: about 8 µs an application's bid, most of it
numpy's calls on small arrays (on the 60 000 call's pools: 2 775 rounds, 1.25 M bids,
10.4 s). One at a time, an application reads its pool only as far as a column could still
matter (the pool is sorted and prices are >= 0, so a column worth no more than its next best
can neither enter nor be a colleague that counts), and a bid another takes away is seen at
once: the same pools in 1.6 s, national ones in about 10 s instead of 59 (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from services.review.domain.affinity import AFFINITY_SCALE

FILL = 2.0 * AFFINITY_SCALE  # worth of a filled slot beyond its points
#: The bidding increment, in points. The assignment is within EPSILON per slot of the best
#: over the pool (a bound; measured at 60 000 × 5 of 20 000: 0.0025 % below ε = 1: docs/benchmarks.md).
EPSILON = 32.0
BIDS_PER_REPORT = 100_000  # bids between two reports of progress (about 0.1 s of bidding)


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
    progress: told now and then (slots filled, slots), the first never falling.
    """
    demand = np.asarray(demand, np.int64)
    most = int(demand.max(initial=0))
    cap = np.asarray(free, np.int64)
    start = np.cumsum(cap) - cap
    reservation = np.asarray(unit_price, np.float64)
    price = np.full(len(cap), np.inf)
    price[cap > 0] = reservation[start[cap > 0]]
    open_rows = np.flatnonzero(demand > 0)
    state = _State(
        unit_bid=reservation.copy(),
        unit_row=np.full(len(reservation), -1, np.int64),
        unit_column=np.full(len(reservation), -1, np.int64),
        kept=np.zeros(len(cap), np.int64),
        price=price,
        held=np.full((len(demand), max(most, 1)), -1, np.int64),
        held_count=np.zeros(len(demand), np.int64),
        queue=np.r_[open_rows, 0].astype(np.int64),
        in_queue=demand > 0,
        ends=np.array([0, len(open_rows), 0], np.int64),  # the queue's head and length; the last mark
    )
    institutions = np.asarray(institution, np.int64)
    marks = np.full(int(institutions.max(initial=0)) + 1, -1, np.int64)
    scratch = np.zeros((3, len(marks)))  # per institution: best net, its column, the next best net
    # Imported here: numba takes about 65 MB and 0.2 s to import, and only a large call needs it.
    from services.review.domain.auction_bids import bid

    budget = BIDS_PER_REPORT if progress is not None else -1
    bidding = True
    while bidding:
        bidding = bid(
            values,
            FILL,
            experts,
            institutions,
            demand,
            cap,
            start,
            reservation,
            float(epsilon),
            budget,
            marks,
            scratch,
            *state,
        )
        if progress is not None:
            progress(int(state.held_count.sum()), int(demand.sum()))
    return Auction(state.held[:, :most], np.where(cap > 0, state.price, 0.0))


class _State(NamedTuple):
    """The auction's state, in arrays the compiled loop updates in place."""

    # Per unit, expert after expert, held ones first and best first: the bid holding it, its row
    # and pool column (a free unit: its reservation, -1, -1).
    unit_bid: np.ndarray
    unit_row: np.ndarray
    unit_column: np.ndarray
    kept: np.ndarray  # per expert: units held
    price: np.ndarray  # per expert: what a new bid must beat (inf: no free cap)
    held: np.ndarray  # rows × most: the pool columns each row holds (-1: a slot open)
    held_count: np.ndarray
    queue: np.ndarray  # a ring of the rows waiting to bid (each once at most), rows + 1 long
    in_queue: np.ndarray
    ends: np.ndarray
