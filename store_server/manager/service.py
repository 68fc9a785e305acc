"""The console's figures: read from the hourly rollup, shaped for pages, CSV and reports.

Every figure carries a one-line definition; counts of 1 to ``min_count - 1`` trips are
shown as "fewer than N" (the store signals' rule), and rates and sums built on them are
left out, so no figure describes a single shopper.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import select
from sqlmodel import Session

from store_server.manager import charts, rollup
from store_server.manager.figures import (
    Period,
    duration,
    hour_start,
    loss_estimate,
    money,
    pct,
    percentile,
    ratio,
    shown,
)
from store_server.manager.models import PosDailyTotal, ScanIssue
from store_server.shared.errors import CaddieError, InvalidInput
from store_server.timeutil import utcnow

POS = PosDailyTotal.__table__  # type: ignore[attr-defined]
KIND_LABELS = {
    "missed_item": "missed item",
    "wrong_quantity": "wrong quantity",
    "extra_item": "extra item",
    "wrong_variable_measure": "wrong variable-measure item",
}
DEVICE_LABELS = {"store": "store handheld", "phone": "own phone"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SILENT_HOURS = 24
POS_HOW = (
    " Not reported yet: the POS posts each day to /api/manager/pos-totals with its till "
    "token, or import a CSV on the overview page."
)


@dataclass
class Figure:
    key: str
    label: str
    value: str
    previous: str
    definition: str
    change: str = ""


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    definition: str
    links: dict[int, str] = field(default_factory=dict)  # row index -> href of its first cell


@dataclass
class Report:
    store_id: str
    period: Period
    previous: Period
    currency: str
    figures: dict[str, list[Figure]]
    tables: dict[str, Table]
    charts: dict[str, Markup]
    min_count: int
    empty: bool


class _Totals:
    def __init__(self, values: dict[tuple[str, str], int]) -> None:
        self.values = values

    def __call__(self, metric: str, dim: str = "") -> int:
        return self.values.get((metric, dim), 0)

    def dims(self, metric: str) -> dict[str, int]:
        return {d: v for (m, d), v in self.values.items() if m == metric and d}

    def hist(self, metric: str) -> dict[int, int]:
        return {int(d): v for d, v in self.dims(metric).items()}


def _count(n: int, min_count: int) -> str:
    return f"{n:,}" if shown(n, min_count) else f"fewer than {min_count}"


def _change(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    if before == 0:
        return "new" if now else "="
    delta = (now - before) / abs(before)
    return f"{'+' if delta >= 0 else ''}{delta * 100:.0f}%"


def pos_days(session: Session, store_id: str, period: Period) -> dict[date, int]:
    rows = (
        session.connection()
        .execute(
            select(POS.c.day, POS.c.sales_cents).where(
                POS.c.store_id == store_id, POS.c.day >= period.first, POS.c.day <= period.last
            )
        )
        .all()
    )
    return {d if isinstance(d, date) else date.fromisoformat(str(d)): int(v) for d, v in rows}


def _local_days(hourly: dict[tuple[int, str], int], metric: str, tz: ZoneInfo) -> dict[date, int]:
    out: dict[date, int] = defaultdict(int)
    for (hour, m), value in hourly.items():
        if m == metric:
            out[hour_start(hour).astimezone(tz).date()] += value
    return out


def build_report(
    session: Session,
    store_id: str,
    period: Period,
    *,
    timezone: str,
    currency: str,
    min_count: int,
    now: datetime | None = None,
) -> Report:
    tz = ZoneInfo(timezone)
    connection = session.connection()
    previous = period.previous()
    h0, h1 = period.hours(tz)
    p0, p1 = previous.hours(tz)
    t = _Totals(rollup.read(connection, store_id, h0, h1))
    p = _Totals(rollup.read(connection, store_id, p0, p1))
    hourly = rollup.read_hourly(
        connection, store_id, p0, h1, ("trips_started", "sales_cents", "audits", "audits_hit")
    )
    mc = min_count
    figures: dict[str, list[Figure]] = {}

    def fig(
        section: str, key: str, label: str, definition: str, now_v: Any, prev_v: Any, fmt: Any
    ) -> None:
        figures.setdefault(section, []).append(
            Figure(
                key, label, fmt(now_v), fmt(prev_v), definition, _change(_num(now_v), _num(prev_v))
            )
        )

    def count_fmt(v: int | None) -> str:
        return "—" if v is None else _count(v, mc)

    def money_fmt(v: int | None) -> str:
        return money(v, currency)

    def guarded(tot: _Totals, value: Any, base_metric: str) -> Any:
        return value if shown(tot(base_metric), mc) else None

    # --- adoption
    for key, label, definition in (
        ("trips_started", "Trips started", "Baskets opened on a handheld or phone in the period."),
        ("trips_finished", "Trips finished", "Trips started in the period that reached the exit."),
        (
            "trips_paid",
            "Trips paid",
            "Trips started in the period whose payment the POS confirmed.",
        ),
        (
            "trips_abandoned",
            "Trips abandoned",
            "Trips started in the period left unfinished or unpaid.",
        ),
    ):
        fig("adoption", key, label, definition, t(key), p(key), count_fmt)
    fig(
        "adoption",
        "sales",
        "Self-scan sales",
        "Sum paid for self-scanned trips started in the period.",
        guarded(t, t("sales_cents"), "trips_paid"),
        guarded(p, p("sales_cents"), "trips_paid"),
        money_fmt,
    )
    share_now = _pos_share(session, store_id, period, hourly, tz)
    share_prev = _pos_share(session, store_id, previous, hourly, tz)
    figures["adoption"].append(
        Figure(
            "pos_share",
            "Share of store sales through self-scanning",
            "— (no POS totals)" if share_now is None else pct(share_now),
            "—" if share_prev is None else pct(share_prev),
            "Self-scan sales ÷ the POS's reported daily totals, on the days the POS reported."
            + (POS_HOW if share_now is None else ""),
            _change(share_now, share_prev),
        )
    )

    # --- baskets
    def per_trip(tot: _Totals, metric: str) -> float | None:
        value: float | None = guarded(tot, ratio(tot(metric), tot("trips_paid")), "trips_paid")
        return value

    fig(
        "baskets",
        "items_per_trip",
        "Items per paid trip",
        "Units in paid trips ÷ paid trips.",
        per_trip(t, "items"),
        per_trip(p, "items"),
        lambda v: "—" if v is None else f"{v:.1f}",
    )
    fig(
        "baskets",
        "value_per_trip",
        "Value per paid trip",
        "Self-scan sales ÷ paid trips.",
        per_trip(t, "sales_cents"),
        per_trip(p, "sales_cents"),
        money_fmt,
    )
    fig(
        "baskets",
        "promotions",
        "Promotions given",
        "Line totals minus what was paid, on paid trips.",
        guarded(t, t("promo_cents"), "trips_paid"),
        guarded(p, p("promo_cents"), "trips_paid"),
        money_fmt,
    )
    fig(
        "baskets",
        "offers_shown",
        "Personal offers shown",
        "Offers made to opted-in shoppers on trips of the period.",
        t("offers_shown"),
        p("offers_shown"),
        count_fmt,
    )
    fig(
        "baskets",
        "offers_accepted",
        "Offers accepted",
        "Share of the offers shown that the shopper accepted.",
        guarded(t, ratio(t("offers_accepted"), t("offers_shown")), "offers_shown"),
        guarded(p, ratio(p("offers_accepted"), p("offers_shown")), "offers_shown"),
        pct,
    )
    # --- time
    for metric, label, definition in (
        ("hist_trip", "Trip duration", "Start → finish of finished trips"),
        ("hist_exit", "Wait at the exit", "Finish → paid of paid trips"),
        ("hist_audit", "Audit duration", "Audit decided → released, audited trips"),
    ):
        for q in (0.5, 0.9):
            hn, hp = t.hist(metric), p.hist(metric)
            fig(
                "time",
                f"{metric}_p{int(q * 100)}",
                f"{label}, p{int(q * 100)}",
                f"{definition}; p{int(q * 100)} from an 18-bucket histogram, "
                "interpolated in the bucket.",
                percentile(hn, q) if shown(sum(hn.values()), mc) else None,
                percentile(hp, q) if shown(sum(hp.values()), mc) else None,
                duration,
            )
    # --- audits and loss
    for decision in ("none", "partial", "full"):
        fig(
            "audits",
            f"decision_{decision}",
            f"Decided: {decision}",
            f"Share of finished trips whose audit decision at the exit was '{decision}'.",
            guarded(t, ratio(t("decisions", decision), t("trips_finished")), "trips_finished"),
            guarded(p, ratio(p("decisions", decision), p("trips_finished")), "trips_finished"),
            pct,
        )
    fig(
        "audits",
        "audits",
        "Audits done",
        "Audited trips released by staff.",
        t("audits"),
        p("audits"),
        count_fmt,
    )
    fig(
        "audits",
        "hit_rate",
        "Hit rate",
        "Audits that found a shopper discrepancy ÷ audits done.",
        guarded(t, ratio(t("audits_hit"), t("audits")), "audits")
        if shown(t("audits_hit"), mc)
        else None,
        guarded(p, ratio(p("audits_hit"), p("audits")), "audits")
        if shown(p("audits_hit"), mc)
        else None,
        lambda v: pct(v, 2),
    )
    fig(
        "audits",
        "recovered",
        "Value recovered",
        "Items the shopper missed, added at the exit (price × quantity).",
        guarded(t, t("recovered_cents"), "audits"),
        guarded(p, p("recovered_cents"), "audits"),
        money_fmt,
    )
    est, est_prev = (
        loss_estimate(x("ht_cents"), x("ht_var"), x("recovered_cents"), x("sales_cents"))
        for x in (t, p)
    )
    loss_def = (
        "Horvitz-Thompson: each audit's find ÷ its audit probability estimates all trips' "
        "loss; minus what audits recovered; 95% interval. Partial rescans miss some, "
        "so it leans low."
    )
    ok_now, ok_prev = shown(t("audits"), mc), shown(p("audits"), mc)
    figures["audits"].append(
        Figure(
            "unrecovered",
            "Estimated unrecovered loss",
            _loss_text(est, currency) if ok_now else "—",
            _loss_text(est_prev, currency) if ok_prev else "—",
            loss_def,
            _change(
                est.unrecovered_cents if ok_now else None,
                est_prev.unrecovered_cents if ok_prev else None,
            ),
        )
    )
    figures["audits"].append(
        Figure(
            "unrecovered_bp",
            "Unrecovered loss, basis points of self-scan sales",
            _bp_text(est) if ok_now else "—",
            _bp_text(est_prev) if ok_prev else "—",
            "The estimate above ÷ self-scan sales × 10,000 (the unit of the ECR loss study).",
            _change(
                est.basis_points if ok_now else None, est_prev.basis_points if ok_prev else None
            ),
        )
    )
    tables: dict[str, Table] = {}
    tables["kinds"] = Table(
        "kinds",
        "Hit rate by kind of discrepancy",
        ["kind", "audits that found it", "hit rate", "previous"],
        [
            [
                KIND_LABELS[k],
                _count(t("hits_kind", k), mc),
                pct(
                    guarded(t, ratio(t("hits_kind", k), t("audits")), "audits")
                    if shown(t("hits_kind", k), mc)
                    else None,
                    2,
                ),
                pct(
                    guarded(p, ratio(p("hits_kind", k), p("audits")), "audits")
                    if shown(p("hits_kind", k), mc)
                    else None,
                    2,
                ),
            ]
            for k in rollup.DISCREPANCY_KINDS
        ],
        "Audits with at least one correction of the kind ÷ audits done.",
    )

    def breakdown(
        key: str, title: str, prefix: str, labels: dict[str, str] | None, definition: str
    ) -> None:
        dims = set(t.dims(f"{prefix}_audits")) | set(t.dims(f"{prefix}_hits"))
        rows = []
        for dim in sorted(dims, key=lambda d: -t(f"{prefix}_audits", d)):
            audits = t(f"{prefix}_audits", dim)
            hits_ok = shown(t(f"{prefix}_hits", dim), mc)
            ok = shown(audits, mc) and hits_ok
            rows.append(
                [
                    (labels or {}).get(dim, dim),
                    _count(audits, mc),
                    _count(t(f"{prefix}_hits", dim), mc) if shown(audits, mc) else "—",
                    pct(ratio(t(f"{prefix}_hits", dim), audits), 2) if ok else "—",
                    money(t(f"{prefix}_recovered", dim), currency) if ok else "—",
                ]
            )
        tables[key] = Table(
            key,
            title,
            ["", "audits", "with a discrepancy", "hit rate", "recovered"],
            rows,
            definition,
        )

    breakdown(
        "categories",
        "By category",
        "cat",
        None,
        "Audits of trips holding the category, those that found it under-scanned, and its value.",
    )
    breakdown(
        "devices",
        "By device kind",
        "dev",
        DEVICE_LABELS,
        "Audits by the kind of device the shopper scanned with.",
    )
    breakdown(
        "bands", "By trust band", "band", None, "Audits by the shopper's trust score when decided."
    )
    for dim, label in DEVICE_LABELS.items():
        trips = t("dev_trips", dim)
        tables["devices"].rows.append(
            [
                f"{label}: trips finished",
                _count(trips, mc),
                "",
                "",
                money(t("dev_sales", dim), currency) if shown(trips, mc) else "—",
            ]
        )
    # --- hours and weekdays
    by_hour: dict[str, dict[int, int]] = {
        m: defaultdict(int) for m in ("trips_started", "sales_cents", "audits", "audits_hit")
    }
    by_hour_prev: dict[str, dict[int, int]] = {m: defaultdict(int) for m in by_hour}
    by_day: dict[str, dict[int, int]] = {m: defaultdict(int) for m in by_hour}
    for (hour, metric), value in hourly.items():
        local = hour_start(hour).astimezone(tz)
        target = by_hour if h0 <= hour < h1 else by_hour_prev
        target[metric][local.hour] += value
        if h0 <= hour < h1:
            by_day[metric][local.weekday()] += value
    hours = list(range(24))
    tables["hours"] = Table(
        "hours",
        "By hour of day",
        ["hour", "trips started", "self-scan sales", "audits", "hit rate"],
        [
            [
                f"{h:02d}:00",
                _count(by_hour["trips_started"][h], mc),
                money(by_hour["sales_cents"][h], currency)
                if shown(by_hour["trips_started"][h], mc)
                else "—",
                _count(by_hour["audits"][h], mc),
                pct(ratio(by_hour["audits_hit"][h], by_hour["audits"][h]), 1)
                if shown(by_hour["audits"][h], mc)
                else "—",
            ]
            for h in hours
        ],
        "Trips by the local hour they started in.",
    )
    tables["weekdays"] = Table(
        "weekdays",
        "By day of week",
        ["day", "trips started", "self-scan sales", "audits", "hit rate"],
        [
            [
                WEEKDAYS[d],
                _count(by_day["trips_started"][d], mc),
                money(by_day["sales_cents"][d], currency)
                if shown(by_day["trips_started"][d], mc)
                else "—",
                _count(by_day["audits"][d], mc),
                pct(ratio(by_day["audits_hit"][d], by_day["audits"][d]), 1)
                if shown(by_day["audits"][d], mc)
                else "—",
            ]
            for d in range(7)
        ],
        "Trips by the local day of week they started on.",
    )

    def safe(values: dict[int, int], keys: list[int]) -> list[float | None]:
        return [values[k] if shown(values[k], mc) else None for k in keys]

    chart_map = {
        "trips_by_hour": charts.bars(
            "Trips started by hour of day (grey: previous period)",
            [f"{h:02d}" for h in hours],
            safe(by_hour["trips_started"], hours),
            previous=safe(by_hour_prev["trips_started"], hours),
        ),
        "trips_by_weekday": charts.bars(
            "Trips started by day of week",
            list(WEEKDAYS),
            safe(by_day["trips_started"], list(range(7))),
        ),
        "hits_by_hour": charts.bars(
            "Hit rate of audits by hour of day",
            [f"{h:02d}" for h in hours],
            [
                by_hour["audits_hit"][h] * 100 / by_hour["audits"][h]
                if shown(by_hour["audits"][h], mc) and by_hour["audits"][h]
                else None
                for h in hours
            ],
            unit="%",
        ),
    }
    # --- scan quality
    for metric, label, definition in (
        (
            "scan_unknown_product",
            "Unknown-product scans",
            "Valid codes the catalog does not know (catalog gaps).",
        ),
        (
            "scan_invalid_code",
            "Invalid codes",
            "Scans refused for a bad check digit or an unsupported code.",
        ),
        ("scan_removal", "Removals", "Items shoppers took back off their basket."),
    ):
        fig("quality", metric, label, definition, t(metric), p(metric), lambda v: f"{v:,}")
    fig(
        "quality",
        "scan_queued_offline",
        "Scans queued offline",
        f"Scans and removals that waited {QUEUED_OFFLINE_MS // 1000} s or more in the "
        "handheld's outbox (store network or server unreachable) before the server applied "
        "them, as the handheld reports it (queued_ms).",
        t("scan_queued_offline"),
        p("scan_queued_offline"),
        lambda v: f"{v:,}",
    )
    now_hour = rollup.epoch_hour_of(now or utcnow())
    silent = rollup.silent_devices(connection, store_id, now_hour, SILENT_HOURS)
    figures["quality"].append(
        Figure(
            "silent_devices",
            f"Devices silent over {SILENT_HOURS} h",
            f"{len(silent):,}",
            "—",
            f"Devices of the store with trips before but none in the last {SILENT_HOURS} hours: "
            + (", ".join(silent[:10]) or "none"),
        )
    )
    unknown = sorted(t.dims("unknown_gtin").items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    tables["unknown"] = Table(
        "unknown",
        "Top unknown GTINs (catalog gaps)",
        ["GTIN", "scans"],
        [[g, f"{n:,}"] for g, n in unknown],
        "Codes shoppers scanned that the catalog lacks; "
        "add each with PUT /api/catalog/products/{gtin}.",
        links={
            i: "/docs#/catalog/put_product_api_catalog_products__gtin__put"
            for i in range(len(unknown))
        },
    )
    # --- staff
    staff_rows = []
    for name, audits in sorted(t.dims("staff_audits").items(), key=lambda kv: -kv[1]):
        staff_rows.append(
            [
                name,
                f"{audits:,}",
                f"{ratio(t('staff_rescans', name), audits) or 0:.1f}",
                duration(ratio(t("staff_audit_s", name), audits)),
            ]
        )
    tables["staff"] = Table(
        "staff",
        "Staff at the exit",
        ["staff", "audits", "rescans per audit", "mean time per audit"],
        staff_rows,
        "Audits each staff member released, items rescanned per audit, mean decided → released.",
    )
    return Report(
        store_id=store_id,
        period=period,
        previous=previous,
        currency=currency,
        figures=figures,
        tables=tables,
        charts=chart_map,
        min_count=mc,
        empty=t("trips_started") == 0 and not t.values,
    )


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _loss_text(est: Any, currency: str) -> str:
    low, high = money(est.low_cents, currency), money(est.high_cents, currency)
    return f"{money(est.unrecovered_cents, currency)} (95%: {low} – {high})"


def _bp_text(est: Any) -> str:
    if est.basis_points is None:
        return "—"
    return f"{est.basis_points:.1f} bp (95%: {est.low_bp:.1f} – {est.high_bp:.1f})"


def _pos_share(
    session: Session,
    store_id: str,
    period: Period,
    hourly: dict[tuple[int, str], int],
    tz: ZoneInfo,
) -> float | None:
    reported = pos_days(session, store_id, period)
    if not reported:
        return None
    own = _local_days(hourly, "sales_cents", tz)
    total = sum(reported.values())
    return ratio(sum(own.get(d, 0) for d in reported), total)


def table_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_csv_cell(c) for c in row])
    return out.getvalue()


def figures_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "section",
            "figure",
            report.period.label(),
            report.previous.label(),
            "change",
            "definition",
        ]
    )
    for section, figs in report.figures.items():
        for f in figs:
            writer.writerow([section, f.label, f.value, f.previous, f.change, f.definition])
    return out.getvalue()


def _csv_cell(value: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


# --- POS daily totals


def record_pos_total(
    session: Session, store_id: str, day: date, sales_cents: int, *, currency: str, source: str
) -> None:
    if not isinstance(sales_cents, int) or isinstance(sales_cents, bool) or sales_cents < 0:
        raise InvalidInput("sales_cents must be a whole number of cents, at least 0")
    if day > (utcnow() + timedelta(days=1)).date():
        raise InvalidInput(f"{day} is in the future: the POS reports days that are over")
    row = session.get(PosDailyTotal, (store_id, day))
    if row is None:
        row = PosDailyTotal(
            store_id=store_id, day=day, sales_cents=sales_cents, currency=currency, source=source
        )
    row.sales_cents = sales_cents
    row.currency = currency
    row.source = source[:100]
    row.updated_at = utcnow()
    session.add(row)
    session.flush()


MAX_CSV_ROWS = 5000


def parse_pos_csv(data: bytes) -> list[tuple[date, int]]:
    """``day,sales_cents`` rows (a header line is allowed); every problem reported, or none kept."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text") from None
    rows: list[tuple[date, int]] = []
    problems: list[str] = []
    for number, record in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not record or not "".join(record).strip():
            continue
        if number == 1 and record[0].strip().lower() in ("day", "date"):
            continue
        if len(record) != 2:
            problems.append(f"line {number}: expected day,sales_cents")
            continue
        try:
            day = date.fromisoformat(record[0].strip())
        except ValueError:
            problems.append(f"line {number}: {record[0][:20]!r} is not a date (YYYY-MM-DD)")
            continue
        cents = record[1].strip()
        if not cents.isdigit() or len(cents) > 15:
            problems.append(f"line {number}: sales_cents must be a whole number of cents")
            continue
        rows.append((day, int(cents)))
        if len(rows) > MAX_CSV_ROWS:
            problems.append(f"more than {MAX_CSV_ROWS} rows: split the file")
            break
    if problems:
        raise InvalidInput("; ".join(problems[:20]), problems=problems[:100])
    if not rows:
        raise InvalidInput("the file holds no day,sales_cents rows")
    return rows


