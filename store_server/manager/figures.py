"""Pure arithmetic of the console: periods, duration histograms, percentiles, the loss
estimate and its interval, small-count suppression. No I/O, tested with plain values."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from store_server.shared.errors import InvalidInput
from store_server.signals.models import publishable

MAX_DAYS = 400
"""The longest range a page answers (a year and a month: a year compared with the last)."""
RANGES = ("day", "week", "month", "custom")

# Upper bounds (seconds) of the duration histogram's buckets; the last is open-ended.
BUCKETS: tuple[int, ...] = (
    15,
    30,
    60,
    90,
    120,
    180,
    240,
    300,
    420,
    600,
    900,
    1200,
    1800,
    2700,
    3600,
    5400,
    7200,
)


def bucket_of(seconds: float) -> int:
    """Index of the histogram bucket holding ``seconds`` (negative counts as 0)."""
    return bisect_right(BUCKETS, max(0.0, seconds) - 1e-9) if seconds > 0 else 0


def percentile(hist: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0-1) of a bucketed histogram, interpolated linearly inside
    the bucket it falls in (the open last bucket answers its lower bound)."""
    total = sum(hist.values())
    if total <= 0:
        return None
    target = q * total
    running = 0
    for index in sorted(hist):
        count = hist[index]
        if count <= 0:
            continue
        if running + count >= target:
            low = 0 if index == 0 else BUCKETS[index - 1]
            if index >= len(BUCKETS):
                return float(low)
            high = BUCKETS[index]
            return low + (high - low) * max(0.0, target - running) / count
        running += count
    return float(BUCKETS[-1])


def trust_band(score: float) -> str:
    """The audit's trust score as a band a manager can read."""
    if score < 0.3:
        return "low (<0.3)"
    if score < 0.7:
        return "neutral (0.3-0.7)"
    return "trusted (>=0.7)"


@dataclass(frozen=True)
class Period:
    """Local days ``first``..``last`` inclusive, and the same number of days before."""

    kind: str
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        if self.kind == "month":
            last = self.first - timedelta(days=1)
            return Period("month", last.replace(day=1), last)
        return Period(
            self.kind, self.first - timedelta(days=self.days), self.first - timedelta(days=1)
        )

    def hours(self, tz: ZoneInfo) -> tuple[int, int]:
        """[start, end) in hours since the epoch (UTC) covering the local days."""
        start = datetime.combine(self.first, time(0), tz).astimezone(UTC)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tz).astimezone(UTC)
        return epoch_hour(start), epoch_hour(end)

    def label(self) -> str:
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()} to {self.last.isoformat()}"


def epoch_hour(at: datetime) -> int:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return int(at.timestamp() // 3600)


def hour_start(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


def _day(text: str | None, name: str) -> date:
    if text is None or not str(text).strip():
        raise InvalidInput(f"{name}: give a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(str(text).strip()[:10])
    except ValueError:
        raise InvalidInput(f"{name}: {str(text)[:40]!r} is not a date (YYYY-MM-DD)") from None


def parse_period(
    kind: str | None, day: str | None, start: str | None, end: str | None, today: date
) -> Period:
    """The period a page asks for; a clear ``InvalidInput`` for anything else."""
    kind = (kind or "week").strip().lower()
    if kind not in RANGES:
        raise InvalidInput(f"range must be one of {', '.join(RANGES)}, not {kind[:20]!r}")
    if kind == "custom":
        first, last = _day(start, "from"), _day(end, "to")
        if first > last:
            raise InvalidInput(f"from ({first}) is after to ({last}): swap them")
        if (last - first).days + 1 > MAX_DAYS:
            raise InvalidInput(
                f"{(last - first).days + 1} days is longer than the {MAX_DAYS} a page answers: "
                "pick a shorter range"
            )
        return Period("custom", first, last)
    anchor = _day(day, "date") if day else today
    if kind == "day":
        return Period("day", anchor, anchor)
    if kind == "week":
        first = anchor - timedelta(days=anchor.weekday())
        return Period("week", first, first + timedelta(days=6))
    first = anchor.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period("month", first, following - timedelta(days=1))


@dataclass(frozen=True)
class LossEstimate:
    """Under-scanning on trips nobody audited, estimated from the audits.

    Each closed audit found ``x`` cents and had probability ``p`` of happening; the
    Horvitz-Thompson sum of ``x / p`` estimates what *all* trips lost, and its variance
    is the sum of ``x² (1 - p) / p²``. What audits did not recover is that total minus
    what they found. The 95% interval is the normal one, cut at zero."""

    unrecovered_cents: int
    low_cents: int
    high_cents: int
    basis_points: float | None
    low_bp: float | None
    high_bp: float | None


def loss_estimate(
    ht_cents: int, ht_var: int, recovered_cents: int, sales_cents: int
) -> LossEstimate:
    point = max(0, ht_cents - recovered_cents)
    half = 1.96 * math.sqrt(max(0, ht_var))
    low = max(0, round(point - half))
    high = round(point + half)

    def bp(cents: float) -> float | None:
        return None if sales_cents <= 0 else cents * 10_000 / sales_cents

    return LossEstimate(point, low, high, bp(point), bp(low), bp(high))


def shown(count: int, min_count: int) -> bool:
    """The store signals' rule (``store_server.signals.models.publishable``): a count of
    1 to ``min_count - 1`` trips could describe one shopper, so it is not shown."""
    return publishable(count, min_count)


def money(cents: int | float | None, currency: str) -> str:
    if cents is None:
        return "—"
    cents = round(cents)
    sign = "-" if cents < 0 else ""
    units, minor = divmod(abs(int(cents)), 100)
    return f"{sign}{units:,}.{minor:02d} {currency}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"
