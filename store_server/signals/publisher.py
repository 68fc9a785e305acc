"""Publishes the anonymous store signals on the ``signals`` channel.

Two inputs, both from the event bus so that several server processes (Redis) agree:
the ``baskets`` channel (any basket change may move ``active_shoppers``) and the
store-internal ``store.scans`` channel of scan facts, written by :func:`note_scan` right
after a handheld's scan is acknowledged. Every scope is published at least every
``interval_s`` (heartbeat) and at once when its counts change, at most once per
``min_interval_s``.

With several server processes each one publishes the same aggregates; subscribers keep
the latest message per scope, so duplicates are harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from store_server.signals import service
from store_server.signals.config import SignalSettings
from store_server.signals.models import (
    ScanFact,
    Scope,
    SignalConfig,
    aggregate,
    counts_changed,
)
from store_server.state import ServerState
from store_server.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

SIGNALS_CHANNEL = "signals"
FACTS_CHANNEL = "store.scans"
BASKETS_CHANNEL = "baskets"


async def note_scan(
    state: ServerState,
    *,
    device_id: str,
    store_id: str,
    basket_id: str,
    category: str,
    qty: int,
    at: datetime | None = None,
) -> None:
    """Tell every publisher about one acknowledged scan (store-internal channel)."""
    await state.events.publish(
        FACTS_CHANNEL,
        {
            "store_id": store_id,
            "device_id": device_id,
            "token": service.basket_token(state.settings.secret_key, basket_id),
            "category": category,
            "qty": qty,
            "at": (at or utcnow()).isoformat(),
        },
    )


async def note_handheld_outcome(
    state: ServerState, device: Any, request: Any, outcome: Any
) -> None:
    """The handheld socket's hook: a fresh (not replayed) scan becomes a scan fact."""
    if outcome.replayed or outcome.event != "basket.scanned":
        return
    gtin = outcome.reply["line"]["gtin"]
    category = next(
        (line.category for line in reversed(outcome.lines or []) if line.gtin == gtin), None
    )
    if category is None or outcome.basket_id is None:
        return
    await note_scan(
        state,
        device_id=device.id,
        store_id=device.store_id,
        basket_id=outcome.basket_id,
        category=category,
        qty=int(request.fields.get("qty", 1)),
    )


class SignalPublisher:
    """Keeps the scan window and publishes aggregates; :meth:`tick` is one round."""

    def __init__(
        self,
        state: ServerState,
        settings: SignalSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.state = state
        self.settings = settings
        self.config = SignalConfig(
            active_minutes=settings.active_minutes,
            momentum_minutes=settings.momentum_minutes,
            min_count=settings.min_count,
            timezone=state.settings.timezone,
        )
        self.clock = clock
        self.window = service.ScanWindow(settings.momentum_minutes)
        self.last: dict[Scope, dict[str, object]] = {}
        self.last_sent: dict[Scope, datetime] = {}

    def fact_from_event(self, event: dict[str, Any]) -> ScanFact | None:
        try:
            return ScanFact(
                store_id=str(event["store_id"]),
                zone=self.settings.device_zones.get(str(event["device_id"])),
                token=str(event["token"]),
                category=str(event["category"]),
                qty=int(event["qty"]),
                at=as_utc(datetime.fromisoformat(str(event["at"]))),
            )
        except (KeyError, TypeError, ValueError):
            log.warning("signals: ignoring a malformed scan fact")
            return None

    async def warm_up(self) -> None:
        now = self.clock()
        since = now - timedelta(minutes=self.settings.momentum_minutes)

        def work(session: Session) -> list[ScanFact]:
            return service.recent_scans(
                session,
                since=since,
                device_zones=self.settings.device_zones,
                secret=self.state.settings.secret_key,
            )

        for fact in sorted(await self.state.db.run(work), key=lambda f: f.at):
            self.window.add(fact)

    async def tick(self, *, force: bool = False) -> list[dict[str, object]]:
        """Compute every scope and publish the ones that changed or are due; returns them."""
        now = self.clock()
        self.window.prune(now)
        since = now - timedelta(minutes=self.settings.active_minutes)
        zones = self.settings.device_zones
        secret = self.state.settings.secret_key

        def work(session: Session) -> tuple[list[Any], set[Scope]]:
            return (
                service.active_baskets(session, since=since, device_zones=zones, secret=secret),
                service.store_scopes(session, device_zones=zones),
            )

        active, scopes = await self.state.db.run(work)
        # The window keeps its momentum counts as facts come and go: a round costs the
        # scopes and categories, not the (possibly hundreds of thousands of) scans.
        messages = aggregate(
            active,
            (),
            scopes=scopes,
            now=now,
            config=self.config,
            momentum=self.window.momentum,
        )
        heartbeat = timedelta(seconds=self.settings.interval_s)
        sent: list[dict[str, object]] = []
        for message in messages:
            zone = message["zone"]
            scope = Scope(str(message["store_id"]), zone if isinstance(zone, str) else None)
            due = now - self.last_sent.get(scope, datetime.min.replace(tzinfo=now.tzinfo))
            if force or due >= heartbeat or counts_changed(self.last.get(scope), message):
                await self.state.events.publish(SIGNALS_CHANNEL, message)
                self.last[scope] = message
                self.last_sent[scope] = now
                sent.append(message)
        return sent

    async def run(self) -> None:
        """Publish until cancelled; a database hiccup skips a round, never stops signals."""
        wake = asyncio.Event()

        async def listen(channel: str) -> None:
            async with self.state.events.subscribe(channel) as queue:
                while True:
                    event = await queue.get()
                    if channel == FACTS_CHANNEL:
                        fact = self.fact_from_event(event)
                        if fact is None:
                            continue
                        self.window.add(fact)
                    wake.set()

        listeners = [asyncio.create_task(listen(c)) for c in (FACTS_CHANNEL, BASKETS_CHANNEL)]
        try:
            await asyncio.sleep(0)  # let the listeners subscribe before the first round
            try:
                await self.warm_up()
            except Exception as exc:
                log.warning("signals: warm-up failed (%s); momentum starts empty", exc)
            while True:
                try:
                    await self.tick()
                except Exception as exc:
                    log.warning("signals: round skipped (%s)", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=self.settings.interval_s)
                wake.clear()
                await asyncio.sleep(self.settings.min_interval_s)  # coalesce bursts of scans
        finally:
            for task in listeners:
                task.cancel()
            for task in listeners:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def start_signal_publisher(
    state: ServerState, settings: SignalSettings | None = None
) -> asyncio.Task[None] | None:
    """The app lifespan's hook: a background task, or None when signals are turned off."""
    settings = settings or state.settings.signals
    if not settings.enabled:
        return None
    return asyncio.create_task(SignalPublisher(state, settings).run(), name="store-signals")