def store_ids(session: Session) -> list[str]:
    from store_server.devices.models import Device

    rows = session.connection().execute(select(Device.__table__.c.store_id).distinct()).all()  # type: ignore[attr-defined]
    return sorted(r[0] for r in rows)


_ISSUES = ScanIssue.__table__  # type: ignore[attr-defined]

# A scan or removal that reached the server this long after the handheld queued it waited
# for the network (a connected handheld sends within milliseconds).
QUEUED_OFFLINE_MS = 2000
# Longer than any trip (baskets are abandoned after hours): a broken clock, not counted.
QUEUED_AT_MOST_MS = 24 * 3600 * 1000


def note_scan_issue(
    session: Session, *, store_id: str, device_id: str, kind: str, code: str = ""
) -> None:
    session.connection().execute(
        _ISSUES.insert().values(
            store_id=store_id, device_id=device_id, kind=kind, code=code[:64], at=utcnow()
        )
    )


async def note_scan_outcome(
    state: Any, device: Any, data: dict[str, Any], *, error: Exception | None, event: str | None
) -> None:
    """The handheld socket's hook: a refused scan (unknown product, invalid code), a
    removal, or a scan or removal that waited in the handheld's outbox for the network
    (``queued_ms``, an optional field of ``scan`` and ``remove``) becomes a scan issue
    for the scan-quality figures. Never fails the scan."""
    from store_server.shared.errors import InvalidCode, UnknownProduct

    kinds: list[str] = []
    if (
        error is not None
        and data.get("type") == "scan"
        and isinstance(error, UnknownProduct | InvalidCode)
    ):
        kinds.append("unknown_product" if isinstance(error, UnknownProduct) else "invalid_code")
    elif error is None and event == "basket.removed":
        kinds.append("removal")
    queued = data.get("queued_ms")
    if (
        error is None
        and event in ("basket.scanned", "basket.removed")
        and isinstance(queued, int)
        and not isinstance(queued, bool)
        and QUEUED_OFFLINE_MS <= queued <= QUEUED_AT_MOST_MS
    ):
        kinds.append("queued_offline")
    if not kinds:
        return
    raw = data.get("code")
    code = raw[:64] if isinstance(raw, str) and raw.isascii() and raw.isprintable() else ""
    if "unknown_product" in kinds:
        from store_server.shared.gs1 import normalize_gtin

        with contextlib.suppress(CaddieError):  # a GS1 element string: kept as scanned
            code = normalize_gtin(code)

    def work(session: Session) -> None:
        for kind in kinds:
            note_scan_issue(
                session, store_id=device.store_id, device_id=device.id, kind=kind, code=code
            )

    try:
        await state.db.run(work)
    except Exception:  # the figures may miss one; the shopper's scan must not
        import logging

        logging.getLogger(__name__).warning("could not record a scan issue", exc_info=True)


def today_figures(
    session: Session, *, timezone: str, now: datetime | None = None
) -> dict[str, dict[str, float]]:
    """The headline figures of the current local day for every store (Prometheus gauges)."""
    tz = ZoneInfo(timezone)
    today = (now or utcnow()).astimezone(tz).date()
    rollup.refresh(session)
    h0, h1 = Period("day", today, today).hours(tz)
    out: dict[str, dict[str, float]] = {}
    for store in store_ids(session):
        t = _Totals(rollup.read(session.connection(), store, h0, h1))
        est = loss_estimate(t("ht_cents"), t("ht_var"), t("recovered_cents"), t("sales_cents"))
        out[store] = {
            "trips_started": t("trips_started"),
            "trips_paid": t("trips_paid"),
            "sales_cents": t("sales_cents"),
            "audits": t("audits"),
            "audits_hit": t("audits_hit"),
            "recovered_cents": t("recovered_cents"),
            "unrecovered_cents": est.unrecovered_cents,
            "scan_unknown_product": t("scan_unknown_product"),
        }
    return out
