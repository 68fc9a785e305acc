"""GS1 check digits for building test codes.

Computed here from the GS1 General Specifications (7.9.1: weights 3, 1, 3, … from the
right, mod 10) rather than with the library the product uses, so the product's own
check-digit validation is tested against an oracle it does not share.
"""

from __future__ import annotations


def mod10(payload: str) -> str:
    """The check digit of ``payload`` (any length of digits)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(payload)))
    return str((10 - total % 10) % 10)


def with_check_digit(payload: str) -> str:
    """``payload`` completed with its check digit (a 13-digit body gives a GTIN-14)."""
    return payload + mod10(payload)
