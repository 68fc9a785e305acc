"""The handheld's sans-I/O core with plain values: no sockets, no files, no clock."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from handheld_client.core import (
    TRIP_RETRY_AFTER_MAX_S,
    TRIP_UNAVAILABLE,
    Action,
    Backoff,
    Cursor,
    Entry,
    ExitStatus,
    ExitWatch,
    Fatal,
    Forget,
    HandheldCore,
    Persist,
    SaveBasket,
    Show,
    close_is_fatal,
    exit_status,
    money,
)

A, B, C = "3012345678902", "4006381333931", "5901234123457"
OPEN = {"basket_id": "b-1", "status": "open", "lines": [], "total_cents": 0, "currency": "EUR"}


@dataclass(frozen=True)
class Seen:
    """Stands in for a decoded Symbol: the core only reads ``key`` and ``text``."""

    text: str

    @property
    def key(self) -> str:
        return self.text.zfill(14)


def make_core(**kw: Any) -> HandheldCore:
    counter = itertools.count(1)
    kw.setdefault("new_id", lambda: f"id-{next(counter)}")
    kw.setdefault("loyalty_card", "CARD-1")
    return HandheldCore("H-1", "tok", **kw)


def store(core: HandheldCore, actions: Sequence[Action]) -> list[Action]:
    """What the runner does with Persist: write, then confirm."""
    for action in actions:
        if isinstance(action, Persist):
            core.stored(action.entries)
    return list(actions)


def online(core: HandheldCore, basket: dict[str, Any] | None = OPEN) -> list[Action]:
    core.connecting()
    return store(core, core.receive({"type": "welcome", "device_id": "H-1", "basket": basket}, 0))


def ack(entry_id: str, total: int = 100) -> dict[str, Any]:
    return {
        "type": "ack",
        "id": entry_id,
        "line": {"gtin": "0" + A, "name": "Coffee", "qty": 1},
        "basket": {**OPEN, "total_cents": total},
    }


def error(entry_id: str | None, code: str, message: str = "no") -> dict[str, Any]:
    reply = {"type": "error", "code": code, "message": message}
    if entry_id is not None:
        reply["id"] = entry_id
    return reply


def shown(actions: Sequence[Action]) -> list[tuple[str, str | None]]:
    return [(a.result.kind, a.result.code) for a in actions if isinstance(a, Show)]


# ---- entries, sequence numbers, ordering -------------------------------------------------


def test_each_scan_gets_a_uuid_and_the_next_sequence_number() -> None:
    core = HandheldCore("H-1", "tok", loyalty_card="C")
    persisted = [a for a in core.scan(A) + core.scan(B) if isinstance(a, Persist)]
    entries = [e for p in persisted for e in p.entries]
    assert [e.seq for e in entries] == [1, 2]
    assert len({e.id for e in entries}) == 2 and all(len(e.id) == 36 for e in entries)
    assert entries[0].message() == {
        "type": "scan",
        "id": entries[0].id,
        "seq": 1,
        "code": A,
        "qty": 1,
    }


def test_scans_and_removals_say_how_long_they_waited_in_the_outbox() -> None:
    clock = [1_000.0]
    core = make_core(wall_clock=lambda: clock[0])
    store(core, core.scan(A))  # written at 1,000 s, while offline
    clock[0] = 1_045.0
    online(core)  # the welcome names its open basket

    def send_all() -> dict[str, Any]:
        frames = {}
        while sent := core.pump(0):
            for frame in sent:
                frames[frame["type"]] = frame.get("queued_ms")
                store(core, core.receive(ack(frame["id"]), 0))
        return frames

    assert send_all() == {"scan": 45_000}
    store(core, core.remove_last())
    clock[0] = 1_047.5
    assert send_all() == {"remove": 2_500}


def test_an_entry_without_its_time_sends_no_wait() -> None:
    entry = Entry("id-1", 1, "scan", {"code": A, "qty": 1})
    assert "queued_ms" not in entry.message(wall_now=5.0)
    start = Entry("id-0", 0, "start", {"loyalty_card": "C"}, queued_at=1.0)
    assert "queued_ms" not in start.message(wall_now=5.0)  # only scans and removals
    clock_went_back = Entry("id-2", 2, "scan", {"code": A, "qty": 1}, queued_at=10.0)
    assert clock_went_back.message(wall_now=5.0)["queued_ms"] == 0


def test_nothing_is_sent_before_welcome_nor_before_it_is_stored() -> None:
    core = make_core()
    core.scan(A)  # not confirmed as stored
    assert core.pump(0) == []
    online(core)
    assert core.pump(0) == []  # online, but the scan is not durable yet
    core.stored(core.pending)
    assert [m["code"] for m in core.pump(0)] == [A]


def test_pending_entries_go_out_in_sequence_order_within_the_window() -> None:
    core = make_core(window=2)
    for code in (A, B, C):
        store(core, core.scan(code))
    online(core)
    first = core.pump(0)
    assert [m["seq"] for m in first] == [1, 2]
    assert core.pump(0) == []  # window full
    store(core, core.receive(ack(first[0]["id"]), 0))
    assert [m["seq"] for m in core.pump(0)] == [3]


def test_only_an_answer_deletes_an_entry() -> None:
    core = make_core()
    store(core, core.scan(A))
    online(core)
    (sent,) = core.pump(0)
    actions = core.receive(ack(sent["id"], total=349), 0)
    assert Forget(sent["id"]) in actions
    assert SaveBasket({**OPEN, "total_cents": 349}) in actions
    assert shown(actions) == [("ack", None)]
    assert core.idle and core.basket is not None and core.basket["total_cents"] == 349


def test_a_repeated_answer_changes_nothing() -> None:
    core = make_core()
    store(core, core.scan(A))
    online(core)
    (sent,) = core.pump(0)
    core.receive(ack(sent["id"]), 0)
    assert not any(isinstance(a, Forget) for a in core.receive(ack(sent["id"]), 0))


@pytest.mark.parametrize(
    "code", ["unknown_product", "invalid_code", "not_in_basket", "basket_locked", "bad_message"]
)
def test_final_errors_are_answers_shown_and_forgotten(code: str) -> None:
    core = make_core()
    store(core, core.scan(C))
    online(core)
    (sent,) = core.pump(0)
    actions = core.receive(error(sent["id"], code, "no product"), 0)
    assert Forget(sent["id"]) in actions
    assert shown(actions) == [("error", code)]
    assert core.idle


def test_rate_limited_is_not_an_answer_the_entry_is_resent_after_a_pause() -> None:
    core = make_core(rate_backoff=Backoff(initial=1.0, maximum=1.0, rng=random.Random(1)))
    store(core, core.scan(A))
    online(core)
    (sent,) = core.pump(10.0)
    actions = core.receive(error(sent["id"], "rate_limited"), 10.0)
    assert not any(isinstance(a, Forget) for a in actions)
    assert shown(actions) == [("retry", "rate_limited")]
    wakeup = core.next_wakeup(10.0)
    assert wakeup is not None and 10.5 <= wakeup <= 11.0
    assert core.pump(10.1) == []
    assert [m["id"] for m in core.pump(wakeup)] == [sent["id"]]
    assert core.next_wakeup(wakeup) is None


def test_unauthorized_is_fatal() -> None:
    core = make_core()
    core.connecting()
    (action,) = core.receive(error(None, "unauthorized", "bad token"), 0)
    assert isinstance(action, Fatal) and "H-1" in action.message
    assert close_is_fatal(4401)
    assert not any(close_is_fatal(c) for c in (1000, 1006, 1011, 1012, 1013, None))


# ---- baskets and reconnects --------------------------------------------------------------


def test_without_a_basket_welcome_starts_one_and_the_start_goes_first_alone() -> None:
    core = make_core()
    store(core, core.scan(A))
    actions = online(core, basket=None)
    (start,) = [e for a in actions if isinstance(a, Persist) for e in a.entries]
    assert start.type == "start" and start.fields == {"loyalty_card": "CARD-1"}
    assert start.seq == 2  # sequence numbers are never reused, even for the start
    assert [m["type"] for m in core.pump(0)] == ["start"]
    assert core.pump(0) == []  # nothing else while the start is unanswered
    reply = {"type": "basket", "id": start.id, "basket": OPEN}
    assert shown(store(core, core.receive(reply, 0))) == [("basket", None)]
    assert [m["code"] for m in core.pump(0)] == [A]


def test_an_open_basket_on_welcome_makes_a_queued_start_moot() -> None:
    core = make_core(pending=[Entry("s", 1, "start", {"loyalty_card": "C"})], last_seq=1)
    actions = online(core, basket=OPEN)
    assert Forget("s") in actions
    assert core.idle


def test_a_start_survives_reconnects_with_the_same_id() -> None:
    core = make_core()
    online(core, basket=None)
    (first,) = core.pump(0)
    core.disconnected("connection reset")
    online(core, basket=None)  # the server never saw it
    (again,) = core.pump(0)
    assert again == first


def test_everything_in_flight_is_resent_after_a_reconnect() -> None:
    core = make_core()
    for code in (A, B, C):
        store(core, core.scan(code))
    online(core)
    sent = core.pump(0)
    core.receive(ack(sent[0]["id"]), 0)
    actions = core.disconnected("closed 1013")
    assert shown(actions) == [("state", None)] and core.state == "offline"
    assert core.pump(0) == []
    online(core)
    assert core.pump(0) == sent[1:]


def test_offline_is_announced_once_per_outage_with_the_queued_count() -> None:
    core = make_core()
    core.connecting()
    first = core.disconnected("connection refused")
    core.connecting()
    again = core.disconnected("connection refused")
    assert len(first) == 1 and again == []
    actions = store(core, core.scan(A))
    (queued,) = [a.result for a in actions if isinstance(a, Show)]
    assert queued.kind == "queued" and "1 queued" in queued.message


def test_no_basket_restarts_one_and_keeps_the_scan() -> None:
    core = make_core()
    store(core, core.scan(A))
    online(core)  # the server says open...
    (sent,) = core.pump(0)
    actions = store(core, core.receive(error(sent["id"], "no_basket"), 0))  # ...then expired
    assert not any(isinstance(a, Forget) for a in actions)
    (start,) = [e for a in actions if isinstance(a, Persist) for e in a.entries]
    assert start.type == "start"
    assert [m["type"] for m in core.pump(0)] == ["start"]
    core.receive({"type": "basket", "id": start.id, "basket": OPEN}, 0)
    assert [m["id"] for m in core.pump(0)] == [sent["id"]]


def test_a_refused_start_is_final_and_then_no_basket_is_final_too() -> None:
    core = make_core()
    store(core, core.scan(A))
    online(core, basket=None)
    (start,) = core.pump(0)
    assert shown(core.receive(error(start["id"], "bad_message", "bad card"), 0)) == [
        ("error", "bad_message")
    ]
    (scan,) = core.pump(0)
    actions = core.receive(error(scan["id"], "no_basket"), 0)
    assert shown(actions) == [("error", "no_basket")] and core.idle


def test_remove_last_removes_the_last_acknowledged_scan_and_travels_alone() -> None:
    core = make_core()
    assert shown(core.remove_last()) == [("info", None)]
    store(core, core.scan(A))
    online(core)
    (sent,) = core.pump(0)
    core.receive(ack(sent["id"]), 0)
    store(core, core.scan(B))
    remove = [
        e for a in store(core, core.remove_last()) if isinstance(a, Persist) for e in a.entries
    ]
    assert remove[0].type == "remove" and remove[0].code == A
    first = core.pump(0)
    assert [m["type"] for m in first] == ["scan"]  # the remove waits for the scan's answer
    core.receive(ack(first[0]["id"]), 0)
    assert [m["type"] for m in core.pump(0)] == ["remove"]


# ---- restart ------------------------------------------------------------------------------


def test_a_restarted_core_replays_pending_in_order_and_continues_the_sequence() -> None:
    before = make_core()
    for code in (A, B, C):
        store(before, before.scan(code))
    online(before)
    sent = before.pump(0)
    before.receive(ack(sent[0]["id"]), 0)
    # crash: the outbox kept the unanswered entries and the highest seq given out
    after = make_core(pending=list(reversed(before.pending)), last_seq=before.last_seq)
    online(after)
    assert [m["seq"] for m in after.pump(0)] == [2, 3]
    persist = [a for a in after.scan(A) if isinstance(a, Persist)][0]
    assert persist.entries[0].seq == 4
    # even with nothing pending the counter does not go back
    assert make_core(last_seq=9).scan(A)[0].entries[0].seq == 10  # type: ignore[union-attr]


# ---- frames and debounce ------------------------------------------------------------------


def frames(core: HandheldCore, plan: Sequence[Sequence[str]]) -> list[str]:
    codes = []
    for i, visible in enumerate(plan):
        for action in core.observe(i * 0.1, [Seen(c) for c in visible], frame_index=i):
            if isinstance(action, Persist):
                codes += [e.code or "" for e in action.entries]
                core.stored(action.entries)
    return codes


def test_frames_are_debounced_into_scans() -> None:
    core = make_core()
    plan = [[A], [A], [A, B], [B], [], [], [], [], [A], [], [], [], [], [], [A], [C]]
    # A held: one scan; B joins: one scan; A back after 0.5 s absent: again; again at 1.4 s
    assert frames(core, plan) == [A, B, A, A, C]
    assert [e.seq for e in core.pending] == [1, 2, 3, 4, 5]


def test_a_resumed_source_skips_stored_frames_and_keeps_the_debounce_memory() -> None:
    plan = [[A], [A], [B], [B], [A], [], [], [], [], [], [A], [B]]
    whole = frames(make_core(source="folder"), plan)
    first = make_core(source="folder")
    cursor: Cursor | None = None
    got: list[str] = []
    for i, visible in enumerate(plan[:4]):  # crash after frame 3, A and B still in memory
        for action in first.observe(i * 0.1, [Seen(c) for c in visible], frame_index=i):
            if isinstance(action, Persist):
                got += [e.code or "" for e in action.entries]
                cursor = action.cursor or cursor
    assert cursor is not None and cursor.frame_index == 2
    second = make_core(source="folder", resume=cursor)
    for i, visible in enumerate(plan):
        if second.should_skip(i):
            continue
        for action in second.observe(i * 0.1, [Seen(c) for c in visible], frame_index=i):
            if isinstance(action, Persist):
                got += [e.code or "" for e in action.entries]
    assert got == whole == [A, B, A, B]  # frame 3 (B held) and frame 4 (A, 0.4 s) not recounted


def test_a_cursor_of_another_source_is_ignored() -> None:
    core = make_core(source="other", resume=Cursor("folder", 7, ((A.zfill(14), 0.7),)))
    assert not core.should_skip(0)
    assert frames(core, [[A]]) == [A]


# ---- small pure helpers ------------------------------------------------------------------


def test_backoff_grows_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert base / 2 <= delay <= base
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_money_is_formatted_from_integer_cents() -> None:
    assert money(1234, "EUR") == "12.34 EUR"
    assert money(5, "EUR") == "0.05 EUR"
    assert money(-250, "EUR") == "-2.50 EUR"


# ---- at the exit: the trip status after finish -------------------------------------------


def trip(
    status: str | None,
    *,
    decision: str | None = None,
    rescan: int = 0,
    code: str | None = None,
    basket_id: str = "b-1",
) -> dict[str, Any]:
    """A ``GET /api/shop/trip`` reply as PROTOCOL.md shapes it."""
    return {
        "basket": {**OPEN, "basket_id": basket_id, "status": status},
        "status": status,
        "audit": None if decision is None else {"decision": decision, "rescan_count": rescan},
        "handoff_code": code,
        "handoff_payload": f"CADDIE-PAY:{code}" if code else None,
        "receipt_url": "/shop/receipt/x" if code else None,
    }


def exits(actions: Sequence[Action]) -> list[ExitStatus | None]:
    return [a.result.exit for a in actions if isinstance(a, Show) and a.result.kind == "exit"]


def test_exit_stages_from_trip_replies() -> None:
    assert exit_status(trip("finishing")).stage == "next"  # no check: straight to the till
    assert exit_status(trip("finishing")).decision == "none"
    partial = exit_status(trip("audit", decision="partial", rescan=2))
    assert (partial.stage, partial.decision, partial.rescan_count) == ("next", "partial", 2)
    assert exit_status(trip("audit")).stage == "waiting"  # decided, but not told yet
    released = exit_status(trip("audit", decision="full", code="K7QW2MZP9X"))
    assert (released.stage, released.handoff_code) == ("handoff", "K7QW2MZP9X")
    assert exit_status(trip("paid", code="K7QW2MZP9X")).stage == "paid"
    assert exit_status(trip("abandoned")).stage == "closed"
    assert exit_status({"basket": None, "status": None}).stage == "closed"
    assert exit_status(trip("paid")).over and not released.over
    # what a confused proxy might send: no crash, and nothing taken for a code or a count
    odd = exit_status({"status": "audit", "audit": {"decision": 5, "rescan_count": True}})
    assert (odd.stage, odd.decision, odd.rescan_count, odd.basket_id) == ("waiting", None, 0, None)
    assert exit_status({"status": "finishing", "handoff_code": ""}).handoff_code is None


def test_watch_shows_each_new_stage_once_and_stops_when_paid() -> None:
    watch = ExitWatch("H-1", interval=3.0, start=10.0)
    assert watch.delay(0.0) == 10.0 and watch.delay(12.0) == 0.0
    first = watch.answered(trip("audit", decision="partial", rescan=1), 12.0)
    [shown] = exits(first)
    assert shown is not None and (shown.stage, shown.rescan_count) == ("next", 1)
    assert watch.delay(12.0) == 3.0  # the shopper app's pace
    assert exits(watch.answered(trip("audit", decision="partial", rescan=1), 15.0)) == []
    escalated = exits(watch.answered(trip("audit", decision="full"), 18.0))
    assert [s.decision for s in escalated if s] == ["full"]
    released = exits(watch.answered(trip("audit", decision="full", code="ABCD"), 21.0))
    assert [s.handoff_code for s in released if s] == ["ABCD"]
    assert not watch.done
    paid = exits(watch.answered(trip("paid", decision="full", code="ABCD"), 24.0))
    assert [s.stage for s in paid if s] == ["paid"]
    assert watch.done and watch.delay(24.0) is None


def test_watch_stops_when_the_trip_is_closed() -> None:
    watch = ExitWatch("H-1")
    watch.answered(trip("finishing"), 0.0)
    watch.answered(trip("abandoned"), 3.0)
    assert watch.done and watch.status is not None and watch.status.stage == "closed"


def test_watch_backs_off_while_the_store_does_not_answer_and_says_so_once() -> None:
    watch = ExitWatch("H-1", backoff=Backoff(initial=3.0, maximum=30.0, rng=random.Random(1)))
    notices = []
    delays = []
    now = 0.0
    for _ in range(6):
        for action in watch.failed(now, "connection refused"):
            assert isinstance(action, Show) and action.result.kind == "exit"
            assert action.result.code == TRIP_UNAVAILABLE
            notices.append(action.result.message)
        delay = watch.delay(now)
        assert delay is not None
        delays.append(delay)
        now += delay
    assert len(notices) == 1 and notices[0].startswith("trip status: connection refused;")
    assert delays[0] <= 3.0 and delays[-1] > 7.5 and max(delays) <= 30.0  # growing, capped
    assert not watch.done  # errors never end the wait
    back = watch.answered(trip("finishing"), now)
    messages = [a.result.message for a in back if isinstance(a, Show)]
    assert messages[0] == "trip status: the store answers again"
    assert watch.delay(now) == watch.interval  # the backoff starts afresh


def test_watch_honours_retry_after_within_reason() -> None:
    watch = ExitWatch("H-1", interval=0.1)
    watch.failed(0.0, "rate limited by the store", retry_after=7.0)
    assert watch.delay(0.0) == 7.0
    watch.failed(0.0, "rate limited by the store", retry_after=10**9)
    assert watch.delay(0.0) == TRIP_RETRY_AFTER_MAX_S


def test_a_refused_token_is_fatal_and_ends_the_watch() -> None:
    watch = ExitWatch("H-1")
    [fatal] = watch.refused(401, "unknown or revoked device token")
    assert isinstance(fatal, Fatal)
    assert fatal.message == (
        "the server refused device 'H-1' the trip status "
        "(HTTP 401: unknown or revoked device token): check --device and --token"
    )
    assert watch.done and watch.delay(0.0) is None


def test_finished_means_the_server_says_the_basket_waits_at_the_exit() -> None:
    locked = {**OPEN, "status": "audit"}
    restarted = make_core(basket=locked)  # kept from the last run: it may be paid by now
    assert not restarted.finished
    online(restarted, basket=locked)
    assert restarted.finished  # the server still has it at the exit
    core = make_core()
    online(core)
    assert not core.finished
    store(core, core.finish())
    [finish] = core.pump(0.0)
    core.receive({"type": "checkout", "id": finish["id"], "basket": locked, "audit": {}}, 0.0)
    assert core.finished
