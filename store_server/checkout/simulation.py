"""Replay a year of synthetic shopping trips through an audit policy.

A store manager tuning ``AuditPolicy`` wants to know, before shoppers feel it, how
often honest regulars will be stopped and how much under-scanning audits will
catch. This module answers with a seeded simulation: same arguments, same figures.

Model (deliberately simple, every assumption here):

- A fixed population of shoppers, each honest or not (``dishonest_share``). Honest
  shoppers never under-scan. A dishonest shopper cheats on a trip with probability
  ``cheat_trip_rate`` and then leaves each physical item unscanned with probability
  ``underscan_item_rate``, whatever its value (a conservative assumption: real
  cheaters favour valuable items, which the partial rescan's weighting targets).
- Each shopper shops every ~``mean_days_between_trips`` days (their own mean is
  drawn around it; gaps are gamma distributed, so trips are regular but not clockwork).
- Baskets draw products from a synthetic catalogue with supermarket-like category
  shares and log-normal prices; basket sizes are log-normal per shopper and trip.
- Staff rescanning a GTIN count every unit of it in the trolley, so a partial audit
  finds a discrepancy when an under-scanned unit belongs to a rescanned GTIN still
  in the basket; it then escalates to a full rescan, which finds every one.
  A full audit always finds everything.
- The shopper's history is updated after each audit: passed, or one discrepancy.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from biip.checksums import gs1_standard_check_digit

from store_server.checkout.audit_policy import (
    AuditInputs,
    AuditLine,
    AuditPolicy,
    ShopperHistory,
    decide,
    escalate,
)
from store_server.shared.errors import InvalidInput

SIMULATION_START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
_MONTH_DAYS = 30.0

# (category, share of picks, median unit price in cents, age-restricted)
_CATEGORIES: tuple[tuple[str, float, int, bool], ...] = (
    ("produce", 0.20, 180, False),
    ("dairy", 0.15, 190, False),
    ("grocery", 0.18, 230, False),
    ("bakery", 0.08, 210, False),
    ("meat", 0.08, 690, False),
    ("frozen", 0.07, 380, False),
    ("drinks", 0.08, 160, False),
    ("household", 0.06, 420, False),
    ("alcohol", 0.035, 790, True),
    ("spirits", 0.01, 2190, True),
    ("tobacco", 0.01, 1150, True),
    ("razor", 0.01, 1390, False),
    ("cosmetics", 0.025, 890, False),
    ("electronics", 0.005, 3490, False),
)
_PRODUCTS_PER_CATEGORY = 40
# Units picked at once (six yoghurts, two loaves...), as cumulative weights over 1..6.
_QTY_VALUES = (1, 2, 3, 4, 6)
_QTY_CUM_WEIGHTS = (70, 88, 94, 97, 100)
_LINE_TABLE_QTY = 25


@dataclass(frozen=True)
class SimulationResult:
    """Counts from one simulated period; rates are derived so nothing is rounded twice."""

    days: int
    shoppers: int
    dishonest_shoppers: int
    trips: int
    audits: int
    partial_audits: int
    full_audits: int
    escalations: int
    rescanned_items: int
    honest_trips: int
    honest_trips_audited: int
    honest_shopper_months: int
    honest_shopper_months_audited: int
    dishonest_trips: int
    dishonest_trips_audited: int
    cheating_trips: int
    cheating_trips_caught: int
    underscanned_items: int
    caught_items: int

    @property
    def audit_rate(self) -> float:
        return _ratio(self.audits, self.trips)

    @property
    def honest_audit_rate(self) -> float:
        return _ratio(self.honest_trips_audited, self.honest_trips)

    @property
    def honest_monthly_audit_share(self) -> float:
        """Of the months an honest shopper shopped in, the share with at least one audit."""
        return _ratio(self.honest_shopper_months_audited, self.honest_shopper_months)

    @property
    def dishonest_audit_rate(self) -> float:
        return _ratio(self.dishonest_trips_audited, self.dishonest_trips)

    @property
    def caught_share(self) -> float:
        return _ratio(self.caught_items, self.underscanned_items)

    @property
    def items_rescanned_per_audit(self) -> float:
        return _ratio(self.rescanned_items, self.audits)


_line_total = attrgetter("line_total_cents")


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def summary_rows(result: SimulationResult) -> list[tuple[str, str]]:
    """The figures a store manager reads, as (label, value) rows for a table."""

    def pct(x: float) -> str:
        return f"{x * 100:.1f}%"

    r = result
    return [
        ("days simulated", f"{r.days}"),
        ("shoppers (dishonest)", f"{r.shoppers:,} ({r.dishonest_shoppers:,})"),
        ("trips", f"{r.trips:,}"),
        ("audit rate (all trips)", f"{pct(r.audit_rate)} ({r.audits:,})"),
        ("partial / full audits (escalated = full)", f"{r.partial_audits:,} / {r.full_audits:,}"),
        ("partial audits escalated to full", f"{r.escalations:,}"),
        ("distinct items rescanned per audit", f"{r.items_rescanned_per_audit:.1f}"),
        ("honest shoppers' trips audited", pct(r.honest_audit_rate)),
        ("honest shopper-months with an audit", pct(r.honest_monthly_audit_share)),
        ("dishonest shoppers' trips audited", pct(r.dishonest_audit_rate)),
        (
            "trips with under-scanning caught",
            f"{pct(_ratio(r.cheating_trips_caught, r.cheating_trips))} "
            f"({r.cheating_trips_caught:,} of {r.cheating_trips:,})",
        ),
        (
            "under-scanned items caught",
            f"{pct(r.caught_share)} ({r.caught_items:,} of {r.underscanned_items:,})",
        ),
    ]


@dataclass(frozen=True)
class _Product:
    gtin: str
    category: str
    price_cents: int
    age_restricted: bool


def _gtin14(body13: str) -> str:
    """GTIN-14 with its GS1 mod-10 check digit."""
    return body13 + str(gs1_standard_check_digit(body13))


def _catalogue(rng: random.Random) -> tuple[list[_Product], list[float]]:
    """Products with cumulative pick weights (a few best sellers per category)."""
    products: list[_Product] = []
    cum: list[float] = []
    running = 0.0
    for c_index, (category, share, median, restricted) in enumerate(_CATEGORIES):
        popularity = [1.0 / (rank + 1) for rank in range(_PRODUCTS_PER_CATEGORY)]
        scale = share / sum(popularity)
        for rank in range(_PRODUCTS_PER_CATEGORY):
            price = max(19, round(median * rng.lognormvariate(0.0, 0.45)))
            body = f"0400{c_index:03d}{rank:06d}"
            products.append(_Product(_gtin14(body), category, price, restricted))
            running += popularity[rank] * scale
            cum.append(running)
    return products, cum


def simulate(
    policy: AuditPolicy,
    *,
    shoppers: int = 2000,
    days: int = 365,
    dishonest_share: float = 0.03,
    underscan_item_rate: float = 0.2,
    seed: int = 1,
    cheat_trip_rate: float = 0.5,
    mean_days_between_trips: float = 7.0,
    median_basket_lines: float = 12.0,
) -> SimulationResult:
    """Run the simulation; deterministic for a given seed (no clock, no I/O)."""
    problems = []
    if not (isinstance(shoppers, int) and shoppers >= 1):
        problems.append(f"shoppers must be a whole number of at least 1, not {shoppers!r}")
    if not (isinstance(days, int) and days >= 1):
        problems.append(f"days must be a whole number of at least 1, not {days!r}")
    for name, value in (
        ("dishonest_share", dishonest_share),
        ("underscan_item_rate", underscan_item_rate),
        ("cheat_trip_rate", cheat_trip_rate),
    ):
        if not 0.0 <= value <= 1.0:
            problems.append(f"{name} must be between 0 and 1, not {value!r}")
    if not mean_days_between_trips > 0:
        problems.append("mean_days_between_trips must be positive")
    if not median_basket_lines >= 1:
        problems.append("median_basket_lines must be at least 1")
    if problems:
        raise InvalidInput("; ".join(problems), problems=problems)

    rng = random.Random(seed)
    # The audits draw from their own generator: every policy meets the same shoppers,
    # trips and baskets, so two policies' tables compare like with like.
    audit_rng = random.Random(f"audit-{seed}")
    products, cum_weights = _catalogue(random.Random(f"catalogue-{seed}"))
    # One draw picks a product and how many units of it: (product, qty) pairs with
    # cumulative weights, so a basket costs a single rng.choices call.
    picks_table: list[tuple[int, int]] = []
    picks_cum: list[float] = []
    previous = 0.0
    for pid, cum in enumerate(cum_weights):
        product_weight = cum - previous
        previous = cum
        qty_previous = 0
        for qty, qty_cum in zip(_QTY_VALUES, _QTY_CUM_WEIGHTS, strict=True):
            picks_table.append((pid, qty))
            running = picks_cum[-1] if picks_cum else 0.0
            picks_cum.append(running + product_weight * (qty_cum - qty_previous))
            qty_previous = qty_cum
    # Lines are immutable, so each (product, qty) line is built once and shared;
    # quantities beyond the table (rare merges of many picks) are built on demand.
    line_table: list[list[AuditLine]] = [
        [
            AuditLine(p.gtin, p.category, max(q, 1), p.price_cents * max(q, 1), p.age_restricted)
            for q in range(_LINE_TABLE_QTY)
        ]
        for p in products
    ]

    def audit_line(pid: int, qty: int) -> AuditLine:
        if qty < _LINE_TABLE_QTY:
            return line_table[pid][qty]
        p = products[pid]
        return AuditLine(p.gtin, p.category, qty, p.price_cents * qty, p.age_restricted)

    c: dict[str, int] = defaultdict(int)
    dishonest_count = 0
    log_lines = math.log(median_basket_lines)

    for _ in range(shoppers):
        dishonest = rng.random() < dishonest_share
        dishonest_count += dishonest
        gap = mean_days_between_trips * rng.lognormvariate(0.0, 0.35)
        size_mu = log_lines + rng.gauss(0.0, 0.35)
        trips = passed = discrepancies = 0
        last_audit: datetime | None = None
        last_discrepancy: datetime | None = None
        months: set[int] = set()
        months_audited: set[int] = set()

        day = rng.uniform(0.0, gap)
        while day < days:
            now = SIMULATION_START + timedelta(days=day)
            n_picks = max(1, round(rng.lognormvariate(size_mu, 0.5)))
            taken: dict[int, int] = {}
            for pid, qty in rng.choices(picks_table, cum_weights=picks_cum, k=n_picks):
                taken[pid] = taken.get(pid, 0) + qty

            missing: dict[str, int] = {}
            cheating = dishonest and rng.random() < cheat_trip_rate
            if cheating:
                scanned: list[AuditLine] = []
                for pid, qty in taken.items():
                    unscanned = sum(rng.random() < underscan_item_rate for _ in range(qty))
                    if unscanned:
                        missing[products[pid].gtin] = unscanned
                    if qty > unscanned:
                        scanned.append(audit_line(pid, qty - unscanned))
            else:
                scanned = [
                    line_table[pid][qty] if qty < _LINE_TABLE_QTY else audit_line(pid, qty)
                    for pid, qty in taken.items()
                ]
            missing_units = sum(missing.values())

            history = ShopperHistory(trips, passed, discrepancies, last_audit, last_discrepancy)
            inputs = AuditInputs(
                lines=tuple(scanned),
                total_cents=sum(map(_line_total, scanned)),
                history=history,
                now=now,
            )
            decision = decide(inputs, policy, audit_rng)

            audited = decision.decision != "none"
            found = False
            if audited and missing_units:
                if decision.decision == "full":
                    found = True
                elif any(gtin in missing for gtin in decision.rescan):
                    found = True
                    c["escalations"] += 1
                    decision = escalate(
                        decision,
                        [line.gtin for line in scanned],
                        "discrepancy found in the partial rescan",
                    )
            if audited:
                c["audits"] += 1
                c[f"{decision.decision}_audits"] += 1
                c["rescanned_items"] += len(decision.rescan)
                last_audit = now
                if found:
                    discrepancies += 1
                    last_discrepancy = now
                else:
                    passed += 1
            trips += 1

            c["trips"] += 1
            kind = "dishonest" if dishonest else "honest"
            c[f"{kind}_trips"] += 1
            c[f"{kind}_trips_audited"] += audited
            if cheating and missing_units:
                c["cheating_trips"] += 1
                c["cheating_trips_caught"] += found
                c["underscanned_items"] += missing_units
                c["caught_items"] += missing_units if found else 0
            if not dishonest:
                month = int(day // _MONTH_DAYS)
                months.add(month)
                if audited:
                    months_audited.add(month)

            day += rng.gammavariate(4.0, gap / 4.0)

        c["honest_shopper_months"] += len(months)
        c["honest_shopper_months_audited"] += len(months_audited)

    return SimulationResult(
        days=days,
        shoppers=shoppers,
        dishonest_shoppers=dishonest_count,
        trips=c["trips"],
        audits=c["audits"],
        partial_audits=c["partial_audits"],
        full_audits=c["full_audits"],
        escalations=c["escalations"],
        rescanned_items=c["rescanned_items"],
        honest_trips=c["honest_trips"],
        honest_trips_audited=c["honest_trips_audited"],
        honest_shopper_months=c["honest_shopper_months"],
        honest_shopper_months_audited=c["honest_shopper_months_audited"],
        dishonest_trips=c["dishonest_trips"],
        dishonest_trips_audited=c["dishonest_trips_audited"],
        cheating_trips=c["cheating_trips"],
        cheating_trips_caught=c["cheating_trips_caught"],
        underscanned_items=c["underscanned_items"],
        caught_items=c["caught_items"],
    )
