"""Feeds the ``signals`` channel into a :class:`SignalBoard`; the loop API reads it.

The signage app runs one subscriber task per process on the same event bus as the
store server (in-process when mounted by ``caddie serve``; Redis pub/sub when
``CADDIE_PUBSUB_URL`` is set, whichever process the stores are served by).

Screens switch within one loop of a signal change when the loop endpoint builds
each loop with ``signals=current_signals(store_ids)`` *at request time* and the player
fetches loop n+1 late in loop n (during its last slot), not further ahead: a change
that arrives before that fetch shows in loop n+1, one after it in loop n+2, so the
delay is at most one loop plus the player's fetch lead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from signage.signals.board import SignalBoard

log = logging.getLogger(__name__)

SIGNALS_CHANNEL = "signals"
DEFAULT_BOARD = SignalBoard()
"""The board of this process: filled by :func:`start_signal_subscriber`."""


class _Bus(Protocol):
    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[asyncio.Queue[dict[str, object]]]: ...


async def run_signal_subscriber(events: _Bus, board: SignalBoard = DEFAULT_BOARD) -> None:
    """Ingest every message on ``signals`` until cancelled."""
    async with events.subscribe(SIGNALS_CHANNEL) as queue:
        while True:
            message = await queue.get()
            if not board.ingest(message):
                log.debug("signals: dropped a malformed message")


def start_signal_subscriber(events: _Bus, board: SignalBoard = DEFAULT_BOARD) -> asyncio.Task[None]:
    """Start the subscriber in the running event loop (signage app lifespan)."""
    return asyncio.create_task(run_signal_subscriber(events, board), name="signage-signals")


def current_signals(
    store_ids: Iterable[str] | None = None,
    *,
    at: datetime | None = None,
    board: SignalBoard = DEFAULT_BOARD,
) -> Mapping[str, float]:
    """The ``signals`` mapping for ``build_loop`` (keys: ``signage.scheduling.signal_rules``)."""
    return board.current_signals(store_ids, at=at)
