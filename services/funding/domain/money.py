"""Money in integer fen, the funding sources, and the one way we split an amount.

Every split in the funding service (an award across its sources, a source's share
across the tranches) uses the largest-remainder method, so the parts always add up to
the whole to the fen:

1. each part gets the floor of its exact share, `total * weight // sum(weights)`;
2. the fen left over (fewer than the number of parts) go one each to the parts with
   the largest remainder `total * weight % sum(weights)`;
3. ties go to the part listed first (sources in `SOURCES` order, tranches in plan order).

Each part is therefore within one fen of its exact share, and a part of weight 0 gets 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.contracts.funding import SOURCES


def check_fen(value: object, name: str, *, positive: bool = False) -> int:
    """An amount of money: an int (not bool, not float) of fen, >= 0 (or > 0)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer number of fen, got {value!r}")
    if value < (1 if positive else 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'} fen, got {value}")
    return value


def split_largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` fen in proportion to non-negative integer `weights` (see module doc)."""
    check_fen(total, "total")
    if not weights or any(isinstance(w, bool) or not isinstance(w, int) or w < 0 for w in weights):
        raise ValueError(f"weights must be non-negative integers, got {list(weights)!r}")
    whole = sum(weights)
    if whole == 0:
        raise ValueError("weights must not all be zero")
    parts = [total * w // whole for w in weights]
    left_over = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[:left_over]:
        parts[i] += 1
    return parts


def split_by_source(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split `total` across sources by weight; keys in `SOURCES` order."""
    sources = [s for s in SOURCES if s in weights]
    unknown = set(weights) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown funding source(s) {sorted(unknown)}; expected one of {list(SOURCES)}")
    return dict(zip(sources, split_largest_remainder(total, [weights[s] for s in sources])))


def add_by_source(*amounts: Mapping[str, int]) -> dict[str, int]:
    """Sum amounts per source; keys in `SOURCES` order, every key seen kept (even at 0)."""
    seen = {s for amount in amounts for s in amount}
    return {s: sum(a.get(s, 0) for a in amounts) for s in SOURCES if s in seen}
