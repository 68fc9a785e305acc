"""The trip status adapter (handheld_client/trip.py) against a small real HTTP server on
127.0.0.1 that answers from a script: how a 429 with Retry-After, a server error and a
reply that is not JSON are taken, and that the device token goes as a bearer token.
The whole exit against ``caddie serve`` is test_handheld_exit.py."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from handheld_client.core import Action, ExitWatch, Fatal, Show
from handheld_client.link import LinkFatal
from handheld_client.trip import TripPoller, retry_after_s

Reply = tuple[int, dict[str, str], bytes]


def trip(status: str, code: str | None = None) -> Reply:
    body = {
        "basket": {"basket_id": "B-1", "status": status, "total_cents": 100, "currency": "EUR"},
        "status": status,
        "audit": None,
        "handoff_code": code,
        "handoff_payload": None,
        "receipt_url": None,
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


class ScriptedStore:
    """Answers each request with the next scripted reply; notes when and how it was asked."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.asked: list[tuple[float, str, str]] = []  # (time, path, authorization)
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                store.asked.append(
                    (time.monotonic(), self.path, self.headers.get("Authorization", ""))
                )
                status, headers, body = store.replies.pop(0) if store.replies else trip("paid")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def socket_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.server_address[1]}/ws/handheld"


@pytest.fixture
def scripted() -> Iterator[Any]:
    made: list[ScriptedStore] = []

    def make(replies: list[Reply]) -> ScriptedStore:
        store = ScriptedStore(replies)
        store.thread.start()
        made.append(store)
        return store

    yield make
    for store in made:
        store.server.shutdown()
        store.server.server_close()


def follow(store: ScriptedStore, *, interval: float = 0.05) -> tuple[ExitWatch, list[str]]:
    """Run the poller to the end of the trip; what it showed, one line per notice."""
    watch = ExitWatch("H-1", interval=interval)
    shown: list[str] = []

    def execute(actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, Show):
                status = action.result.exit
                shown.append(action.result.message or (status.stage if status else "?"))
            elif isinstance(action, Fatal):
                raise LinkFatal(action.message)

    poller = TripPoller(store.socket_url, "secret-token", watch, execute)
    asyncio.run(asyncio.wait_for(poller.run(), 30))
    return watch, shown


def test_a_429_is_waited_out_for_its_retry_after(scripted: Any) -> None:
    store = scripted(
        [trip("finishing"), (429, {"Retry-After": "1"}, b"{}"), trip("finishing", "C0DE")]
    )
    watch, shown = follow(store)
    assert shown == [
        "next",
        "trip status: rate limited by the store; asking again in 1.0 s",
        "trip status: the store answers again",
        "handoff",
        "paid",
    ]
    times = [at for at, _, _ in store.asked]
    assert times[2] - times[1] >= 1.0  # not the 0.05 s pace
    assert all(path == "/api/shop/trip" for _, path, _ in store.asked)
    assert {auth for _, _, auth in store.asked} == {"Bearer secret-token"}
    assert watch.done


def test_server_errors_and_garbage_are_retried_not_fatal(scripted: Any) -> None:
    store = scripted(
        [
            (503, {"Content-Type": "application/json"}, b'{"error": {"message": "busy"}}'),
            (200, {"Content-Type": "application/json"}, b"not json"),
            (200, {"Content-Type": "application/json"}, b"[1, 2]"),
            trip("abandoned"),
        ]
    )
    watch, shown = follow(store)
    assert shown[0].startswith("trip status: HTTP 503 (busy); asking again in ")
    assert shown[1:] == ["trip status: the store answers again", "closed"]
    assert watch.done and len(store.asked) == 4


def test_a_refused_token_stops_asking(scripted: Any) -> None:
    body = b'{"error": {"code": "unauthorized", "message": "unknown or revoked device token"}}'
    store = scripted([trip("finishing"), (401, {"Content-Type": "application/json"}, body)])
    with pytest.raises(LinkFatal) as refused:
        follow(store)
    assert "(HTTP 401: unknown or revoked device token)" in refused.value.message
    assert len(store.asked) == 2


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    assert retry_after_s("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0) == 60.0
    assert retry_after_s("Thu, 01 Jan 1970 00:00:10 GMT", now=40.0) == 0.0  # already past
