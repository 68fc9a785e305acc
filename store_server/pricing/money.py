"""Money as integer minor units (cents); never floats.

Every rounding in Caddie goes through :func:`round_half_up_div`, so a price, a
weight line, a percentage discount and a tax amount all round the same way and a
receipt can be recomputed to the cent by anyone.
"""

from __future__ import annotations

from decimal import Decimal

from store_server.shared.errors import InvalidInput

__all__ = ["round_half_up_div", "tax_included", "format_cents", "decimal_ratio"]


def round_half_up_div(numerator: int, denominator: int) -> int:
    """Divide two integers and round half away from zero (commercial rounding).

    Integer arithmetic only, so no binary-float surprise such as 2.675 -> 2.67.
    Negative quotients round symmetrically (-2.5 -> -3) so a refund mirrors a charge.
    """
    if denominator == 0:
        raise ZeroDivisionError("round_half_up_div: denominator is zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return sign * quotient


def decimal_ratio(value: Decimal) -> tuple[int, int]:
    """Exact ``(numerator, denominator)`` of a finite Decimal, denominator > 0."""
    if not value.is_finite():
        raise InvalidInput(f"not a finite number: {value}", problems=[f"not finite: {value}"])
    numerator, denominator = value.as_integer_ratio()
    return numerator, denominator


def tax_included(gross_cents: int, rate: Decimal) -> int:
    """Tax contained in a tax-inclusive amount: ``gross × rate / (1 + rate)``.

    Shelf prices include tax, so the tax is extracted rather than added; it is
    computed once per rate bucket (not per line) to avoid accumulating rounding.
    """
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0:
        raise InvalidInput(
            f"tax rate must be a non-negative decimal fraction, got {rate!r}",
            problems=[f"bad tax rate {rate!r}"],
        )
    p, q = decimal_ratio(rate)
    return round_half_up_div(gross_cents * p, q + p)


def format_cents(cents: int, currency: str) -> str:
    """Human text for an amount, e.g. ``format_cents(1234, "EUR") == "12.34 EUR"``.

    Assumes two minor-unit digits, like every amount Caddie handles.
    """
    sign = "-" if cents < 0 else ""
    units, minor = divmod(abs(cents), 100)
    return f"{sign}{units}.{minor:02d} {currency}"
