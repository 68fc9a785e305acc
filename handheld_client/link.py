"""The WebSocket adapter: carries the core's frames to ``/ws/handheld`` and back.

Retry/fatal split: a refused token (``unauthorized`` error, close code 4401) ends the
run with :class:`LinkFatal`; everything else (refused or reset connections, close
1011/1012/1013, timeouts, a proxy's 502) means "offline: reconnect after a jittered,
growing delay". The loop is written out rather than using ``websockets``'
``async for ws in connect(...)`` iterator because that iterator resets its backoff as
soon as a connection opens: a server that accepts and then closes with 1013
(database down) would be hammered, and its delays are module-level environment
settings where tests need a per-run parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from handheld_client.core import Action, Backoff, HandheldCore, close_is_fatal

WS_PATH = "/ws/handheld"
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


class LinkFatal(Exception):
    """Reconnecting cannot help (the server refuses this device's token)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def websocket_url(server: str) -> str:
    """``ws://h:p``, ``http://h:p`` or ``h:p``, with or without the path -> the socket URL."""
    text = server.strip()
    if "://" not in text:
        text = "ws://" + text
    parts = urlsplit(text)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"{server!r}: the server URL must start with ws://, wss://, http(s)://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{server!r}: the port is not a number") from None
    if not parts.hostname:
        raise ValueError(f"{server!r}: the server URL has no host")
    del port
    path = parts.path.rstrip("/")
    if not path.endswith(WS_PATH):
        path += WS_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def http_url(socket_url: str, path: str) -> str:
    """The store server's HTTP address for ``path``, from the socket URL
    :func:`websocket_url` made: ``wss://h/store/ws/handheld`` → ``https://h/store`` + path.

    The same host, port and path prefix as the socket, so a handheld behind a reverse
    proxy reaches the server's HTTP API the way it reaches its socket."""
    parts = urlsplit(socket_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    prefix = parts.path.removesuffix(WS_PATH).rstrip("/")
    return urlunsplit((scheme, parts.netloc, prefix + path, "", ""))


Execute = Callable[[Sequence[Action]], None]


class Link:
    """Keeps one device connected, resending what the core says is pending.

    ``execute`` carries out the core's actions (outbox writes, screen updates) and
    raises :class:`LinkFatal` for a ``Fatal`` action. ``wake`` is set by whoever
    gives the core something new to send (a scan, a remove).
    """

    def __init__(
        self,
        url: str,
        core: HandheldCore,
        execute: Execute,
        *,
        backoff: Backoff | None = None,
        open_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.core = core
        self.execute = execute
        self.backoff = backoff or Backoff()
        self.open_timeout = open_timeout
        self.clock = clock
        self.wake = asyncio.Event()

    async def run(self) -> None:
        """Connect, talk, and reconnect forever (until cancelled or fatal)."""
        while True:
            self.execute(self.core.connecting())
            reason = await self._one_connection()
            self.execute(self.core.disconnected(reason))
            await asyncio.sleep(self.backoff.next_delay())

    async def _one_connection(self) -> str:
        """One connection's life; returns why it ended (raises LinkFatal if for good)."""
        try:
            async with connect(
                self.url,
                open_timeout=self.open_timeout,
                ping_interval=5,
                ping_timeout=5,
                close_timeout=2,
                max_size=2**20,
            ) as ws:
                await ws.send(json.dumps(self.core.hello()))
                await self._talk(ws)
            code = ws.close_code
            if close_is_fatal(code):
                raise LinkFatal(
                    f"the server refused device {self.core.device_id!r} (close {code}): "
                    "check --device and --token"
                )
            return f"closed {code}" if code is not None else "connection closed"
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            if close_is_fatal(code):
                raise LinkFatal(
                    f"the server refused device {self.core.device_id!r} (close {code}): "
                    "check --device and --token"
                ) from None
            return f"closed {code}" if code is not None else "connection lost"
        except ConnectionRefusedError:
            return "connection refused"
        except ConnectionResetError:
            return "connection reset"
        except TimeoutError:
            return "timed out"
        except InvalidURI as exc:
            raise LinkFatal(f"bad server URL: {exc}") from None
        except InvalidHandshake as exc:
            return f"handshake failed: {exc}"
        except OSError as exc:
            return exc.strerror or type(exc).__name__

    async def _talk(self, ws: ClientConnection) -> None:
        reader = asyncio.create_task(self._read(ws))
        writer = asyncio.create_task(self._write(ws))
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
        for task in done:
            task.result()  # re-raise what ended the connection

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                message: Any = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            actions = self.core.receive(message, self.clock())
            if message.get("type") == "welcome":
                self.backoff.reset()
            self.execute(actions)
            self.wake.set()

    async def _write(self, ws: ClientConnection) -> None:
        while True:
            self.wake.clear()
            for frame in self.core.pump(self.clock()):
                await ws.send(json.dumps(frame, separators=(",", ":")))
            wakeup = self.core.next_wakeup(self.clock())
            timeout = None if wakeup is None else max(0.0, wakeup - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
