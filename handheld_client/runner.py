"""Glue: frame source -> decoder -> debounce (core) -> durable outbox -> WebSocket link.

The only place that owns clocks, threads and files for the handheld. Decoding runs in
a worker thread so the socket keeps being served while a frame is read; every core
call happens on the event loop, so the core needs no locks.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handheld_client.core import (
    TRIP_POLL_S,
    Action,
    Backoff,
    ExitWatch,
    Fatal,
    Forget,
    HandheldCore,
    Persist,
    SaveBasket,
    Show,
)
from handheld_client.link import Link, LinkFatal
from handheld_client.outbox import Outbox
from handheld_client.trip import TripPoller
from handheld_client.ui import Screen, exit_text, summary_line

EXIT_OK = 0
EXIT_PENDING = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_ERRORS = 4  # every scan answered, but the server refused at least one (shown, not retried)

POLL_S = 0.05


@dataclass
class HandheldConfig:
    url: str
    device_id: str
    token: str
    source: str
    loyalty_card: str
    outbox_path: Path
    symbologies: tuple[str, ...]
    live: bool
    timeout: float | None = None
    frame_interval: float = 0.0
    window: int = 16
    backoff: Backoff = field(default_factory=Backoff)
    finish: bool = False
    # After finish, follow the trip to payment (a camera always does; a file or folder
    # source only when asked, so a scripted run never waits on a person).
    wait_paid: bool = False
    trip_poll_s: float = TRIP_POLL_S


def backoff_from_env() -> Backoff:
    """Reconnect delays; ``CADDIE_HANDHELD_BACKOFF_INITIAL``/``_MAX`` shorten them in tests."""
    initial = float(os.environ.get("CADDIE_HANDHELD_BACKOFF_INITIAL", "0.5"))
    maximum = float(os.environ.get("CADDIE_HANDHELD_BACKOFF_MAX", "15"))
    return Backoff(initial=initial, maximum=max(initial, maximum))


def trip_poll_from_env() -> float:
    """Seconds between trip status questions; ``CADDIE_HANDHELD_TRIP_POLL_S`` shortens
    them in tests (never below 0.1 s)."""
    return max(0.1, float(os.environ.get("CADDIE_HANDHELD_TRIP_POLL_S", str(TRIP_POLL_S))))


def source_identity(spec: str, live: bool) -> str | None:
    """What the outbox cursor is keyed on: a file or folder's absolute path; None for cameras."""
    if live:
        return None
    if spec.startswith("synthetic:"):
        return spec
    return str(Path(spec).resolve())


