"""The trip status adapter: after ``finish``, asks ``GET /api/shop/trip`` (PROTOCOL.md,
"Shopper app API") with the device's bearer token, as the shopper app does, and hands
each outcome to the core's :class:`~handheld_client.core.ExitWatch`.

Only the staff at the exit release a basket to payment, and only the till marks it
paid; neither reaches the handheld over its socket, so the handheld asks. When to ask
and what an answer means are the core's; this module does the HTTP and the waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from handheld_client.core import Action, ExitWatch
from handheld_client.link import Execute, http_url

TRIP_PATH = "/api/shop/trip"
REQUEST_TIMEOUT_S = 10.0
MAX_REPLY_BYTES = 1 << 20


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as seconds from now."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = email.utils.parsedate_to_datetime(text)
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return None


def _error_message(reply: httpx.Response) -> str:
    """The server's ``{"error": {"message"}}``, if the reply carries one."""
    with contextlib.suppress(ValueError):
        body = reply.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return str(body["error"].get("message", ""))[:200]
    return ""


def _reason(exc: httpx.HTTPError) -> str:
    """A short, human reason for a failed request (no traceback, no secrets)."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    cause: BaseException | None = exc
    while cause is not None:  # httpx wraps the socket's own error
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})" if str(exc) else "cannot connect"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class TripPoller:
    """Asks for the trip status whenever the watch says, until it says to stop."""

    def __init__(
        self,
        socket_url: str,
        token: str,
        watch: ExitWatch,
        execute: Execute,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.url = http_url(socket_url, TRIP_PATH)
        self.token = token
        self.watch = watch
        self.execute = execute
        self.clock = clock
        self.timeout = timeout

    async def run(self) -> None:
        """Ask, wait, ask again (until the trip is over, the token refused, or cancelled)."""
        # The same trust as the socket: the system's certificate store (and SSL_CERT_FILE).
        async with httpx.AsyncClient(
            timeout=self.timeout,
            verify=ssl.create_default_context(),
            headers={"Authorization": f"Bearer {self.token}", "Cache-Control": "no-store"},
        ) as client:
            while (delay := self.watch.delay(self.clock())) is not None:
                if delay > 0:
                    await asyncio.sleep(delay)
                self.execute(await self.ask(client))

    async def ask(self, client: httpx.AsyncClient) -> list[Action]:
        """One question; what it means for the shopper."""
        try:
            reply = await client.get(self.url)
        except httpx.HTTPError as exc:
            return self.watch.failed(self.clock(), _reason(exc))
        now = self.clock()
        if reply.status_code in (401, 403):
            return self.watch.refused(reply.status_code, _error_message(reply))
        if reply.status_code == 429:
            wait = retry_after_s(reply.headers.get("retry-after"))
            return self.watch.failed(now, "rate limited by the store", retry_after=wait)
        if reply.status_code != 200:
            message = _error_message(reply)
            reason = f"HTTP {reply.status_code}" + (f" ({message})" if message else "")
            return self.watch.failed(now, reason)
        trip: Any = None
        if len(reply.content) <= MAX_REPLY_BYTES:
            with contextlib.suppress(ValueError):
                trip = reply.json()
        if not isinstance(trip, dict):
            return self.watch.failed(now, "the reply is not a trip status")
        return self.watch.answered(trip, now)
