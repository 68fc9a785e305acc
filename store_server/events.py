"""Live events (basket changes, store signals) for consoles and signage.

In-process fan-out by default. Several server processes on one database share their
events through a broker chosen by ``CADDIE_PUBSUB_URL``:

* ``redis://host:port/db`` - Redis pub/sub;
* ``postgresql://...`` - PostgreSQL ``LISTEN``/``NOTIFY`` (no extra service to run).

An optional ``channel_prefix`` query parameter (``redis://h/0?channel_prefix=store-12``)
keeps stores that share one Redis apart; it defaults to ``caddie``.

Why publishing never waits for the broker: a scan is acknowledged once it is committed;
the live event after it is a courtesy to the consoles. ``publish`` puts the event in a
bounded queue that one task forwards (in batches) to the broker, so a slow or restarting
broker costs the scan path nothing. While the broker is unreachable, events are delivered
to this process's own subscribers (degraded, not dead), ``/readyz`` says so, and the
listener reconnects by itself. Events published by other processes during an outage are
not replayed: consoles reload the queue when they reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
OUTGOING_SIZE = 10_000
BATCH = 256
RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0
PING_TIMEOUT_S = 2.0
# NOTIFY payloads are limited to 8000 bytes by PostgreSQL.
NOTIFY_MAX_BYTES = 7900


class EventBus:
    """In-process fan-out: every subscriber of a channel gets every event, in order."""

    name = "memory"

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

    async def ping(self) -> None:
        """Raise if events cannot currently cross processes (readiness)."""
        return None


def split_prefix(url: str) -> tuple[str, str]:
    """``(url without channel_prefix, prefix)``: the broker clients reject unknown options."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = "caddie"
    kept = []
    for key, value in query:
        if key == "channel_prefix":
            prefix = value or prefix
        else:
            kept.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), prefix


