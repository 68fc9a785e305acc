"""The latest store signals per store and zone, and their daily medians, for the scheduler.

Pure (no I/O): the subscriber feeds it messages from the ``signals`` channel and the loop
API reads :meth:`SignalBoard.current_signals` when it builds a loop.

* Only whitelisted fields are kept: a message is reduced to its store, zone, time and
  numeric signals with known names; anything else (were a bug ever to put it there)
  is dropped on arrival rather than stored on the mall side.
* A scope whose last message is older than ``stale_after_s`` contributes nothing: if a
  store server goes quiet, its signal rules stop being met rather than freezing on the
  last value.
* Daily median = the median over the last 24 hours of one sample per minute (the last
  value seen in that minute), so busy and quiet minutes weigh the same however often
  the store publishes. A momentum signal absent from a scope's message (nobody, or
  fewer shoppers than the store's minimum, bought that category) is sampled as 0 once
  the category has been seen in that scope; otherwise the median would only be taken
  over busy minutes. Medians need ``min_median_minutes`` samples before they exist.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from signage.scheduling.signal_rules import SIGNAL_NAME, median_key, signal_key

DAY_MINUTES = 24 * 60
MESSAGE_TYPE = "store_signals"


@dataclass
class _Scope:
    at: datetime
    values: dict[str, float]
    # signal -> {minute since epoch -> value}
    samples: dict[str, dict[int, float]] = field(default_factory=dict)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class SignalBoard:
    def __init__(self, *, stale_after_s: float = 60.0, min_median_minutes: int = 30) -> None:
        self.stale_after = timedelta(seconds=stale_after_s)
        self.min_median_minutes = min_median_minutes
        self._scopes: dict[tuple[str, str | None], _Scope] = {}
        self.version = 0  # moves on every accepted message (cache keys, ETags)

    def ingest(self, message: Mapping[str, object]) -> bool:
        """Keep one ``store_signals`` message; False (and nothing kept) when malformed."""
        if message.get("type") != MESSAGE_TYPE:
            return False
        store, zone = message.get("store_id"), message.get("zone")
        at = _parse_time(message.get("at"))
        raw = message.get("signals")
        if not isinstance(store, str) or not (zone is None or isinstance(zone, str)):
            return False
        if at is None or not isinstance(raw, Mapping):
            return False
        values = {
            name: float(value)
            for name, value in raw.items()
            if isinstance(name, str)
            and SIGNAL_NAME.match(name)
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
        }
        scope = self._scopes.get((store, zone))
        if scope is None:
            scope = self._scopes[(store, zone)] = _Scope(at, values)
        elif at < scope.at:
            return False  # an older duplicate from another server process
        scope.at, scope.values = at, values
        minute = int(at.timestamp() // 60)
        horizon = minute - DAY_MINUTES
        names = set(values) | {n for n in scope.samples if n.startswith("momentum:")}
        for name in names:
            if name == "hour_of_day":
                continue
            series = scope.samples.setdefault(name, {})
            series[minute] = values.get(name, 0.0)
            if len(series) > DAY_MINUTES + 60:
                for old in [m for m in series if m <= horizon]:
                    del series[old]
        self.version += 1
        return True

    def daily_median(
        self, store_id: str, signal: str, zone: str | None = None, *, at: datetime | None = None
    ) -> float | None:
        scope = self._scopes.get((store_id, zone))
        if scope is None:
            return None
        at = at or datetime.now(UTC)
        now_minute = int(at.timestamp() // 60)
        series = scope.samples.get(signal, {})
        window = [v for m, v in series.items() if now_minute - DAY_MINUTES < m <= now_minute]
        if len(window) < self.min_median_minutes:
            return None
        return float(statistics.median(window))

    def current_signals(
        self, store_ids: Iterable[str] | None = None, *, at: datetime | None = None
    ) -> dict[str, float]:
        """The scheduler's ``signals`` mapping for these stores (all when None), at ``at``.

        Holds ``store/signal`` and ``store/zone/signal`` with the latest values, and
        ``…-daily_median`` keys with latest minus median where a median exists."""
        at = at or datetime.now(UTC)
        wanted = None if store_ids is None else set(store_ids)
        signals: dict[str, float] = {}
        for (store, zone), scope in self._scopes.items():
            if wanted is not None and store not in wanted:
                continue
            if at - scope.at > self.stale_after:
                continue
            for name, value in scope.values.items():
                key = signal_key(store, name, zone)
                signals[key] = value
                if name == "hour_of_day":
                    continue
                median = self.daily_median(store, name, zone, at=at)
                if median is not None:
                    signals[median_key(key)] = value - median
            for name in scope.samples:
                # a momentum below the minimum is 0 for rules too ("above its median")
                if name not in scope.values and name.startswith("momentum:"):
                    key = signal_key(store, name, zone)
                    median = self.daily_median(store, name, zone, at=at)
                    if median is not None:
                        signals[median_key(key)] = 0.0 - median
        return signals

    def scopes(self) -> list[tuple[str, str | None]]:
        return sorted(self._scopes, key=lambda s: (s[0], s[1] or ""))
