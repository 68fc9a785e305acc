"""PREVIOUS VERSION of Caddie's own promotion engine (store_server/pricing/promotions.py).

Kept verbatim, only inside benchmarks/, as the "before" of benchmarks/pricing_bench.py and as
the reference the new engine is cross-checked against in
tests/store_server/pricing/test_pricing_promotions_reference.py. Not imported by the product.
Original module docstring follows.

The promotion engine: what a whole basket costs after every offer it qualifies for.

Semantics (the shop's words, fixed here so the server, the receipts and the tests agree):

* ``percent_off`` / ``amount_off`` take a percentage / a fixed amount off each eligible
  unit (rounded half-up per unit, never more than the unit's price).
* ``loyalty_price`` sells each eligible unit at ``loyalty_price_cents``; it needs the
  loyalty card, whatever ``loyalty_only`` says. ``loyalty_only`` restricts any kind.
* ``multi_buy`` ("3 for 2": ``buy_qty=3, pay_qty=2``) and ``bundle_price`` ("2 for 5.00":
  ``bundle_qty=2, bundle_price_cents=500``) form groups of units of *one* GTIN; a
  promotion listing several GTINs or a category runs once per GTIN.
* ``mix_and_match`` forms groups from *any* eligible units (its GTINs and categories
  together), priced either ``bundle_qty`` for ``bundle_price_cents`` or ``buy_qty``
  for ``pay_qty``; in an N-for-M group the cheapest units are the free ones.
* A unit is eligible when its GTIN-14 is in ``gtins`` or its category in ``categories``.
  A weighed line (``weight_g`` set) is one unit, eligible only for percent/amount off.
* A promotion is active when ``starts_at <= at < ends_at`` (either bound may be open).

Optimisation. Each unit counts in at most one promotion, and the shopper gets the
best total. Units are reduced to *unit types* (GTIN, category, price, tax rate,
weighed) sorted canonically, so the answer cannot depend on line order or on how
quantities are split across lines. Every unit first takes its best per-unit offer
``s(u)`` (ties: lowest promotion id). Group offers are then an exact set-packing
search over the counts of unit types: the first remaining unit either stays single or
opens a group with units of later types; a group is worth its discount minus the
``s(u)`` its members give up. Results are memoised on the count vector, and types
that share no group offer are solved separately. A basket so large that the search
exceeds ``SEARCH_BUDGET`` steps falls back, per component, to a deterministic
greedy (repeatedly the most valuable group; ties by promotion id), which is the only
case where the result may be short of the optimum.

Tax is extracted per rate from the amounts paid after each discount was allocated
to the units it came from (N-for-M: to the free units; N-for-price: pro rata to
price, largest remainders first).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from store_server.pricing.money import decimal_ratio, round_half_up_div, tax_included
from store_server.shared.errors import InvalidCode, InvalidInput
from store_server.shared.gs1 import normalize_gtin

__all__ = [
    "KINDS",
    "SEARCH_BUDGET",
    "Discount",
    "PricedLine",
    "PricingResult",
    "Promotion",
    "PromotionKind",
    "TaxLine",
    "evaluate",
]

PromotionKind = Literal[
    "percent_off", "amount_off", "multi_buy", "bundle_price", "mix_and_match", "loyalty_price"
]
KINDS: tuple[str, ...] = (
    "percent_off",
    "amount_off",
    "multi_buy",
    "bundle_price",
    "mix_and_match",
    "loyalty_price",
)
_PER_UNIT_KINDS = frozenset({"percent_off", "amount_off", "loyalty_price"})
_SAME_GTIN_KINDS = frozenset({"multi_buy", "bundle_price"})
_PARAMETERS = (
    "percent",
    "amount_cents",
    "buy_qty",
    "pay_qty",
    "bundle_qty",
    "bundle_price_cents",
    "loyalty_price_cents",
)
_REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    # kind -> accepted parameter sets (exactly one must be given in full)
    "percent_off": (("percent",),),
    "amount_off": (("amount_cents",),),
    "multi_buy": (("buy_qty", "pay_qty"),),
    "bundle_price": (("bundle_qty", "bundle_price_cents"),),
    "mix_and_match": (("bundle_qty", "bundle_price_cents"), ("buy_qty", "pay_qty")),
    "loyalty_price": (("loyalty_price_cents",),),
}

SEARCH_BUDGET = 20_000
"""Steps of exact search per basket component before falling back to greedy."""


@dataclass(frozen=True)
class PricedLine:
    """A basket line as priced from the catalog, before promotions."""

    key: str
    gtin: str
    category: str
    qty: int
    unit_price_cents: int
    line_total_cents: int
    tax_rate: Decimal
    weight_g: int | None = None


@dataclass(frozen=True)
class Discount:
    """Money off from one promotion (positive = off), shown to the shopper as a line."""

    promotion_id: str
    label: str
    amount_cents: int


@dataclass(frozen=True)
class TaxLine:
    """Tax included in what is paid at one rate."""

    rate: Decimal
    gross_cents: int
    tax_cents: int


@dataclass(frozen=True)
class PricingResult:
    """The basket's totals; ``line_discounts`` tells which line each cent came off."""

    subtotal_cents: int
    discounts: tuple[Discount, ...]
    total_cents: int
    tax_cents: int
    taxes: tuple[TaxLine, ...]
    line_discounts: tuple[tuple[str, int], ...] = field(default=())


