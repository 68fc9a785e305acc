"""The handheld's state machine, free of I/O (STYLE.md, "sans-I/O core").

Why sans-I/O: everything that decides *what* the handheld does (which scans exist,
in which order they go out, what a reply means, when to give up) is here and is
tested with plain values; sockets, SQLite, clocks and cameras live in adapters
(``link``, ``outbox``, ``runner``). Methods take the current time as an argument and
return *actions* for the adapter to carry out in order:

* :class:`Persist` - write entries (and the source cursor) to the durable outbox.
  The adapter confirms with :meth:`HandheldCore.stored`; only stored entries are ever
  sent, so a scan the shopper saw accepted survives a dead battery.
* :class:`Forget` - delete an answered entry from the outbox.
* :class:`SaveBasket` - keep the last basket snapshot for the screen after a restart.
* :class:`Show` - something for the shopper (ack, final error, offline, queued...).
* :class:`Fatal` - stop: retrying cannot help (the server refuses the device token).

After ``finish`` the basket waits at the exit; :class:`ExitWatch` decides what the
shopper is told from the trip status the server reports (what happens next, the
payment hand-off code once staff release the basket, paid) and when to ask again.

:meth:`HandheldCore.pump` says which messages to send now. Only a reply to an
entry's ``id`` deletes it; ``rate_limited`` and ``no_basket`` are not answers but
reasons to resend. The server answers one connection's frames in order and applies
a replayed id once, so a window of scans may be in flight, and everything pending
is simply resent after a reconnect. ``start``/``remove``/``finish`` change what the
next request means, so they travel alone (nothing else in flight around them).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from handheld_client.debounce import Debouncer
from store_server.shared.errors import (
    BadMessage,
    BadQuantity,
    BasketLocked,
    InvalidCode,
    NotInBasket,
    UnknownProduct,
)
from store_server.shared.protocol import CLOSE_UNAUTHORIZED, PROTOCOL_VERSION

DEFAULT_WINDOW = 16
BARRIER_TYPES = frozenset({"start", "remove", "finish"})
REPLY_TYPES = frozenset({"ack", "basket", "checkout"})
# Error codes that are the server's final answer to a request: shown, then forgotten.
FINAL_ERRORS = frozenset(
    error.code
    for error in (InvalidCode, UnknownProduct, NotInBasket, BadQuantity, BasketLocked, BadMessage)
)
LOCKED_STATUSES = frozenset({"finishing", "audit"})  # a finished basket waiting at the exit

LinkState = Literal["offline", "connecting", "online"]


class Sighting(Protocol):
    """What the core needs from a decoded symbol (``decoding.Symbol`` fits)."""

    @property
    def key(self) -> str: ...

    @property
    def text(self) -> str: ...


QUEUED_TYPES = frozenset({"scan", "remove"})


@dataclass(frozen=True)
class Entry:
    """One request in the outbox: its protocol ``id`` and per-device ``seq`` never change."""

    id: str
    seq: int
    type: str
    fields: Mapping[str, Any]
    # When the handheld wrote it (wall clock, seconds; it survives a restart): a scan or a
    # removal tells the server how long it waited (``queued_ms``, docs/PROTOCOL.md).
    queued_at: float | None = None

    def message(self, wall_now: float | None = None) -> dict[str, Any]:
        """The WebSocket frame; ``seq`` is an extra field the server ignores."""
        frame = {"type": self.type, "id": self.id, "seq": self.seq, **self.fields}
        if wall_now is not None and self.queued_at is not None and self.type in QUEUED_TYPES:
            frame["queued_ms"] = max(0, round((wall_now - self.queued_at) * 1000))
        return frame

    @property
    def code(self) -> str | None:
        value = self.fields.get("code")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Cursor:
    """How far a replayable source has been turned into stored scans.

    ``seen`` is the debounce memory right after ``frame_index`` (code key, last frame
    time), so a restarted handheld resumes without counting a code twice.
    """

    source: str
    frame_index: int
    seen: tuple[tuple[str, float], ...] = ()


ExitStage = Literal["waiting", "next", "handoff", "paid", "closed"]


@dataclass(frozen=True)
class ExitStatus:
    """Where a finished trip stands at the exit, from the server's trip status.

    ``waiting``: no audit decision yet; ``next``: the decision is known (``decision``,
    and for a partial check ``rescan_count`` items), the basket is not yet released;
    ``handoff``: staff released it, ``handoff_code`` is what the till reads; ``paid``;
    ``closed``: the trip ended without payment.
    """

    stage: ExitStage
    basket_id: str | None = None
    decision: str | None = None
    rescan_count: int = 0
    handoff_code: str | None = None
    basket: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def over(self) -> bool:
        """Paid or closed: nothing more will happen to this trip."""
        return self.stage in ("paid", "closed")


@dataclass(frozen=True)
class Result:
    """Something to show the shopper; ``kind`` says what."""

    kind: Literal["ack", "error", "retry", "state", "queued", "basket", "checkout", "exit", "info"]
    message: str = ""
    entry: Entry | None = None
    code: str | None = None
    line: Mapping[str, Any] | None = None
    basket: Mapping[str, Any] | None = None
    audit: Mapping[str, Any] | None = None  # a ``checkout`` reply's audit decision
    # kind ``exit``: where a finished trip stands, or with a ``message`` a notice about
    # asking for it (``code`` TRIP_UNAVAILABLE while the store does not answer)
    exit: ExitStatus | None = None


@dataclass(frozen=True)
class Persist:
    entries: tuple[Entry, ...]
    cursor: Cursor | None = None


@dataclass(frozen=True)
class Forget:
    entry_id: str


@dataclass(frozen=True)
class SaveBasket:
    basket: Mapping[str, Any] | None


@dataclass(frozen=True)
class Show:
    result: Result


@dataclass(frozen=True)
class Fatal:
    message: str


Action = Persist | Forget | SaveBasket | Show | Fatal


def close_is_fatal(code: int | None) -> bool:
    """A 4401 close means the token is refused: reconnecting would be refused again."""
    return code == CLOSE_UNAUTHORIZED


@dataclass
class Backoff:
    """Jittered exponential backoff: ``initial * factor**n`` capped, times U(0.5, 1).

    Jitter keeps a store full of handhelds from reconnecting in lock-step after the
    server restarts.
    """

    initial: float = 0.5
    maximum: float = 15.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self.attempt)
        self.attempt += 1
        return base * self.rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


def money(cents: int, currency: str) -> str:
    """Integer cents as ``12.34 EUR`` (never through floats)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d} {currency}"


