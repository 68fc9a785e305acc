"""Simulated handhelds for the fault tests: the real sans-I/O core and WebSocket link of
``handheld_client``, with the outbox kept in memory (the process under test is the
server, not the handheld) and a link that goes round the server URLs on each reconnect,
as a handheld behind a dumb load balancer would."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from handheld_client.core import Action, Backoff, Fatal, HandheldCore, Persist, Show
from handheld_client.link import Link, LinkFatal


class RoundRobinLink(Link):
    """Each new connection goes to the next URL; remembers why connections ended."""

    def __init__(self, urls: Sequence[str], first: int, *args: object, **kwargs: object) -> None:
        super().__init__(urls[0], *args, **kwargs)  # type: ignore[arg-type]
        self.urls = list(urls)
        self.turn = first
        self.ends: list[str] = []

    async def _one_connection(self) -> str:
        self.url = self.urls[self.turn % len(self.urls)]
        self.turn += 1
        reason = await super()._one_connection()
        self.ends.append(reason)
        return reason


@dataclass
class SimHandheld:
    device_id: str
    token: str
    urls: Sequence[str]
    first: int = 0
    window: int = 4
    scanned: Counter[str] = field(default_factory=Counter)
    acked: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.core = HandheldCore(
            self.device_id, self.token, loyalty_card=f"L-{self.device_id}", window=self.window
        )
        backoff = Backoff(initial=0.05, maximum=0.5, rng=random.Random(self.device_id))
        self.link = RoundRobinLink(
            self.urls, self.first, self.core, self.execute, backoff=backoff, open_timeout=3.0
        )

    def execute(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, Persist):
                self.core.stored(action.entries)  # "durable" at once: memory is enough here
                self.link.wake.set()
            elif isinstance(action, Fatal):
                raise LinkFatal(action.message)
            elif isinstance(action, Show):
                result = action.result
                if result.kind == "ack" and result.entry is not None:
                    self.acked += result.entry.type == "scan"
                elif result.kind == "error":
                    self.errors.append(f"{result.code}: {result.message}")

    def scan(self, code: str) -> None:
        self.execute(self.core.scan(code))
        self.scanned[code] += 1

    @property
    def done(self) -> bool:
        return self.core.idle and self.core.welcomed_once

    @property
    def close_codes(self) -> Counter[str]:
        return Counter(end for end in self.link.ends if end.startswith("closed"))


async def stream(
    fleet: Sequence[SimHandheld],
    codes: Sequence[str],
    *,
    scans_each: int,
    pace_s: float,
    seed: int,
    midway: asyncio.Event | None = None,
    settle_timeout: float = 90.0,
) -> None:
    """Every handheld scans ``scans_each`` random codes, one every ``pace_s`` seconds;
    ``midway`` is set once half the scans are made. Returns once every scan is answered
    (or raises TimeoutError after ``settle_timeout`` seconds)."""
    rng = random.Random(seed)
    plans = [[rng.choice(codes) for _ in range(scans_each)] for _ in fleet]
    links = [asyncio.create_task(h.link.run()) for h in fleet]

    async def one(handheld: SimHandheld, plan: list[str], offset: float) -> None:
        await asyncio.sleep(offset)
        for code in plan:
            handheld.scan(code)
            await asyncio.sleep(pace_s)

    async def half() -> None:
        while midway is not None:
            made = sum(sum(h.scanned.values()) for h in fleet)
            if made >= len(fleet) * scans_each // 2:
                midway.set()
                return
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(half())
    try:
        await asyncio.gather(
            *(one(h, p, rng.uniform(0, pace_s)) for h, p in zip(fleet, plans, strict=True))
        )
        async with asyncio.timeout(settle_timeout):
            while not all(h.done for h in fleet):
                for link in links:
                    if link.done():
                        link.result()  # a LinkFatal surfaces here
                await asyncio.sleep(0.05)
    finally:
        watcher.cancel()
        for link in links:
            link.cancel()
        for task in (*links, watcher):
            with contextlib.suppress(asyncio.CancelledError, LinkFatal):
                await task
