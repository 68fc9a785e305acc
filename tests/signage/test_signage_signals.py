"""Store signals drive signage: plan rules, the loop API, the reasons it gives, storage."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from signage.models import Campaign, Screen
from signage.scheduling import SignalRule, parse_plan
from signage.service import load_specs, loop_view, store_rule_of
from signage.signals.board import SignalBoard
from store_server.db import make_engine, session_scope
from store_server.shared.errors import InvalidInput
from tests.servers import caddie
from tests.signage.signage_helpers import (
    FOREVER,
    load_and_enroll,
    load_plan_file,
    plan_dict,
    user_token,
    write_plan,
)
from tests.signals.helpers import wait_for

COFFEE_13 = "3012345678902"  # the catalog's ground coffee, as printed on the pack


def signal_plan(store: str, rule: dict[str, Any]) -> dict[str, Any]:
    """The helper plan, screen S-01 in ``store``, plus an interrupt that needs ``rule``."""
    plan = plan_dict()
    plan["screens"][0]["store"] = store
    plan["campaigns"].append(
        {
            "id": "K-SIG",
            "advertiser": "Brand C",
            "category": "coffee",
            "creatives": ["CR-B"],
            **FOREVER,
            "priority": "interrupt",
            "targets": {"screens": ["S-01"]},
            "signal_rule": rule,
            "promoted_gtins": [COFFEE_13],
        }
    )
    return plan


def message(store: str, at: datetime, **signals: float) -> dict[str, Any]:
    return {
        "type": "store_signals",
        "store_id": store,
        "zone": None,
        "at": at.isoformat(),
        "signals": signals,
    }


# --------------------------------------------------------------------------- the plan


def test_a_store_signal_rule_in_a_plan_becomes_a_rule_over_the_boards_key() -> None:
    rule = {"signal": "momentum:coffee", "store": "store-1", "op": ">", "value": "daily_median"}
    plan = parse_plan(signal_plan("store-1", rule))
    campaign = next(c for c in plan.campaigns if c.id == "K-SIG")
    assert campaign.signal_rule == SignalRule("store-1/momentum:coffee-daily_median", ">", 0.0)
    assert campaign.promoted_gtins == ("0" + COFFEE_13,)  # stored as GTIN-14
    assert next(s for s in plan.screens if s.id == "S-01").store == "store-1"
    assert next(s for s in plan.screens if s.id == "S-02").store is None  # optional field
    numeric = {
        "signal": "active_shoppers",
        "store": "store-2",
        "zone": "north",
        "op": ">=",
        "value": 40,
    }
    campaign = next(
        c for c in parse_plan(signal_plan("store-2", numeric)).campaigns if c.id == "K-SIG"
    )
    assert campaign.signal_rule == SignalRule("store-2/north/active_shoppers", ">=", 40.0)


def test_the_bare_rule_form_of_earlier_plans_still_loads() -> None:
    plan = parse_plan(signal_plan("store-1", {"signal": "footfall", "op": "<", "value": 5}))
    campaign = next(c for c in plan.campaigns if c.id == "K-SIG")
    assert campaign.signal_rule == SignalRule("footfall", "<", 5.0)


def test_bad_rules_and_gtins_are_reported_with_their_place() -> None:
    plan = signal_plan(
        "store-1", {"signal": "weather", "store": "store-1", "op": "~", "value": "lots"}
    )
    plan["campaigns"][-1]["promoted_gtins"] = ["3012345678903", "abc"]
    plan["screens"][1]["store"] = 7
    with pytest.raises(InvalidInput) as caught:
        parse_plan(plan)
    problems = caught.value.details["problems"]
    text = "\n".join(problems)
    assert "campaigns[3].signal_rule: signal must be" in text
    assert "campaigns[3].signal_rule: op must be one of" in text
    assert "campaigns[3].signal_rule: value must be a number" in text
    assert "campaigns[3].promoted_gtins[0]: must be a GTIN" in text  # bad check digit
    assert "campaigns[3].promoted_gtins[1]: must be a GTIN" in text
    assert "screens[1].store: must be a string" in text


def test_store_rules_survive_the_database_round_trip(
    db_url: str, tmp_path: Path, media_dir: Path
) -> None:
    rule = {
        "signal": "momentum:coffee",
        "store": "store-9",
        "zone": "north",
        "op": "<=",
        "value": "daily_median",
    }
    path = write_plan(tmp_path / "plan", signal_plan("store-9", rule))
    load_plan_file(db_url, path, media_dir)
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            row = session.get(Campaign, "K-SIG")
            assert row is not None and row.signal_rule == rule  # as the operator wrote it
            assert row.promoted_gtins == ["0" + COFFEE_13]
            screen = session.get(Screen, "S-01")
            assert screen is not None and screen.store_id == "store-9"
            spec = next(c for c in load_specs(session).campaigns if c.id == "K-SIG")
            assert spec.signal_rule is not None
            assert spec.signal_rule.signal == "store-9/north/momentum:coffee-daily_median"
            back = store_rule_of(spec.signal_rule)
            assert back is not None and back.to_dict() == rule
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- loops


@dataclass
class SignalWorld:
    url: str
    engine: Engine
    store: str
    operator: str
    screen_token: str


@pytest.fixture
def signal_world(db_url: str, tmp_path: Path, media_dir: Path) -> Iterator[SignalWorld]:
    # a store id of its own: the process-wide board outlives each test
    store = f"mall-{uuid.uuid4().hex[:8]}"
    rule = {"signal": "active_shoppers", "store": store, "op": ">", "value": 40}
    path = write_plan(tmp_path / "plan", signal_plan(store, rule))
    engine = make_engine(db_url)
    tokens = load_and_enroll(engine, path, media_dir, ["S-01"])
    yield SignalWorld(db_url, engine, store, user_token(engine, "olga", "operator"), tokens["S-01"])
    engine.dispose()


@pytest.fixture
def app_client(signal_world: SignalWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The real store app: its lifespan starts the signage subscriber on its event bus."""
    from store_server.app import create_app
    from store_server.config import load_settings

    monkeypatch.setenv("CADDIE_SIGNALS_ENABLED", "false")  # only the test publishes
    settings = load_settings(database_url=signal_world.url, environment="test")
    with TestClient(create_app(settings)) as client:
        yield client


