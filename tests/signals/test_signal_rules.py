"""Signal rules, the mall-side board (latest values, medians, staleness) and the scheduler."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from signage.scheduling import (
    CampaignSpec,
    CreativeSpec,
    ScreenSpec,
    Targets,
    build_loop,
)
from signage.scheduling.signal_rules import explain_rules
from signage.signals import SignalBoard, StoreSignalRule, current_signals, run_signal_subscriber
from store_server.events import EventBus
from store_server.shared.errors import InvalidInput

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def message(
    at: datetime,
    signals: dict[str, Any],
    *,
    store: str = "store-1",
    zone: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "store_signals",
        "store_id": store,
        "zone": zone,
        "at": at.isoformat(),
        "window_minutes": 15,
        "active_minutes": 10,
        "min_count": 5,
        "signals": signals,
        **extra,
    }


# -- rule language -----------------------------------------------------------------------


def test_a_number_rule_reads_the_store_signal() -> None:
    rule = StoreSignalRule.parse(
        {"signal": "active_shoppers", "store": "store-1", "op": ">", "value": 40}
    )
    assert rule.key == "store-1/active_shoppers"
    assert rule.holds({"store-1/active_shoppers": 41}) == (
        True,
        "signal rule store-1/active_shoppers > 40 met (store-1/active_shoppers = 41)",
    )
    assert not rule.holds({"store-1/active_shoppers": 40})[0]
    assert not rule.holds({"store-2/active_shoppers": 99})[0]  # another store's crowd


def test_a_zone_rule_and_a_median_rule_have_their_own_keys() -> None:
    zoned = StoreSignalRule.parse(
        {"signal": "momentum:coffee", "store": "store-1", "zone": "north", "op": ">=", "value": 3}
    )
    assert zoned.key == "store-1/north/momentum:coffee"
    median = StoreSignalRule.parse(
        {"signal": "momentum:coffee", "store": "store-1", "op": ">", "value": "daily_median"}
    )
    assert median.key == "store-1/momentum:coffee-daily_median"
    assert median.scheduler_rule().value == 0
    assert StoreSignalRule.parse(median.to_dict()) == median


@pytest.mark.parametrize(
    "raw, problem",
    [
        ({"signal": "footfall", "store": "s", "op": ">", "value": 1}, "signal must be"),
        ({"signal": "active_shoppers", "op": ">", "value": 1}, "store must be"),
        ({"signal": "active_shoppers", "store": "s", "op": "==", "value": 1}, "op must be"),
        ({"signal": "active_shoppers", "store": "s", "op": ">", "value": "lots"}, "value must"),
        ({"signal": "active_shoppers", "store": "s", "op": ">", "value": True}, "value must"),
        (
            {"signal": "hour_of_day", "store": "s", "op": ">", "value": "daily_median"},
            "no daily median",
        ),
        (
            {"signal": "active_shoppers", "store": "s", "op": ">", "value": 1, "shopper": 7},
            "unknown keys shopper",
        ),
    ],
)
def test_bad_rules_are_refused_with_the_reason(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        StoreSignalRule.parse(raw)
    assert problem in refused.value.message


# -- the board ---------------------------------------------------------------------------


def test_latest_values_per_store_and_zone() -> None:
    board = SignalBoard()
    board.ingest(message(T0, {"active_shoppers": 12, "momentum:coffee": 7}))
    board.ingest(message(T0, {"active_shoppers": 5}, zone="north"))
    board.ingest(message(T0, {"active_shoppers": 30}, store="store-2"))
    board.ingest(message(T0 + timedelta(seconds=5), {"active_shoppers": 14}))
    signals = board.current_signals(["store-1"], at=T0 + timedelta(seconds=6))
    assert signals == {"store-1/active_shoppers": 14, "store-1/north/active_shoppers": 5}
    assert "store-2/active_shoppers" in board.current_signals(None, at=T0)


def test_an_older_message_does_not_replace_a_newer_one() -> None:
    board = SignalBoard()
    board.ingest(message(T0 + timedelta(seconds=5), {"active_shoppers": 14}))
    assert not board.ingest(message(T0, {"active_shoppers": 9}))
    assert board.current_signals(at=T0 + timedelta(seconds=5)) == {"store-1/active_shoppers": 14}


def test_a_silent_store_stops_meeting_rules() -> None:
    board = SignalBoard(stale_after_s=60)
    board.ingest(message(T0, {"active_shoppers": 50}))
    rule = StoreSignalRule.parse(
        {"signal": "active_shoppers", "store": "store-1", "op": ">", "value": 40}
    )
    assert rule.holds(board.current_signals(at=T0 + timedelta(seconds=59)))[0]
    ok, why = rule.holds(board.current_signals(at=T0 + timedelta(seconds=61)))
    assert not ok and "no store-1/active_shoppers signal" in why


def test_the_board_keeps_only_whitelisted_numbers() -> None:
    board = SignalBoard()
    assert board.ingest(
        message(
            T0,
            {
                "active_shoppers": 9,
                "shopper:LOYAL-1": 1,
                "momentum:coffee": "7",
                "momentum:tea": True,
            },
            basket_id="b-1",
            loyalty_card="LOYAL-1",
        )
    )
    assert board.current_signals(at=T0) == {"store-1/active_shoppers": 9}
    assert not board.ingest({"type": "basket.scanned", "basket_id": "b-1"})
    assert not board.ingest(message(T0, ["not", "a", "mapping"]))  # type: ignore[arg-type]


def test_daily_median_is_over_minutes_and_counts_suppressed_momentum_as_zero() -> None:
    board = SignalBoard(min_median_minutes=10)
    # 20 minutes: 10 at momentum 4, then 10 minutes suppressed (absent), published twice
    # per minute so that minutes, not messages, weigh.
    for minute in range(20):
        for second in (0, 30):
            at = T0 + timedelta(minutes=minute, seconds=second)
            published: dict[str, float] = {"momentum:coffee": 4} if minute < 10 else {}
            board.ingest(message(at, published))
    at = T0 + timedelta(minutes=19, seconds=30)
    assert board.daily_median("store-1", "momentum:coffee", at=at) == 2.0  # (0 + 4) / 2
    board.ingest(message(T0 + timedelta(minutes=20), {"momentum:coffee": 9}))
    at = T0 + timedelta(minutes=20)
    signals = board.current_signals(at=at)
    # 21 samples: 10 × 4, 10 × 0, 1 × 9 → median 4
    assert signals["store-1/momentum:coffee-daily_median"] == 9 - 4
    rule = StoreSignalRule.parse(
        {"signal": "momentum:coffee", "store": "store-1", "op": ">", "value": "daily_median"}
    )
    ok, why = rule.holds(signals)
    assert ok and "store-1/momentum:coffee-daily_median > 0 met" in why


def test_no_median_before_enough_minutes_and_samples_expire_after_a_day() -> None:
    board = SignalBoard(min_median_minutes=3)
    board.ingest(message(T0, {"active_shoppers": 10}))
    board.ingest(message(T0 + timedelta(minutes=1), {"active_shoppers": 20}))
    signals = board.current_signals(at=T0 + timedelta(minutes=1))
    assert "store-1/active_shoppers-daily_median" not in signals
    board.ingest(message(T0 + timedelta(minutes=2), {"active_shoppers": 30}))
    assert board.daily_median("store-1", "active_shoppers", at=T0 + timedelta(minutes=2)) == 20
    late = T0 + timedelta(days=1, minutes=1, seconds=30)
    board.ingest(message(late, {"active_shoppers": 30}))
    assert board.daily_median("store-1", "active_shoppers", at=late) is None  # 2 samples left


# -- with the scheduler ------------------------------------------------------------------

SCREEN = ScreenSpec(
    id="S-1",
    zone="north",
    groups=frozenset(),
    slot_seconds=10,
    slots_per_loop=6,
    timezone="Europe/Paris",
)
CREATIVES = {"CR-1": CreativeSpec(id="CR-1", media="a.png", duration_s=10)}


def coffee_campaign(rule: StoreSignalRule) -> CampaignSpec:
    return CampaignSpec(
        id="K-COFFEE",
        advertiser="Brand A",
        category="coffee",
        creatives=("CR-1",),
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        days=frozenset(),
        dayparts=(),
        targets=Targets(),
        priority="standard",
        share_of_voice=0.5,
        max_plays_per_hour=None,
        signal_rule=rule.scheduler_rule(),
    )


def test_a_signal_change_switches_the_next_loop_and_the_reason_names_the_rule() -> None:
    rule = StoreSignalRule.parse(
        {"signal": "momentum:coffee", "store": "store-1", "op": ">", "value": 20}
    )
    campaign = coffee_campaign(rule)
    board = SignalBoard()
    board.ingest(message(T0, {"momentum:coffee": 12}))
    loop = build_loop(
        SCREEN, [campaign], CREATIVES, T0, signals=current_signals(["store-1"], at=T0, board=board)
    )
    assert all(slot.campaign_id is None for slot in loop.slots)
    (reason,) = [r for r in loop.reasons if r.campaign_id == "K-COFFEE"]
    assert not reason.included and "store-1/momentum:coffee > 20 not met" in reason.why
    nxt = loop.valid_until
    board.ingest(message(nxt - timedelta(seconds=3), {"momentum:coffee": 25}))
    signals = current_signals(["store-1"], at=nxt, board=board)
    loop = build_loop(SCREEN, [campaign], CREATIVES, nxt, signals=signals)
    assert sum(slot.campaign_id == "K-COFFEE" for slot in loop.slots) == 3
    (reason,) = [r for r in loop.reasons if r.campaign_id == "K-COFFEE"]
    assert reason.included
    assert explain_rules({"K-COFFEE": rule}, signals) == {
        "K-COFFEE": (
            True,
            "signal rule store-1/momentum:coffee > 20 met (store-1/momentum:coffee = 25)",
        )
    }


def test_the_subscriber_fills_the_board_from_the_bus() -> None:
    board = SignalBoard()

    async def scenario() -> None:
        bus = EventBus()
        await bus.start()
        task = asyncio.create_task(run_signal_subscriber(bus, board))
        await asyncio.sleep(0)
        await bus.publish("signals", message(T0, {"active_shoppers": 44}))
        await bus.publish("baskets", {"event": "basket.scanned", "basket_id": "b-1"})
        for _ in range(100):
            if board.version:
                break
            await asyncio.sleep(0)
        task.cancel()

    asyncio.run(scenario())
    assert board.current_signals(at=T0) == {"store-1/active_shoppers": 44}
    assert board.version == 1  # the basket event never reached it
