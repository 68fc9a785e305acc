"""Anonymous store signals: what the mall may know about a store right now.

Pure: no I/O, no framework. The publisher feeds it basket activity and scan facts and
publishes what :func:`aggregate` returns on the ``signals`` channel.

A signal message describes one *scope* — a whole store (``zone`` null) or one zone of it —
and carries only numbers under fixed names:

* ``active_shoppers`` — open baskets with activity in the last ``active_minutes``;
* ``momentum:<category>`` — units scanned in that category in the last
  ``momentum_minutes`` (the trend the ads react to);
* ``hour_of_day`` — local time as a fractional hour (``14.5`` is 14:30), so rules can
  say "after 17:00" with the same comparison as any other signal.

Privacy (DESIGN.md "Permission"): nothing in a message can single out a shopper. A count
made from fewer than ``min_count`` *distinct baskets* is left out: five coffees scanned
by one shopper say something about that shopper, so momentum needs five baskets, not
five units. Zero is published for ``active_shoppers`` (an empty store is about nobody);
a category nobody touched is simply absent.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sized
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from store_server.timeutil import as_utc

MESSAGE_TYPE = "store_signals"
ACTIVE_SHOPPERS = "active_shoppers"
HOUR_OF_DAY = "hour_of_day"
MOMENTUM_PREFIX = "momentum:"
MESSAGE_KEYS = frozenset(
    {"type", "store_id", "zone", "at", "window_minutes", "active_minutes", "min_count", "signals"}
)
"""Every key a signal message may carry (the privacy tests hold the publisher to it)."""

SIGNAL_NAME = re.compile(r"^(active_shoppers|hour_of_day|momentum:[a-z0-9][a-z0-9_.-]{0,79})$")


def category_slug(category: str) -> str:
    """A catalog category as it appears in a signal name (``Hot drinks`` → ``hot-drinks``)."""
    slug = re.sub(r"[^a-z0-9_.-]+", "-", category.strip().lower()).strip("-")
    return slug[:80] or "uncategorised"


@dataclass(frozen=True)
class SignalConfig:
    """How signals are counted; ``min_count`` is the smallest crowd a number may describe."""

    active_minutes: int = 10
    momentum_minutes: int = 15
    min_count: int = 5
    timezone: str = "Europe/Paris"

    def __post_init__(self) -> None:
        if self.min_count < 2:
            raise ValueError("min_count below 2 would publish signals about one shopper")
        if self.active_minutes <= 0 or self.momentum_minutes <= 0:
            raise ValueError("signal windows must be positive")


@dataclass(frozen=True)
class Scope:
    """A whole store (``zone`` None) or one zone of it."""

    store_id: str
    zone: str | None = None


@dataclass(frozen=True)
class ActiveBasket:
    """An open basket: ``token`` stands for the basket and never leaves the store server."""

    store_id: str
    zone: str | None
    token: str
    last_activity: datetime


@dataclass(frozen=True)
class ScanFact:
    """One accepted scan, reduced to what the aggregates need."""

    store_id: str
    zone: str | None
    token: str
    category: str
    qty: int
    at: datetime


def _scopes_of(store_id: str, zone: str | None) -> tuple[Scope, ...]:
    store = Scope(store_id)
    return (store,) if zone is None else (store, Scope(store_id, zone))


class Momentum:
    """Momentum counts kept up to date as scan facts enter and leave the window: units
    per scope and signal name, and how many scans each basket token contributes. A round
    then costs the number of scopes and categories, not the number of scans in the
    window (a chain's process may hold hundreds of thousands of them). Matches
    :func:`aggregate` over the same facts when they are added in time order, none later
    than the round's ``now``."""

    def __init__(self) -> None:
        self.units: dict[Scope, dict[str, int]] = {}
        self.baskets: dict[Scope, dict[str, dict[str, int]]] = {}

    def add(self, fact: ScanFact) -> None:
        self._apply(fact, 1)

    def remove(self, fact: ScanFact) -> None:
        self._apply(fact, -1)

    def _apply(self, fact: ScanFact, sign: int) -> None:
        name = _momentum_name(fact.category)
        for scope in _scopes_of(fact.store_id, fact.zone):
            units = self.units.setdefault(scope, {})
            units[name] = units.get(name, 0) + sign * fact.qty
            tokens = self.baskets.setdefault(scope, {}).setdefault(name, {})
            tokens[fact.token] = tokens.get(fact.token, 0) + sign
            if tokens[fact.token] <= 0:
                del tokens[fact.token]
            if not tokens:
                del units[name], self.baskets[scope][name]
                if not units:
                    del self.units[scope], self.baskets[scope]


@functools.lru_cache(maxsize=4096)
def _momentum_name(category: str) -> str:
    return MOMENTUM_PREFIX + category_slug(category)


def publishable(count: int, min_count: int) -> bool:
    """Whether a count of distinct baskets may be shown: zero (about nobody) or at least
    ``min_count`` (a crowd). The one small-count rule of signals and the manager console."""
    return count == 0 or count >= min_count


def aggregate(
    active: Iterable[ActiveBasket],
    scans: Iterable[ScanFact],
    *,
    scopes: Iterable[Scope],
    now: datetime,
    config: SignalConfig,
    momentum: Momentum | None = None,
) -> list[dict[str, object]]:
    """One message per scope (sorted by store, then zone), small counts suppressed.

    With ``momentum`` (the window's running counts) ``scans`` is not read."""
    now = as_utc(now)
    active_since = now - timedelta(minutes=config.active_minutes)
    scan_since = now - timedelta(minutes=config.momentum_minutes)
    all_scopes = set(scopes)
    shoppers: dict[Scope, set[str]] = defaultdict(set)
    for basket in active:
        if as_utc(basket.last_activity) < active_since:
            continue
        for scope in _scopes_of(basket.store_id, basket.zone):
            shoppers[scope].add(basket.token)
            all_scopes.add(scope)
    units: dict[Scope, dict[str, int]]
    buyers: Mapping[Scope, Mapping[str, Sized]]
    if momentum is not None:
        units, buyers = momentum.units, momentum.baskets
        all_scopes.update(units)
    else:
        units = defaultdict(lambda: defaultdict(int))
        distinct: dict[Scope, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for fact in scans:
            at = as_utc(fact.at)
            if not scan_since <= at <= now:
                continue
            name = _momentum_name(fact.category)
            for scope in _scopes_of(fact.store_id, fact.zone):
                units[scope][name] += fact.qty
                distinct[scope][name].add(fact.token)
                all_scopes.add(scope)
        buyers = distinct
    local = now.astimezone(ZoneInfo(config.timezone))
    hour = round(local.hour + local.minute / 60 + local.second / 3600, 4)
    messages: list[dict[str, object]] = []
    for scope in sorted(all_scopes, key=lambda s: (s.store_id, s.zone or "")):
        signals: dict[str, float] = {HOUR_OF_DAY: hour}
        count = len(shoppers.get(scope, ()))
        if publishable(count, config.min_count):
            signals[ACTIVE_SHOPPERS] = count
        for name, total in sorted(units.get(scope, {}).items()):
            if publishable(len(buyers[scope][name]), config.min_count):
                signals[name] = total
        messages.append(
            {
                "type": MESSAGE_TYPE,
                "store_id": scope.store_id,
                "zone": scope.zone,
                "at": now.isoformat(),
                "window_minutes": config.momentum_minutes,
                "active_minutes": config.active_minutes,
                "min_count": config.min_count,
                "signals": signals,
            }
        )
    return messages


def counts_changed(previous: Mapping[str, object] | None, current: Mapping[str, object]) -> bool:
    """Whether a scope's counts moved (the clock alone does not make a change)."""
    if previous is None:
        return True

    def counts(message: Mapping[str, object]) -> dict[str, object]:
        signals = message.get("signals")
        assert isinstance(signals, Mapping)
        return {k: v for k, v in signals.items() if k != HOUR_OF_DAY}

    return counts(previous) != counts(current)
