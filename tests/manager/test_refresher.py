"""The server keeps the manager rollup current in the background: trips written while
nobody reads a page are summed into the rollup without any request."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store_server.app import create_app
from store_server.baskets.models import Basket
from store_server.config import Settings
from store_server.manager.history import HistorySpec, generate
from store_server.manager.models import RollupRow

B = Basket.__table__  # type: ignore[attr-defined]
ROLLUP = RollupRow.__table__  # type: ignore[attr-defined]


def _summed_trips(engine: Engine) -> int:
    with engine.connect() as c:
        return int(
            c.execute(
                select(func.coalesce(func.sum(ROLLUP.c.value), 0)).where(
                    ROLLUP.c.metric == "trips_started"
                )
            ).scalar_one()
        )


def test_trips_written_while_no_page_is_read_reach_the_rollup(db_url: str, engine: Engine) -> None:
    settings = Settings(database_url=db_url, environment="test", manager_rollup_interval_s=0.2)
    with TestClient(create_app(settings)):
        with engine.begin() as connection:
            generate(
                connection,
                HistorySpec(start=datetime(2026, 3, 2, tzinfo=UTC), days=2, trips_per_day=15),
            )
        with engine.connect() as c:
            trips = int(c.execute(select(func.count()).select_from(B)).scalar_one())
        assert trips > 0
        deadline = time.monotonic() + 60  # generous: a shared machine; it takes ~0.2 s
        while _summed_trips(engine) != trips and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _summed_trips(engine) == trips
