"""Hourly rollups of the raw trip rows, so a year of a busy store answers in milliseconds.

Every trip (basket) contributes its facts to the hour it *started* in; a scan issue to
the hour it happened. :func:`facts_between` reads the raw rows of a span of hours and
returns the rollup rows for it; :func:`rebuild` writes them for all time and
:func:`refresh` rewrites only the hours whose trips changed since the last refresh
(``basket.updated_at`` moves with every change to a trip), so the rollup always equals
a rebuild (``tests/manager/test_rollup.py`` proves it on random histories).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from store_server.baskets.models import Basket, BasketLine
from store_server.checkout.models import (
    CheckoutAudit,
    CheckoutCorrection,
    PaymentHandoff,
    RescanScan,
)
from store_server.devices.models import Device
from store_server.manager.figures import bucket_of, epoch_hour, hour_start, trust_band
from store_server.manager.models import RollupDay, RollupMark, RollupRow, ScanIssue
from store_server.offers.models import OfferGrant
from store_server.timeutil import as_utc, utcnow

B = Basket.__table__  # type: ignore[attr-defined]
L = BasketLine.__table__  # type: ignore[attr-defined]
A = CheckoutAudit.__table__  # type: ignore[attr-defined]
C = CheckoutCorrection.__table__  # type: ignore[attr-defined]
H = PaymentHandoff.__table__  # type: ignore[attr-defined]
R = RescanScan.__table__  # type: ignore[attr-defined]
D = Device.__table__  # type: ignore[attr-defined]
G = OfferGrant.__table__  # type: ignore[attr-defined]
I = ScanIssue.__table__  # type: ignore[attr-defined]  # noqa: E741
ROLLUP = RollupRow.__table__  # type: ignore[attr-defined]
DAYS = RollupDay.__table__  # type: ignore[attr-defined]
MARK = RollupMark.__table__  # type: ignore[attr-defined]

Key = tuple[str, int, str, str]  # store, hour, metric, dim

DISCREPANCY_KINDS = ("missed_item", "wrong_quantity", "extra_item", "wrong_variable_measure")


def _seconds(start: Any, end: Any) -> float | None:
    if start is None or end is None:
        return None
    return (as_utc(end) - as_utc(start)).total_seconds()


def _in_span(column: Any, store_id: str | None, start: datetime, end: datetime) -> Any:
    cond = and_(column >= start, column < end)
    return cond if store_id is None else and_(cond, B.c.store_id == store_id)


def facts_between(
    connection: Connection, start_hour: int, end_hour: int, store_id: str | None = None
) -> dict[Key, int]:
    """The rollup rows of hours [start_hour, end_hour), computed from the raw rows."""
    start, end = hour_start(start_hour), hour_start(end_hour)
    out: dict[Key, int] = defaultdict(int)
    span = _in_span(B.c.created_at, store_id, start, end)
    trips = connection.execute(
        select(
            B.c.id,
            B.c.store_id,
            B.c.created_at,
            B.c.finished_at,
            B.c.status,
            B.c.item_count,
            B.c.device_id,
            D.c.kind,
            A.c.initial_decision,
            A.c.outcome,
            A.c.probability,
            A.c.trust_score,
            A.c.decided_at,
            A.c.closed_at,
            A.c.closed_by,
            H.c.total_cents,
            H.c.paid_at,
            H.c.status,
        )
        .select_from(
            B.join(D, D.c.id == B.c.device_id)
            .outerjoin(A, A.c.basket_id == B.c.id)
            .outerjoin(H, H.c.basket_id == B.c.id)
        )
        .where(span)
    ).all()
    if not trips:
        _scan_issues(connection, start, end, store_id, out)
        return dict(out)
    subtotal: dict[str, int] = dict(
        connection.execute(
            select(L.c.basket_id, func.sum(L.c.line_total_cents))
            .select_from(L.join(B, B.c.id == L.c.basket_id))
            .where(span, B.c.status == "paid")
            .group_by(L.c.basket_id)
        ).all()
    )
    rescans: dict[str, int] = dict(
        connection.execute(
            select(R.c.basket_id, func.count())
            .select_from(R.join(B, B.c.id == R.c.basket_id))
            .where(span)
            .group_by(R.c.basket_id)
        ).all()
    )
    offers = {
        row[0]: (row[1], row[2])
        for row in connection.execute(
            select(G.c.basket_id, func.count(), func.count(G.c.accepted_at))
            .select_from(G.join(B, B.c.id == G.c.basket_id))
            .where(span)
            .group_by(G.c.basket_id)
        ).all()
    }
    audited_categories: dict[str, dict[str, int]] = defaultdict(dict)  # basket: category: units
    for basket_id, category, units in connection.execute(
        select(L.c.basket_id, L.c.category, func.sum(L.c.qty))
        .select_from(L.join(B, B.c.id == L.c.basket_id).join(A, A.c.basket_id == B.c.id))
        .where(span, A.c.initial_decision != "none", L.c.added_at < A.c.decided_at)
        .group_by(L.c.basket_id, L.c.category)
    ).all():
        audited_categories[basket_id][category] = int(units)
    findings: dict[str, list[tuple[str, str, int]]] = defaultdict(list)  # kind, category, cents
    seen: set[int] = set()
    for row in connection.execute(
        select(
            C.c.id,
            C.c.basket_id,
            C.c.kind,
            C.c.qty,
            C.c.reason,
            C.c.shopper_fault,
            C.c.voided,
            L.c.unit_price_cents,
            L.c.category,
            L.c.weight_g,
            L.c.line_total_cents,
            L.c.added_at,
            A.c.decided_at,
        )
        .select_from(
            C.join(B, B.c.id == C.c.basket_id)
            .join(A, A.c.basket_id == C.c.basket_id)
            .outerjoin(L, and_(L.c.basket_id == C.c.basket_id, L.c.gtin == C.c.gtin))
        )
        .where(span)
        .order_by(C.c.id, L.c.id)
    ).all():
        (
            cid,
            basket_id,
            kind,
            qty,
            reason,
            fault,
            voided,
            unit,
            category,
            weight,
            line_total,
            added_at,
            decided_at,
        ) = row
        if cid in seen:
            continue
        seen.add(cid)
        category = category or "unknown"
        if kind == "remove" and reason == "not_in_trolley":
            findings[basket_id].append(("extra_item", category, 0))
        elif kind == "add" and fault and not voided:
            if weight is not None:
                finding, cents = "wrong_variable_measure", int(line_total or 0)
            else:
                cents = int(qty) * int(unit or 0)
                before = added_at is not None and decided_at is not None
                before = before and as_utc(added_at) < as_utc(decided_at)
                finding = "wrong_quantity" if before else "missed_item"
            findings[basket_id].append((finding, category, cents))

    for (
        bid,
        store,
        created,
        finished,
        status,
        items,
        device_id,
        device_kind,
        decision,
        outcome,
        probability,
        trust,
        decided,
        closed,
        closed_by,
        paid_total,
        paid_at,
        handoff_status,
    ) in trips:
        hour = epoch_hour(as_utc(created))

        def add(
            metric: str, value: int = 1, dim: str = "", _s: str = store, _h: int = hour
        ) -> None:
            out[(_s, _h, metric, dim)] += value

        device_kind = device_kind or "store"
        add("trips_started")
        add("device_trips", 1, device_id)
        if finished is not None:
            add("trips_finished")
            add("dev_trips", 1, device_kind)
            add("hist_trip", 1, str(bucket_of(_seconds(created, finished) or 0)))
        if status == "abandoned":
            add("trips_abandoned")
        paid = status == "paid" and handoff_status == "paid" and paid_total is not None
        if paid:
            add("trips_paid")
            add("sales_cents", int(paid_total))
            add("dev_sales", int(paid_total), device_kind)
            add("items", int(items))
            add("promo_cents", max(0, int(subtotal.get(bid, 0) or 0) - int(paid_total)))
            wait = _seconds(finished, paid_at)
            if wait is not None:
                add("hist_exit", 1, str(bucket_of(wait)))
            if decision in (None, "none"):
                add("unaudited_sales", int(paid_total))
        shown_offers, accepted = offers.get(bid, (0, 0))
        if shown_offers:
            add("offers_shown", int(shown_offers))
            add("offers_accepted", int(accepted))
        if decision is not None:
            add("decisions", 1, decision)
        if decision in (None, "none") or outcome not in ("passed", "discrepancy"):
            continue
        band = trust_band(float(trust))
        found = findings.get(bid, [])
        cents = sum(c for _, _, c in found)
        add("audits")
        add("dev_audits", 1, device_kind)
        add("band_audits", 1, band)
        add("staff_audits", 1, closed_by or "?")
        add("staff_rescans", int(rescans.get(bid, 0)), closed_by or "?")
        add("rescans", int(rescans.get(bid, 0)))
        audit_s = _seconds(decided, closed)
        if audit_s is not None:
            add("hist_audit", 1, str(bucket_of(audit_s)))
            add("staff_audit_s", round(audit_s), closed_by or "?")
        for category, units in audited_categories.get(bid, {}).items():
            add("cat_audits", 1, category)
            add("cat_units", units, category)
        if found:
            add("audits_hit")
            add("dev_hits", 1, device_kind)
            add("band_hits", 1, band)
            for kind in {k for k, _, _ in found}:
                add("hits_kind", 1, kind)
            for category in {c for _, c, _ in found}:
                add("cat_hits", 1, category)
        if cents:
            add("recovered_cents", cents)
            add("dev_recovered", cents, device_kind)
            add("band_recovered", cents, band)
            for _, category, c in found:
                if c:
                    add("cat_recovered", c, category)
        p = float(probability or 0.0)
        if p > 0:
            add("ht_cents", round(cents / p))
            add("ht_var", round(cents * cents * (1.0 - p) / (p * p)))
    _scan_issues(connection, start, end, store_id, out)
    return {k: v for k, v in out.items() if v}


def _scan_issues(
    connection: Connection,
    start: datetime,
    end: datetime,
    store_id: str | None,
    out: dict[Key, int],
) -> None:
    cond = and_(I.c.at >= start, I.c.at < end)
    if store_id is not None:
        cond = and_(cond, I.c.store_id == store_id)
    for store, at, kind, code in connection.execute(
        select(I.c.store_id, I.c.at, I.c.kind, I.c.code).where(cond)
    ).all():
        hour = epoch_hour(as_utc(at))
        out[(store, hour, f"scan_{kind}", "")] += 1
        if kind == "unknown_product":
            out[(store, hour, "unknown_gtin", code)] += 1


def _write(connection: Connection, rows: dict[Key, int]) -> None:
    if rows:
        connection.execute(
            insert(ROLLUP),
            [
                {"store_id": s, "hour": h, "metric": m, "dim": d[:120], "value": v}
                for (s, h, m, d), v in rows.items()
            ],
        )


def _span_of_all(connection: Connection) -> tuple[int, int] | None:
    first = connection.execute(select(func.min(B.c.created_at))).scalar()
    last = connection.execute(select(func.max(B.c.created_at))).scalar()
    first_issue = connection.execute(select(func.min(I.c.at))).scalar()
    last_issue = connection.execute(select(func.max(I.c.at))).scalar()
    starts = [epoch_hour(as_utc(x)) for x in (first, first_issue) if x is not None]
    ends = [epoch_hour(as_utc(x)) + 1 for x in (last, last_issue) if x is not None]
    if not starts:
        return None
    return min(starts), max(ends)


def rebuild(session: Session, *, chunk_hours: int = 24 * 7) -> int:
    """Recompute the whole rollup from the raw rows; returns the rows written."""
    connection = session.connection()
    now = utcnow()
    connection.execute(delete(ROLLUP))
    connection.execute(delete(DAYS))
    span = _span_of_all(connection)
    written = 0
    if span is not None:
        for start in range(span[0], span[1], chunk_hours):
            rows = facts_between(connection, start, min(span[1], start + chunk_hours))
            _write(connection, rows)
            written += len(rows)
        _sum_days(connection, None, span[0] // 24, (span[1] - 1) // 24 + 1)
    _set_mark(connection, now, _max_issue(connection))
    session.flush()
    return written


def _max_issue(connection: Connection) -> int:
    return int(connection.execute(select(func.max(I.c.id))).scalar() or 0)


def _set_mark(connection: Connection, until: datetime, issue_id: int) -> None:
    values = {"baskets_until": until, "issues_after_id": issue_id}
    if not connection.execute(MARK.update().where(MARK.c.id == 1).values(values)).rowcount:
        connection.execute(insert(MARK).values(id=1, **values))


# Changes later than this are read again at the next refresh: a transaction that
# started before the refresh may commit a basket change stamped a little earlier.
_SETTLE = timedelta(seconds=120)


def refresh(session: Session, *, now: datetime | None = None) -> int:
    """Rewrite the hours whose trips changed since the last refresh; returns how many
    (store, hour) pairs were rewritten. Cheap when nothing changed: one indexed read."""
    connection = session.connection()
    now = as_utc(now or utcnow())
    mark = connection.execute(select(MARK.c.baskets_until, MARK.c.issues_after_id)).first()
    if mark is None or mark[0] is None:
        rebuild(session)
        return -1
    since = as_utc(mark[0]) - _SETTLE
    touched: set[tuple[str, int]] = set()
    for store, created in connection.execute(
        select(B.c.store_id, B.c.created_at).where(B.c.updated_at >= since)
    ).all():
        touched.add((store, epoch_hour(as_utc(created))))
    for store, at in connection.execute(select(I.c.store_id, I.c.at).where(I.c.id > mark[1])).all():
        touched.add((store, epoch_hour(as_utc(at))))
    max_issue = _max_issue(connection)
    for store, start, end in _spans(touched):
        connection.execute(
            delete(ROLLUP).where(
                ROLLUP.c.store_id == store, ROLLUP.c.hour >= start, ROLLUP.c.hour < end
            )
        )
        _write(connection, facts_between(connection, start, end, store))
        _sum_days(connection, store, start // 24, (end - 1) // 24 + 1)
    _set_mark(connection, now, max(max_issue, int(mark[1])))
    session.flush()
    return len(touched)


SPAN_GAP_HOURS = 24


def _sum_days(connection: Connection, store_id: str | None, first: int, end: int) -> None:
    """Rewrite the day rows of UTC days [first, end) as the sums of their hour rows."""
    cond = and_(DAYS.c.day >= first, DAYS.c.day < end)
    hours = and_(ROLLUP.c.hour >= first * 24, ROLLUP.c.hour < end * 24)
    if store_id is not None:
        cond = and_(cond, DAYS.c.store_id == store_id)
        hours = and_(hours, ROLLUP.c.store_id == store_id)
    connection.execute(delete(DAYS).where(cond))
    day = (ROLLUP.c.hour // 24).label("day")  # floor division on both databases
    connection.execute(
        insert(DAYS).from_select(
            ["store_id", "day", "metric", "dim", "value"],
            select(ROLLUP.c.store_id, day, ROLLUP.c.metric, ROLLUP.c.dim, func.sum(ROLLUP.c.value))
            .where(hours)
            .group_by(ROLLUP.c.store_id, day, ROLLUP.c.metric, ROLLUP.c.dim),
        )
    )


def _spans(touched: set[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """Touched (store, hour) pairs as few [start, end) spans per store: hours less than a
    day apart are recomputed together (an untouched hour between comes out the same)."""
    spans: list[tuple[str, int, int]] = []
    for store, hour in sorted(touched):
        if spans and spans[-1][0] == store and hour - spans[-1][2] < SPAN_GAP_HOURS:
            spans[-1] = (store, spans[-1][1], hour + 1)
        else:
            spans.append((store, hour, hour + 1))
    return spans


def read(
    connection: Connection,
    store_id: str,
    start_hour: int,
    end_hour: int,
    metrics: Iterable[str] | None = None,
) -> dict[tuple[str, str], int]:
    """Sums over hours [start_hour, end_hour): {(metric, dim): value}. Whole UTC days
    inside the span are read from the day rows, the hours at either end from the hours."""
    first_day, end_day = -(-start_hour // 24), end_hour // 24
    parts: list[tuple[Any, Any, int, int]] = []
    if first_day < end_day:
        parts = [
            (ROLLUP, ROLLUP.c.hour, start_hour, first_day * 24),
            (DAYS, DAYS.c.day, first_day, end_day),
            (ROLLUP, ROLLUP.c.hour, end_day * 24, end_hour),
        ]
    else:
        parts = [(ROLLUP, ROLLUP.c.hour, start_hour, end_hour)]
    out: dict[tuple[str, str], int] = defaultdict(int)
    for table, column, low, high in parts:
        if low >= high:
            continue
        cond = and_(table.c.store_id == store_id, column >= low, column < high)
        if metrics is not None:
            cond = and_(cond, table.c.metric.in_(list(metrics)))
        for m, d, v in connection.execute(
            select(table.c.metric, table.c.dim, func.sum(table.c.value))
            .where(cond)
            .group_by(table.c.metric, table.c.dim)
        ).all():
            out[(m, d)] += int(v)
    return dict(out)


def read_hourly(
    connection: Connection, store_id: str, start_hour: int, end_hour: int, metrics: Iterable[str]
) -> dict[tuple[int, str], int]:
    """{(hour, metric): value} of undivided metrics, for the hour-of-day charts."""
    rows = connection.execute(
        select(ROLLUP.c.hour, ROLLUP.c.metric, ROLLUP.c.value).where(
            ROLLUP.c.store_id == store_id,
            ROLLUP.c.metric.in_(list(metrics)),
            ROLLUP.c.dim == "",
            ROLLUP.c.hour >= start_hour,
            ROLLUP.c.hour < end_hour,
        )
    ).all()
    return {(int(h), m): int(v) for h, m, v in rows}


def all_day_rows(connection: Connection) -> dict[Key, int]:
    """Every day row (for the equality tests)."""
    return {
        (s, int(d), m, dim): int(v)
        for s, d, m, dim, v in connection.execute(
            select(DAYS.c.store_id, DAYS.c.day, DAYS.c.metric, DAYS.c.dim, DAYS.c.value)
        ).all()
    }


def all_rows(connection: Connection) -> dict[Key, int]:
    """Everything in the rollup (for the equality tests)."""
    return {
        (s, int(h), m, d): int(v)
        for s, h, m, d, v in connection.execute(
            select(ROLLUP.c.store_id, ROLLUP.c.hour, ROLLUP.c.metric, ROLLUP.c.dim, ROLLUP.c.value)
        ).all()
    }


def silent_devices(connection: Connection, store_id: str, now_hour: int, hours: int) -> list[str]:
    """Devices with trips started before, but none in the last ``hours`` hours."""
    ever = {
        d
        for (d,) in connection.execute(
            select(DAYS.c.dim)
            .where(DAYS.c.store_id == store_id, DAYS.c.metric == "device_trips")
            .distinct()
        ).all()
    }
    recent = {
        d
        for (d,) in connection.execute(
            select(ROLLUP.c.dim)
            .where(
                ROLLUP.c.store_id == store_id,
                ROLLUP.c.metric == "device_trips",
                ROLLUP.c.hour > now_hour - hours,
            )
            .distinct()
        ).all()
    }
    return sorted(ever - recent)


def epoch_hour_of(at: datetime) -> int:
    return epoch_hour(as_utc(at))
