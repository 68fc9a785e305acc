"""Variable-measure (restricted circulation) numbers: an in-store item plus a price or weight.

GS1 leaves the layout of these EAN-13s to each national GS1 organisation and each
retailer, so a layout is configuration (a list of dicts in the settings), not code.
All layouts share one shape, in GTIN-13 form::

    PP  I…I  [K]  V…V  C
    |   |    |    |    +-- GTIN check digit (GS1 General Specifications 7.9.1)
    |   |    |    +------- value: price in cents or weight in grams (times ``value_multiplier``)
    |   |    +------------ optional price/weight check digit over the value
    |   +----------------- in-store item number (``item_digits``)
    +--------------------- two-digit RCN prefix: 20–29 (EAN-13) or 02 (UPC-A "2…" as GTIN-13)

``item_digits + value_digits + (1 if value_check_digit)`` is therefore always 10.
Examples: "2X IIIII VVVVV C" (5 + 5), Germany's "2X IIII K VVVVV C" (4 + 1 + 5),
the UK's "20 IIIII K VVVV C" (5 + 1 + 4).

The price/weight check digit ("K") follows GS1 General Specifications, section 7.9.2
(weighting factors 2-, 3, 5+, 5-), 7.9.3 (four-digit value) and 7.9.4 (five-digit
value); biip implements exactly that in ``biip.checksums.gs1_price_weight_check_digit``,
which this module uses rather than re-implementing it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from biip.checksums import gs1_price_weight_check_digit, gs1_standard_check_digit

from store_server.pricing.money import round_half_up_div
from store_server.shared.digits import is_ascii_digits
from store_server.shared.errors import InvalidCode, InvalidInput

__all__ = [
    "DEFAULT_LAYOUTS",
    "VariableMeasure",
    "VariableMeasureLayout",
    "layouts_from_config",
    "match_variable",
    "weight_price_cents",
]

MeasureKind = Literal["price", "weight"]

# GS1 General Specifications 1.4.x / 2.1.11: prefixes 02 and 20–29 are restricted
# circulation numbers for a geographic region (variable measure); 04 and 40–49 are
# restricted to one company. Any other prefix is a real GTIN and must never be
# reinterpreted as carrying a price.
_RCN_PREFIXES = frozenset(
    ["02", "04"] + [f"2{d}" for d in range(10)] + [f"4{d}" for d in range(10)]
)
_BODY_DIGITS = 10  # digits between the two-digit prefix and the GTIN-13 check digit


@dataclass(frozen=True)
class VariableMeasureLayout:
    """How one family of in-store codes embeds a price or a weight."""

    prefixes: frozenset[str]
    kind: MeasureKind
    item_digits: int
    value_digits: int
    value_check_digit: bool = False
    value_multiplier: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        problems = _layout_problems(self)
        if problems:
            raise InvalidInput(
                f"bad variable-measure layout {self.name!r}: " + "; ".join(problems),
                problems=problems,
            )

    @classmethod
    def from_config(cls, d: Mapping[str, object]) -> VariableMeasureLayout:
        """Build a layout from settings, e.g.
        ``{"name": "de-price", "prefixes": ["22", "23"], "kind": "price",
        "item_digits": 4, "value_check_digit": true, "value_digits": 5}``.

        ``prefixes`` may hold ranges such as ``"20-24"``; ``value_multiplier`` (default
        1) scales the value, e.g. 10 for weights printed in units of 10 g.
        """
        if not isinstance(d, Mapping):
            raise InvalidInput(
                "a variable-measure layout must be an object",
                problems=["layout is not an object"],
            )
        problems: list[str] = []
        known = {
            "name",
            "prefixes",
            "kind",
            "item_digits",
            "value_digits",
            "value_check_digit",
            "value_multiplier",
        }
        for key in sorted(set(map(str, d)) - known):
            problems.append(f"unknown field {key!r}")
        name = d.get("name", "")
        if not isinstance(name, str):
            problems.append("name must be a string")
            name = ""
        prefixes = _config_prefixes(d.get("prefixes"), problems)
        kind = d.get("kind")
        if kind not in ("price", "weight"):
            problems.append(f"kind must be 'price' or 'weight', got {kind!r}")
        item_digits = _config_int(d, "item_digits", None, problems)
        value_digits = _config_int(d, "value_digits", None, problems)
        multiplier = _config_int(d, "value_multiplier", 1, problems)
        check = d.get("value_check_digit", False)
        if not isinstance(check, bool):
            problems.append(f"value_check_digit must be true or false, got {check!r}")
            check = False
        if problems:
            raise InvalidInput(
                f"bad variable-measure layout {name!r}: " + "; ".join(problems),
                problems=problems,
            )
        return cls(
            prefixes=prefixes,
            kind=cast(MeasureKind, kind),
            item_digits=cast(int, item_digits),
            value_digits=cast(int, value_digits),
            value_check_digit=check,
            value_multiplier=cast(int, multiplier),
            name=name,
        )

    def to_config(self) -> dict[str, object]:
        """The settings form, so a layout can be written back or shown."""
        return {
            "name": self.name,
            "prefixes": sorted(self.prefixes),
            "kind": self.kind,
            "item_digits": self.item_digits,
            "value_digits": self.value_digits,
            "value_check_digit": self.value_check_digit,
            "value_multiplier": self.value_multiplier,
        }


def _layout_problems(layout: VariableMeasureLayout) -> list[str]:
    problems: list[str] = []
    if not layout.prefixes:
        problems.append("prefixes must not be empty")
    for prefix in sorted(layout.prefixes):
        if prefix not in _RCN_PREFIXES:
            problems.append(
                f"prefix {prefix!r} is not a restricted-circulation prefix (02, 04, 20-29, 40-49)"
            )
    if layout.kind not in ("price", "weight"):
        problems.append(f"kind must be 'price' or 'weight', got {layout.kind!r}")
    if layout.item_digits < 1:
        problems.append("item_digits must be at least 1")
    if layout.value_digits < 1:
        problems.append("value_digits must be at least 1")
    if layout.value_check_digit and layout.value_digits not in (4, 5):
        problems.append("a value check digit exists only for 4 or 5 value digits (GS1 7.9.3/7.9.4)")
    used = layout.item_digits + layout.value_digits + int(layout.value_check_digit)
    if used != _BODY_DIGITS:
        problems.append(
            f"item_digits + value_digits (+1 for a value check digit) must be 10, got {used}"
        )
    if layout.value_multiplier < 1:
        problems.append("value_multiplier must be at least 1")
    return problems


def _config_prefixes(raw: object, problems: list[str]) -> frozenset[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, Sequence) or not raw:
        problems.append('prefixes must be a non-empty list such as ["20", "21-24"]')
        return frozenset()
    out: set[str] = set()
    for item in raw:
        text = item if isinstance(item, str) else repr(item)
        low, sep, high = text.partition("-")
        if not sep:
            high = low
        two_digits = len(low) == len(high) == 2 and is_ascii_digits(low + high)
        if not two_digits or low > high:
            problems.append(f"bad prefix {text!r}: expected two digits or a range like '20-24'")
            continue
        out.update(f"{n:02d}" for n in range(int(low), int(high) + 1))
    return frozenset(out)


def _config_int(
    d: Mapping[str, object], key: str, default: int | None, problems: list[str]
) -> int | None:
    value = d.get(key, default)
    if value is None:
        problems.append(f"{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{key} must be a whole number, got {value!r}")
        return None
    return value


def layouts_from_config(items: Sequence[Mapping[str, object]]) -> tuple[VariableMeasureLayout, ...]:
    """Parse a settings list, reporting every bad layout (by position) at once."""
    layouts: list[VariableMeasureLayout] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            layouts.append(VariableMeasureLayout.from_config(item))
        except InvalidInput as exc:
            inner = exc.details.get("problems")
            for problem in inner if isinstance(inner, list) else [exc.message]:
                problems.append(f"layout #{index + 1}: {problem}")
    if problems:
        raise InvalidInput(
            "bad variable-measure layouts: " + "; ".join(problems), problems=problems
        )
    return tuple(layouts)


# Default layouts for a store that configures none. There is no world-wide rule; this
# mirrors the most common European practice ("2X IIIII VVVVV C": five-digit item
# number, five-digit value, no value check digit), splitting the range so that
# 20–24 carry a price in cents and 25–29 a weight in grams, and reads UPC-A number
# system 2 ("2 IIIII VVVVV C", i.e. GTIN-13 "02…") as a price, as US stores do.
DEFAULT_LAYOUTS: tuple[VariableMeasureLayout, ...] = (
    VariableMeasureLayout(
        name="ean-price",
        prefixes=frozenset(f"2{d}" for d in range(5)),
        kind="price",
        item_digits=5,
        value_digits=5,
    ),
    VariableMeasureLayout(
        name="ean-weight",
        prefixes=frozenset(f"2{d}" for d in range(5, 10)),
        kind="weight",
        item_digits=5,
        value_digits=5,
    ),
    VariableMeasureLayout(
        name="upc-price",
        prefixes=frozenset({"02"}),
        kind="price",
        item_digits=5,
        value_digits=5,
    ),
)


@dataclass(frozen=True)
class VariableMeasure:
    """What a variable-measure scan means: which catalog item, and its price or weight."""

    lookup_gtin14: str
    kind: MeasureKind
    price_cents: int | None
    weight_g: int | None


def match_variable(gtin14: str, layouts: Sequence[VariableMeasureLayout]) -> VariableMeasure | None:
    """Read the embedded value of an in-store code, or ``None`` for an ordinary GTIN.

    The first layout (in configuration order) whose prefixes include the code's
    prefix decides. The catalog knows the item by its code with the value (and value
    check digit) zeroed and the GTIN check digit recomputed: that is ``lookup_gtin14``.
    """
    if len(gtin14) != 14 or not is_ascii_digits(gtin14):
        raise InvalidCode(f"not a GTIN-14: {gtin14!r}")
    expected = gs1_standard_check_digit(gtin14[:-1])
    if int(gtin14[-1]) != expected:
        raise InvalidCode(f"bad check digit in {gtin14}: expected {expected}, got {gtin14[-1]}")
    if gtin14[0] != "0":
        return None  # packaging indicator 1-9: a case, never a weighed item
    gtin13 = gtin14[1:]
    prefix = gtin13[:2]
    layout = next((lay for lay in layouts if prefix in lay.prefixes), None)
    if layout is None:
        return None
    body = gtin13[2:12]
    item = body[: layout.item_digits]
    value = body[len(body) - layout.value_digits :]
    if layout.value_check_digit:
        given = int(body[layout.item_digits])
        wanted = gs1_price_weight_check_digit(value)
        if given != wanted:
            raise InvalidCode(
                f"bad {layout.kind} check digit in {gtin13}: "
                f"expected {wanted} for value {value}, got {given}"
            )
    zeroed = prefix + item + "0" * (_BODY_DIGITS - layout.item_digits)
    lookup = "0" + zeroed + str(gs1_standard_check_digit(zeroed))
    amount = int(value) * layout.value_multiplier
    return VariableMeasure(
        lookup_gtin14=lookup,
        kind=layout.kind,
        price_cents=amount if layout.kind == "price" else None,
        weight_g=amount if layout.kind == "weight" else None,
    )


def weight_price_cents(weight_g: int, price_per_kg_cents: int) -> int:
    """Price of a weighed item: grams × price per kg / 1000, rounded half-up to the cent."""
    if weight_g < 0 or price_per_kg_cents < 0:
        raise InvalidInput(
            "weight and price per kg must not be negative",
            problems=[f"weight_g={weight_g}, price_per_kg_cents={price_per_kg_cents}"],
        )
    return round_half_up_div(weight_g * price_per_kg_cents, 1000)
