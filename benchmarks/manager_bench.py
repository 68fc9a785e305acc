"""Manager console page times on a year of a busy store, next to plain SQL on the raw rows.

A year of a busy store is about 300,000 trips and 9 million scan lines (``--scale 1``).
The benchmark writes that history with ``store_server.manager.history`` (the generator
``caddie demo`` uses for its weeks), rebuilds the hourly rollup, then times each console
page's figures (``build_report``; the policy page adds the recommendations and their
simulator replay) for a month and for the whole year, cold (a new engine: a new
connection, nothing cached in the process) and warm (the same call again), on SQLite and
PostgreSQL. Beside them: the adoption, basket and audit headline figures computed by
plain SQL over the raw tables (what the console would cost without the rollup).

    .venv/bin/python benchmarks/manager_bench.py --scale 0.1 --db sqlite --db postgres

Generating 9 million lines takes a long time on a small machine: ``--scale`` shrinks
the trips per day (the year stays a year); the output says what ran.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from store_server.checkout.audit_policy import AuditPolicy  # noqa: E402
from store_server.db import make_engine, migrate, session_scope  # noqa: E402
from store_server.manager import recommendations, rollup  # noqa: E402
from store_server.manager.figures import Period  # noqa: E402
from store_server.manager.history import HistorySpec, generate  # noqa: E402
from store_server.manager.service import build_report  # noqa: E402

YEAR_TRIPS = 300_000
YEAR_START = datetime(2025, 1, 6, tzinfo=UTC)
TZ = "Europe/Paris"
RAW_SQL = """
SELECT count(*), sum(CASE WHEN b.finished_at IS NOT NULL THEN 1 ELSE 0 END),
       sum(CASE WHEN b.status = 'paid' THEN 1 ELSE 0 END),
       sum(CASE WHEN b.status = 'abandoned' THEN 1 ELSE 0 END),
       sum(CASE WHEN h.status = 'paid' THEN h.total_cents ELSE 0 END),
       sum(CASE WHEN h.status = 'paid' THEN b.item_count ELSE 0 END),
       sum(CASE WHEN a.outcome IN ('passed', 'discrepancy') AND a.initial_decision <> 'none'
                THEN 1 ELSE 0 END),
       sum(CASE WHEN a.outcome = 'discrepancy' THEN 1 ELSE 0 END)
FROM basket b
LEFT JOIN payment_handoff h ON h.basket_id = b.id
LEFT JOIN checkout_audit a ON a.basket_id = b.id
WHERE b.store_id = :store AND b.created_at >= :start AND b.created_at < :end
"""
RAW_PROMOTIONS_SQL = """
SELECT sum(l.line_total_cents) FROM basket_line l JOIN basket b ON b.id = l.basket_id
WHERE b.store_id = :store AND b.status = 'paid' AND b.created_at >= :start AND b.created_at < :end
"""


def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def prepare(url: str, scale: float, seed: int) -> tuple[int, int, float, float]:
    migrate(url)
    engine = make_engine(url)
    spec = HistorySpec(
        start=YEAR_START,
        days=365,
        trips_per_day=max(1, round(YEAR_TRIPS * scale / 365)),
        lines_per_trip=26.0,
        devices=60,
        seed=seed,
        miss_rates={"alcohol": 0.02},
    )
    started = time.perf_counter()
    with engine.begin() as connection:
        counts = generate(connection, spec, flush_every=5000)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    with session_scope(engine) as session:
        rollup.rebuild(session)
    rebuilt = time.perf_counter() - started
    engine.dispose()
    return counts.trips, counts.lines, generated, rebuilt


def page_work(url_engine: Any, page: str, period: Period) -> Callable[[], Any]:
    def work() -> Any:
        with session_scope(url_engine) as session:
            report = build_report(
                session, "store-1", period, timezone=TZ, currency="EUR", min_count=5
            )
            if page == "policy":
                recommendations.for_store(
                    session, "store-1", today=period.last, timezone=TZ, default=AuditPolicy()
                )
            return report

    return work


def raw_work(engine: Any, period: Period) -> Callable[[], Any]:
    from zoneinfo import ZoneInfo

    h0, h1 = period.hours(ZoneInfo(TZ))
    params = {"store": "store-1", "start": rollup.hour_start(h0), "end": rollup.hour_start(h1)}

    def work() -> Any:
        with engine.connect() as connection:
            row = connection.execute(text(RAW_SQL), params).first()
            promo = connection.execute(text(RAW_PROMOTIONS_SQL), params).scalar()
            return row, promo

    return work


def measure(url: str, label: str) -> list[tuple[str, str, str, float, float]]:
    rows = []
    periods = {
        "month": Period("month", date(2025, 6, 1), date(2025, 6, 30)),
        "year": Period("custom", date(2025, 1, 6), date(2026, 1, 4)),
    }
    for period_name, period in periods.items():
        for page in ("overview", "loss", "quality", "policy", "plain SQL (raw rows)"):
            engine = make_engine(url)
            work = (
                raw_work(engine, period)
                if page.startswith("plain")
                else page_work(engine, page, period)
            )
            if page == "policy":
                recommendations._simulated.cache_clear()
            cold = timed(work)
            warm = statistics.median(timed(work) for _ in range(3))
            engine.dispose()
            rows.append((label, period_name, page, cold, warm))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="share of a busy year's 300,000 trips"
    )
    parser.add_argument("--db", action="append", choices=["sqlite", "postgres"], help="repeatable")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite-path", type=Path, default=Path("/tmp/caddie-manager-bench.db"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    results: list[tuple[str, str, str, float, float]] = []
    for db in args.db or ["sqlite"]:
        if db == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(str(args.sqlite_path) + suffix).unlink(missing_ok=True)
            url = f"sqlite:///{args.sqlite_path}"
            cleanup: Callable[[], None] = lambda: None  # noqa: E731
        else:
            import psycopg

            name = f"caddie_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = args.pg_url.rsplit("/", 1)[0] + "/" + name

            def cleanup(name: str = name) -> None:
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        try:
            trips, lines, generated, rebuilt = prepare(url, args.scale, args.seed)
            print(
                f"{db}: {trips:,} trips, {lines:,} lines written in {generated:.0f} s; "
                f"rollup rebuilt in {rebuilt:.1f} s",
                flush=True,
            )
            results += measure(url, db)
        finally:
            cleanup()
    print()
    print("| database | range | page | cold ms | warm ms |")
    print("|---|---|---|---:|---:|")
    for db, period, page, cold, warm in results:
        print(f"| {db} | {period} | {page} | {cold:.0f} | {warm:.0f} |")


if __name__ == "__main__":
    main()