class Outcome(Exception):
    """Ends the run with an exit code and a message (raised inside the event loop)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class HandheldRun:
    def __init__(
        self,
        config: HandheldConfig,
        outbox: Outbox,
        frames: Iterator[Any],
        decoder: Any,
        screen_factory: Any,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.frames = frames
        self.decoder = decoder
        self.core = HandheldCore(
            config.device_id,
            config.token,
            loyalty_card=config.loyalty_card,
            pending=outbox.pending(),
            last_seq=outbox.last_seq(),
            basket=outbox.basket(),
            window=config.window,
            source=source_identity(config.source, config.live),
            resume=outbox.cursor(),
        )
        self.screen: Screen = screen_factory(self.core)
        self.link = Link(config.url, self.core, self.execute, backoff=config.backoff)
        self.source_done = False
        self.finish_sent = False
        self.watch: ExitWatch | None = None

    @property
    def follows_exit(self) -> bool:
        """Whether this run stays on after finish to show the hand-off code and paid."""
        return self.config.live or self.config.wait_paid

    @property
    def at_exit(self) -> bool:
        """Finished, and waiting for the basket to be released and paid."""
        return self.watch is not None and not self.watch.done

    def watch_exit(self) -> asyncio.Task[None]:
        """Start asking for the trip status (once the server has answered the finish)."""
        self.watch = ExitWatch(
            self.config.device_id, interval=self.config.trip_poll_s, start=time.monotonic()
        )
        poller = TripPoller(self.config.url, self.config.token, self.watch, self.execute)
        return asyncio.create_task(poller.run())

    def execute(self, actions: Sequence[Action]) -> None:
        """Carry out the core's actions in order: durable writes before anything else."""
        for action in actions:
            if isinstance(action, Persist):
                self.outbox.add(action.entries, action.cursor)
                self.core.stored(action.entries)
                self.link.wake.set()
            elif isinstance(action, Forget):
                self.outbox.delete(action.entry_id)
            elif isinstance(action, SaveBasket):
                self.outbox.save_basket(action.basket)
            elif isinstance(action, Show):
                self.screen.show(action.result)
            elif isinstance(action, Fatal):
                raise LinkFatal(action.message)

    def _next_decoded(self) -> tuple[Any, list[Any]] | None:
        """Worker thread: read one frame and decode it (both may block for a while)."""
        frame = next(self.frames, None)
        if frame is None:
            return None
        return frame, self.decoder.decode(frame.image)

    def _next_raw(self) -> Any:
        return next(self.frames, None)

    async def feed_frames(self) -> None:
        interval = self.config.frame_interval
        started = time.monotonic()
        index = -1
        while True:
            index += 1
            if self.core.should_skip(index):
                if await asyncio.to_thread(self._next_raw) is None:
                    break
                continue
            decoded = await asyncio.to_thread(self._next_decoded)
            if decoded is None:
                break
            frame, symbols = decoded
            self.screen.frame(frame.image, symbols)
            self.execute(self.core.observe(frame.time_s, symbols, frame_index=index))
            self.handle_keys()
            if interval > 0:
                delay = started + (index + 1) * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        self.source_done = True

    def handle_keys(self) -> None:
        for key in self.screen.pressed():
            if key == "r":
                self.execute(self.core.remove_last())
            elif key == "f" and not self.finish_sent:
                self.finish_sent = True
                self.execute(self.core.finish())
            elif key == "q":
                raise Outcome(self.done_code() if self.core.idle else EXIT_PENDING, "stopped")

    def done_code(self) -> int:
        """Every scan answered: 0, or EXIT_ERRORS when the server refused some of them."""
        return EXIT_ERRORS if self.core.errors else EXIT_OK

    def done(self) -> int:
        self.screen.summary(summary_line(self.core.basket, self.core.errors))
        return self.done_code()

    def not_paid_by_deadline(self) -> int:
        """``--timeout`` while waiting at the exit: what the trip was waiting for."""
        assert self.watch is not None
        status = self.watch.status
        where = " ".join(exit_text(status).split()) if status is not None else "no answer yet"
        self.screen.summary(
            f"timeout: basket {(self.core.basket or {}).get('basket_id', '-')} not paid "
            f"yet ({where})"
        )
        return EXIT_PENDING

    async def supervise(self) -> int:
        deadline = (
            time.monotonic() + self.config.timeout if self.config.timeout is not None else None
        )
        link_task = asyncio.create_task(self.link.run())
        feed_task = asyncio.create_task(self.feed_frames())
        tasks = [link_task, feed_task]
        try:
            while True:
                for task in tasks:
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                if self.watch is None and self.follows_exit and self.core.finished:
                    tasks.append(self.watch_exit())
                if self.watch is not None and self.watch.done:
                    self.outbox.clear_cursor()
                    return self.done()
                if (
                    self.source_done
                    and not self.config.live
                    and self.core.welcomed_once
                    and self.core.idle
                ):
                    # --wait-paid finishes the trip, unless it is already at the exit
                    finish = self.config.finish or (
                        self.config.wait_paid and not self.core.finished
                    )
                    if finish and not self.finish_sent:
                        self.finish_sent = True
                        self.execute(self.core.finish())
                        continue
                    if not self.at_exit:
                        self.outbox.clear_cursor()
                        return self.done()
                if deadline is not None and time.monotonic() >= deadline:
                    if self.at_exit:
                        return self.not_paid_by_deadline()
                    if self.core.idle and self.core.welcomed_once:
                        return self.done()
                    self.screen.summary(
                        f"timeout: {self.core.queued} scans still pending "
                        f"(link {self.core.state}); they stay in {self.config.outbox_path}"
                    )
                    return EXIT_PENDING
                await asyncio.sleep(POLL_S)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def run(self) -> int:
        try:
            return asyncio.run(self.supervise())
        except Outcome as outcome:
            if outcome.message:
                self.screen.summary(f"{outcome.message}: {self.core.queued} scans pending")
            return outcome.code
        finally:
            self.screen.close()
