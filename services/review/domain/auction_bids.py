"""The auction's bidding loop, compiled (numba): see `auction.py` for what it does and why."""

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit

F = TypeVar("F", bound=Callable[..., Any])


def _compiled(function: F) -> F:
    """Compiled without the GIL (the solve runs in a native thread beside the service's), and
    cached on disk (NUMBA_CACHE_DIR, or beside this file)."""
    return cast(F, njit(cache=True, nogil=True)(function))


@_compiled
def bid(  # the compiled loop takes its state as arrays
    values: np.ndarray, fill: float, experts: np.ndarray, institution: np.ndarray, demand: np.ndarray, cap: np.ndarray,
    start: np.ndarray, reservation: np.ndarray, epsilon: float, budget: int, marks: np.ndarray, scratch: np.ndarray,
    unit_bid: np.ndarray, unit_row: np.ndarray, unit_column: np.ndarray, count: np.ndarray, price: np.ndarray,
    held: np.ndarray, held_count: np.ndarray, queue: np.ndarray, in_queue: np.ndarray, ends: np.ndarray,
) -> bool:  # fmt: skip
    """Let queued rows bid until the queue is empty (returns False) or `budget` bids were made
    (returns True; budget < 0: no limit)."""
    rows, width = values.shape
    most = held.shape[1]
    top = np.empty(most + 1, np.int64)  # institutions of the best so far, best first
    held_institutions = np.empty(most, np.int64)
    lost = np.empty((int(cap.max()) + 1 if len(cap) else 1, 2), np.int64)
    bids = 0
    while ends[1] > 0:
        if 0 <= budget <= bids:
            return True
        row = queue[ends[0]]
        ends[0] = (ends[0] + 1) % len(queue)
        ends[1] -= 1
        in_queue[row] = False
        wanted = demand[row] - held_count[row]
        if wanted <= 0:
            continue
        n_held = 0
        for slot in range(most):
            if held[row, slot] >= 0:
                held_institutions[n_held] = institution[experts[row, held[row, slot]]]
                n_held += 1
        ends[2] += 1
        stamp = ends[2]
        n_top = 0
        for column in range(width):
            value = values[row, column] + fill  # its worth
            if value == -np.inf:
                break
            if n_top == wanted + 1 and value <= scratch[0, top[n_top - 1]]:
                break  # worth no more than the next best, it can neither enter nor be a colleague that counts
            expert = experts[row, column]
            net = value - price[expert]
            if net == -np.inf:
                continue
            mine = institution[expert]
            h = 0
            while h < n_held and held_institutions[h] != mine:
                h += 1
            if h < n_held:  # an institution it holds
                continue
            if marks[mine] != stamp:
                marks[mine] = stamp
                scratch[0, mine], scratch[1, mine], scratch[2, mine] = net, column, -np.inf
            elif net > scratch[0, mine]:
                scratch[2, mine] = scratch[0, mine]
                scratch[0, mine], scratch[1, mine] = net, column
            else:
                if net > scratch[2, mine]:
                    scratch[2, mine] = net
                continue
            at = -1
            for k in range(n_top):
                if top[k] == mine:
                    at = k
            if at < 0:
                if n_top < wanted + 1:
                    at = n_top
                    n_top += 1
                elif net > scratch[0, top[n_top - 1]]:
                    at = n_top - 1
                else:
                    continue
                top[at] = mine
            while at > 0 and scratch[0, top[at - 1]] < net:  # strictly: the earlier column first at equal nets
                top[at - 1], top[at] = top[at], top[at - 1]
                at -= 1
        runner_up = scratch[0, top[wanted]] if n_top > wanted else 0.0
        runner_up = max(runner_up, 0.0)
        made = 0
        for k in range(min(wanted, n_top)):
            mine = top[k]
            net = scratch[0, mine]
            if net <= 0:
                break
            column = int(scratch[1, mine])
            bid = values[row, column] + fill - max(runner_up, scratch[2, mine]) + epsilon
            expert = experts[row, column]
            for slot in range(most):
                if held[row, slot] < 0:
                    held[row, slot] = column
                    break
            held_count[row] += 1
            made += 1
            bids += 1
            n_lost = _offer(
                expert, row, column, bid, cap, start, reservation, unit_bid, unit_row, unit_column, count, price, lost
            )
            for k_lost in range(n_lost):  # whoever the expert no longer keeps loses that column and bids again
                loser, gone = lost[k_lost, 0], lost[k_lost, 1]
                for slot in range(most):
                    if held[loser, slot] == gone:
                        held[loser, slot] = -1
                        break
                held_count[loser] -= 1
                _enqueue(loser, queue, in_queue, ends)
        if made and held_count[row] < demand[row]:
            _enqueue(row, queue, in_queue, ends)
    return False


@_compiled
def _enqueue(row: int, queue: np.ndarray, in_queue: np.ndarray, ends: np.ndarray) -> None:
    """The row at the queue's tail, unless it is in the queue already."""
    if not in_queue[row]:
        in_queue[row] = True
        queue[(ends[0] + ends[1]) % len(queue)] = row
        ends[1] += 1


@_compiled
def _offer(
    expert: int, row: int, column: int, bid: float, cap: np.ndarray, start: np.ndarray, reservation: np.ndarray,
    unit_bid: np.ndarray, unit_row: np.ndarray, unit_column: np.ndarray, count: np.ndarray, price: np.ndarray,
    lost: np.ndarray,
) -> int:  # fmt: skip
    """The expert takes the bid among its held ones (after those of an equal bid) and keeps
    them while each beats the reservation of the unit it would hold, up to its cap. Writes the
    (row, column) of each bid it no longer keeps into `lost` and returns how many."""
    first, held, units = start[expert], count[expert], cap[expert]
    at = held
    while at > 0 and unit_bid[first + at - 1] < bid:
        at -= 1
    if at == units:
        # Refused: not above a full expert's lowest bid. A bid beats the price by ε, so this only
        # guards the next expert's units, which compiled code does not bounds-check.
        lost[0, 0], lost[0, 1] = row, column
        return 1
    n_lost = 0
    last = min(held, units - 1)
    if held == units:  # full: its lowest bid goes
        lost[n_lost, 0], lost[n_lost, 1] = unit_row[first + last], unit_column[first + last]
        n_lost += 1
    for place in range(last, at, -1):
        unit_bid[first + place] = unit_bid[first + place - 1]
        unit_row[first + place] = unit_row[first + place - 1]
        unit_column[first + place] = unit_column[first + place - 1]
    unit_bid[first + at], unit_row[first + at], unit_column[first + at] = bid, row, column
    kept = min(held + 1, units)
    for place in range(kept):
        if unit_bid[first + place] < reservation[first + place]:
            kept = place
            break
    for unit in range(first + kept, first + min(held + 1, units)):
        lost[n_lost, 0], lost[n_lost, 1] = unit_row[unit], unit_column[unit]
        n_lost += 1
        unit_bid[unit], unit_row[unit], unit_column[unit] = reservation[unit], -1, -1
    count[expert] = kept
    price[expert] = unit_bid[first + min(kept, units - 1)]
    return n_lost
