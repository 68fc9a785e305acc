"""The manager figures' rollup kept current in the background.

Each server process refreshes the hourly rollup every ``manager_rollup_interval_s``
seconds, so the console and the Prometheus gauges read hours that are already summed; a
page still refreshes before it reads (cheap when nothing changed: one indexed read), so
what it shows is never older than its request. Two processes refreshing the same hours
at once is harmless: the one that loses the race finds them current."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import IntegrityError

from store_server.manager import rollup
from store_server.periodic import start_repeating
from store_server.state import ServerState

log = logging.getLogger(__name__)


async def refresh_once(state: ServerState) -> None:
    try:
        await state.db.run(lambda s: rollup.refresh(s))
    except IntegrityError:  # another process rewrote the same hours first: they are current
        log.info("rollup refreshed by another process meanwhile")


def start_rollup_refresher(state: ServerState) -> asyncio.Task[None] | None:
    interval = state.settings.manager_rollup_interval_s
    if interval <= 0:
        return None
    return start_repeating(
        lambda: refresh_once(state), interval, "manager rollup refresh", "caddie-manager-rollup"
    )