# After finish: ask for the trip status as often as the shopper app does, and back off
# to at most TRIP_POLL_MAX_S while the store does not answer. A Retry-After is honoured
# up to TRIP_RETRY_AFTER_MAX_S (a longer one is a broken proxy, not a plan).
TRIP_POLL_S = 3.0
TRIP_POLL_MAX_S = 30.0
TRIP_RETRY_AFTER_MAX_S = 300.0
TRIP_UNAVAILABLE = "trip_unavailable"  # the ``code`` of an ``exit`` result for an outage


def exit_status(trip: Mapping[str, Any]) -> ExitStatus:
    """A trip status reply (``GET /api/shop/trip``, PROTOCOL.md) as a stage of the exit."""
    basket = trip.get("basket")
    basket = basket if isinstance(basket, Mapping) else None
    basket_id = basket.get("basket_id") if basket is not None else None
    status = trip.get("status")
    code = trip.get("handoff_code")
    code = code if isinstance(code, str) and code else None
    audit = trip.get("audit")
    audit = audit if isinstance(audit, Mapping) else {}
    decision = audit.get("decision")
    if not isinstance(decision, str) or not decision:
        # a basket that finished without a check goes straight to "finishing"
        decision = "none" if status == "finishing" else None
    count = audit.get("rescan_count")
    rescan = count if isinstance(count, int) and not isinstance(count, bool) else 0
    stage: ExitStage
    if status == "paid":
        stage = "paid"
    elif status in ("finishing", "audit"):
        stage = "handoff" if code else "next" if decision else "waiting"
    else:  # abandoned, or no locked basket any more: this trip ended unpaid
        stage = "closed"
    return ExitStatus(
        stage,
        str(basket_id) if basket_id else None,
        decision,
        rescan,
        code,
        basket,
    )


