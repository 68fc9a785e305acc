"""Background work a server process repeats while it runs (basket expiry, the manager
rollup): one loop that survives a database outage and stops when its task is cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def repeat(work: Callable[[], Awaitable[object]], interval_s: float, what: str) -> None:
    """Run ``work``, then wait ``interval_s``, for ever; a failure is logged and retried."""
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s failed (%s); retrying", what, exc)
        await asyncio.sleep(interval_s)


def start_repeating(
    work: Callable[[], Awaitable[object]], interval_s: float, what: str, name: str
) -> asyncio.Task[None]:
    return asyncio.create_task(repeat(work, interval_s, what), name=name)
