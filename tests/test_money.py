"""Money rules: whole fen, ROUND_HALF_UP, no floats, exact splits."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propcare import MoneyTypeError, PropcareError, ValidationError
from propcare.money import exact, from_fen, money, split, split_by_weights, to_fen
from propcare.testing.strategies import amounts, weights


@given(total=amounts(), parts=st.integers(1, 50))
def test_split_parts_always_sum_to_the_whole(total: Decimal, parts: int) -> None:
    result = split(total, parts)
    assert len(result) == parts
    assert sum(result, Decimal(0)) == total


@given(total=amounts(), parts=st.integers(1, 50))
def test_split_parts_differ_by_at_most_one_fen(total: Decimal, parts: int) -> None:
    result = split(total, parts)
    assert max(result) - min(result) <= Decimal("0.01")
    assert all(p == p.quantize(Decimal("0.01")) for p in result)


@given(total=amounts(), ws=weights())
def test_weighted_split_sums_and_stays_within_a_fen_of_the_exact_share(
    total: Decimal, ws: list[Decimal]
) -> None:
    result = split_by_weights(total, ws)
    assert sum(result, Decimal(0)) == total
    weight_sum = sum(ws)
    for part, w in zip(result, ws, strict=True):
        exact_share = total * w / weight_sum
        assert abs(part - exact_share) < Decimal("0.01")
        if w == 0:
            assert part == 0


def test_split_gives_the_extra_fen_to_the_largest_remainders_first() -> None:
    assert split(Decimal("100.00"), 3) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert split(Decimal("-0.05"), 3) == [Decimal("-0.02"), Decimal("-0.02"), Decimal("-0.01")]
    # 1.00 by 1:2 -> 0.333.. and 0.666..: the larger remainder (second) takes the fen.
    assert split_by_weights(Decimal("1.00"), [1, 2]) == [Decimal("0.33"), Decimal("0.67")]


@given(fen=st.integers(-(10**12), 10**12), extra=st.integers(0, 9))
def test_money_rounds_half_up_to_the_fen(fen: int, extra: int) -> None:
    value = Decimal(fen * 10 + extra).scaleb(-3)  # three decimals
    expected = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert money(value) == expected
    # Half away from zero, for a refund as for a charge.
    if extra == 5:
        assert abs(money(value)) > abs(value)


def test_money_rounding_examples() -> None:
    assert money(Decimal("2.675")) == Decimal("2.68")  # the float 2.675 would give 2.67
    assert money(Decimal("-0.005")) == Decimal("-0.01")
    assert money("12.344") == Decimal("12.34")
    assert money(3) == Decimal("3.00")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_float_is_never_money(value: float) -> None:
    for fn in (money, exact, to_fen):
        with pytest.raises(TypeError) as info:
            fn(value)  # type: ignore[arg-type]
        assert isinstance(info.value, PropcareError)
        assert isinstance(info.value, MoneyTypeError)
        assert "float" in str(info.value)


def test_bool_and_other_types_are_rejected() -> None:
    with pytest.raises(MoneyTypeError, match="amount=True"):
        money(True)  # type: ignore[arg-type]
    with pytest.raises(MoneyTypeError, match="list"):
        money([1])  # type: ignore[arg-type]
    with pytest.raises(MoneyTypeError):
        split_by_weights(Decimal("1.00"), [0.5, 0.5])  # type: ignore[list-item]


@given(amount=amounts())
def test_fen_round_trip_is_exact(amount: Decimal) -> None:
    assert from_fen(to_fen(amount)) == amount


def test_exact_refuses_fractions_of_a_fen_and_names_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        exact("10.005", field="payment.amount")
    message = str(info.value)
    assert "payment.amount" in message and "10.005" in message and "fen" in message


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", "", "1e"])
def test_text_that_is_not_a_finite_number_is_rejected(bad: str) -> None:
    with pytest.raises(ValidationError):
        money(bad)


def test_split_rejects_bad_parts_and_weights() -> None:
    with pytest.raises(ValidationError, match="parts=0"):
        split(Decimal("1.00"), 0)
    with pytest.raises(ValidationError, match="must not all be zero"):
        split_by_weights(Decimal("1.00"), [0, 0])
    with pytest.raises(ValidationError, match="weights\\[1\\]"):
        split_by_weights(Decimal("1.00"), [1, -1])
    with pytest.raises(ValidationError):
        split(Decimal("1.001"), 2)