class ExitWatch:
    """After ``finish``: when to ask the server for the trip status and what each
    answer means for the shopper, until the basket is paid or the trip closed.

    The adapter asks when :meth:`delay` says so and reports each outcome with
    :meth:`answered`, :meth:`failed` or :meth:`refused`. A changed stage is shown once;
    an outage is shown once, and its end once.
    """

    def __init__(
        self,
        device_id: str,
        *,
        interval: float = TRIP_POLL_S,
        backoff: Backoff | None = None,
        start: float = 0.0,
    ) -> None:
        self.device_id = device_id
        self.interval = interval
        self.backoff = backoff or Backoff(initial=interval, maximum=max(interval, TRIP_POLL_MAX_S))
        self.status: ExitStatus | None = None
        self.next_at = start
        self.stopped = False
        self._trouble = False

    @property
    def done(self) -> bool:
        """Stop asking: the trip is over, or the server refused this device."""
        return self.stopped or (self.status is not None and self.status.over)

    def delay(self, now: float) -> float | None:
        """Seconds until the next question (None: ask no more)."""
        return None if self.done else max(0.0, self.next_at - now)

    def answered(self, trip: Mapping[str, Any], now: float) -> list[Action]:
        self.backoff.reset()
        self.next_at = now + self.interval
        actions: list[Action] = []
        if self._trouble:
            self._trouble = False
            actions.append(Show(Result("exit", "trip status: the store answers again")))
        status = exit_status(trip)
        if status != self.status:
            self.status = status
            actions.append(Show(Result("exit", basket=status.basket, exit=status)))
        return actions

    def failed(self, now: float, reason: str, *, retry_after: float | None = None) -> list[Action]:
        """No answer (network down, server error, rate limited): ask again later."""
        delay = self.backoff.next_delay()
        if retry_after is not None:
            delay = max(delay, min(retry_after, TRIP_RETRY_AFTER_MAX_S))
        self.next_at = now + delay
        if self._trouble:
            return []
        self._trouble = True
        message = f"trip status: {reason}; asking again in {delay:.1f} s"
        return [Show(Result("exit", message, code=TRIP_UNAVAILABLE, exit=self.status))]

    def refused(self, status_code: int, message: str = "") -> list[Action]:
        """The server refuses this device's token (401) or its trips (403): asking again
        cannot help."""
        self.stopped = True
        why = f"HTTP {status_code}" + (f": {message}" if message else "")
        return [
            Fatal(
                f"the server refused device {self.device_id!r} the trip status ({why}): "
                "check --device and --token"
            )
        ]


