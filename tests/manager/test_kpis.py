"""The console's figures on a hand-built day equal values worked out by hand (below)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine

from store_server.baskets.models import Basket, BasketLine, Shopper
from store_server.checkout.models import (
    CheckoutAudit,
    CheckoutCorrection,
    PaymentHandoff,
    RescanScan,
)
from store_server.db import session_scope
from store_server.devices.models import Device
from store_server.manager import rollup
from store_server.manager.figures import Period
from store_server.manager.models import ScanIssue
from store_server.manager.service import Report, build_report
from store_server.offers.models import OfferGrant

DAY = date(2026, 3, 2)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 3, 2, hh, mm, ss, tzinfo=UTC)


def _trip(session, bid, device, start, finish, status, items, total, lines, audit=None, paid=None):  # type: ignore[no-untyped-def]
    session.add(
        Basket(
            id=bid,
            device_id=device,
            store_id="s1",
            status=status,
            total_cents=total,
            item_count=items,
            created_at=start,
            updated_at=paid or finish or start,
            finished_at=finish,
        )
    )
    session.flush()
    for gtin, category, qty, unit, added in lines:
        session.add(
            BasketLine(
                basket_id=bid,
                gtin=gtin,
                scanned_gtin=gtin,
                name=gtin,
                category=category,
                qty=qty,
                unit_price_cents=unit,
                line_total_cents=qty * unit,
                tax_rate="0.055",
                added_at=added,
            )
        )
    if audit is not None:
        decision, outcome, probability, trust, closed, staff = audit
        session.add(
            CheckoutAudit(
                basket_id=bid,
                store_id="s1",
                decision=decision,
                initial_decision=decision,
                rescan="[]",
                reasons="[]",
                inputs="{}",
                policy="{}",
                probability=probability,
                trust_score=trust,
                decided_at=finish,
                outcome=outcome,
                closed_at=closed,
                closed_by=staff,
            )
        )
    if paid is not None:
        session.add(
            PaymentHandoff(
                id=f"h-{bid}",
                code=f"C{bid}",
                basket_id=bid,
                store_id="s1",
                status="paid",
                currency="EUR",
                total_cents=total,
                tax_cents=0,
                record="{}",
                created_at=finish,
                created_by="x",
                paid_at=paid,
            )
        )
    session.flush()


def hand_built_day(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Device(id="H1", store_id="s1", token_hash="a", kind="store"))
        session.add(Device(id="P1", store_id="s1", token_hash="b", kind="phone"))
        session.add(Shopper(id=1, loyalty_card="L1"))
        session.flush()
        # T1: store handheld, 10 min trip, not audited, paid 2 min later; 11.00 of lines, 1.00 off.
        _trip(
            session,
            "T1",
            "H1",
            at(9, 0),
            at(9, 10),
            "paid",
            3,
            1000,
            [
                ("00000000000017", "dairy", 1, 500, at(9, 1)),
                ("00000000000024", "bakery", 2, 300, at(9, 2)),
            ],
            ("none", "not_audited", 0.1, 0.6, at(9, 10, 30), "alice"),
            paid=at(9, 12),
        )
        # T2: 20 min trip, partial audit (p = 0.25) found 2 missed wines at 2.50; 3 min audit.
        _trip(
            session,
            "T2",
            "H1",
            at(9, 30),
            at(9, 50),
            "paid",
            5,
            2000,
            [
                ("00000000000031", "dairy", 3, 500, at(9, 35)),
                ("00000000000048", "wine", 2, 250, at(9, 52)),
            ],
            ("partial", "discrepancy", 0.25, 0.8, at(9, 53), "alice"),
            paid=at(9, 55),
        )
        session.add(
            CheckoutCorrection(
                basket_id="T2",
                kind="add",
                gtin="00000000000048",
                name="wine",
                qty=2,
                reason="missed_by_shopper",
                shopper_fault=True,
                actor="alice",
                at=at(9, 52),
            )
        )
        for n in range(3):
            session.add(
                RescanScan(
                    basket_id="T2",
                    gtin="00000000000031",
                    code="x",
                    name="x",
                    outcome="verified",
                    source="console",
                    actor="alice",
                    at=at(9, 51, n),
                )
            )
        # T3: own phone, 5 min trip, full audit (p = 0.5) passed in 2 min, 4 rescans.
        _trip(
            session,
            "T3",
            "P1",
            at(10, 15),
            at(10, 20),
            "paid",
            4,
            3000,
            [("00000000000055", "coffee", 4, 750, at(10, 16))],
            ("full", "passed", 0.5, 0.2, at(10, 22), "bruno"),
            paid=at(10, 25),
        )
        for n in range(4):
            session.add(
                RescanScan(
                    basket_id="T3",
                    gtin="00000000000055",
                    code="x",
                    name="x",
                    outcome="verified",
                    source="console",
                    actor="bruno",
                    at=at(10, 21, n),
                )
            )
        # T4: abandoned on the phone.
        _trip(
            session,
            "T4",
            "P1",
            at(11, 0),
            None,
            "abandoned",
            1,
            100,
            [("00000000000062", "produce", 1, 100, at(11, 1))],
        )
        for trip, accepted in (("T1", at(9, 3)), ("T3", None)):
            session.add(
                OfferGrant(
                    id=f"o-{trip}",
                    basket_id=trip,
                    shopper_id=1,
                    store_id="s1",
                    template_id="t",
                    label="x",
                    reason="x",
                    promotion="{}",
                    offered_at=at(9, 2),
                    accepted_at=accepted,
                )
            )
        for kind, code in (
            ("unknown_product", "09999999999999"),
            ("unknown_product", "09999999999999"),
            ("invalid_code", "123"),
        ):
            session.add(ScanIssue(store_id="s1", device_id="H1", kind=kind, code=code, at=at(9, 5)))


def report(engine: Engine, min_count: int) -> Report:
    with session_scope(engine) as session:
        rollup.rebuild(session)
        return build_report(
            session,
            "s1",
            Period("day", DAY, DAY),
            timezone="UTC",
            currency="EUR",
            min_count=min_count,
            now=at(12, 0),
        )


def values(r: Report) -> dict[str, str]:
    return {f.key: f.value for figs in r.figures.values() for f in figs}


def test_figures_equal_the_hand_computed_values(engine: Engine) -> None:
    hand_built_day(engine)
    r = report(engine, min_count=1)  # suppression off: every figure is compared
    v = values(r)
    assert (v["trips_started"], v["trips_finished"], v["trips_paid"], v["trips_abandoned"]) == (
        "4",
        "3",
        "3",
        "1",
    )
    assert v["sales"] == "60.00 EUR"  # 10 + 20 + 30
    assert v["items_per_trip"] == "4.0"  # (3 + 5 + 4) / 3
    assert v["value_per_trip"] == "20.00 EUR"
    assert v["promotions"] == "1.00 EUR"  # T1: 11.00 of lines, paid 10.00
    assert (v["offers_shown"], v["offers_accepted"]) == ("2", "50.0%")
    # Trips 300 s, 600 s, 1200 s in buckets (240,300], (420,600], (900,1200]:
    # p50 = 420 + 180 × 0.5 = 510 s; p90 = 900 + 300 × 0.7 = 1110 s.
    assert (v["hist_trip_p50"], v["hist_trip_p90"]) == ("8 min 30 s", "18 min 30 s")
    # Exit waits 120, 300, 300 s: p50 = 240 + 60 × 0.5 / 2 = 255 s;
    # p90 = 240 + 60 × 1.7 / 2 = 291 s.
    assert (v["hist_exit_p50"], v["hist_exit_p90"]) == ("4 min 15 s", "4 min 51 s")
    # Audits 180 s and 120 s: p50 = 90 + 30 × 1 = 120 s; p90 = 120 + 60 × 0.8 = 168 s.
    assert (v["hist_audit_p50"], v["hist_audit_p90"]) == ("2 min 00 s", "2 min 48 s")
    assert (v["decision_none"], v["decision_partial"], v["decision_full"]) == (
        "33.3%",
        "33.3%",
        "33.3%",
    )
    assert (v["audits"], v["hit_rate"], v["recovered"]) == ("2", "50.00%", "5.00 EUR")
    # Horvitz-Thompson: 500 / 0.25 = 2000 cents lost in all; 500 recovered -> 1500.
    # Variance 500² × 0.75 / 0.25² = 3,000,000; half-width 1.96 × 1732.05 = 3394.8.
    assert v["unrecovered"] == "15.00 EUR (95%: 0.00 EUR – 48.95 EUR)"
    # 1500 / 6000 × 10,000 = 2500 bp; 4895 / 6000 × 10,000 = 8158.3 bp.
    assert v["unrecovered_bp"] == "2500.0 bp (95%: 0.0 – 8158.3)"
    kinds = {row[0]: row[1:3] for row in r.tables["kinds"].rows}
    assert kinds["missed item"] == ["1", "50.00%"] and kinds["wrong quantity"] == ["0", "0.00%"]
    categories = {row[0]: row[1:] for row in r.tables["categories"].rows}
    assert categories["wine"] == ["0", "1", "—", "5.00 EUR"]  # found, not scanned before
    assert categories["dairy"][:2] == ["1", "0"] and categories["coffee"][:2] == ["1", "0"]
    devices = {row[0]: row[1:] for row in r.tables["devices"].rows}
    assert devices["store handheld"] == ["1", "1", "100.00%", "5.00 EUR"]
    assert devices["own phone"] == ["1", "0", "0.00%", "0.00 EUR"]
    assert (
        devices["own phone: trips finished"][0] == "1"
        and devices["store handheld: trips finished"][0] == "2"
    )
    bands = {row[0]: row[1:] for row in r.tables["bands"].rows}
    assert (
        bands["trusted (>=0.7)"] == ["1", "1", "100.00%", "5.00 EUR"]
        and bands["low (<0.3)"][0] == "1"
    )
    staff = {row[0]: row[1:] for row in r.tables["staff"].rows}
    assert staff == {"alice": ["1", "3.0", "3 min 00 s"], "bruno": ["1", "4.0", "2 min 00 s"]}
    assert (v["scan_unknown_product"], v["scan_invalid_code"], v["scan_removal"]) == ("2", "1", "0")
    assert r.tables["unknown"].rows == [["09999999999999", "2"]]
    hours = {row[0]: row[1] for row in r.tables["hours"].rows}
    assert (hours["09:00"], hours["10:00"], hours["11:00"], hours["12:00"]) == ("2", "1", "1", "0")
    # The day before is empty: every count 0, the change column says so.
    previous = {f.key: f.previous for figs in r.figures.values() for f in figs}
    assert previous["trips_started"] == "0"


def test_small_counts_are_suppressed(engine: Engine) -> None:
    hand_built_day(engine)
    v = values(report(engine, min_count=5))
    assert v["trips_started"] == "fewer than 5"
    assert v["sales"] == "—" and v["hit_rate"] == "—" and v["unrecovered"] == "—"
    assert v["hist_trip_p50"] == "—"
