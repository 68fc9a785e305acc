"""The promotion engine: what a whole basket costs after every offer it qualifies for.

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
``s(u)`` (ties: lowest promotion id); a basket no group offer touches stops there.
Group offers are decided per component (types linked by a group offer); a group is
worth its discount minus the ``s(u)`` its members give up. The optimum over the
counts of the types comes from a DP over the types by decreasing price: within one
offer, units sorted by price and cut into consecutive groups are optimal (see
``promotion_search``), so only each offer's position in its current group is carried.
Among equally good plans the one kept is fixed: taking the first remaining unit in
canonical order, it stays single if that can still reach the optimum, else it opens
the first group that can (promotions by id, members in lexicographic order). Should
that walk examine more than ``SEARCH_BUDGET`` member sets — the point where the
previous, exhaustive engine gave up for a greedy — or should that engine provably
have, any optimal plan from the DP is used instead: never worse than that greedy.
Offer layouts too wide for the DP go through the exhaustive search and its greedy.

Tax is extracted per rate from the amounts paid after each discount was allocated
to the units it came from (N-for-M: to the free units; N-for-price: pro rata to
price, largest remainders first).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from pydantic import ValidationError

from store_server.pricing.money import decimal_ratio, tax_included
from store_server.pricing.promotion_rules import (
    PromotionFields,
    PromotionKind,
    field_problems,
    promotion_problems,
)
from store_server.pricing.promotion_search import Component, Group, components
from store_server.shared.errors import InvalidInput, shown

__all__ = [
    "Discount",
    "PricedLine",
    "PricingResult",
    "Promotion",
    "TaxLine",
    "evaluate",
]

_PER_UNIT_KINDS = frozenset({"percent_off", "amount_off", "loyalty_price"})


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
        problems = promotion_problems(self)
        if problems:
            raise InvalidInput(
                f"bad promotion {shown(self.id)}: " + "; ".join(problems), problems=problems
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
        try:
            fields = PromotionFields.model_validate(dict(d))
        except ValidationError as exc:
            problems = field_problems(exc)
            raise InvalidInput("bad promotion: " + "; ".join(problems), problems=problems) from None
        return cls(**dict(fields))


# -- evaluation ---------------------------------------------------------------------------

_Type = tuple[str, str, int, Decimal, bool]
"""A unit type: GTIN, category, unit price, tax rate, weighed (sorts canonically)."""


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


@lru_cache(maxsize=256)
def _percent_ratio(percent: Decimal) -> tuple[int, int]:
    numerator, denominator = decimal_ratio(percent)
    return numerator, 100 * denominator


def _single_discount(per_unit: Sequence[Promotion], price: int, weighed: bool) -> tuple[int, str]:
    """Best per-unit offer for one unit (ties: first in ``per_unit``, i.e. lowest id)."""
    best_off, best_id = 0, ""
    for promotion in per_unit:
        kind = promotion.kind
        if kind == "percent_off":
            assert promotion.percent is not None
            numerator, denominator = _percent_ratio(promotion.percent)
            quotient, remainder = divmod(price * numerator, denominator)
            off = quotient + 1 if 2 * remainder >= denominator else quotient
        elif kind == "amount_off":
            assert promotion.amount_cents is not None
            off = promotion.amount_cents
        else:  # loyalty_price
            if weighed:
                continue
            assert promotion.loyalty_price_cents is not None
            off = price - promotion.loyalty_price_cents
        if off > price:
            off = price
        if off > best_off:
            best_off, best_id = off, promotion.id
    return best_off, best_id


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


class _Index:
    """Which active promotions cover a (GTIN, category), split per-unit / group, in id order.

    Built once per set of active promotions and kept (see :func:`_index_for`), so the
    ``applies_to`` question is answered once per product rather than once per scan.
    """

    def __init__(self, active: Sequence[Promotion]) -> None:
        self.active = tuple(active)
        self.by_gtin: dict[str, list[int]] = defaultdict(list)
        self.by_category: dict[str, list[int]] = defaultdict(list)
        for rank, promotion in enumerate(active):
            for gtin in promotion.gtins:
                self.by_gtin[gtin].append(rank)
            for category in promotion.categories:
                self.by_category[category].append(rank)
        self.cache: dict[tuple[str, str], tuple[tuple[Promotion, ...], tuple[int, ...]]] = {}

    def lookup(self, gtin: str, category: str) -> tuple[tuple[Promotion, ...], tuple[int, ...]]:
        """(per-unit promotions, ranks of group promotions) covering the product."""
        key = (gtin, category)
        found = self.cache.get(key)
        if found is None:
            ranks = sorted(
                set(self.by_gtin.get(gtin, ())) | set(self.by_category.get(category, ()))
            )
            per_unit = tuple(
                self.active[r] for r in ranks if self.active[r].kind in _PER_UNIT_KINDS
            )
            group = tuple(r for r in ranks if self.active[r].kind not in _PER_UNIT_KINDS)
            found = self.cache[key] = (per_unit, group)
        return found


_INDEXES: dict[tuple[int, ...], _Index] = {}
_INDEXES_KEPT = 16


def _index_for(active: Sequence[Promotion]) -> _Index:
    # Keyed by object identity: the index keeps the promotions alive, so an id cannot be
    # reused while its entry exists, and promotions are immutable.
    key = tuple(map(id, active))
    index = _INDEXES.get(key)
    if index is None:
        if len(_INDEXES) >= _INDEXES_KEPT:
            _INDEXES.pop(next(iter(_INDEXES)))
        index = _INDEXES[key] = _Index(active)
    return index


def _line_types(line: PricedLine) -> list[tuple[_Type, int]]:
    """The line's units as (type, how many), in unit order (dearer remainder units first)."""
    gtin, category, rate = line.gtin, line.category, line.tax_rate
    if line.weight_g is not None:
        return [((gtin, category, line.line_total_cents, rate, True), 1)]
    base, extra = divmod(line.line_total_cents, line.qty)
    out: list[tuple[_Type, int]] = []
    if extra:
        out.append(((gtin, category, base + 1, rate, False), extra))
    if line.qty - extra:
        out.append(((gtin, category, base, rate, False), line.qty - extra))
    return out


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
    index = _index_for(active)

    by_promotion: dict[str, int] = defaultdict(int)
    # Per line (by key): its discount and what is paid at its rate; grouped lines later.
    line_off: dict[str, int] = {}
    grouped_lines: list[PricedLine] = []
    single_of: dict[_Type, tuple[int, str]] = {}
    type_counts: dict[_Type, int] = defaultdict(int)
    group_ranks: dict[_Type, tuple[int, ...]] = {}
    for line in lines:
        per_unit, group = index.lookup(line.gtin, line.category)
        weighed = line.weight_g is not None
        parts = _line_types(line)
        if group and not weighed:
            grouped_lines.append(line)
            for unit_type, n in parts:
                type_counts[unit_type] += n
                if unit_type not in single_of:
                    single_of[unit_type] = _single_discount(per_unit, unit_type[2], weighed)
                    group_ranks[unit_type] = group
            continue
        off_total = 0
        if per_unit:
            for unit_type, n in parts:
                off, source = _single_discount(per_unit, unit_type[2], weighed)
                if off:
                    off_total += off * n
                    by_promotion[source] += off * n
        line_off[line.key] = off_total

    if grouped_lines:
        _price_groups(
            grouped_lines, type_counts, single_of, group_ranks, index, by_promotion, line_off
        )

    labels = {p.id: p.label for p in active}
    discounts = tuple(
        Discount(promotion_id=pid, label=labels[pid], amount_cents=by_promotion[pid])
        for pid in sorted(by_promotion)
        if by_promotion[pid] > 0
    )
    line_discounts: list[tuple[str, int]] = []
    paid_by_rate: dict[Decimal, int] = defaultdict(int)
    subtotal = 0
    for line in sorted(lines, key=lambda line: line.key):
        off = line_off[line.key]
        subtotal += line.line_total_cents
        paid_by_rate[line.tax_rate] += line.line_total_cents - off
        if off:
            line_discounts.append((line.key, off))
    taxes = tuple(
        TaxLine(
            rate=rate,
            gross_cents=paid_by_rate[rate],
            tax_cents=tax_included(paid_by_rate[rate], rate),
        )
        for rate in sorted(paid_by_rate)
    )
    off_total = sum(d.amount_cents for d in discounts)
    return PricingResult(
        subtotal_cents=subtotal,
        discounts=discounts,
        total_cents=subtotal - off_total,
        tax_cents=sum(t.tax_cents for t in taxes),
        taxes=taxes,
        line_discounts=tuple(line_discounts),
    )


