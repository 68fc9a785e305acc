"""Guaranteed availability agrees with the overbooking check the plan loader applies."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signage.scheduling import (
    CampaignSpec,
    Daypart,
    ScreenSpec,
    Targets,
    check_overbooking,
    guaranteed_free_slots,
)
from signage.scheduling.availability import guaranteed_load, overbooked_somewhere

SCREEN = ScreenSpec("S-01", "north", frozenset(), 10, 12, "Europe/Paris")


def guaranteed(cid: str, share: float, **kw: object) -> CampaignSpec:
    values: dict[str, object] = dict(
        id=cid,
        advertiser="A",
        category=None,
        creatives=("CR",),
        start=date(2026, 11, 1),
        end=date(2026, 12, 31),
        days=frozenset(),
        dayparts=(),
        targets=Targets(),
        priority="guaranteed",
        share_of_voice=share,
        max_plays_per_hour=None,
    )
    values.update(kw)
    return CampaignSpec(**values)  # type: ignore[arg-type]


SAT = 5


def test_free_slots_on_saturday_mornings():
    k1 = guaranteed("K-1", 0.25, days=frozenset({SAT}), dayparts=(Daypart(time(10), time(12)),))
    k2 = guaranteed("K-2", 0.5, dayparts=(Daypart(time(11), time(14)),), state="held")
    k3 = guaranteed("K-3", 0.5, state="cancelled")
    cs = [k1, k2, k3]
    assert guaranteed_free_slots(SCREEN, cs, day=SAT, start=time(10), end=time(12)) == 3
    assert guaranteed_free_slots(SCREEN, cs, day=SAT, start=time(10), end=time(11)) == 9
    assert guaranteed_free_slots(SCREEN, cs, day=0, start=time(10), end=time(12)) == 6
    assert guaranteed_free_slots(SCREEN, cs, day=SAT, start=time(14), end=time(18)) == 12
    # on a given date outside K-1's flight only K-2 counts
    on = date(2027, 1, 2)
    assert guaranteed_free_slots(SCREEN, cs, day=SAT, start=time(10), end=time(12), on=on) == 12
    on = date(2026, 11, 7)
    assert guaranteed_free_slots(SCREEN, cs, day=SAT, start=time(10), end=time(12), on=on) == 3
    with pytest.raises(ValueError):
        guaranteed_free_slots(SCREEN, cs, day=0, start=time(10), end=time(12), on=on)


def test_window_across_midnight_reaches_into_the_next_day():
    late = guaranteed("K", 0.5, days=frozenset({6}), dayparts=(Daypart(time(0), time(3)),))
    assert guaranteed_free_slots(SCREEN, [late], day=SAT, start=time(22), end=time(2)) == 6
    assert guaranteed_free_slots(SCREEN, [late], day=SAT, start=time(20), end=time(23)) == 12


def test_untargeted_screens_are_unaffected():
    elsewhere = guaranteed("K", 1.0, targets=Targets(zones=frozenset({"south"})))
    assert guaranteed_free_slots(SCREEN, [elsewhere], day=0, start=time(0), end=time(0)) == 12


hours = st.integers(0, 23)


@st.composite
def bookings(draw: st.DrawFn) -> list[CampaignSpec]:
    out = []
    for i in range(draw(st.integers(0, 5))):
        a, b = draw(hours), draw(hours)
        parts = () if a == b else (Daypart(time(a), time(b)),)
        start = date(2026, 11, 1) + timedelta(days=draw(st.integers(0, 20)))
        out.append(
            guaranteed(
                f"K-{i}",
                draw(st.sampled_from([1 / 12, 0.25, 0.5])),
                dayparts=parts,
                days=frozenset(draw(st.sets(st.integers(0, 6)))),
                start=start,
                end=start + timedelta(days=draw(st.integers(0, 30))),
                state=draw(st.sampled_from(["booked", "held"])),
            )
        )
    return out


@settings(max_examples=50, deadline=None)
@given(bookings(), st.integers(0, 6), hours, hours)
def test_selling_exactly_the_free_slots_never_overbooks(cs, day, a, b):
    """The booking UI's promise: book what it says is free and the plan still loads."""
    if a == b:
        b = (a + 1) % 24
    free = guaranteed_free_slots(SCREEN, cs, day=day, start=time(a), end=time(b))
    assert 0 <= free <= 12
    assume_clean = not check_overbooking([SCREEN], cs)
    part = (Daypart(time(a), time(b)),)
    extra_days = frozenset({day})
    new = guaranteed(
        "NEW", 0, days=extra_days, dayparts=part, start=date(2026, 1, 1), end=date(2027, 12, 31)
    )
    if assume_clean and free:
        assert not check_overbooking([SCREEN], [*cs, replace(new, share_of_voice=free / 12)])
    if free < 12:
        assert check_overbooking([SCREEN], [*cs, replace(new, share_of_voice=(free + 1) / 12)])


@settings(max_examples=60, deadline=None)
@given(bookings(), st.sampled_from([1, 4, 8, 12]))
def test_quick_overbooking_test_agrees_with_the_segment_list(cs, n):
    """``overbooked_somewhere`` (the plan loader's shortcut) is exact, not a heuristic."""
    screen = replace(SCREEN, slots_per_loop=n)
    heavy = [replace(c, share_of_voice=min(1.0, c.share_of_voice * 2)) for c in cs[::2]]
    for booked in (cs, [*cs, *heavy]):
        booked = [replace(c, id=f"K-{i}") for i, c in enumerate(booked)]
        expected = any(load.need > n for load in guaranteed_load(screen, booked))
        assert overbooked_somewhere(booked, n) == expected
