"""Store signals: the aggregates, their suppression, and what crosses the ``signals`` feed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from signage.signals import SignalBoard, StoreSignalRule, run_signal_subscriber
from store_server.app import create_app
from store_server.config import Settings
from store_server.db import session_scope
from store_server.signals.models import (
    MESSAGE_KEYS,
    SIGNAL_NAME,
    ActiveBasket,
    ScanFact,
    Scope,
    SignalConfig,
    aggregate,
    category_slug,
    counts_changed,
)
from store_server.signals.service import promoted_scans, report_key
from tests.signals.helpers import (
    SIGNAL_ITEMS,
    TEA_ITEM,
    card,
    collect,
    ean13,
    hello,
    wait_for,
)
from tests.store_server.factories import COFFEE_ITEM, add_products, enroll_devices

NOW = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # 14:30 in Paris
CONFIG = SignalConfig(active_minutes=10, momentum_minutes=15, min_count=5)


def baskets(
    n: int,
    *,
    store: str = "store-1",
    zone: str | None = None,
    ago: timedelta = timedelta(minutes=1),
) -> list[ActiveBasket]:
    return [ActiveBasket(store, zone, f"{store}-{zone}-b{i}", NOW - ago) for i in range(n)]


def scans(
    category: str,
    shoppers: int,
    units_each: int = 1,
    *,
    store: str = "store-1",
    zone: str | None = None,
    ago: timedelta = timedelta(minutes=2),
) -> list[ScanFact]:
    return [
        ScanFact(store, zone, f"tok{i}", category, units_each, NOW - ago) for i in range(shoppers)
    ]


def only(
    messages: list[dict[str, object]], store: str = "store-1", zone: str | None = None
) -> dict[str, float]:
    found = [m for m in messages if m["store_id"] == store and m["zone"] == zone]
    assert len(found) == 1
    signals = found[0]["signals"]
    assert isinstance(signals, dict)
    return signals


@pytest.mark.parametrize("count, published", [(0, 0), (1, None), (4, None), (5, 5), (41, 41)])
def test_active_shoppers_below_the_minimum_are_suppressed(
    count: int, published: int | None
) -> None:
    messages = aggregate(baskets(count), [], scopes={Scope("store-1")}, now=NOW, config=CONFIG)
    assert only(messages).get("active_shoppers") == published


def test_idle_baskets_do_not_count_as_shopping() -> None:
    idle = baskets(5, ago=timedelta(minutes=11))
    messages = aggregate(baskets(4) + idle, [], scopes=set(), now=NOW, config=CONFIG)
    assert "active_shoppers" not in only(messages)  # 4 active: suppressed, not 9


def test_momentum_needs_distinct_shoppers_not_units() -> None:
    one_big_buyer = scans("coffee", shoppers=1, units_each=12)
    messages = aggregate([], one_big_buyer, scopes=set(), now=NOW, config=CONFIG)
    assert "momentum:coffee" not in only(messages)
    crowd = scans("coffee", shoppers=5, units_each=2)
    messages = aggregate([], crowd, scopes=set(), now=NOW, config=CONFIG)
    assert only(messages)["momentum:coffee"] == 10


def test_momentum_counts_only_the_window() -> None:
    recent = scans("coffee", shoppers=5)
    old = scans("coffee", shoppers=5, ago=timedelta(minutes=16))
    messages = aggregate([], recent + old, scopes=set(), now=NOW, config=CONFIG)
    assert only(messages)["momentum:coffee"] == 5


def test_zones_publish_alongside_their_store() -> None:
    facts = scans("coffee", 5, zone="north") + scans("coffee", 2, zone="south")
    messages = aggregate(
        baskets(6, zone="north"),
        facts,
        scopes={Scope("store-1"), Scope("store-1", "north"), Scope("store-1", "south")},
        now=NOW,
        config=CONFIG,
    )
    assert only(messages)["momentum:coffee"] == 7  # store level: 7 shoppers
    assert only(messages, zone="north")["momentum:coffee"] == 5
    assert "momentum:coffee" not in only(messages, zone="south")  # 2 shoppers
    assert only(messages, zone="south")["active_shoppers"] == 0
    assert only(messages, zone="north")["active_shoppers"] == 6


def test_time_of_day_is_local_store_time() -> None:
    messages = aggregate([], [], scopes={Scope("store-1")}, now=NOW, config=CONFIG)
    assert only(messages)["hour_of_day"] == 14.5
    tokyo = SignalConfig(timezone="Asia/Tokyo")
    assert (
        only(aggregate([], [], scopes={Scope("store-1")}, now=NOW, config=tokyo))["hour_of_day"]
        == 22.5
    )


def test_a_message_carries_only_the_allowed_keys_and_names() -> None:
    messages = aggregate(baskets(6), scans("Hot Drinks", 6), scopes=set(), now=NOW, config=CONFIG)
    (message,) = messages
    assert set(message) == MESSAGE_KEYS
    assert only(messages)["momentum:hot-drinks"] == 6
    assert all(SIGNAL_NAME.match(name) for name in only(messages))
    assert "tok" not in json.dumps(message) and "b0" not in json.dumps(message)


def test_category_slugs_are_signal_safe() -> None:
    assert category_slug("  Fruits & Légumes ") == "fruits-l-gumes"
    assert SIGNAL_NAME.match("momentum:" + category_slug("!!!"))


def test_counts_changed_ignores_the_clock() -> None:
    first = aggregate(baskets(5), [], scopes=set(), now=NOW, config=CONFIG)[0]
    later = aggregate(baskets(5), [], scopes=set(), now=NOW + timedelta(seconds=30), config=CONFIG)[
        0
    ]
    more = aggregate(baskets(6), [], scopes=set(), now=NOW, config=CONFIG)[0]
    assert counts_changed(None, first)
    assert not counts_changed(first, later)
    assert counts_changed(first, more)


def test_min_count_of_one_is_refused() -> None:
    with pytest.raises(ValueError, match="one shopper"):
        SignalConfig(min_count=1)


# -- through the real server and event bus ---------------------------------------------------

DEVICES = [f"H-{i}" for i in range(1, 8)]


@pytest.fixture
def signals_client(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    add_products(engine, SIGNAL_ITEMS)
    tokens = enroll_devices(engine, *DEVICES)
    monkeypatch.setenv("CADDIE_SIGNALS_INTERVAL_S", "0.05")
    monkeypatch.setenv("CADDIE_SIGNALS_MIN_INTERVAL_S", "0")
    monkeypatch.setenv("CADDIE_SIGNALS_MIN_COUNT", "5")
    monkeypatch.setenv("CADDIE_SIGNALS_DEVICE_ZONES", json.dumps({"H-1": "north"}))
    app = create_app(Settings(database_url=db_url, environment="test"))
    with TestClient(app) as client:
        yield client, tokens


def shop(client: TestClient, tokens: dict[str, str], device: str, n: int, items: list[str]) -> None:
    with client.websocket_connect("/ws/handheld") as ws:
        hh = hello(ws, device, tokens[device])
        assert hh.start(card(n))["type"] == "basket"
        for code in items:
            assert hh.scan(code)["type"] == "ack"


def test_the_signals_feed_carries_no_shopper_and_suppresses_small_counts(
    signals_client: tuple[TestClient, dict[str, str]],
) -> None:
    """Everything that crosses to the mall side, from a trip of seven shoppers."""
    client, tokens = signals_client
    board = SignalBoard()
    assert client.portal is not None
    events = client.app.state.caddie.events  # type: ignore[attr-defined]

    async def subscribe() -> None:
        await run_signal_subscriber(events, board)

    subscriber = client.portal.start_task_soon(subscribe)
    secrets: set[str] = set(DEVICES) | {COFFEE_ITEM.gtin, TEA_ITEM.gtin}
    with collect(client, "signals") as feed, collect(client, "baskets") as basket_events:
        for n, device in enumerate(DEVICES[:6]):
            shop(client, tokens, device, n, [ean13(COFFEE_ITEM)])
            secrets.add(card(n))
        shop(client, tokens, DEVICES[6], 6, [ean13(TEA_ITEM)] * 6)  # one shopper, six teas
        secrets.add(card(6))
        wait_for(
            lambda: any(
                m["signals"].get("momentum:coffee") == 6 and m["zone"] is None for m in list(feed)
            )
        )
        wait_for(lambda: board.current_signals(["store-1"]).get("store-1/momentum:coffee") == 6)
    subscriber.cancel()
    secrets |= {e["basket_id"] for e in basket_events}
    assert len({e["basket_id"] for e in basket_events}) == 7
    assert feed
    for message in feed:
        assert set(message) == MESSAGE_KEYS
        assert message["type"] == "store_signals"
        assert message["store_id"] == "store-1" and message["zone"] in (None, "north")
        for name, value in message["signals"].items():
            assert SIGNAL_NAME.match(name)
            assert isinstance(value, int | float) and not isinstance(value, bool)
        text = json.dumps(message)
        assert not any(secret in text for secret in secrets)
        assert "momentum:tea" not in message["signals"]  # one shopper: never published
        active = message["signals"].get("active_shoppers")
        assert active is None or active == 0 or active >= 5
        if message["zone"] == "north":  # only H-1 is there: its one shopper stays hidden
            assert set(message["signals"]) <= {"hour_of_day", "active_shoppers"}
            assert message["signals"].get("active_shoppers", 0) == 0
    assert any(m["signals"].get("active_shoppers") == 7 for m in feed)
    rule = StoreSignalRule.parse(
        {"signal": "momentum:coffee", "store": "store-1", "op": ">=", "value": 6}
    )
    assert rule.holds(board.current_signals(["store-1"]))[0]


def test_offer_and_consent_requests_do_not_reach_the_feed(
    signals_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = signals_client
    with collect(client, "signals") as feed:
        with client.websocket_connect("/ws/handheld") as ws:
            hh = hello(ws, "H-2", tokens["H-2"], features=["offers"])
            hh.start(card(42))
            consent = hh.request("consent", opt_in=True, wording_version="v1")
            assert consent["type"] == "consent"
        wait_for(lambda: len(feed) >= 3)
    for message in feed:
        assert re.search(r"LOYAL|consent|opt_in|v1", json.dumps(message)) is None


def test_promoted_scans_are_bucketed_units_per_store(
    signals_client: tuple[TestClient, dict[str, str]], engine: Engine
) -> None:
    client, tokens = signals_client
    for n, device in enumerate(DEVICES[:3]):
        shop(client, tokens, device, n, [ean13(COFFEE_ITEM), ean13(COFFEE_ITEM), ean13(TEA_ITEM)])
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        rows = promoted_scans(
            session,
            gtins=[COFFEE_ITEM.gtin],
            since=now - timedelta(hours=1),
            until=now + timedelta(1),
            key=report_key(),
        )
    assert {(r.store_id, r.gtin) for r in rows} == {("store-1", COFFEE_ITEM.gtin)}
    assert sum(r.units for r in rows) == 6
    assert all(r.bucket_start.minute % 5 == 0 and r.bucket_start.second == 0 for r in rows)