@dataclass(frozen=True)
class Promotion:
    """One offer. Build from data with :meth:`from_dict`; invalid offers cannot exist."""

    id: str
    label: str
    kind: PromotionKind
    gtins: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    percent: Decimal | None = None
    amount_cents: int | None = None
    buy_qty: int | None = None
    pay_qty: int | None = None
    bundle_qty: int | None = None
    bundle_price_cents: int | None = None
    loyalty_price_cents: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    loyalty_only: bool = False

    def __post_init__(self) -> None:
        problems = _promotion_problems(self)
        if problems:
            raise InvalidInput(
                f"bad promotion {self.id!r}: " + "; ".join(problems), problems=problems
            )

    # -- rules -------------------------------------------------------------------------

    def applies_to(self, gtin: str, category: str) -> bool:
        """Whether a unit with this GTIN-14 and category is covered by the offer."""
        return gtin in self.gtins or category in self.categories

    def is_active(self, at: datetime, *, loyalty_card: bool) -> bool:
        """Validity window (start inclusive, end exclusive) and loyalty condition."""
        if (self.loyalty_only or self.kind == "loyalty_price") and not loyalty_card:
            return False
        if self.starts_at is not None and at < self.starts_at:
            return False
        return not (self.ends_at is not None and at >= self.ends_at)

    @property
    def group_size(self) -> int | None:
        """Units per group for group offers, ``None`` for per-unit offers."""
        if self.kind in _PER_UNIT_KINDS:
            return None
        return self.bundle_qty if self.bundle_qty is not None else self.buy_qty

    # -- data --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form; ``Promotion.from_dict(p.to_dict()) == p``."""
        return {
            "id": self.id,
            "label": self.label,
            "kind": self.kind,
            "gtins": sorted(self.gtins),
            "categories": sorted(self.categories),
            "percent": None if self.percent is None else str(self.percent),
            "amount_cents": self.amount_cents,
            "buy_qty": self.buy_qty,
            "pay_qty": self.pay_qty,
            "bundle_qty": self.bundle_qty,
            "bundle_price_cents": self.bundle_price_cents,
            "loyalty_price_cents": self.loyalty_price_cents,
            "starts_at": None if self.starts_at is None else self.starts_at.isoformat(),
            "ends_at": None if self.ends_at is None else self.ends_at.isoformat(),
            "loyalty_only": self.loyalty_only,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Promotion:
        """Parse JSON values or their CSV text forms; report every problem at once.

        Lists (``gtins``, ``categories``) may be given as one string separated by
        ``;``; GTINs are normalised to GTIN-14; times need a UTC offset and are
        stored in UTC. Unknown keys are ignored, as everywhere in the protocol.
        """
        if not isinstance(d, Mapping):
            raise InvalidInput("a promotion must be an object", problems=["not an object"])
        problems: list[str] = []
        values: dict[str, object] = {}
        values["id"] = _text(d, "id", problems)
        values["label"] = _text(d, "label", problems)
        kind = d.get("kind")
        if isinstance(kind, str) and kind.strip() in KINDS:
            values["kind"] = kind.strip()
        elif kind is None or kind == "":
            problems.append("kind is missing")
        else:
            problems.append(f"unknown kind {kind!r}")
        values["gtins"] = _gtins(d.get("gtins"), problems)
        values["categories"] = frozenset(_items(d.get("categories"), "categories", problems))
        values["percent"] = _decimal(d, "percent", problems)
        for name in _PARAMETERS[1:]:
            values[name] = _int(d, name, problems)
        values["starts_at"] = _datetime(d, "starts_at", problems)
        values["ends_at"] = _datetime(d, "ends_at", problems)
        values["loyalty_only"] = _bool(d, "loyalty_only", problems)
        if problems:
            raise InvalidInput("bad promotion: " + "; ".join(problems), problems=problems)
        return cls(**values)  # type: ignore[arg-type]


# -- validation ---------------------------------------------------------------------------


def _promotion_problems(p: Promotion) -> list[str]:
    problems: list[str] = []
    if not isinstance(p.id, str) or not p.id.strip():
        problems.append("id is missing")
    if not isinstance(p.label, str) or not p.label.strip():
        problems.append("label is missing")
    if p.kind not in KINDS:
        problems.append(f"unknown kind {p.kind!r}")
        return problems
    for gtin in sorted(p.gtins):
        if not (isinstance(gtin, str) and len(gtin) == 14 and _is_gtin14(gtin)):
            problems.append(f"gtins must be valid GTIN-14s, got {gtin!r}")
    if not p.gtins and not p.categories:
        problems.append("needs at least one GTIN or category")
    given = {name for name in _PARAMETERS if getattr(p, name) is not None}
    options = _REQUIRED[p.kind]
    matching = [opt for opt in options if set(opt) <= given]
    if not matching:
        wanted = " or ".join(" and ".join(opt) for opt in options)
        problems.append(f"{p.kind} needs {wanted}")
    else:
        for name in sorted(given - set(matching[0]), key=_PARAMETERS.index):
            problems.append(f"{name} does not apply to {p.kind}")
    if p.percent is not None and not (Decimal(0) < p.percent <= Decimal(100)):
        problems.append(f"percent must be more than 0 and at most 100, got {p.percent}")
    if p.amount_cents is not None and p.amount_cents <= 0:
        problems.append(f"amount_cents must be positive, got {p.amount_cents}")
    if p.buy_qty is not None and p.buy_qty < 2:
        problems.append(f"buy_qty must be at least 2, got {p.buy_qty}")
    if p.pay_qty is not None and p.buy_qty is not None and not 1 <= p.pay_qty < p.buy_qty:
        problems.append(f"pay_qty must be from 1 to buy_qty - 1, got {p.pay_qty}")
    if p.bundle_qty is not None and p.bundle_qty < 2:
        problems.append(f"bundle_qty must be at least 2, got {p.bundle_qty}")
    for name in ("bundle_price_cents", "loyalty_price_cents"):
        value = getattr(p, name)
        if value is not None and value < 0:
            problems.append(f"{name} must not be negative, got {value}")
    for name in ("starts_at", "ends_at"):
        value = getattr(p, name)
        if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
            problems.append(f"{name} needs a UTC offset")
    if (
        not any("needs a UTC offset" in problem for problem in problems)
        and p.starts_at is not None
        and p.ends_at is not None
        and p.starts_at >= p.ends_at
    ):
        problems.append("ends_at must be after starts_at")
    return problems


def _is_gtin14(gtin: str) -> bool:
    try:
        return normalize_gtin(gtin) == gtin
    except InvalidCode:
        return False


def _raw(d: Mapping[str, object], key: str) -> object:
    value = d.get(key)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _text(d: Mapping[str, object], key: str, problems: list[str]) -> str:
    value = _raw(d, key)
    if value is None:
        problems.append(f"{key} is missing")
        return ""
    if not isinstance(value, str):
        problems.append(f"{key} must be text, got {value!r}")
        return ""
    return value


def _items(raw: object, key: str, problems: list[str]) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(";") if part.strip()]
    if isinstance(raw, list | tuple | set | frozenset) and all(isinstance(x, str) for x in raw):
        return [x.strip() for x in raw if x.strip()]
    problems.append(f"{key} must be a list of text or text separated by ';'")
    return []


