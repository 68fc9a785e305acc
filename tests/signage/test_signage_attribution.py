"""The console's attribution page and exports, fed from real rows: proof of play,
basket lines (``promoted_scans``) and offer grants (``offer_outcomes``).

The world is busy enough for the privacy rule (every figure rests on at least 5
distinct baskets), so every figure is shown exactly; ``test_attribution_privacy``
checks what is hidden when it is not."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from signage.attribution.estimator import shift_weeks
from signage.models import ProofOfPlay
from store_server.baskets.models import Basket, Shopper
from store_server.db import make_engine, session_scope
from store_server.offers.models import OfferGrant
from tests.signage.signage_helpers import (
    FOREVER,
    load_and_enroll,
    plan_dict,
    user_token,
    write_plan,
)
from tests.store_server.factories import COFFEE_ITEM, add_products, coffee_line, enroll_devices

PARIS = ZoneInfo("Europe/Paris")
DAYS = [datetime(2026, 11, 18 + d, 10, 0, tzinfo=UTC) for d in range(3)]  # Wed-Fri
EXPOSED_UNITS, CONTROL_UNITS = 12, 4  # per day: 6 baskets of 2, and 2 of 2 a week
OFFERS = (True,) * 10 + (False,) * 5  # each in its own basket


@dataclass
class World:
    url: str
    engine: Engine
    operator: str
    staff: str
    screen: str


def _basket(
    session: Any, store: str, at: datetime, qty: int, status: str = "paid", gtin: str = ""
) -> str:
    """A basket holding ``qty`` units of the coffee (or of ``gtin``); none for ``qty`` 0."""
    basket_id = str(uuid.uuid4())
    session.add(Basket(id=basket_id, device_id="H-1", store_id=store, status=status, created_at=at))
    session.flush()
    if not qty:
        return basket_id
    session.add(coffee_line(basket_id, qty=qty, at=at, gtin=gtin))
    return basket_id


@pytest.fixture
def world(db_url: str, tmp_path: Path, media_dir: Path) -> Iterator[World]:
    plan = plan_dict()
    plan["screens"][0]["store"] = "store-1"
    plan["campaigns"].append(
        {
            "id": "K-P",
            "advertiser": "Brand C",
            "category": "coffee",
            "creatives": ["CR-B"],
            **FOREVER,
            "priority": "standard",
            "share_of_voice": 0.2,
            "promoted_gtins": [COFFEE_ITEM.gtin[1:]],
        }
    )
    path = write_plan(tmp_path / "plan", plan)
    engine = make_engine(db_url)
    tokens = load_and_enroll(engine, path, media_dir, ["S-01"])
    add_products(engine)
    enroll_devices(engine, "H-1")
    with session_scope(engine) as session:
        shopper = Shopper(loyalty_card="CARD-ATTR")
        session.add(shopper)
        session.flush()
        for day in DAYS:
            session.add(
                ProofOfPlay(
                    play_id=uuid.uuid4(),
                    screen_id="S-01",
                    creative_id="CR-B",
                    campaign_id="K-P",
                    started_at=day,
                    duration_ms=10_000,
                )
            )
            for n in range(EXPOSED_UNITS // 2):
                _basket(session, "store-1", day + timedelta(minutes=5 + n), 2)
            _basket(session, "store-2", day + timedelta(minutes=5), 50)  # near no screen
            _basket(session, "store-1", day + timedelta(minutes=6), 70, status="abandoned")
            for week in range(1, 5):
                control = shift_weeks(day, -week, PARIS) + timedelta(minutes=5)
                for n in range(CONTROL_UNITS // 2):
                    _basket(session, "store-1", control + timedelta(minutes=n), 2)
        for n, taken in enumerate(OFFERS):
            offered = DAYS[0] + timedelta(minutes=20 + n)
            session.add(
                OfferGrant(
                    id=str(uuid.uuid4()),
                    basket_id=_basket(session, "store-1", offered, 0),
                    shopper_id=shopper.id or 0,
                    store_id="store-1",
                    template_id="t",
                    label="coffee deal",
                    reason="r",
                    promotion=json.dumps(
                        {"kind": "percent_off", "categories": ["coffee"], "percent": "10"}
                    ),
                    offered_at=offered,
                    accepted_at=offered if taken else None,
                )
            )
    yield World(
        db_url,
        engine,
        user_token(engine, "olga", "operator"),
        user_token(engine, "sam", "staff"),
        tokens["S-01"],
    )
    engine.dispose()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    from store_server.app import create_app
    from store_server.config import load_settings

    with TestClient(
        create_app(load_settings(database_url=world.url, environment="test"))
    ) as test_client:
        yield test_client


PERIOD = {"from": "2026-11-18", "to": "2026-11-20"}


def test_the_attribution_page_shows_uplift_offers_revenue_and_the_chart(
    client: TestClient, world: World
) -> None:
    client.cookies.set("caddie_session", world.operator)
    try:
        page = client.get("/signage/console/attribution", params={"campaign": "K-P", **PERIOD})
    finally:
        client.cookies.clear()
    assert page.status_code == 200, page.text
    text = page.text
    uplift = EXPOSED_UNITS / CONTROL_UNITS - 1
    assert f"{100 * uplift:+.1f}%" in text  # +200.0%
    assert "95% interval" in text
    revenue = 3 * (EXPOSED_UNITS - CONTROL_UNITS) * COFFEE_ITEM.price_cents
    assert f"{revenue / 100:.2f}" in text, text[text.find("revenue") :][:300]
    assert "66.7% of 15 offers" in text
    assert "hidden: fewer than" not in text
    assert "<svg" in text and "</svg>" in text
    for link in (
        "K-P.json?from=2026-11-18",
        "K-P.csv?from=2026-11-18",
        "K-P/series.csv?from=2026-11-18",
    ):
        assert link in text


def test_exports_carry_the_same_figures(client: TestClient, world: World) -> None:
    auth = {"Authorization": f"Bearer {world.operator}"}
    data = client.get("/signage/api/attribution/K-P.json", params=PERIOD, headers=auth)
    assert data.status_code == 200, data.text
    report = data.json()
    assert report["plays"] == 3 and report["stores"] == ["store-1"]
    assert report["treated_scans"] == 3 * EXPOSED_UNITS
    assert report["expected_scans"] == pytest.approx(3 * CONTROL_UNITS)
    assert report["uplift"] == pytest.approx(EXPOSED_UNITS / CONTROL_UNITS - 1)
    assert report["uplift_ci"] is not None
    assert (report["offers_made"], report["offers_accepted"]) == (15, 10)
    assert (report["min_count"], report["suppressed_clusters"]) == (5, 0)
    summary = list(
        csv.DictReader(
            io.StringIO(
                client.get("/signage/api/attribution/K-P.csv", params=PERIOD, headers=auth).text
            )
        )
    )
    assert [(r["campaign_id"], r["plays"], r["offers_made"]) for r in summary] == [
        ("K-P", "3", "15")
    ]
    series = client.get("/signage/api/attribution/K-P/series.csv", params=PERIOD, headers=auth)
    rows = list(csv.DictReader(io.StringIO(series.text)))
    assert sum(int(r["plays"]) for r in rows) == 3
    assert sum(int(r["scans"]) for r in rows if r["scans"]) == 3 * EXPOSED_UNITS


def test_attribution_needs_the_operator_role(client: TestClient, world: World) -> None:
    for token, status in ((world.staff, 403), (world.screen, 403), ("nope", 401)):
        reply = client.get(
            "/signage/api/attribution/K-P.json",
            params=PERIOD,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.status_code == status, (token, reply.text)
    page = client.get("/signage/console/attribution", follow_redirects=False)
    assert page.status_code == 303  # to the login page
    missing = client.get(
        "/signage/api/attribution/K-NONE.json",
        params=PERIOD,
        headers={"Authorization": f"Bearer {world.operator}"},
    )
    assert missing.status_code == 404
