"""One scan as the store prices it: the GTIN-14 candidates of the scanned code
(``store_server.shared.gs1``), the GS1 element strings a label may carry (weight,
amount payable, batch, expiry) and the store's variable-measure layouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from store_server.pricing.variable_measure import (
    VariableMeasure,
    VariableMeasureLayout,
    match_variable,
)
from store_server.shared.gs1 import element_gtin, plain_candidates, split_code

__all__ = ["ScanCode", "parse_scan"]


@dataclass(frozen=True)
class ScanCode:
    """Everything one scan says about the item.

    ``candidates`` are the GTIN-14s the scanned code may stand for, best first (two
    only for an 8-digit code that is both a valid EAN-8 and a valid UPC-E). When
    ``variable`` is set, the catalog item is ``variable.lookup_gtin14`` and the
    embedded price or weight applies. ``weight_g``/``price_cents``/``batch``/``expiry``
    come from GS1 element strings (AI 310x net weight, 392x amount payable, 10, 17).
    """

    candidates: tuple[str, ...]
    variable: VariableMeasure | None = None
    weight_g: int | None = None
    price_cents: int | None = None
    batch: str | None = None
    expiry: date | None = None


def _scaled(value: Decimal | None, factor: int) -> int | None:
    if value is None:
        return None
    return int((value * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_scan(code: str, layouts: Sequence[VariableMeasureLayout]) -> ScanCode:
    """Interpret one scan with the store's variable-measure layouts.

    Raises :class:`InvalidCode` for anything that is not a valid GTIN, and for an
    in-store code whose price/weight check digit is wrong.
    """
    digits, elements = split_code(code)
    if elements is None:
        assert digits is not None
        candidates = plain_candidates(digits)
        weight_g = price_cents = None
        batch = None
        expiry = None
    else:
        candidates = element_gtin(elements)
        weight = elements.get(ai="310")  # net weight in kg, AI 3100–3105
        weight_g = _scaled(weight.decimal if weight else None, 1000)
        amount = elements.get(ai="392")  # amount payable, local currency, AI 3920–3929
        price_cents = _scaled(amount.decimal if amount else None, 100)
        lot = elements.get(ai="10")
        batch = lot.value if lot else None
        expires = elements.get(ai="17")
        expiry = expires.date if expires else None
    variable = None
    for candidate in candidates:
        variable = match_variable(candidate, layouts)
        if variable is not None:
            break
    return ScanCode(
        candidates=candidates,
        variable=variable,
        weight_g=weight_g,
        price_cents=price_cents,
        batch=batch,
        expiry=expiry,
    )