def _gtins(raw: object, problems: list[str]) -> frozenset[str]:
    out: set[str] = set()
    for item in _items(raw, "gtins", problems):
        try:
            out.add(normalize_gtin(item))
        except InvalidCode as exc:
            problems.append(f"bad GTIN {item!r}: {exc.message}")
    return frozenset(out)


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _int(d: Mapping[str, object], key: str, problems: list[str]) -> int | None:
    value = _raw(d, key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    problems.append(f"bad number for {key}: {value!r} is not a whole number")
    return None


def _decimal(d: Mapping[str, object], key: str, problems: list[str]) -> Decimal | None:
    value = _raw(d, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        problems.append(f"bad number for {key}: {value!r}")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        problems.append(f"bad number for {key}: {value!r}")
        return None
    if not number.is_finite():
        problems.append(f"bad number for {key}: {value!r}")
        return None
    return number


def _datetime(d: Mapping[str, object], key: str, problems: list[str]) -> datetime | None:
    value = _raw(d, key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            problems.append(f"bad date for {key}: {value!r} is not ISO 8601")
            return None
    if not isinstance(value, datetime):
        problems.append(f"bad date for {key}: {value!r}")
        return None
    if value.utcoffset() is None:
        problems.append(f"bad date for {key}: {value.isoformat()!r} needs a UTC offset")
        return None
    return value.astimezone(UTC)


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _bool(d: Mapping[str, object], key: str, problems: list[str]) -> bool:
    value = _raw(d, key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    problems.append(f"{key} must be true or false, got {value!r}")
    return False


# -- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class _UnitType:
    """Interchangeable units: same GTIN, category, price, tax rate and weighed-ness."""

    gtin: str
    category: str
    price: int
    tax_rate: Decimal
    weighed: bool


def _unit_prices(line: PricedLine) -> list[int]:
    if line.weight_g is not None:
        return [line.line_total_cents]
    base, extra = divmod(line.line_total_cents, line.qty)
    return [base + 1] * extra + [base] * (line.qty - extra)


def _validate_lines(lines: Sequence[PricedLine]) -> None:
    problems: list[str] = []
    for line in lines:
        if line.qty < 1:
            problems.append(f"line {line.key}: qty must be at least 1")
        if line.line_total_cents < 0 or line.unit_price_cents < 0:
            problems.append(f"line {line.key}: prices must not be negative")
    if len({line.key for line in lines}) != len(lines):
        problems.append("line keys must be unique")
    if problems:
        raise InvalidInput("bad basket lines: " + "; ".join(problems), problems=problems)


def _single_discount(promotion: Promotion, unit: _UnitType) -> int:
    if promotion.kind == "percent_off":
        assert promotion.percent is not None
        numerator, denominator = decimal_ratio(promotion.percent)
        off = round_half_up_div(unit.price * numerator, 100 * denominator)
    elif promotion.kind == "amount_off":
        assert promotion.amount_cents is not None
        off = promotion.amount_cents
    else:  # loyalty_price
        if unit.weighed:
            return 0
        assert promotion.loyalty_price_cents is not None
        off = unit.price - promotion.loyalty_price_cents
    return max(0, min(off, unit.price))


def _group_discounts(promotion: Promotion, prices: Sequence[int]) -> list[int]:
    """Discount per member (same order as ``prices``); all zero when not worth it."""
    if promotion.bundle_qty is not None:
        assert promotion.bundle_price_cents is not None
        total = sum(prices)
        off = total - promotion.bundle_price_cents
        if off <= 0:
            return [0] * len(prices)
        shares = [off * price // total for price in prices]
        left = off - sum(shares)
        # Largest remainders first, then position (callers pass canonical order).
        order = sorted(range(len(prices)), key=lambda i: (-(off * prices[i] % total), i))
        for i in order[:left]:
            shares[i] += 1
        return shares
    assert promotion.buy_qty is not None and promotion.pay_qty is not None
    free = promotion.buy_qty - promotion.pay_qty
    shares = [0] * len(prices)
    for i in sorted(range(len(prices)), key=lambda i: (prices[i], i))[:free]:
        shares[i] = prices[i]
    return shares


class _BudgetExceeded(Exception):
    pass


@dataclass
class _Component:
    types: list[_UnitType]
    counts: list[int]
    single: list[int]  # best per-unit discount of each type
    groups: list[tuple[Promotion, list[int]]]  # promotion, eligible type indexes (sorted)


def _multisets(
    candidates: list[int], counts: list[int], size: int, start: int = 0
) -> Iterator[list[int]]:
    """Multisets of ``size`` type indexes drawn from ``candidates`` within ``counts``."""
    if size == 0:
        yield []
        return
    for position in range(start, len(candidates)):
        index = candidates[position]
        if counts[index] == 0:
            continue
        counts[index] -= 1
        for rest in _multisets(candidates, counts, size - 1, position):
            yield [index, *rest]
        counts[index] += 1


def _exact(component: _Component) -> list[tuple[Promotion, list[int]]]:
    """Best set of groups (promotion, member type indexes) by exhaustive memoised search."""
    memo: dict[tuple[int, ...], tuple[int, tuple[Promotion, list[int]] | None]] = {}
    steps = 0

    def best(counts: tuple[int, ...]) -> int:
        nonlocal steps
        if counts in memo:
            return memo[counts][0]
        first = next((i for i, c in enumerate(counts) if c), None)
        if first is None:
            return 0
        work = list(counts)
        work[first] -= 1
        best_gain = best(tuple(work))  # the first unit stays single
        best_choice: tuple[Promotion, list[int]] | None = None
        for promotion, eligible in component.groups:
            if first not in eligible:
                continue
            size = promotion.group_size
            assert size is not None
            pool = [i for i in eligible if i >= first]
            if promotion.kind in _SAME_GTIN_KINDS:
                gtin = component.types[first].gtin
                pool = [i for i in pool if component.types[i].gtin == gtin]
            for rest in _multisets(pool, work, size - 1):
                steps += 1
                if steps > SEARCH_BUDGET:
                    raise _BudgetExceeded
                members = [first, *rest]
                prices = [component.types[i].price for i in members]
                gain = sum(_group_discounts(promotion, prices)) - sum(
                    component.single[i] for i in members
                )
                if gain <= 0:
                    continue
                # ``_multisets`` has taken ``rest`` out of ``work`` while it yields.
                total = gain + best(tuple(work))
                if total > best_gain:
                    best_gain, best_choice = total, (promotion, members)
        memo[counts] = (best_gain, best_choice)
        return best_gain

    state = tuple(component.counts)
    best(state)
    chosen: list[tuple[Promotion, list[int]]] = []
    while any(state):
        _, choice = memo[state]
        work = list(state)
        if choice is None:
            first = next(i for i, c in enumerate(state) if c)
            work[first] -= 1
        else:
            chosen.append(choice)
            for i in choice[1]:
                work[i] -= 1
        state = tuple(work)
    return chosen


def _greedy(component: _Component) -> list[tuple[Promotion, list[int]]]:
    """Fallback for huge baskets: repeatedly take the most valuable single group."""
    counts = list(component.counts)
    chosen: list[tuple[Promotion, list[int]]] = []
    while True:
        best: tuple[int, list[int], Promotion] | None = None
        for promotion, eligible in component.groups:
            size = promotion.group_size
            assert size is not None
            pools: list[list[int]] = [eligible]
            if promotion.kind in _SAME_GTIN_KINDS:
                by_gtin: dict[str, list[int]] = defaultdict(list)
                for i in eligible:
                    by_gtin[component.types[i].gtin].append(i)
                pools = [by_gtin[g] for g in sorted(by_gtin)]
            for pool in pools:
                units = [
                    i
                    for i in sorted(pool, key=lambda i: (-component.types[i].price, i))
                    for _ in range(counts[i])
                ]
                if len(units) < size:
                    continue
                members = sorted(units[:size])
                prices = [component.types[i].price for i in members]
                gain = sum(_group_discounts(promotion, prices)) - sum(
                    component.single[i] for i in members
                )
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, members, promotion)
        if best is None:
            return chosen
        _, members, promotion = best
        for i in members:
            counts[i] -= 1
        chosen.append((promotion, members))


def _components(
    types: list[_UnitType], groups: list[tuple[Promotion, list[int]]]
) -> list[list[int]]:
    parent = list(range(len(types)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for promotion, eligible in groups:
        for a, b in zip(eligible, eligible[1:], strict=False):
            if promotion.kind in _SAME_GTIN_KINDS and types[a].gtin != types[b].gtin:
                continue
            parent[root(a)] = root(b)
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(types)):
        members[root(i)].append(i)
    return [members[r] for r in sorted(members, key=lambda r: members[r][0])]


def evaluate(
    lines: Sequence[PricedLine],
    promotions: Sequence[Promotion],
    *,
    at: datetime,
    loyalty_card: bool,
) -> PricingResult:
    """Price a whole basket deterministically: best offers for the shopper, tax per rate."""
    if at.utcoffset() is None:
        raise InvalidInput("evaluation time needs a UTC offset", problems=["naive 'at'"])
    _validate_lines(lines)
    ids = [p.id for p in promotions]
    if len(set(ids)) != len(ids):
        raise InvalidInput("promotion ids must be unique", problems=["duplicate promotion id"])
    active = sorted(
        (p for p in promotions if p.is_active(at, loyalty_card=loyalty_card)),
        key=lambda p: p.id,
    )

    # Units, by canonical type.
    counts_by_type: dict[_UnitType, int] = defaultdict(int)
    line_units: dict[str, list[_UnitType]] = {}
    for line in lines:
        units = [
            _UnitType(line.gtin, line.category, price, line.tax_rate, line.weight_g is not None)
            for price in _unit_prices(line)
        ]
        line_units[line.key] = units
        for unit in units:
            counts_by_type[unit] += 1
    types = sorted(counts_by_type)

    # Best per-unit offer of each type (ties: lowest promotion id, as ``active`` is sorted).
    single: list[int] = []
    single_from: list[str | None] = []
    for unit in types:
        best_off, best_id = 0, None
        for promotion in active:
            if promotion.kind in _PER_UNIT_KINDS and promotion.applies_to(unit.gtin, unit.category):
                off = _single_discount(promotion, unit)
                if off > best_off:
                    best_off, best_id = off, promotion.id
        single.append(best_off)
        single_from.append(best_id)

    groups: list[tuple[Promotion, list[int]]] = []
    for promotion in active:
        if promotion.kind in _PER_UNIT_KINDS:
            continue
        eligible = [
            i
            for i, unit in enumerate(types)
            if not unit.weighed and promotion.applies_to(unit.gtin, unit.category)
        ]
        if eligible:
            groups.append((promotion, eligible))

    # Which units go into which group, solved per independent component.
    plan: dict[_UnitType, list[tuple[int, str]]] = defaultdict(list)
    grouped = [0] * len(types)
    for member_indexes in _components(types, groups):
        position = {t: n for n, t in enumerate(member_indexes)}
        component = _Component(
            types=[types[i] for i in member_indexes],
            counts=[counts_by_type[types[i]] for i in member_indexes],
            single=[single[i] for i in member_indexes],
            groups=[
                (p, [position[i] for i in eligible if i in position])
                for p, eligible in groups
                if any(i in position for i in eligible)
            ],
        )
        if not component.groups:
            continue
        try:
            chosen = _exact(component)
        except _BudgetExceeded:
            chosen = _greedy(component)
        for promotion, members in chosen:
            members = sorted(members)
            prices = [component.types[i].price for i in members]
            for i, off in zip(members, _group_discounts(promotion, prices), strict=True):
                plan[component.types[i]].append((off, promotion.id))
                grouped[member_indexes[i]] += 1
    for i, unit in enumerate(types):
        ungrouped = counts_by_type[unit] - grouped[i]
        source = single_from[i]
        for _ in range(ungrouped):
            plan[unit].append((single[i], source or ""))

    # Totals per promotion.
    by_promotion: dict[str, int] = defaultdict(int)
    for unit_discounts in plan.values():
        for off, promotion_id in unit_discounts:
            if off and promotion_id:
                by_promotion[promotion_id] += off
    labels = {p.id: p.label for p in active}
    discounts = tuple(
        Discount(promotion_id=pid, label=labels[pid], amount_cents=by_promotion[pid])
        for pid in sorted(by_promotion)
        if by_promotion[pid] > 0
    )

    # Allocate unit discounts to lines (largest discounts to lines in key order).
    pools = {unit: sorted((off for off, _ in offs), reverse=True) for unit, offs in plan.items()}
    taken: dict[_UnitType, int] = defaultdict(int)
    line_discounts: list[tuple[str, int]] = []
    paid_by_rate: dict[Decimal, int] = defaultdict(int)
    for key in sorted(line_units):
        line_off = 0
        for unit in line_units[key]:
            off = pools[unit][taken[unit]]
            taken[unit] += 1
            line_off += off
            paid_by_rate[unit.tax_rate] += unit.price - off
        if line_off:
            line_discounts.append((key, line_off))

    taxes = tuple(
        TaxLine(
            rate=rate,
            gross_cents=paid_by_rate[rate],
            tax_cents=tax_included(paid_by_rate[rate], rate),
        )
        for rate in sorted(paid_by_rate)
    )
    subtotal = sum(line.line_total_cents for line in lines)
    off_total = sum(d.amount_cents for d in discounts)
    return PricingResult(
        subtotal_cents=subtotal,
        discounts=discounts,
        total_cents=subtotal - off_total,
        tax_cents=sum(t.tax_cents for t in taxes),
        taxes=taxes,
        line_discounts=tuple(line_discounts),
    )