def _publish(client: TestClient, event: dict[str, Any]) -> None:
    client.app.state.caddie.events.publish_threadsafe("signals", event)  # type: ignore[attr-defined]


def _loop(client: TestClient, world: SignalWorld, at: str | None = None) -> dict[str, Any]:
    params = {"at": at} if at else {}
    reply = client.get(
        "/signage/screens/S-01/loop",
        params=params,
        headers={"Authorization": f"Bearer {world.screen_token}"},
    )
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


def test_a_published_store_signal_switches_the_next_loop_and_says_why(
    app_client: TestClient, signal_world: SignalWorld
) -> None:
    quiet = _loop(app_client, signal_world)
    assert "K-SIG" not in {s["campaign_id"] for s in quiet["slots"]}
    (reason,) = [r for r in quiet["reasons"] if r["campaign_id"] == "K-SIG"]
    assert reason["included"] is False and "not met" in reason["why"]
    upcoming = quiet["valid_until"]  # loop n+1, as the player asks for it
    assert "K-SIG" not in {
        s["campaign_id"] for s in _loop(app_client, signal_world, upcoming)["slots"]
    }

    _publish(app_client, message(signal_world.store, datetime.now(UTC), active_shoppers=55))
    wait_for(
        lambda: (
            "K-SIG"
            in {s["campaign_id"] for s in _loop(app_client, signal_world, upcoming)["slots"]}
        )
    )
    busy = _loop(app_client, signal_world, upcoming)
    assert {s["campaign_id"] for s in busy["slots"]} == {"K-SIG"}  # interrupt: every slot
    (reason,) = [r for r in busy["reasons"] if r["campaign_id"] == "K-SIG"]
    assert reason["included"] is True
    assert f"active_shoppers in {signal_world.store} > 40" in reason["why"]
    assert f"{signal_world.store}/active_shoppers = 55" in reason["why"]

    # a store that is not the screen's does not count, and the quiet store ends it
    _publish(app_client, message(signal_world.store, datetime.now(UTC), active_shoppers=12))
    wait_for(
        lambda: (
            "K-SIG"
            not in {s["campaign_id"] for s in _loop(app_client, signal_world, upcoming)["slots"]}
        )
    )

    timeline = app_client.get(
        "/signage/api/screens/S-01/timeline",
        headers={"Authorization": f"Bearer {signal_world.operator}"},
    )
    assert timeline.status_code == 200
    whys = [
        r["why"]
        for run in timeline.json()["runs"]
        for r in run["reasons"]
        if r["campaign_id"] == "K-SIG"
    ]
    assert whys and all("not met" in w and "= 12" in w for w in whys)


