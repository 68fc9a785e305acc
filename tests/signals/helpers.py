"""Shared by the signal and offer tests: catalog items, trips, and a channel collector."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from fastapi.testclient import TestClient

from tests.store_server.factories import COFFEE_ITEM, MILK_ITEM, Item, gtin14
from tests.store_server.wsclient import Handheld

TEA_ITEM = Item(gtin14("0301234500001"), "Green tea 20 bags", "tea", 259)
BISCUITS_ITEM = Item(gtin14("0301234500002"), "Butter biscuits", "biscuits", 189)
SIGNAL_ITEMS = (COFFEE_ITEM, MILK_ITEM, TEA_ITEM, BISCUITS_ITEM)


def ean13(item: Item) -> str:
    return item.gtin[1:]


def card(n: int) -> str:
    return f"LOYAL-{n:04d}"


@contextmanager
def collect(client: TestClient, channel: str) -> Iterator[list[dict[str, Any]]]:
    """Every message published on ``channel`` of the app's event bus while inside."""
    sink: list[dict[str, Any]] = []
    ready, stop = threading.Event(), threading.Event()
    events = client.app.state.caddie.events  # type: ignore[attr-defined]

    async def run() -> None:
        async with events.subscribe(channel) as queue:
            ready.set()
            while not stop.is_set():
                with suppress(TimeoutError):
                    sink.append(await asyncio.wait_for(queue.get(), 0.02))

    assert client.portal is not None
    future = client.portal.start_task_soon(run)
    assert ready.wait(10)
    try:
        yield sink
    finally:
        stop.set()
        future.result(10)


def wait_for(condition: Callable[[], bool], *, timeout: float = 15.0) -> None:
    """Wait until ``condition()`` holds (a background task has to catch up); fail after
    a generous ``timeout``: correctness, not speed, is what the callers test."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def hello(ws: Any, device: str, token: str, **extra: Any) -> Handheld:
    hh = Handheld(ws)
    reply = hh.send({"type": "hello", "protocol": 1, "device_id": device, "token": token, **extra})
    assert reply["type"] == "welcome", reply
    return hh
