"""Per-caller request budgets: one token bucket per key, no I/O, no framework.

The staff console and POS APIs give each caller (a login session, a device or a till
token) its own bucket in each server process, so one runaway script or stuck till
slows itself down and nobody else. A refused request learns how long to wait
(``Retry-After``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KEYS = 100_000


class Bucket:
    """``burst`` requests at once, refilled at ``rate`` per second."""

    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.at = now

    def wait(self, now: float) -> float:
        """Like :meth:`take`, without taking: 0 while a token is left."""
        tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, now: float) -> float:
        """0 when a request may go ahead (and takes its token), else the seconds until
        the next token."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """Buckets by key, the least recently used forgotten past ``max_keys``: a forgotten
    caller comes back with a full bucket, which is what an idle one would have anyway.

    Not thread-safe: call it from the event loop only."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst = rate, burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str) -> float:
        """0 when ``key`` may make a request now, else the seconds it should wait."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.rate, self.burst, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)

    def peek(self, key: str) -> float:
        """What :meth:`check` would answer, without spending anything: for budgets spent
        only by what a request turns out to be (a failed login), checked before it runs."""
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.wait(self.clock())
