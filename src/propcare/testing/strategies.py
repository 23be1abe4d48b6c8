"""Hypothesis strategies for propcare values."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

__all__ = ["amounts", "floor_areas", "mobile_phones", "weights"]


def amounts(min_fen: int = -(10**12), max_fen: int = 10**12) -> st.SearchStrategy[Decimal]:
    """Whole-fen Decimal amounts (up to ten billion yuan either way by default)."""
    return st.integers(min_fen, max_fen).map(lambda f: (Decimal(f) / 100).quantize(Decimal("0.01")))


def floor_areas() -> st.SearchStrategy[Decimal]:
    """Floor areas a unit may have: 1 to 100,000 square metres with up to 4 decimals."""
    return st.integers(10**4, 10**9).map(lambda n: Decimal(n).scaleb(-4).normalize())


def weights(max_size: int = 20) -> st.SearchStrategy[list[Decimal]]:
    """Non-negative weights, not all zero."""
    return st.lists(st.integers(0, 10**6).map(Decimal), min_size=1, max_size=max_size).filter(
        lambda ws: any(ws)
    )


def mobile_phones() -> st.SearchStrategy[str]:
    """Valid mainland mobile numbers: 1, a digit 3-9, nine more digits."""
    return st.builds(
        lambda second, rest: f"1{second}{rest:09d}", st.integers(3, 9), st.integers(0, 10**9 - 1)
    )
