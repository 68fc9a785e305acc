"""Synthetic trip history for a store: the benchmark's year, the demo's few weeks and the
tests' random histories. Writes the raw rows (baskets, lines, audits, corrections,
rescans, hand-offs, offers, scan issues) exactly as the live paths do, in bulk.

Every trip is drawn from a seeded generator: same arguments, same rows. Under-scanning
is planted per category (``miss_rates``), so tests can hide a pattern in noise and
check the recommendations find it.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from store_server.baskets.models import Shopper
from store_server.checkout.simulation import _catalogue
from store_server.manager.rollup import A, B, C, D, G, H, I, L, R
from store_server.timeutil import utcnow

S = Shopper.__table__  # type: ignore[attr-defined]

# Share of a day's trips starting in each local hour (a supermarket's two peaks).
HOUR_PROFILE = {
    8: 3,
    9: 5,
    10: 7,
    11: 9,
    12: 10,
    13: 8,
    14: 6,
    15: 6,
    16: 8,
    17: 11,
    18: 12,
    19: 9,
    20: 5,
}
STAFF = ("alice", "bruno", "chloe", "driss")


@dataclass
class HistorySpec:
    store_id: str = "store-1"
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)
    days: int = 7
    trips_per_day: int = 200
    lines_per_trip: float = 12.0
    devices: int = 12
    phone_share: float = 0.25
    base_audit_rate: float = 0.12
    partial_share: float = 0.8
    abandon_rate: float = 0.02
    promo_share: float = 0.3
    offer_share: float = 0.05
    unknown_scan_rate: float = 0.01
    miss_rates: Mapping[str, float] = field(default_factory=dict)
    default_miss_rate: float = 0.001
    utc_offset_hours: int = 1
    seed: int = 1


@dataclass
class HistoryCounts:
    trips: int = 0
    lines: int = 0
    audits: int = 0


def _batched(connection: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(table), rows)
        rows.clear()


def _ensure_devices(connection: Connection, spec: HistorySpec) -> list[tuple[str, str]]:
    devices = []
    existing = {r[0] for r in connection.execute(select(D.c.id)).all()}
    phones = round(spec.devices * spec.phone_share)
    rows = []
    for n in range(spec.devices):
        kind = "phone" if n < phones else "store"
        device_id = f"{spec.store_id}-{'P' if kind == 'phone' else 'H'}{n:03d}"
        devices.append((device_id, kind))
        if device_id not in existing:
            rows.append(
                {
                    "id": device_id,
                    "store_id": spec.store_id,
                    "token_hash": uuid.uuid4().hex,
                    "enrolled_at": spec.start,
                    "revoked_at": None,
                    "staff_mode": False,
                    "kind": kind,
                }
            )
    _batched(connection, D, rows)
    return devices


def _shoppers(connection: Connection, spec: HistorySpec, n: int = 50) -> list[int]:
    prefix = f"H{abs(hash(spec.store_id)) % 10_000:04d}"
    have: dict[str, int] = dict(
        connection.execute(
            select(S.c.loyalty_card, S.c.id).where(S.c.loyalty_card.like(prefix + "%"))
        ).all()
    )
    rows = [
        {
            "loyalty_card": f"{prefix}{i:06d}",
            "created_at": spec.start,
            "trips": 0,
            "audits_passed": 0,
            "discrepancies": 0,
        }
        for i in range(n)
        if f"{prefix}{i:06d}" not in have
    ]
    _batched(connection, S, rows)
    return [
        r[0]
        for r in connection.execute(select(S.c.id).where(S.c.loyalty_card.like(prefix + "%"))).all()
    ]


def _line(basket_id: str, product: Any, at: datetime) -> dict[str, Any]:
    """One unit of ``product`` as a basket line row."""
    return {
        "basket_id": basket_id,
        "gtin": product.gtin,
        "scanned_gtin": product.gtin,
        "name": f"{product.category} {product.gtin[-4:]}",
        "category": product.category,
        "qty": 1,
        "unit_price_cents": product.price_cents,
        "weight_g": None,
        "line_total_cents": product.price_cents,
        "tax_rate": "0.055",
        "age_restricted": product.age_restricted,
        "added_at": at,
    }


def generate(
    connection: Connection, spec: HistorySpec, *, flush_every: int = 2000
) -> HistoryCounts:
    """Write ``spec.days`` days of trips; returns what was written.

    Each basket's ``updated_at`` is the moment it is written (as for any change), so the
    rollup's next refresh reads the imported trips like trips that just ended."""
    written_at = utcnow()
    rng = random.Random(spec.seed)
    products, cum = _catalogue(random.Random(f"catalogue-{spec.seed}"))
    devices = _ensure_devices(connection, spec)
    shoppers = _shoppers(connection, spec)
    hours = list(HOUR_PROFILE)
    hour_weights = list(HOUR_PROFILE.values())
    counts = HistoryCounts()
    buf: dict[str, list[dict[str, Any]]] = {k: [] for k in "BLACHRGI"}
    tables = {"B": B, "L": L, "A": A, "C": C, "H": H, "R": R, "G": G, "I": I}
    log_lines = math.log(max(1.0, spec.lines_per_trip))
    handoff_serial = rng.randrange(1 << 40)

    def flush() -> None:
        for key in "BLACHRGI":  # parents first
            _batched(connection, tables[key], buf[key])

    for day in range(spec.days):
        midnight = spec.start + timedelta(days=day) - timedelta(hours=spec.utc_offset_hours)
        n_trips = max(0, round(spec.trips_per_day * rng.uniform(0.8, 1.2)))
        for _ in range(n_trips):
            hour = rng.choices(hours, hour_weights)[0]
            created = midnight + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
            device_id, device_kind = rng.choice(devices)
            bid = str(uuid.UUID(int=rng.getrandbits(128)))
            n_lines = max(1, round(rng.lognormvariate(log_lines, 0.5)))
            picks = rng.choices(range(len(products)), cum_weights=cum, k=n_lines)
            trip_s = rng.lognormvariate(math.log(900), 0.5)
            finished = created + timedelta(seconds=trip_s)
            lines: dict[str, dict[str, Any]] = {}
            missing: list[Any] = []
            for i, pid in enumerate(picks):
                p = products[pid]
                if rng.random() < spec.miss_rates.get(p.category, spec.default_miss_rate):
                    missing.append(p)
                    continue
                line = lines.get(p.gtin)
                at = created + timedelta(seconds=trip_s * (i + 1) / (n_lines + 1))
                if line is None:
                    lines[p.gtin] = _line(bid, p, at)
                else:
                    line["qty"] += 1
                    line["line_total_cents"] += p.price_cents
            if rng.random() < spec.unknown_scan_rate:
                buf["I"].append(
                    {
                        "store_id": spec.store_id,
                        "device_id": device_id,
                        "kind": "unknown_product",
                        "code": f"0000000{rng.randrange(40):07d}",
                        "at": created + timedelta(seconds=60),
                    }
                )
            if rng.random() < spec.unknown_scan_rate / 2:
                buf["I"].append(
                    {
                        "store_id": spec.store_id,
                        "device_id": device_id,
                        "kind": "removal",
                        "code": "",
                        "at": created + timedelta(seconds=90),
                    }
                )
            subtotal = sum(line["line_total_cents"] for line in lines.values())
            promo = round(subtotal * 0.05) if rng.random() < spec.promo_share else 0
            total = subtotal - promo
            abandoned = not lines or rng.random() < spec.abandon_rate
            status = "abandoned" if abandoned else "paid"
            basket = {
                "id": bid,
                "device_id": device_id,
                "store_id": spec.store_id,
                "shopper_id": None,
                "loyalty_card": None,
                "status": status,
                "currency": "EUR",
                "total_cents": total,
                "tax_cents": round(total * 0.05),
                "item_count": sum(x["qty"] for x in lines.values()),
                "created_at": created,
                "updated_at": written_at,
                "finished_at": None if abandoned else finished,
                "audit": None,
            }
            buf["B"].append(basket)
            buf["L"].extend(lines.values())
            counts.trips += 1
            counts.lines += len(lines)
            if shoppers and rng.random() < spec.offer_share:
                buf["G"].append(
                    {
                        "id": str(uuid.UUID(int=rng.getrandbits(128))),
                        "basket_id": bid,
                        "shopper_id": rng.choice(shoppers),
                        "store_id": spec.store_id,
                        "template_id": "t",
                        "label": "offer",
                        "reason": "history",
                        "promotion": "{}",
                        "offered_at": created + timedelta(seconds=30),
                        "accepted_at": created + timedelta(seconds=60)
                        if rng.random() < 0.3
                        else None,
                    }
                )
            if abandoned:
                continue
            trust = rng.betavariate(5, 2)
            probability = min(0.9, spec.base_audit_rate * (1.5 if trust < 0.5 else 1.0))
            audited = rng.random() < probability
            decision = "none"
            if audited:
                decision = "partial" if rng.random() < spec.partial_share else "full"
            found = bool(missing) and audited and (decision == "full" or rng.random() < 0.5)
            staff = rng.choice(STAFF)
            closed = finished + timedelta(
                seconds=rng.uniform(60, 240) if audited else rng.uniform(5, 30)
            )
            outcome = "not_audited" if not audited else ("discrepancy" if found else "passed")
            buf["A"].append(
                {
                    "basket_id": bid,
                    "store_id": spec.store_id,
                    "shopper_id": None,
                    "decision": "full" if found else decision,
                    "initial_decision": decision,
                    "rescan": "[]",
                    "reasons": "[]",
                    "inputs": "{}",
                    "policy": "{}",
                    "probability": probability,
                    "trust_score": trust,
                    "decided_at": finished,
                    "escalated_at": None,
                    "outcome": outcome,
                    "closed_at": closed,
                    "closed_by": staff,
                    "policy_version": None,
                }
            )
            if audited:
                counts.audits += 1
                for gtin in list(lines)[: (3 if decision == "partial" else len(lines))]:
                    buf["R"].append(
                        {
                            "basket_id": bid,
                            "gtin": gtin,
                            "code": gtin,
                            "name": "item",
                            "outcome": "verified",
                            "source": "console",
                            "actor": staff,
                            "at": finished + timedelta(seconds=30),
                            "resolution": None,
                            "resolved_by": None,
                            "resolved_at": None,
                        }
                    )
            if found:
                added: dict[str, dict[str, Any]] = {}
                for p in missing:
                    existing = lines.get(p.gtin)
                    buf["C"].append(
                        {
                            "basket_id": bid,
                            "kind": "add",
                            "gtin": p.gtin,
                            "name": "item",
                            "qty": 1,
                            "reason": "missed_by_shopper",
                            "note": None,
                            "shopper_fault": True,
                            "voided": False,
                            "actor": staff,
                            "at": closed,
                        }
                    )
                    if existing is None and p.gtin not in added:
                        added[p.gtin] = _line(bid, p, closed)  # staff added it
                buf["L"].extend(added.values())
                total += sum(p.price_cents for p in missing)
                basket["total_cents"] = total
            handoff_serial += 1
            paid_at = closed + timedelta(seconds=rng.uniform(20, 180))
            buf["H"].append(
                {
                    "id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "code": f"{handoff_serial % (1 << 60):X}"[:16],
                    "basket_id": bid,
                    "store_id": spec.store_id,
                    "status": "paid",
                    "currency": "EUR",
                    "total_cents": total,
                    "tax_cents": round(total * 0.05),
                    "record": "{}",
                    "created_at": closed,
                    "created_by": staff,
                    "paid_at": paid_at,
                    "pos_terminal_id": None,
                    "payment_reference": f"h-{handoff_serial}",
                }
            )
            if len(buf["B"]) >= flush_every:
                flush()
    flush()
    return counts


def write_history(engine: Any, spec: HistorySpec) -> HistoryCounts:
    """:func:`generate` in a transaction of its own, then the rollup refreshed."""
    from store_server.db import session_scope
    from store_server.manager import rollup

    with engine.begin() as connection:
        counts = generate(connection, spec)
    with session_scope(engine) as session:
        rollup.refresh(session)
    return counts


def demo_history(
    engine: Any, store_id: str, *, days: int = 21, trips_per_day: int = 50
) -> HistoryCounts:
    """The demo's past: a few weeks ending yesterday, a wine pattern to recommend on."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    spec = HistorySpec(
        store_id=store_id,
        start=today - timedelta(days=days),
        days=days,
        trips_per_day=trips_per_day,
        miss_rates={"alcohol": 0.04},
        seed=2026,
    )
    return write_history(engine, spec)