def test_another_stores_signal_does_not_move_the_screen(
    app_client: TestClient, signal_world: SignalWorld
) -> None:
    other = signal_world.store + "-other"
    _publish(app_client, message(other, datetime.now(UTC), active_shoppers=99))
    # published after the first: once it has arrived, so has the first
    _publish(app_client, message(signal_world.store, datetime.now(UTC), active_shoppers=3))
    wait_for(
        lambda: any(
            "= 3" in r["why"]
            for r in _loop(app_client, signal_world)["reasons"]
            if r["campaign_id"] == "K-SIG"
        )
    )
    assert "K-SIG" not in {s["campaign_id"] for s in _loop(app_client, signal_world)["slots"]}


def test_a_daily_median_rule_names_the_signal_and_its_distance(
    signal_world: SignalWorld,
) -> None:
    """Momentum above its 24-hour median, from a board fed 40 minutes of messages."""
    store = signal_world.store
    with session_scope(signal_world.engine) as session:
        row = session.get(Campaign, "K-SIG")
        assert row is not None
        row.signal_rule = {
            "signal": "momentum:coffee",
            "store": store,
            "op": ">",
            "value": "daily_median",
        }
    board = SignalBoard(stale_after_s=120)
    now = datetime.now(UTC)
    for minute in range(40, 0, -1):
        board.ingest(message(store, now - timedelta(minutes=minute), **{"momentum:coffee": 4}))

    def view(session: Session) -> dict[str, Any]:
        return loop_view(
            session,
            "S-01",
            now,
            default_store="unused",
            signals=lambda stores: board.current_signals(stores, at=now),
        )

    with session_scope(signal_world.engine) as session:
        assert "K-SIG" not in {s["campaign_id"] for s in view(session)["slots"]}  # = median
    board.ingest(message(store, now, **{"momentum:coffee": 9}))
    with session_scope(signal_world.engine) as session:
        busy = view(session)
    assert {s["campaign_id"] for s in busy["slots"]} == {"K-SIG"}
    (reason,) = [r for r in busy["reasons"] if r["campaign_id"] == "K-SIG"]
    assert f"momentum:coffee in {store} > its daily median" in reason["why"]
    assert "momentum:coffee-daily_median = 5" in reason["why"]


def test_a_screen_without_a_store_reads_the_servers_own_store(
    signal_world: SignalWorld,
) -> None:
    with session_scope(signal_world.engine) as session:
        screen = session.get(Screen, "S-01")
        assert screen is not None
        screen.store_id = None
    board = SignalBoard()
    now = datetime.now(UTC)
    board.ingest(message(signal_world.store, now, active_shoppers=50))

    def slots(default_store: str) -> set[str | None]:
        with session_scope(signal_world.engine) as session:
            view = loop_view(
                session,
                "S-01",
                now,
                default_store=default_store,
                signals=lambda stores: board.current_signals(stores, at=now),
            )
        return {s["campaign_id"] for s in view["slots"]}

    assert slots(signal_world.store) == {"K-SIG"}
    assert "K-SIG" not in slots("store-elsewhere")


def test_the_plan_file_in_the_cli_accepts_the_new_fields(
    db_url: str, tmp_path: Path, media_dir: Path
) -> None:
    """``caddie signage load`` (a real process) with store rules, a screen store, GTINs."""
    rule = {"signal": "hour_of_day", "store": "store-1", "op": ">=", "value": 17}
    path = write_plan(tmp_path / "plan", signal_plan("store-1", rule))
    env = {"CADDIE_MEDIA_DIR": str(media_dir)}
    done = caddie("signage", "load", str(path), "--database-url", db_url, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = json.loads(path.read_text())
    broken["campaigns"][-1]["signal_rule"]["value"] = "daily_median"  # hour_of_day: no
    path.write_text(json.dumps(broken))
    refused = caddie("signage", "load", str(path), "--database-url", db_url, env=env)
    assert refused.returncode == 1
    assert "hour_of_day has no daily median" in refused.stdout + refused.stderr
