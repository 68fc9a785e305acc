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
``_Component``), so only each offer's position in its current group is carried.
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

import itertools
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

from store_server.pricing.money import decimal_ratio, tax_included
from store_server.shared.errors import InvalidCode, InvalidInput, shown
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
            problems.append(f"unknown kind {shown(kind)}")
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
        problems.append(f"unknown kind {shown(p.kind)}")
        return problems
    for gtin in sorted(p.gtins):
        if not (isinstance(gtin, str) and len(gtin) == 14 and _is_gtin14(gtin)):
            problems.append(f"gtins must be valid GTIN-14s, got {shown(gtin)}")
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
        problems.append(f"{key} must be text, got {shown(value)}")
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
            problems.append(f"bad GTIN {shown(item)}: {exc.message}")
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
    problems.append(f"bad number for {key}: {shown(value)} is not a whole number")
    return None


def _decimal(d: Mapping[str, object], key: str, problems: list[str]) -> Decimal | None:
    value = _raw(d, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        problems.append(f"bad number for {key}: {shown(value)}")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        problems.append(f"bad number for {key}: {shown(value)}")
        return None
    if not number.is_finite():
        problems.append(f"bad number for {key}: {shown(value)}")
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
            problems.append(f"bad date for {key}: {shown(value)} is not ISO 8601")
            return None
    if not isinstance(value, datetime):
        problems.append(f"bad date for {key}: {shown(value)}")
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
    problems.append(f"{key} must be true or false, got {shown(value)}")
    return False


# -- evaluation ---------------------------------------------------------------------------

_Type = tuple[str, str, int, Decimal, bool]
"""A unit type: GTIN, category, unit price, tax rate, weighed (sorts canonically)."""

_Group = tuple[Promotion, list[int]]
"""A formed group: its promotion and its members as component type indexes (sorted)."""

_State = tuple[int, ...]
"""A DP state: the chunk position reached in each open pool slot."""

_Back = tuple[_State, tuple[int, ...], int]
"""How a DP state was reached: the previous state, units added per entry, spare units."""


class _BudgetExceeded(Exception):
    pass


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


def _bounded_multisets(caps: Sequence[int], size: int) -> list[int]:
    """Coefficients up to ``size`` of prod(1 + x + ... + x^cap): multisets within caps."""
    poly = [1] + [0] * size
    for cap in caps:
        if cap <= 0:
            continue
        new = [0] * (size + 1)
        running = 0
        for degree in range(size + 1):
            running += poly[degree]
            if degree - cap - 1 >= 0:
                running -= poly[degree - cap - 1]
            new[degree] = running
        poly = new
    return poly


def _multisets(
    candidates: Sequence[int], counts: list[int], size: int, start: int = 0
) -> Iterator[list[int]]:
    """Multisets of ``size`` type indexes drawn from ``candidates`` within ``counts``.

    Lexicographic order; ``counts`` has the yielded members taken out while they are
    yielded (the caller reads the remaining state from it).
    """
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


_BOUND_ENUMERATION = 600
"""Member multisets looked at when bounding the exhaustive search's steps (cost cap)."""

_MAX_DP_STATES = 512
"""Above this many simultaneous pool positions the counting DP is not used (safety net)."""


class _Component:
    """Unit types linked by group offers, solved together.

    ``prices``, ``gtins``, ``single`` and ``counts`` are per type, types in canonical
    order; ``groups`` lists (promotion, eligible type indexes) in promotion id order.
    """

    def __init__(
        self,
        prices: list[int],
        gtins: list[str],
        single: list[int],
        counts: list[int],
        groups: list[_Group],
    ) -> None:
        self.prices, self.gtins, self.single, self.counts = prices, gtins, single, counts
        self.groups = groups
        n_types = len(prices)
        # (size, bundle price or None, free units) per group promotion
        self.params: list[tuple[int, int | None, int]] = []
        self.groups_of: list[list[int]] = [[] for _ in range(n_types)]
        pools: list[tuple[int, list[int]]] = []  # (group index, member types)
        for g, (promotion, eligible) in enumerate(groups):
            size = promotion.group_size
            assert size is not None
            if promotion.bundle_qty is not None:
                self.params.append((size, promotion.bundle_price_cents, 0))
            else:
                assert promotion.buy_qty is not None and promotion.pay_qty is not None
                self.params.append((size, None, promotion.buy_qty - promotion.pay_qty))
            for i in eligible:
                self.groups_of[i].append(g)
            if promotion.kind in _SAME_GTIN_KINDS:
                by_gtin: dict[str, list[int]] = defaultdict(list)
                for i in eligible:
                    by_gtin[gtins[i]].append(i)
                pools.extend((g, members) for members in by_gtin.values())
            else:
                pools.append((g, list(eligible)))
        self.pools = pools
        self.memo: dict[tuple[int, ...], int] = {}
        self._prepare_dp()

    # -- values ------------------------------------------------------------------------

    def gain(self, g: int, members: Sequence[int]) -> int:
        """Group discount minus the per-unit offers its members give up."""
        size, bundle, free = self.params[g]
        prices = [self.prices[i] for i in members]
        if bundle is not None:
            total = sum(prices)
            off = total - bundle if total > bundle else 0
        else:
            off = sum(sorted(prices)[:free])
        return off - sum(self.single[i] for i in members)

    def reference_pool(self, g: int, first: int) -> list[int]:
        """Types a group of promotion ``g`` opened by ``first`` may draw from (in order)."""
        promotion, eligible = self.groups[g]
        pool = [i for i in eligible if i >= first]
        if promotion.kind in _SAME_GTIN_KINDS:
            gtin = self.gtins[first]
            pool = [i for i in pool if self.gtins[i] == gtin]
        return pool

    # -- counting DP -------------------------------------------------------------------
    #
    # Within one pool (a promotion, or one GTIN of a same-GTIN promotion) the best way
    # to split a chosen set of units into groups is known: bundle groups are worth
    # sum(price - single) - bundle price whatever the split, and for N-for-M the units
    # sorted by price and cut into consecutive chunks maximise the free total (the r-th
    # most expensive free unit of any split has at least r + (n-k)*ceil(r/k) units at
    # least as expensive as it, which is exactly its rank in the chunking). So walking
    # the types by decreasing price, a DP only needs each pool's position inside its
    # current chunk, and the count of a type is spread over the pools in bulk: residues
    # modulo the group size, plus whole extra groups (a small knapsack).

    def _prepare_dp(self) -> None:
        prices, single = self.prices, self.single
        n_types = len(prices)
        self.order = sorted(range(n_types), key=lambda t: (-prices[t], t))
        position = {t: i for i, t in enumerate(self.order)}
        multi = [q for q, (_, members) in enumerate(self.pools) if len(members) > 1]
        slot_of = {q: s for s, q in enumerate(multi)}
        self.n_slots = len(multi)
        self.zero = (0,) * self.n_slots
        self.closing: list[list[int]] = [[] for _ in range(n_types)]
        spans: list[tuple[int, int, int]] = []
        for q in multi:
            places = [position[t] for t in self.pools[q][1]]
            self.closing[max(places)].append(slot_of[q])
            spans.append((min(places), max(places), self.params[self.pools[q][0]][0]))
        widest = 1
        for i in range(n_types):
            states = 1
            for low, high, size in spans:
                if low <= i <= high:
                    states *= size
            widest = max(widest, states)
        self.dp_ok = widest <= _MAX_DP_STATES
        # Per type: multi-pool entries (slot, size, gain table by start and residue) and
        # knapsack items (size, gain of one whole group, pool) for whole extra groups.
        self.entries: list[list[tuple[int, int, list[list[int]]]]] = [[] for _ in range(n_types)]
        self.entry_pools: list[list[int]] = [[] for _ in range(n_types)]
        items: list[list[tuple[int, int, int]]] = [[] for _ in range(n_types)]
        for q, (g, members) in enumerate(self.pools):
            size, bundle, free = self.params[g]
            for t in members:
                p, s = prices[t], single[t]
                # what one whole extra group of this type adds
                whole = size * (p - s) - bundle if bundle is not None else free * p - size * s
                if whole > 0:
                    items[t].append((size, whole, q))
                if q in slot_of:
                    table = [
                        [
                            self._partial(p, s, size, bundle, free, start, added)
                            for added in range(size)
                        ]
                        for start in range(size)
                    ]
                    self.entries[t].append((slot_of[q], size, table))
                    self.entry_pools[t].append(q)
        self.items = items
        # Best whole extra groups for each number of spare units: value and choice.
        self.knap: list[list[int]] = []
        self.knap_choice: list[list[int]] = []
        for t in range(n_types):
            values, choice = [0], [-1]
            for spare in range(1, self.counts[t] + 1):
                best, pick = values[spare - 1], -1
                for k, (size, whole, _) in enumerate(items[t]):
                    if size <= spare and values[spare - size] + whole > best:
                        best, pick = values[spare - size] + whole, k
                values.append(best)
                choice.append(pick)
            self.knap.append(values)
            self.knap_choice.append(choice)

    @staticmethod
    def _partial(
        p: int, s: int, size: int, bundle: int | None, free: int, start: int, added: int
    ) -> int:
        """Gain of ``added`` units at price ``p`` joining a pool at chunk position ``start``."""
        if bundle is not None:
            return added * (p - s) - bundle * ((start + added) // size)
        frees = sum(1 for j in range(start, start + added) if j % size >= size - free)
        return frees * p - added * s

    def _step(
        self, t: int, c: int, states: dict[tuple[int, ...], int], trace: bool
    ) -> tuple[dict[_State, int], dict[_State, _Back]]:
        """Spread ``c`` units of type ``t`` over the pools from every state."""
        entries = self.entries[t]
        knap = self.knap[t]
        back: dict[_State, _Back] = {}
        if not entries:
            add = knap[c]
            if trace:
                back = {state: (state, (), c) for state in states}
            if add:
                states = {state: value + add for state, value in states.items()}
            return states, back
        new: dict[tuple[int, ...], int] = {}
        if len(entries) == 1:
            slot, size, table = entries[0]
            for state, value in states.items():
                current = state[slot]
                row = table[current]
                for target in range(size):
                    added = (target - current) % size
                    if added > c:
                        continue
                    total = value + row[added] + knap[c - added]
                    key = (*state[:slot], target, *state[slot + 1 :])
                    if key not in new or total > new[key]:
                        new[key] = total
                        if trace:
                            back[key] = (state, (added,), c - added)
            return new, back
        ranges = [range(size) for _, size, _ in entries]
        for state, value in states.items():
            for targets in itertools.product(*ranges):
                key_list = list(state)
                total = value
                used = 0
                addeds = []
                for (slot, size, table), target in zip(entries, targets, strict=True):
                    added = (target - state[slot]) % size
                    used += added
                    addeds.append(added)
                    total += table[state[slot]][added]
                    key_list[slot] = target
                if used > c:
                    continue
                total += knap[c - used]
                key = tuple(key_list)
                if key not in new or total > new[key]:
                    new[key] = total
                    if trace:
                        back[key] = (state, tuple(addeds), c - used)
        return new, back

    def opt(self, counts: tuple[int, ...]) -> int:
        """Best total gain of group offers for these counts (exact)."""
        found = self.memo.get(counts)
        if found is not None:
            return found
        if not self.n_slots:
            value = sum(self.knap[t][c] for t, c in enumerate(counts))
        else:
            states: dict[tuple[int, ...], int] = {self.zero: 0}
            for i, t in enumerate(self.order):
                states, _ = self._step(t, counts[t], states, False)
                for slot in self.closing[i]:
                    states = {k: v for k, v in states.items() if k[slot] == 0}
            value = states[self.zero]
        self.memo[counts] = value
        return value

    def traceback(self) -> list[_Group]:
        """An optimal set of groups straight from the DP (used when ties need no care)."""
        counts = self.counts
        states: dict[tuple[int, ...], int] = {self.zero: 0}
        backs = []
        for i, t in enumerate(self.order):
            states, back = self._step(t, counts[t], states, True)
            for slot in self.closing[i]:
                states = {k: v for k, v in states.items() if k[slot] == 0}
            backs.append(back)
        assigned: list[dict[int, int]] = [defaultdict(int) for _ in self.pools]
        state = self.zero
        for i in range(len(self.order) - 1, -1, -1):
            t = self.order[i]
            previous, addeds, spare = backs[i][state]
            for q, added in zip(self.entry_pools[t], addeds, strict=True):
                assigned[q][t] += added
            choice = self.knap_choice[t]
            while spare > 0:
                k = choice[spare]
                if k < 0:
                    spare -= 1
                    continue
                size, _, q = self.items[t][k]
                assigned[q][t] += size
                spare -= size
            state = previous
        chosen: list[_Group] = []
        for q, (g, _) in enumerate(self.pools):
            size = self.params[g][0]
            units = [
                t
                for t in sorted(assigned[q], key=lambda t: (-self.prices[t], t))
                for _ in range(assigned[q][t])
            ]
            for start in range(0, len(units) - size + 1, size):
                members = sorted(units[start : start + size])
                if self.gain(g, members) > 0:
                    chosen.append((self.groups[g][0], members))
        return chosen

    # -- the canonical choice among optimal plans ------------------------------------

    def lexicographic(self) -> list[_Group]:
        """The optimal plan the exhaustive search picks, found with the DP as an oracle.

        The search takes the first remaining unit (canonical order) and keeps the first
        option reaching the optimum: single, else promotions by id and member multisets
        in lexicographic order. Here each option is checked against the exact optimum
        instead of being explored; the leading singles of a type are found by bisection
        (the optimum is monotone in counts). Options examined are a subset of those the
        search counts, so ``SEARCH_BUDGET`` is exceeded here only if it was there.
        """
        state = list(self.counts)
        value = self.opt(tuple(state))
        examined = 0
        chosen: list[_Group] = []
        first = 0
        while True:
            while first < len(state) and not state[first]:
                first += 1
            if first == len(state):
                return chosen
            count = state[first]
            state[first] = 0
            if self.opt(tuple(state)) == value:
                continue
            low, high = 0, count - 1  # opt(count - low units) == value, opt(0 units) < value
            while low < high:
                middle = (low + high + 1) // 2
                state[first] = count - middle
                if self.opt(tuple(state)) == value:
                    low = middle
                else:
                    high = middle - 1
            state[first] = count - low - 1
            needed = value - self.opt(tuple(state))  # what the first unit alone brings
            found: tuple[int, list[int], int, _State] | None = None
            for g in self.groups_of[first]:
                size = self.params[g][0]
                work = list(state)
                for rest in _multisets(self.reference_pool(g, first), work, size - 1):
                    examined += 1
                    if examined > SEARCH_BUDGET:
                        raise _BudgetExceeded
                    members = [first, *rest]
                    gain = self.gain(g, members)
                    if gain < needed:  # cannot reach the optimum (needed > 0)
                        continue
                    after = tuple(work)
                    if gain + self.opt(after) == value:
                        found = (g, members, gain, after)
                        break
                if found is not None:
                    break
            assert found is not None, "an optimal group must exist"
            g, members, gain, after = found
            state = list(after)
            value -= gain
            chosen.append((self.groups[g][0], members))

    def search_surely_exceeds(self) -> bool:
        """Whether the exhaustive search provably passes ``SEARCH_BUDGET`` steps.

        A lower bound on its steps: it visits every state of the all-singles chain from
        the full basket and, from each, every state one positive group further; each
        visited state costs one step per member multiset it enumerates. Counted with
        polynomials over the counts (one size class of groups, to keep states distinct;
        group-reduced states with capacities lowered conservatively).
        """
        budget = SEARCH_BUDGET
        counts = self.counts
        largest = max(size for size, _, _ in self.params)
        chain = 0
        level: dict[int, int] = defaultdict(int)
        enumerated = 0
        for first, count in enumerate(counts):
            if not count or not self.groups_of[first]:
                continue
            full: list[tuple[int, list[int]]] = []
            reduced: list[tuple[int, list[int]]] = []
            positive: dict[int, dict[tuple[int, ...], int]] = defaultdict(dict)
            for g in self.groups_of[first]:
                work = list(counts)
                work[first] -= 1
                size = self.params[g][0]
                pool = self.reference_pool(g, first)
                later = [counts[t] for t in pool if t != first]
                full.append((size - 1, _bounded_multisets(later, size - 1)))
                reduced.append(
                    (size - 1, _bounded_multisets([c - largest + 1 for c in later], size - 1))
                )
                if enumerated > _BOUND_ENUMERATION:
                    continue
                for rest in _multisets(pool, work, size - 1):
                    enumerated += 1
                    if enumerated > _BOUND_ENUMERATION:
                        break
                    extra = rest.count(first)
                    if extra == size - 1 or self.gain(g, [first, *rest]) <= 0:
                        continue
                    positive[size][tuple(rest)] = extra
            by_extra = {size: sorted(found.values()) for size, found in positive.items()}
            for remaining in range(count, 0, -1):
                chain += sum(
                    sum(poly[m - i] for i in range(min(remaining - 1, m) + 1)) for m, poly in full
                )
                capacity = max(0, remaining - 1 - largest)
                after = sum(
                    sum(poly[m - i] for i in range(min(capacity, m) + 1)) for m, poly in reduced
                )
                if after:
                    for size, extras in by_extra.items():
                        level[size] += after * sum(1 for e in extras if e + 1 < remaining)
                if chain + max(level.values(), default=0) > budget:
                    return True
        return False

    # -- safety nets -------------------------------------------------------------------

    def search(self) -> list[_Group]:
        """Exhaustive memoised search over count vectors (for pool layouts the DP refuses)."""
        memo: dict[tuple[int, ...], tuple[int, tuple[int, list[int]] | None]] = {}
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
            best_gain = best(tuple(work))
            best_choice: tuple[int, list[int]] | None = None
            for g in self.groups_of[first]:
                size = self.params[g][0]
                for rest in _multisets(self.reference_pool(g, first), work, size - 1):
                    steps += 1
                    if steps > SEARCH_BUDGET:
                        raise _BudgetExceeded
                    members = [first, *rest]
                    gain = self.gain(g, members)
                    if gain <= 0:
                        continue
                    total = gain + best(tuple(work))
                    if total > best_gain:
                        best_gain, best_choice = total, (g, members)
            memo[counts] = (best_gain, best_choice)
            return best_gain

        state = tuple(self.counts)
        best(state)
        chosen: list[_Group] = []
        while any(state):
            _, choice = memo[state]
            work = list(state)
            if choice is None:
                work[next(i for i, c in enumerate(state) if c)] -= 1
            else:
                chosen.append((self.groups[choice[0]][0], choice[1]))
                for i in choice[1]:
                    work[i] -= 1
            state = tuple(work)
        return chosen

    def greedy(self) -> list[_Group]:
        """Last resort: repeatedly the most valuable single group (ties: promotion id)."""
        counts = list(self.counts)
        chosen: list[_Group] = []
        while True:
            best: tuple[int, list[int], int] | None = None
            for g, (promotion, eligible) in enumerate(self.groups):
                size = self.params[g][0]
                pools: list[list[int]] = [eligible]
                if promotion.kind in _SAME_GTIN_KINDS:
                    by_gtin: dict[str, list[int]] = defaultdict(list)
                    for i in eligible:
                        by_gtin[self.gtins[i]].append(i)
                    pools = [by_gtin[key] for key in sorted(by_gtin)]
                for pool in pools:
                    units = [
                        i
                        for i in sorted(pool, key=lambda i: (-self.prices[i], i))
                        for _ in range(counts[i])
                    ]
                    if len(units) < size:
                        continue
                    members = sorted(units[:size])
                    gain = self.gain(g, members)
                    if gain > 0 and (best is None or gain > best[0]):
                        best = (gain, members, g)
            if best is None:
                return chosen
            _, members, g = best
            for i in members:
                counts[i] -= 1
            chosen.append((self.groups[g][0], members))

    def solve(self) -> list[_Group]:
        """The search's exact choice when it would finish, else an optimum (never worse)."""
        if not self.dp_ok:
            try:
                return self.search()
            except _BudgetExceeded:
                return self.greedy()
        if sum(self.counts) >= 12 and self.search_surely_exceeds():
            return self.traceback()
        try:
            return self.lexicographic()
        except _BudgetExceeded:
            return self.traceback()


def _components(n_types: int, gtins: list[str], groups: list[_Group]) -> list[list[int]]:
    parent = list(range(n_types))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for promotion, eligible in groups:
        same_gtin = promotion.kind in _SAME_GTIN_KINDS
        for a, b in zip(eligible, eligible[1:], strict=False):
            if same_gtin and gtins[a] != gtins[b]:
                continue
            parent[root(a)] = root(b)
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(n_types):
        members[root(i)].append(i)
    return list(members.values())


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
    groups: list[_Group] = [
        (index.active[rank], eligible_by_rank[rank]) for rank in sorted(eligible_by_rank)
    ]
    offs: list[list[int]] = [[] for _ in types]
    for member_indexes in _components(len(types), gtins, groups):
        position = {t: n for n, t in enumerate(member_indexes)}
        component_groups: list[_Group] = []
        for promotion, eligible in groups:
            inside = [position[i] for i in eligible if i in position]
            if inside:
                component_groups.append((promotion, inside))
        component = _Component(
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
