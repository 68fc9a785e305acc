"""``plays_for_day`` (what reports count) agrees with the loops themselves, with and
without caps, on ordinary and clock-change days, whole days and days so far."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from benchmarks.signage_bench import make_plan
from signage.scheduling import loops_for_day, plays_for_day

DAYS = [date(2026, 11, 3), date(2026, 3, 29), date(2026, 10, 25), date(2026, 6, 6)]


def counted(screen, campaigns, creatives, day, before=None):  # type: ignore[no-untyped-def]
    booked: Counter[str] = Counter()
    total = 0
    for loop in loops_for_day(screen, campaigns, creatives, day):
        if before is not None and loop.valid_from >= before:
            break
        total += len(loop.slots)
        booked.update(s.campaign_id for s in loop.slots if s.campaign_id)
    return booked, total


@pytest.mark.parametrize("caps", [True, False])
@pytest.mark.parametrize("seed", [1, 2])
def test_plays_for_day_counts_the_slots_of_the_days_loops(caps: bool, seed: int) -> None:
    screens, creatives, campaigns = make_plan(12, 80, seed)
    if not caps:
        campaigns = [replace(c, max_plays_per_hour=None) for c in campaigns]
    by_id = {c.id: c for c in creatives}
    for screen in screens:
        for day in DAYS:
            assert plays_for_day(screen, campaigns, by_id, day) == counted(
                screen, campaigns, by_id, day
            ), (screen.id, day)
    cut = datetime(2026, 11, 3, 13, 0, 7, tzinfo=UTC)
    for screen in screens[:4]:
        assert plays_for_day(screen, campaigns, by_id, date(2026, 11, 3), before=cut) == counted(
            screen, campaigns, by_id, date(2026, 11, 3), before=cut
        )
