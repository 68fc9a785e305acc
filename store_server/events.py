"""Live events (basket changes, store signals) for consoles and signage.

In-process fan-out by default; with ``CADDIE_PUBSUB_URL=redis://...`` events also cross
processes through Redis pub/sub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def _deliver(self, channel: str, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(channel, ())):
            if queue.full():  # a slow console loses old events, never blocks the scan path
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        self._deliver(channel, event)

    def publish_threadsafe(self, channel: str, event: dict[str, Any]) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._deliver, channel, event)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.setdefault(channel, set()).add(queue)
        try:
            yield queue
        finally:
            self._subscribers[channel].discard(queue)

    async def start(self) -> None:
        self.bind(asyncio.get_running_loop())

    async def stop(self) -> None:
        return None


class RedisEventBus(EventBus):
    """Publishes through Redis so every server process's subscribers see every event."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._task: asyncio.Task[None] | None = None
        self._redis: Any = None

    async def start(self) -> None:
        import redis.asyncio as aioredis

        await super().start()
        self._redis = aioredis.from_url(self._url)
        self._task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        import redis.asyncio as aioredis

        while True:
            try:
                client = aioredis.from_url(self._url)
                pubsub = client.pubsub()
                await pubsub.psubscribe("caddie:*")
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel = message["channel"].decode()[len("caddie:") :]
                    self._deliver(channel, json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting: retry, keep serving scans
                log.warning("event bus: redis unavailable (%s); retrying", exc)
                await asyncio.sleep(1)

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        try:
            await self._redis.publish("caddie:" + channel, json.dumps(event, default=str))
        except Exception as exc:
            log.warning("event bus: publish failed (%s); delivering locally", exc)
            self._deliver(channel, event)

    def publish_threadsafe(self, channel: str, event: dict[str, Any]) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self.publish(channel, event), self._loop)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()


def make_event_bus(url: str | None) -> EventBus:
    if url and url.startswith(("redis://", "rediss://")):
        return RedisEventBus(url)
    return EventBus()
