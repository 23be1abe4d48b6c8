"""Money: ``Decimal`` yuan quantised to the fen, stored as integer fen.

A float is never money (binary fractions cannot hold 0.1 yuan), so every entry
point rejects it with :class:`~propcare.errors.MoneyTypeError`, which is both a
``TypeError`` and a :class:`~propcare.errors.PropcareError`.

An amount a caller gives (:func:`exact`: a payment, a deposit, a fee, a target) is at
most ``MAX_AMOUNT`` yuan either way, ten billion (100亿): more than any estate's fees in
a century, and far below what integer fen overflow at (2**63 fen, about 9.2e16 yuan,
PostgreSQL's bigint and SQLite's integer alike). An amount propcare computes
(:func:`money`: a rate times an area, a late fee) may go beyond it up to ``LIMIT``
(10**15 yuan, where ``Decimal`` arithmetic at 28 digits is still exact to the fen);
anything larger is refused with ValidationError rather than overflowing.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from propcare.errors import MoneyTypeError, ValidationError

__all__ = [
    "FEN",
    "LIMIT",
    "MAX_AMOUNT",
    "ZERO",
    "exact",
    "from_fen",
    "money",
    "split",
    "split_by_weights",
    "to_fen",
]

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal(10**10)  # yuan, either way, for an amount a caller gives
LIMIT = Decimal(10**15)  # yuan, either way, for any amount at all

Amount = Decimal | int | str


def _as_decimal(value: object, field: str, limit: Decimal = LIMIT) -> Decimal:
    # bool is an int subclass; True yuan is a bug, not an amount.
    if isinstance(value, bool | float):
        raise MoneyTypeError(field, value, "money must be a Decimal, int or str, never a float")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        if len(value) > 40 or "\x00" in value:
            raise ValidationError(field, value, "is not a decimal number")
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(field, value, "is not a decimal number") from None
    else:
        raise MoneyTypeError(
            field, value, f"money must be a Decimal, int or str, not {type(value).__name__}"
        )
    if not result.is_finite():
        raise ValidationError(field, value, "money must be a finite number")
    if abs(result) > limit:
        raise ValidationError(field, value, f"must be at most {limit:,} yuan either way")
    return result


def money(value: Amount, field: str = "amount") -> Decimal:
    """Round ``value`` to the fen with ROUND_HALF_UP (0.005 -> 0.01, -0.005 -> -0.01).

    Use this for computed amounts (rate x area); use :func:`exact` for amounts a
    person typed, where a third decimal is a mistake rather than something to round.
    Up to ``LIMIT`` yuan either way.
    """
    return _as_decimal(value, field).quantize(FEN, rounding=ROUND_HALF_UP)


def exact(value: Amount, field: str = "amount", *, limit: Decimal = MAX_AMOUNT) -> Decimal:
    """Accept ``value`` only if it is already a whole number of fen, and at most
    ``limit`` (``MAX_AMOUNT``, ten billion yuan) either way: an amount a caller gives."""
    d = _as_decimal(value, field, limit)
    q = d.quantize(FEN, rounding=ROUND_HALF_UP)
    if q != d:
        raise ValidationError(field, value, "must be a whole number of fen (at most 2 decimals)")
    return q


def to_fen(value: Amount, field: str = "amount") -> int:
    """Integer fen for storage; the amount must already be whole fen (up to ``LIMIT``:
    what is stored was checked where it came in, or computed from what was)."""
    return int(exact(value, field, limit=LIMIT) * 100)


def from_fen(fen: int) -> Decimal:
    """The ``Decimal`` yuan amount for a stored integer fen."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise MoneyTypeError("fen", fen, "stored money must be an integer number of fen")
    return (Decimal(fen) / 100).quantize(FEN)


def split(total: Amount, parts: int, field: str = "total") -> list[Decimal]:
    """Split ``total`` into ``parts`` amounts that differ by at most one fen.

    The parts always sum exactly to the total; earlier parts take the extra fen.
    """
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValidationError("parts", parts, "must be a positive integer")
    return split_by_weights(total, [1] * parts, field=field)


def split_by_weights(
    total: Amount, weights: Sequence[Decimal | int], field: str = "total"
) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights`` by the largest-remainder method.

    Each part is first rounded down to the fen; the fen left over go one each to
    the parts with the largest remainders (ties to the earlier part), so the
    parts sum exactly to the total and no part is off by more than one fen from
    its exact share. A negative total splits into non-positive parts.
    """
    fen_total = to_fen(total, field)
    if not weights:
        raise ValidationError("weights", weights, "needs at least one weight")
    ws: list[Decimal] = []
    for i, w in enumerate(weights):
        if isinstance(w, bool | float) or not isinstance(w, Decimal | int):
            raise MoneyTypeError(f"weights[{i}]", w, "weights must be Decimal or int")
        dw = Decimal(w)
        if not dw.is_finite() or dw < 0:
            raise ValidationError(f"weights[{i}]", w, "weights must be finite and >= 0")
        ws.append(dw)
    weight_sum = sum(ws, Decimal(0))
    if weight_sum == 0:
        raise ValidationError("weights", list(weights), "must not all be zero")
    sign = -1 if fen_total < 0 else 1
    magnitude = abs(fen_total)
    floors: list[int] = []
    remainders: list[Decimal] = []
    for w in ws:
        share = Decimal(magnitude) * w / weight_sum
        floor = int(share.to_integral_value(rounding=ROUND_FLOOR))
        floors.append(floor)
        remainders.append(share - floor)
    left = magnitude - sum(floors)
    order = sorted(range(len(ws)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return [from_fen(sign * f) for f in floors]
