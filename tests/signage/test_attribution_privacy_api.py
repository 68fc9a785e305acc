"""The audit's privacy case through the real app: the mall operator books a campaign
promoting a product, the screen reports one play, one handheld scans that product once.
Nothing the operator can download or see tells that basket's scan; once the exposed
windows hold enough baskets, the figures are exact again."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from signage.attribution.estimator import shift_weeks
from store_server.baskets.models import Basket, BasketLine
from store_server.db import make_engine, session_scope
from store_server.timeutil import as_utc
from tests.signage.signage_helpers import (
    FOREVER,
    load_and_enroll,
    plan_dict,
    user_token,
    write_plan,
)
from tests.signals.helpers import card, ean13, hello
from tests.store_server.factories import COFFEE_ITEM, add_products, coffee_line, enroll_devices

PARIS = ZoneInfo("Europe/Paris")


@dataclass
class Mall:
    engine: Engine
    client: TestClient
    operator: str
    screen: str
    device: str


@pytest.fixture
def mall(db_url: str, tmp_path: Path, media_dir: Path) -> Iterator[Mall]:
    from store_server.app import create_app
    from store_server.config import load_settings

    plan = plan_dict()
    plan["screens"][0]["store"] = "store-1"
    path = write_plan(tmp_path / "plan", plan)
    engine = make_engine(db_url)
    screen = load_and_enroll(engine, path, media_dir, ["S-01"])
    add_products(engine)
    device = enroll_devices(engine, "H-1")["H-1"]
    operator = user_token(engine, "olga", "operator")
    app = create_app(load_settings(database_url=db_url, environment="test"))
    with TestClient(app) as client:
        yield Mall(engine, client, operator, screen["S-01"], device)
    engine.dispose()


def add_baskets(engine: Engine, at: datetime, n: int) -> None:
    """``n`` other shoppers' paid baskets, each with one coffee scanned at ``at``."""
    with session_scope(engine) as session:
        for _ in range(n):
            basket_id = str(uuid.uuid4())
            session.add(Basket(id=basket_id, device_id="H-1", store_id="store-1", status="paid"))
            session.flush()
            session.add(coffee_line(basket_id, qty=1, at=at))


def spy(mall: Mall) -> tuple[datetime, dict[str, str]]:
    """Book K-SPY on S-01, scan one coffee on a handheld, report one play before it.

    Returns the scan's time and the report's query (yesterday to tomorrow, so that the
    whole window is covered even when the test runs around midnight)."""
    auth = {"Authorization": f"Bearer {mall.operator}"}
    booking = {
        "id": "K-SPY",
        "advertiser": "Mall operator",
        "category": "coffee",
        "creatives": ["CR-B"],
        **FOREVER,
        "priority": "standard",
        "share_of_voice": 0.2,
        "targets": {"screens": ["S-01"]},
        "promoted_gtins": [ean13(COFFEE_ITEM)],
    }
    booked = mall.client.post("/signage/api/campaigns", json=booking, headers=auth)
    assert booked.status_code == 201, booked.text
    with mall.client.websocket_connect("/ws/handheld") as ws:
        handheld = hello(ws, "H-1", mall.device)
        assert handheld.start(card(1))["type"] == "basket"
        assert handheld.scan(ean13(COFFEE_ITEM))["type"] == "ack"
    with Session(mall.engine) as session:
        scanned = as_utc(session.exec(select(BasketLine.added_at)).one())
    play = {
        "play_id": str(uuid.uuid4()),
        "creative_id": "CR-B",
        "campaign_id": "K-SPY",
        "started_at": (scanned - timedelta(minutes=5)).isoformat(),
        "duration_ms": 10_000,
    }
    reply = mall.client.post(
        "/signage/proof-of-play",
        json={"plays": [play]},
        headers={"Authorization": f"Bearer {mall.screen}"},
    )
    assert reply.json() == {"accepted": 1, "duplicates": 0, "rejected": 0}, reply.text
    # plenty of other shoppers bought coffee at that time in the four weeks before, so
    # only the exposed window itself rests on too few baskets
    for week in range(1, 5):
        add_baskets(mall.engine, shift_weeks(scanned, -week, PARIS), 6)
    today = scanned.astimezone(PARIS).date()
    day = timedelta(days=1)
    return scanned, {"from": (today - day).isoformat(), "to": (today + day).isoformat()}


def downloads(
    mall: Mall, query: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str], list[dict[str, str]]]:
    auth = {"Authorization": f"Bearer {mall.operator}"}
    base = "/signage/api/attribution/K-SPY"
    data = mall.client.get(f"{base}.json", params=query, headers=auth)
    summary = mall.client.get(f"{base}.csv", params=query, headers=auth)
    series = mall.client.get(f"{base}/series.csv", params=query, headers=auth)
    for reply in (data, summary, series):
        assert reply.status_code == 200, reply.text
    (row,) = csv.DictReader(io.StringIO(summary.text))
    return data.json(), row, list(csv.DictReader(io.StringIO(series.text)))


def page(mall: Mall, query: dict[str, str]) -> str:
    mall.client.cookies.set("caddie_session", mall.operator)
    try:
        reply = mall.client.get(
            "/signage/console/attribution", params={"campaign": "K-SPY", **query}
        )
    finally:
        mall.client.cookies.clear()
    assert reply.status_code == 200, reply.text
    return reply.text


def test_one_shoppers_scan_after_one_play_is_not_shown(mall: Mall) -> None:
    _, query = spy(mall)
    data, row, series = downloads(mall, query)
    assert [p for p in data["series"] if p["scans"] is not None] == []
    assert [p["plays"] for p in data["series"] if p["plays"]] == [1]
    for key in ("treated_scans", "expected_scans", "incremental_scans", "uplift"):
        assert data[key] is None, key
    assert data["incremental_revenue_cents"] is None and data["offers_made"] is None
    assert data["plays"] == 1 and data["min_count"] == 5
    # one (store, day), or two when the window runs past midnight
    assert data["suppressed_clusters"] in (1, 2) and data["suppressed_minutes"] == 30
    assert row["treated_scans"] == row["uplift"] == row["incremental_revenue_cents"] == ""
    assert {r["scans"] for r in series} == {""}
    text = page(mall, query)
    assert "hidden: fewer than 5 baskets" in text
    assert 'class="scans"' not in text and 'id="suppressed"' in text


def test_the_same_window_with_enough_baskets_is_exact(mall: Mall) -> None:
    scanned, query = spy(mall)
    add_baskets(mall.engine, scanned, 5)  # five more shoppers in the exposed window
    data, row, series = downloads(mall, query)
    assert (data["treated_scans"], data["expected_scans"]) == (6, 6.0)
    assert data["uplift"] == pytest.approx(0.0) and data["clusters"] == 1
    assert [p["scans"] for p in data["series"] if p["scans"] is not None] == [6]
    assert row["treated_scans"] == "6"
    assert sorted(r["scans"] for r in series if r["scans"]) == ["6"]
    text = page(mall, query)
    treated = text[text.index('id="treated"') :].split("</td>")[0]
    assert "6 (expected 6.0)" in treated and 'class="scans"' in text