class HandheldCore:
    """Outbox entries, sequence numbers, acks, reconnect state and what to send next."""

    def __init__(
        self,
        device_id: str,
        token: str,
        *,
        loyalty_card: str,
        pending: Iterable[Entry] = (),
        last_seq: int = 0,
        basket: Mapping[str, Any] | None = None,
        window: int = DEFAULT_WINDOW,
        absence_s: float = 0.5,
        source: str | None = None,
        resume: Cursor | None = None,
        rate_backoff: Backoff | None = None,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.device_id = device_id
        self.token = token
        self.loyalty_card = loyalty_card
        self.window = window
        self.new_id = new_id
        self.wall_clock = wall_clock
        self.state: LinkState = "offline"
        self.basket: Mapping[str, Any] | None = basket
        self.welcomed = False
        self.welcomed_once = False  # the server has told us the basket's state at least once
        self.start_failed: str | None = None
        self.errors = 0  # requests the server answered with a final error (shown, not retried)
        self.checkout: Mapping[str, Any] | None = None  # the audit, once the trip is finished
        self._offline_shown = False
        self._pending: dict[str, Entry] = {}
        self._unstored: set[str] = set()
        self._in_flight: set[str] = set()
        self._last_seq = last_seq
        for entry in sorted(pending, key=lambda e: e.seq):
            self._pending[entry.id] = entry
            self._last_seq = max(self._last_seq, entry.seq)
        self._paused_until = 0.0
        self._rate_backoff = rate_backoff or Backoff(initial=0.2, maximum=5.0)
        self._scanned: list[str] = []  # acked scan codes, newest last, for "remove last"
        # debounce, and a mirror of its memory so the cursor can carry it
        self.absence_s = absence_s
        self._debouncer = Debouncer(absence_s)
        self._seen: dict[str, float] = {}
        self._last_frame_time: float | None = None
        self.source = source
        self.frame_index = -1
        self.skip_through = -1
        if resume is not None and source is not None and resume.source == source:
            self.skip_through = resume.frame_index
            for key, at in sorted(resume.seen, key=lambda kv: kv[1]):
                self._debouncer.feed(at, [key])
                self._seen[key] = at
                self._last_frame_time = at

    # ---- what is queued ------------------------------------------------------------

    @property
    def pending(self) -> list[Entry]:
        """Entries not yet answered, in sequence order."""
        return sorted(self._pending.values(), key=lambda e: e.seq)

    @property
    def queued(self) -> int:
        """Scans and removes waiting for an answer (what the shopper is told)."""
        return sum(1 for e in self._pending.values() if e.type != "start")

    @property
    def idle(self) -> bool:
        """Nothing left to answer: every scan made so far is acknowledged."""
        return not self._pending

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def finished(self) -> bool:
        """The trip waits at the exit: the server answered our ``finish``, or its
        ``welcome`` names a finished basket (a handheld restarted at the exit). A basket
        kept from an earlier run does not count: it may have been paid since."""
        if self.checkout is not None:
            return True
        status = (self.basket or {}).get("status")
        return self.welcomed_once and status in LOCKED_STATUSES

    def _new_entry(self, kind: str, **fields: Any) -> Entry:
        self._last_seq += 1
        entry = Entry(self.new_id(), self._last_seq, kind, fields, self.wall_clock())
        self._pending[entry.id] = entry
        self._unstored.add(entry.id)
        return entry

    def stored(self, entries: Iterable[Entry]) -> None:
        """The adapter wrote these entries durably: they may now be sent."""
        for entry in entries:
            self._unstored.discard(entry.id)

    def _queued_notice(self, entries: Sequence[Entry]) -> list[Action]:
        if self.state == "online" or not entries:
            return []
        return [
            Show(
                Result(
                    "queued",
                    f"{self.state}: {self.queued} queued",
                    entry=entries[-1],
                )
            )
        ]

    # ---- scans from frames -------------------------------------------------------------

    def should_skip(self, frame_index: int) -> bool:
        """A resumed replayable source skips frames whose scans are already stored."""
        return frame_index <= self.skip_through

    def observe(
        self, time_s: float, sightings: Sequence[Sighting], *, frame_index: int | None = None
    ) -> list[Action]:
        """One decoded frame: new scans (debounced on frame time) become outbox entries."""
        self.frame_index = frame_index if frame_index is not None else self.frame_index + 1
        codes: dict[str, str] = {}
        for sighting in sightings:
            codes.setdefault(sighting.key, sighting.text)
        new = self._debouncer.feed(time_s, list(codes))
        if self._last_frame_time is not None and time_s < self._last_frame_time:
            self._seen.clear()  # the debouncer starts afresh too
        self._last_frame_time = time_s
        for key in codes:
            self._seen[key] = time_s
        for key in [k for k, t in self._seen.items() if time_s - t > self.absence_s]:
            del self._seen[key]
        if not new:
            return []
        entries = tuple(self._new_entry("scan", code=codes[k], qty=1) for k in new)
        cursor = None
        if self.source is not None:
            cursor = Cursor(self.source, self.frame_index, tuple(sorted(self._seen.items())))
        return [Persist(entries, cursor), *self._queued_notice(entries)]

    def scan(self, code: str, qty: int = 1) -> list[Action]:
        """A scan typed or injected without a frame (keypad entry, tests)."""
        entry = self._new_entry("scan", code=code, qty=qty)
        return [Persist((entry,)), *self._queued_notice([entry])]

    def finish(self) -> list[Action]:
        """The shopper is done: lock the basket for checkout (sent after everything queued)."""
        entry = self._new_entry("finish")
        return [Persist((entry,)), *self._queued_notice([entry])]

    def remove_last(self) -> list[Action]:
        """The shopper's "take the last item out": a ``remove`` of the last acked scan."""
        if not self._scanned:
            return [Show(Result("info", "nothing to remove"))]
        code = self._scanned.pop()
        entry = self._new_entry("remove", code=code, qty=1)
        return [Persist((entry,)), *self._queued_notice([entry])]

    # ---- connection lifecycle ----------------------------------------------------------

    def connecting(self) -> list[Action]:
        self.state = "connecting"
        return []

    def hello(self) -> dict[str, Any]:
        """The first frame on every new connection."""
        return {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "device_id": self.device_id,
            "token": self.token,
        }

    def disconnected(self, reason: str) -> list[Action]:
        """Everything in flight is unanswered: it goes out again on the next connection."""
        self.state = "offline"
        self._in_flight.clear()
        self.welcomed = False
        if self._offline_shown:
            return []  # one notice per outage, not one per retry
        self._offline_shown = True
        return [Show(Result("state", f"offline ({reason}): {self.queued} queued"))]

    # ---- replies -----------------------------------------------------------------------

    def receive(self, message: Mapping[str, Any], now: float) -> list[Action]:
        """One frame from the server."""
        kind = message.get("type")
        if kind == "welcome":
            return self._welcome(message)
        if kind in REPLY_TYPES:
            return self._answered(message)
        if kind == "error":
            return self._error(message, now)
        return [Show(Result("info", f"ignored an unexpected {str(kind)[:40]!r} message"))]

    def _welcome(self, message: Mapping[str, Any]) -> list[Action]:
        self.state = "online"
        self.welcomed = True
        self.welcomed_once = True
        self._offline_shown = False
        self._in_flight.clear()
        basket = message.get("basket")
        self.basket = basket if isinstance(basket, Mapping) else None
        actions: list[Action] = [
            SaveBasket(self.basket),
            Show(Result("state", f"online: {self.queued} queued", basket=self.basket)),
        ]
        starts = [e for e in self.pending if e.type == "start"]
        if self.basket is not None and self.basket.get("status") == "open":
            # the device already has its basket: a start still queued is moot
            for entry in starts:
                del self._pending[entry.id]
                self._unstored.discard(entry.id)
                actions.append(Forget(entry.id))
        elif self.basket is None and not starts:
            entry = self._new_entry("start", loyalty_card=self.loyalty_card)
            actions.append(Persist((entry,)))
        return actions

    def _answered(self, message: Mapping[str, Any]) -> list[Action]:
        rid = message.get("id")
        basket = message.get("basket")
        actions: list[Action] = []
        if isinstance(basket, Mapping):
            self.basket = basket
            actions.append(SaveBasket(basket))
        if not isinstance(rid, str):
            return actions
        self._in_flight.discard(rid)
        entry = self._pending.pop(rid, None)
        if entry is None:
            return actions  # a second answer to something already answered
        self._unstored.discard(rid)
        self._rate_backoff.reset()
        actions.append(Forget(rid))
        line = message.get("line")
        line = line if isinstance(line, Mapping) else None
        if entry.type == "start":
            self.start_failed = None
            actions.append(Show(Result("basket", "basket open", entry=entry, basket=self.basket)))
        elif entry.type == "finish":
            audit = message.get("audit")
            self.checkout = audit if isinstance(audit, Mapping) else {}
            actions.append(
                Show(Result("checkout", entry=entry, basket=self.basket, audit=self.checkout))
            )
        else:
            if entry.type == "scan" and entry.code is not None:
                self._scanned.append(entry.code)
            actions.append(Show(Result("ack", entry=entry, line=line, basket=self.basket)))
        return actions

    def _error(self, message: Mapping[str, Any], now: float) -> list[Action]:
        code = str(message.get("code", "error"))
        text = str(message.get("message", ""))
        rid = message.get("id")
        if code == "unauthorized":
            return [Fatal(f"the server refused device {self.device_id!r}: {text or code}")]
        entry = self._pending.get(rid) if isinstance(rid, str) else None
        if entry is None:
            return [Show(Result("error", text, code=code))]
        self._in_flight.discard(entry.id)
        if code == "rate_limited":
            delay = self._rate_backoff.next_delay()
            self._paused_until = max(self._paused_until, now + delay)
            return [Show(Result("retry", f"rate limited; resending in {delay:.1f} s", entry, code))]
        if code == "no_basket" and entry.type != "start" and self.start_failed is None:
            actions: list[Action] = [
                Show(Result("retry", "no open basket; starting one", entry, code))
            ]
            if not any(e.type == "start" for e in self._pending.values()):
                start = self._new_entry("start", loyalty_card=self.loyalty_card)
                actions.insert(0, Persist((start,)))
            return actions
        # the server's final answer (unknown product, invalid code, ...): show it, forget it
        del self._pending[entry.id]
        self._unstored.discard(entry.id)
        self.errors += 1
        if entry.type == "start":
            self.start_failed = text or code
        return [Forget(entry.id), Show(Result("error", text, entry, code))]

    # ---- what to send --------------------------------------------------------------------

    def next_wakeup(self, now: float) -> float | None:
        """When :meth:`pump` may have something new to send even without a new event."""
        if self.state == "online" and now < self._paused_until and self._sendable():
            return self._paused_until
        return None

    def _sendable(self) -> list[Entry]:
        entries = [e for e in self.pending if e.id not in self._unstored]
        # a start opens the basket every other request needs: it goes first
        return [e for e in entries if e.type == "start"] + [e for e in entries if e.type != "start"]

    def pump(self, now: float) -> list[dict[str, Any]]:
        """Frames to send now, oldest first, keeping at most ``window`` in flight."""
        if self.state != "online" or now < self._paused_until:
            return []
        out: list[dict[str, Any]] = []
        for entry in self._sendable():
            if entry.id in self._in_flight:
                if entry.type in BARRIER_TYPES:
                    break
                continue
            if len(self._in_flight) >= self.window:
                break
            if entry.type in BARRIER_TYPES and self._in_flight:
                break
            self._in_flight.add(entry.id)
            out.append(entry.message(self.wall_clock()))
            if entry.type in BARRIER_TYPES:
                break
        return out
