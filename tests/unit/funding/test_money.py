from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from services.funding.domain.money import add_by_source, split_by_source, split_largest_remainder

weights = st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=6).filter(any)


@given(total=st.integers(min_value=0, max_value=10**12), weights=weights)
def test_parts_add_up_to_the_whole_and_each_is_within_a_fen_of_its_exact_share(total, weights):
    parts = split_largest_remainder(total, weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights):
        exact = Fraction(total * weight, sum(weights))
        assert abs(part - exact) < 1
        if weight == 0:
            assert part == 0


def test_the_left_over_fen_go_to_the_largest_remainders_then_to_the_first_listed():
    # 100 fen in thirds: 33.33 each, one fen left over goes to the first part
    assert split_largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    # 10 fen as 15:35:50 -> 1.5, 3.5, 5: one fen left, tie between the halves goes first
    assert split_largest_remainder(10, [15, 35, 50]) == [2, 3, 5]
    # 7 fen as 1:2 -> 2.33, 4.67: the larger remainder wins
    assert split_largest_remainder(7, [1, 2]) == [2, 5]


def test_a_split_by_source_follows_the_canonical_source_order_whatever_the_key_order():
    one = split_by_source(100, {"social": 1, "provincial_special": 1, "local_government": 1})
    other = split_by_source(100, {"local_government": 1, "provincial_special": 1, "social": 1})
    assert one == other == {"provincial_special": 34, "local_government": 33, "social": 33}
    assert list(one) == ["provincial_special", "local_government", "social"]


@pytest.mark.parametrize(
    "total, weights, message",
    [
        (1.5, [1], "integer number of fen"),
        (-1, [1], ">= 0"),
        (True, [1], "integer number of fen"),
        (10, [], "non-negative integers"),
        (10, [0, 0], "must not all be zero"),
        (10, [1, -1], "non-negative integers"),
    ],
)
def test_bad_splits_are_refused(total, weights, message):
    with pytest.raises((TypeError, ValueError), match=message):
        split_largest_remainder(total, weights)


def test_an_unknown_source_is_refused():
    with pytest.raises(ValueError, match="unknown funding source"):
        split_by_source(100, {"municipal": 1})


def test_amounts_add_per_source():
    assert add_by_source({"social": 5, "provincial_special": 1}, {"social": 2}) == {
        "provincial_special": 1,
        "social": 7,
    }
