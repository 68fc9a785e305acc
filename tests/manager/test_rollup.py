"""The hourly rollup equals the raw rows: refreshed as trips change, it equals a rebuild,
and both equal plain SQL over the raw tables (property test on random histories)."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from store_server.baskets.models import Basket
from store_server.checkout.models import CheckoutAudit, PaymentHandoff
from store_server.db import make_engine, session_scope
from store_server.manager import rollup
from store_server.manager.history import HistorySpec, generate
from store_server.manager.models import ScanIssue

B = Basket.__table__  # type: ignore[attr-defined]
A = CheckoutAudit.__table__  # type: ignore[attr-defined]
H = PaymentHandoff.__table__  # type: ignore[attr-defined]
START = datetime(2026, 2, 2, tzinfo=UTC)

specs = st.builds(
    HistorySpec,
    store_id=st.sampled_from(["store-1", "store-2"]),
    days=st.integers(1, 3),
    trips_per_day=st.integers(0, 25),
    lines_per_trip=st.floats(1, 8),
    devices=st.integers(1, 4),
    phone_share=st.sampled_from([0.0, 0.5, 1.0]),
    base_audit_rate=st.floats(0.0, 0.9),
    partial_share=st.floats(0, 1),
    abandon_rate=st.floats(0, 0.3),
    unknown_scan_rate=st.floats(0, 0.5),
    default_miss_rate=st.floats(0, 0.3),
    utc_offset_hours=st.integers(-3, 5),
    seed=st.integers(0, 10**6),
    start=st.integers(0, 6).map(lambda d: START + timedelta(days=d)),
)


def _raw(engine: Engine) -> dict[tuple[str, str], int]:
    """Per-store totals by plain SQL over the raw tables."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    with engine.connect() as c:
        for store, n in c.execute(select(B.c.store_id, func.count()).group_by(B.c.store_id)):
            out[(store, "trips_started")] = n
        for store, n in c.execute(
            select(B.c.store_id, func.count())
            .where(B.c.status == "abandoned")
            .group_by(B.c.store_id)
        ):
            out[(store, "trips_abandoned")] = n
        for store, total in c.execute(
            select(H.c.store_id, func.sum(H.c.total_cents))
            .where(H.c.status == "paid")
            .group_by(H.c.store_id)
        ):
            out[(store, "sales_cents")] = int(total)
        for store, n in c.execute(
            select(A.c.store_id, func.count())
            .where(A.c.initial_decision != "none", A.c.outcome.in_(["passed", "discrepancy"]))
            .group_by(A.c.store_id)
        ):
            out[(store, "audits")] = n
        for store, n in c.execute(
            select(ScanIssue.__table__.c.store_id, func.count()).group_by(
                ScanIssue.__table__.c.store_id
            )  # type: ignore[attr-defined]
        ):
            out[(store, "issues")] = n
    return {k: v for k, v in out.items() if v}


def _summed(rows: dict[rollup.Key, int]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = defaultdict(int)
    for (store, _hour, metric, dim), value in rows.items():
        if dim == "" and metric in ("trips_started", "trips_abandoned", "sales_cents", "audits"):
            out[(store, metric)] += value
        if metric.startswith("scan_"):
            out[(store, "issues")] += value
    return {k: v for k, v in out.items() if v}


def _check(engine: Engine) -> None:
    with session_scope(engine) as session:
        rollup.refresh(session)
        refreshed = rollup.all_rows(session.connection())
        refreshed_days = rollup.all_day_rows(session.connection())
    with session_scope(engine) as session:
        rollup.rebuild(session)
        rebuilt = rollup.all_rows(session.connection())
        rebuilt_days = rollup.all_day_rows(session.connection())
    assert refreshed == rebuilt
    assert refreshed_days == rebuilt_days
    # The day rows are the hour rows summed by UTC day.
    summed: dict[rollup.Key, int] = defaultdict(int)
    for (store, hour, metric, dim), value in rebuilt.items():
        summed[(store, hour // 24, metric, dim)] += value
    assert rebuilt_days == dict(summed)
    assert _summed(rebuilt) == _raw(engine)


def _mutate(engine: Engine, data: st.DataObject) -> None:
    """Trips change after the last refresh: some are paid late, some abandoned, new issues."""
    with engine.begin() as c:
        ids = [r[0] for r in c.execute(select(B.c.id).order_by(B.c.id)).all()]
        if not ids:
            return
        chosen = data.draw(st.lists(st.sampled_from(ids), max_size=4, unique=True))
        later = datetime.now(UTC) + timedelta(seconds=1)
        for bid in chosen:
            if data.draw(st.booleans()):
                c.execute(
                    update(B).where(B.c.id == bid).values(status="abandoned", updated_at=later)
                )
                c.execute(update(H).where(H.c.basket_id == bid).values(status="expired"))
            else:
                c.execute(
                    update(H).where(H.c.basket_id == bid).values(total_cents=H.c.total_cents + 7)
                )
                c.execute(update(B).where(B.c.id == bid).values(updated_at=later))


@pytest.fixture
def fresh(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path):  # type: ignore[no-untyped-def]
    def make() -> Engine:
        path = tmp_path_factory.mktemp("rollup") / "caddie.db"
        shutil.copy(sqlite_template, path)
        return make_engine(f"sqlite:///{path}")

    return make


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking a database is slow
)
@given(first=specs, second=specs, data=st.data())
def test_refreshed_rollup_equals_rebuild_and_raw_sql(fresh, first, second, data) -> None:  # type: ignore[no-untyped-def]
    engine = fresh()
    try:
        with engine.begin() as c:
            generate(c, first)
        _check(engine)
        second.seed = first.seed + 1  # other trip ids
        with engine.begin() as c:
            generate(c, second)
        _mutate(engine, data)
        _check(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_rollup_equals_raw_sql_on_postgres(postgres_database: str) -> None:
    from tests.conftest import _truncate_all

    _truncate_all(postgres_database)
    engine = make_engine(postgres_database)
    try:
        with engine.begin() as c:
            generate(c, HistorySpec(days=3, trips_per_day=40, seed=3, default_miss_rate=0.05))
            generate(c, HistorySpec(store_id="store-2", days=2, trips_per_day=30, seed=4))
        _check(engine)
    finally:
        engine.dispose()
