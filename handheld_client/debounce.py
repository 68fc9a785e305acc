"""Debounce on frame time: a code held in view is one scan (PROTOCOL.md).

Pure: no clock, no I/O. Time comes from the frames, so a video or an image folder
debounces exactly as it did when recorded, whatever the decoding speed.
"""

from __future__ import annotations

from collections.abc import Iterable

# Frame times are sums of float steps (index * 0.1); do not let 0.4999999 block a rescan.
_EPSILON_S = 1e-6


class Debouncer:
    """Turns per-frame sightings into scans.

    A code seen in consecutive frames is one scan; it counts again only once it has
    been absent for at least ``absence_s`` of frame time (time between its last
    sighting and its reappearance). Frame time going backwards means a new source:
    everything starts afresh.
    """

    def __init__(self, absence_s: float = 0.5) -> None:
        if absence_s < 0:
            raise ValueError("absence_s must be >= 0")
        self.absence_s = absence_s
        self._last_seen: dict[str, float] = {}
        self._last_time: float | None = None

    def feed(self, frame_time_s: float, codes: Iterable[str]) -> list[str]:
        """Codes that are a new scan in this frame, in the order they were given."""
        if self._last_time is not None and frame_time_s < self._last_time:
            self._last_seen.clear()
        self._last_time = frame_time_s
        new: list[str] = []
        for code in dict.fromkeys(codes):
            previous = self._last_seen.get(code)
            if previous is None or frame_time_s - previous >= self.absence_s - _EPSILON_S:
                new.append(code)
            self._last_seen[code] = frame_time_s
        self._forget(frame_time_s)
        return new

    def _forget(self, now: float) -> None:
        """Drop codes absent long enough to rescan anyway, so memory stays bounded."""
        stale = [c for c, t in self._last_seen.items() if now - t > self.absence_s]
        for code in stale:
            del self._last_seen[code]