class BrokerEventBus(EventBus):
    """Common machinery of the broker-backed buses: an outgoing queue forwarded by one
    task, a listener that reconnects with growing delays, and a health flag."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url, self.prefix = split_prefix(url)
        self._outgoing: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(OUTGOING_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = False  # subscribed and receiving
        self.publishing = False  # the last batch reached the broker
        self.last_error: str | None = None
        self.dropped = 0

    # ---- what a broker implements -------------------------------------------------------

    async def _open_publisher(self) -> None:
        raise NotImplementedError

    async def _close_publisher(self) -> None:
        raise NotImplementedError

    async def _send(self, batch: list[tuple[str, str]]) -> None:
        raise NotImplementedError

    async def _listen_once(self) -> None:
        """Subscribe and deliver until the connection fails (raise) or is cancelled."""
        raise NotImplementedError

    async def _ping_broker(self) -> None:
        raise NotImplementedError

    # ---- shared ----------------------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        self._tasks = [
            asyncio.create_task(self._forward(), name="caddie-events-publish"),
            asyncio.create_task(self._listen(), name="caddie-events-listen"),
        ]

    async def stop(self) -> None:
        await self._flush(timeout=2.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._close_publisher()

    async def _flush(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._outgoing.empty() and self.publishing and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        if self._outgoing.full():
            self.dropped += 1
            with contextlib.suppress(asyncio.QueueEmpty):
                self._outgoing.get_nowait()
        self._outgoing.put_nowait((channel, event))

    def publish_threadsafe(self, channel: str, event: dict[str, Any]) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._outgoing_put, channel, event)

    def _outgoing_put(self, channel: str, event: dict[str, Any]) -> None:
        if self._outgoing.full():
            self.dropped += 1
            with contextlib.suppress(asyncio.QueueEmpty):
                self._outgoing.get_nowait()
        self._outgoing.put_nowait((channel, event))

    async def _forward(self) -> None:
        delay = RETRY_MIN_S
        while True:
            first = await self._outgoing.get()
            batch = [first]
            while len(batch) < BATCH and not self._outgoing.empty():
                batch.append(self._outgoing.get_nowait())
            encoded = [(c, json.dumps(e, default=str, separators=(",", ":"))) for c, e in batch]
            try:
                if not self.publishing:
                    await self._open_publisher()
                await self._send(encoded)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Degraded: this process's consoles still see its own events.
                for channel, event in batch:
                    self._deliver(channel, event)
                if self.publishing or self.last_error is None:
                    log.warning(
                        "event bus (%s): publishing failed (%s); delivering locally until "
                        "the broker is back",
                        self.name,
                        _short(exc),
                    )
                self.publishing = False
                self.last_error = _short(exc)
                with contextlib.suppress(Exception):
                    await self._close_publisher()
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_S, delay * 2)
                continue
            if not self.publishing:
                log.info("event bus (%s): publishing to the broker", self.name)
            self.publishing = True
            delay = RETRY_MIN_S

    async def _listen(self) -> None:
        delay = RETRY_MIN_S
        while True:
            try:
                await self._listen_once()
                raise ConnectionError("the broker closed the subscription")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.listening:
                    log.warning(
                        "event bus (%s): subscription lost (%s); reconnecting",
                        self.name,
                        _short(exc),
                    )
                self.listening = False
                self.last_error = _short(exc)
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_S, delay * 2)

    def _subscribed(self) -> None:
        """Called by ``_listen_once`` once it receives: resets the health flag."""
        if not self.listening:
            log.info("event bus (%s): subscribed", self.name)
        self.listening = True

    def _incoming(self, channel: str, payload: str | bytes) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            log.warning("event bus (%s): ignored a malformed event on %s", self.name, channel)
            return
        if isinstance(event, dict):
            self._deliver(channel, event)

    async def ping(self) -> None:
        if not self.listening:
            raise ConnectionError(f"not subscribed to the broker ({self.last_error or 'starting'})")
        await asyncio.wait_for(self._ping_broker(), PING_TIMEOUT_S)


class RedisEventBus(BrokerEventBus):
    """Redis pub/sub: channel ``<prefix>:<channel>``, one pattern subscription."""

    name = "redis"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._redis: Any = None

    def _client(self) -> Any:
        import redis.asyncio as aioredis

        return aioredis.from_url(
            self.url,
            socket_connect_timeout=2,
            socket_timeout=5,
            socket_keepalive=True,
            retry_on_timeout=False,
        )

    async def _open_publisher(self) -> None:
        if self._redis is None:
            self._redis = self._client()

    async def _close_publisher(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    async def _send(self, batch: list[tuple[str, str]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, payload in batch:
                pipe.publish(f"{self.prefix}:{channel}", payload)
            await pipe.execute()

    async def _listen_once(self) -> None:
        client = self._client()
        pubsub = client.pubsub(ignore_subscribe_messages=False)
        start = len(self.prefix) + 1
        try:
            await pubsub.psubscribe(f"{self.prefix}:*")
            while True:
                # A timeout, then a PING: a silently dead connection is noticed too.
                message = await pubsub.get_message(timeout=5.0)
                if message is None:
                    await asyncio.wait_for(pubsub.ping(), PING_TIMEOUT_S)
                    continue
                kind = message.get("type")
                if kind == "psubscribe":
                    self._subscribed()
                elif kind == "pmessage":
                    channel = message["channel"]
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    self._incoming(channel[start:], message["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _ping_broker(self) -> None:
        await self._open_publisher()
        await self._redis.ping()


class PostgresEventBus(BrokerEventBus):
    """PostgreSQL ``LISTEN``/``NOTIFY`` on one channel named after the prefix; the
    payload carries the event's own channel. NOTIFY is transactional, so it is sent in
    autocommit mode on a connection of its own."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        if self.url.startswith("postgresql+psycopg://"):
            self.url = "postgresql://" + self.url[len("postgresql+psycopg://") :]
        self._conn: Any = None

    async def _connect(self) -> Any:
        import psycopg

        return await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=3, application_name="caddie-events"
        )

    async def _open_publisher(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()

    async def _close_publisher(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _send(self, batch: list[tuple[str, str]]) -> None:
        rows = []
        for channel, payload in batch:
            envelope = json.dumps({"c": channel, "e": payload}, separators=(",", ":"))
            if len(envelope.encode()) > NOTIFY_MAX_BYTES:
                log.warning(
                    "event bus (postgresql): an event of %d bytes is too big for NOTIFY; "
                    "delivered locally only",
                    len(envelope),
                )
                self._deliver(channel, json.loads(payload))
                continue
            rows.append((self.prefix, envelope))
        if rows:
            async with self._conn.cursor() as cur:
                await cur.executemany("SELECT pg_notify(%s, %s)", rows)

    async def _listen_once(self) -> None:
        from psycopg import sql

        conn = await self._connect()
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.prefix)))
            self._subscribed()
            while True:
                async for notify in conn.notifies(timeout=5.0):
                    self._incoming_envelope(notify.payload)
                # no traffic for a while: make sure the connection is still alive
                await asyncio.wait_for(conn.execute("SELECT 1"), PING_TIMEOUT_S)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    def _incoming_envelope(self, payload: str) -> None:
        try:
            envelope = json.loads(payload)
            channel, inner = envelope["c"], envelope["e"]
        except (ValueError, KeyError, TypeError):
            log.warning("event bus (postgresql): ignored a malformed notification")
            return
        self._incoming(str(channel), inner)

    async def _ping_broker(self) -> None:
        await self._open_publisher()
        await self._conn.execute("SELECT 1")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def make_event_bus(url: str | None) -> EventBus:
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        return RedisEventBus(url)
    if url and url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        return PostgresEventBus(url)
    if url:
        from store_server.shared.errors import ConfigurationError

        raise ConfigurationError(
            "CADDIE_PUBSUB_URL must start with redis://, rediss:// or postgresql://"
        )
    return EventBus()