def _price_groups(
    grouped_lines: list[PricedLine],
    type_counts: dict[_Type, int],
    single_of: dict[_Type, tuple[int, str]],
    group_ranks: dict[_Type, tuple[int, ...]],
    index: _Index,
    by_promotion: dict[str, int],
    line_off: dict[str, int],
) -> None:
    """Form the groups for the types group offers touch and give each line its share."""
    types = sorted(type_counts)
    gtins = [t[0] for t in types]
    eligible_by_rank: dict[int, list[int]] = defaultdict(list)
    for i, unit_type in enumerate(types):
        for rank in group_ranks[unit_type]:
            eligible_by_rank[rank].append(i)
    groups: list[Group] = [
        (index.active[rank], eligible_by_rank[rank]) for rank in sorted(eligible_by_rank)
    ]
    offs: list[list[int]] = [[] for _ in types]
    for member_indexes in components(len(types), gtins, groups):
        position = {t: n for n, t in enumerate(member_indexes)}
        component_groups: list[Group] = []
        for promotion, eligible in groups:
            inside = [position[i] for i in eligible if i in position]
            if inside:
                component_groups.append((promotion, inside))
        component = Component(
            prices=[types[i][2] for i in member_indexes],
            gtins=[gtins[i] for i in member_indexes],
            single=[single_of[types[i]][0] for i in member_indexes],
            counts=[type_counts[types[i]] for i in member_indexes],
            groups=component_groups,
        )
        for promotion, members in component.solve():
            members = sorted(members)
            prices = [component.prices[i] for i in members]
            for i, off in zip(members, _group_discounts(promotion, prices), strict=True):
                offs[member_indexes[i]].append(off)
                if off:
                    by_promotion[promotion.id] += off
    pools: dict[_Type, list[int]] = {}
    for i, unit_type in enumerate(types):
        single, source = single_of[unit_type]
        ungrouped = type_counts[unit_type] - len(offs[i])
        if single and ungrouped:
            by_promotion[source] += single * ungrouped
        pool = offs[i] + [single] * ungrouped
        pool.sort(reverse=True)
        pools[unit_type] = pool
    taken: dict[_Type, int] = defaultdict(int)
    for line in sorted(grouped_lines, key=lambda line: line.key):
        total = 0
        for unit_type, n in _line_types(line):
            start = taken[unit_type]
            total += sum(pools[unit_type][start : start + n])
            taken[unit_type] = start + n
        line_off[line.key] = total
