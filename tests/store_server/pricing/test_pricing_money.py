from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store_server.pricing.money import format_cents, round_half_up_div, tax_included
from store_server.shared.errors import InvalidInput


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (5, 2, 3),
        (4, 2, 2),
        (7, 2, 4),
        (1, 3, 0),
        (2, 3, 1),
        (-5, 2, -3),
        (5, -2, -3),
        (-1, 3, 0),
        (1499, 1000, 1),
        (1500, 1000, 2),
        (0, 7, 0),
    ],
)
def test_round_half_up_div_examples(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_up_div(numerator, denominator) == expected


def test_round_half_up_div_rejects_zero() -> None:
    with pytest.raises(ZeroDivisionError):
        round_half_up_div(1, 0)


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_round_half_up_div_matches_exact_fraction(numerator: int, denominator: int) -> None:
    exact = Fraction(numerator, denominator)
    got = round_half_up_div(numerator, denominator)
    assert abs(exact - got) <= Fraction(1, 2)
    if abs(exact - got) == Fraction(1, 2):  # ties go away from zero
        assert abs(got) > abs(exact)


@pytest.mark.parametrize(
    ("gross", "rate", "expected"),
    [
        (1055, "0.055", 55),
        (120, "0.2", 20),
        (1000, "0.055", 52),
        (200, "0.2", 33),
        (100, "0", 0),
        (110, "0.1", 10),
        (5, "0.2", 1),
    ],
)
def test_tax_included(gross: int, rate: str, expected: int) -> None:
    assert tax_included(gross, Decimal(rate)) == expected


def test_tax_included_rejects_negative_rate() -> None:
    with pytest.raises(InvalidInput):
        tax_included(100, Decimal("-0.1"))


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (1234, "12.34 EUR"),
        (5, "0.05 EUR"),
        (0, "0.00 EUR"),
        (-50, "-0.50 EUR"),
        (100000, "1000.00 USD"),
    ],
)
def test_format_cents(cents: int, text: str) -> None:
    currency = text.split()[1]
    assert format_cents(cents, currency) == text
