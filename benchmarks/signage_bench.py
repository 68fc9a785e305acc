"""How fast the loop scheduler builds a full mall day.

Generates a seeded, realistic plan (500 screens in zones and groups, 2,000
campaigns with flights, days, dayparts — some past midnight —, mixed priorities,
categories, caps, held and cancelled bookings, a few store-signal rules; guaranteed
overbooking removed the way the plan loader would demand), then builds every loop
of one local day for every screen and prints a table, once per process count
(``--workers``, one column each; by default in this process and on two worker
processes). Target: the whole day in under 10 s on a 2-core machine. Wall and CPU
seconds are both shown because the machine may be shared (wall time then says more
about the neighbours than about the scheduler); ``--reference`` builds the day with
every cache off instead (``loop._CACHING = False``), for comparison.

    .venv/bin/python benchmarks/signage_bench.py [--screens 500] [--campaigns 2000]
        [--day 2026-06-13] [--seed 7] [--workers 1 2] [--reference]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time as clock
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signage.scheduling import (  # noqa: E402
    CampaignSpec,
    CreativeSpec,
    Daypart,
    ScreenSpec,
    SignalRule,
    Targets,
    build_loop,
    check_overbooking,
    loops_for_day,
)
from signage.scheduling import loop as engine  # noqa: E402
from signage.scheduling.availability import (  # noqa: E402
    guaranteed_load,
    overbooked_somewhere,
)

TIMEZONE = "Europe/Paris"
ZONES = [f"zone-{i:02d}" for i in range(12)]
GROUPS = ["food-court", "fashion", "entrance", "parking", "cinema", "kids", "tech", "luxury"]
CATEGORIES = [f"cat-{i:02d}" for i in range(25)]
DAYPARTS = [
    ((8, 0), (12, 0)),
    ((12, 0), (14, 0)),
    ((14, 0), (18, 0)),
    ((17, 30), (21, 0)),
    ((10, 0), (20, 0)),
    ((22, 0), (2, 0)),
    ((6, 0), (9, 30)),
    ((19, 0), (23, 0)),
]


def make_plan(
    n_screens: int, n_campaigns: int, seed: int
) -> tuple[list[ScreenSpec], list[CreativeSpec], list[CampaignSpec]]:
    """A random but reproducible mall plan with no guaranteed overbooking."""
    rng = random.Random(seed)
    screens = [
        ScreenSpec(
            id=f"S-{i:03d}",
            zone=rng.choice(ZONES),
            groups=frozenset(rng.sample(GROUPS, rng.choice([0, 1, 1, 2]))),
            slot_seconds=rng.choice([10, 10, 15]),
            slots_per_loop=rng.choice([8, 10, 12, 12]),
            timezone=TIMEZONE,
        )
        for i in range(n_screens)
    ]
    creatives = [
        CreativeSpec(
            id=f"CR-{i:04d}", media=f"media/{i}.png", duration_s=float(rng.choice([5, 8, 10]))
        )
        for i in range(n_campaigns * 2)
    ]
    # Targets name only zones and groups some screen is in: a plan naming an empty
    # one is rejected (a small mall may leave some of ZONES and GROUPS unused).
    zones = [z for z in ZONES if any(s.zone == z for s in screens)]
    groups = [g for g in GROUPS if any(g in s.groups for s in screens)]
    campaigns = []
    year = date(2026, 1, 1)
    for i in range(n_campaigns):
        roll = rng.random()
        priority = (
            "interrupt"
            if roll < 0.005
            else "guaranteed"
            if roll < 0.12
            else "standard"
            if roll < 0.97
            else "house"
        )
        start = year + timedelta(days=rng.randrange(365))
        end = start + timedelta(days=rng.randrange(7, 85))
        targets = Targets()
        pick = rng.random()
        if priority != "house":
            if pick < 0.5:
                targets = Targets(
                    zones=frozenset(rng.sample(zones, min(len(zones), rng.randint(1, 2))))
                )
            elif pick < 0.75 and groups:
                targets = Targets(groups=frozenset(rng.sample(groups, 1)))
            elif pick < 0.9:
                ids = rng.sample(range(n_screens), min(n_screens, rng.randint(1, 5)))
                targets = Targets(screens=frozenset(f"S-{j:03d}" for j in ids))
        days = frozenset() if rng.random() < 0.7 else frozenset(rng.sample(range(7), 3))
        parts: tuple[Daypart, ...] = ()
        if priority != "house" and rng.random() < 0.5:
            chosen = rng.sample(DAYPARTS, rng.randint(1, 2))
            parts = tuple(Daypart(time(*a), time(*b)) for a, b in chosen)
        n_creatives = rng.choice([1, 1, 2, 3])
        campaigns.append(
            CampaignSpec(
                id=f"K-{i:04d}",
                advertiser=f"Advertiser {i % 300}",
                category=None
                if rng.random() < 0.2 or priority == "house"
                else rng.choice(CATEGORIES),
                creatives=tuple(
                    f"CR-{(2 * i + k) % (2 * n_campaigns):04d}" for k in range(n_creatives)
                ),
                start=start,
                end=end,
                days=days,
                dayparts=parts,
                targets=targets,
                priority=priority,  # type: ignore[arg-type]
                share_of_voice=rng.choice([0.1, 0.125, 0.2, 0.25]) if priority != "house" else 1.0,
                max_plays_per_hour=rng.choice([6, 10, 20, 30]) if rng.random() < 0.3 else None,
                state=rng.choices(["booked", "held", "cancelled"], [0.9, 0.05, 0.05])[0],  # type: ignore[arg-type]
                signal_rule=SignalRule("footfall", ">", 100.0) if rng.random() < 0.05 else None,
            )
        )
    return screens, creatives, _demote_overbooked(screens, campaigns)


def _demote_overbooked(
    screens: Sequence[ScreenSpec], campaigns: list[CampaignSpec]
) -> list[CampaignSpec]:
    """Turn guaranteed bookings that overbook a screen into standard ones (sales would)."""
    by_id = {c.id: c for c in campaigns}
    for screen in screens:
        while True:
            mine = [
                c
                for c in by_id.values()
                if c.priority == "guaranteed"
                and c.state != "cancelled"
                and c.targets.matches(screen)
            ]
            if sum(c.slots_booked(screen.slots_per_loop) for c in mine) <= screen.slots_per_loop:
                break
            if not overbooked_somewhere(mine, screen.slots_per_loop):
                break  # the same answer as an empty `over` below, much sooner
            over = [
                load for load in guaranteed_load(screen, mine) if load.need > screen.slots_per_loop
            ]
            if not over:
                break
            victim = max(cid for cid, _ in over[0].campaigns)
            by_id[victim] = replace(by_id[victim], priority="standard")
    return [by_id[c.id] for c in campaigns]


def _build_day(
    args: tuple[list[ScreenSpec], list[CampaignSpec], dict[str, CreativeSpec], date],
) -> tuple[int, int]:
    screens, campaigns, creatives, day = args
    loops = slots = 0
    for screen in screens:
        for loop in loops_for_day(screen, campaigns, creatives, day, signals={"footfall": 150.0}):
            loops += 1
            slots += len(loop.slots)
    return loops, slots


def _cpu_seconds() -> float:
    """CPU time of this process and its finished workers (the machine may be shared)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _set_caching(on: bool) -> None:
    engine._CACHING = on


def _timed_day(
    workers: int,
    screens: list[ScreenSpec],
    campaigns: list[CampaignSpec],
    creatives: dict[str, CreativeSpec],
    day: date,
) -> tuple[int, int, float, float]:
    """``(loops, slots, wall seconds, CPU seconds)`` of the whole day on ``workers`` processes.

    One worker builds in this process; more split the screens between fresh worker
    processes, whose start-up counts in both figures.
    """
    started = clock.perf_counter()
    cpu_started = _cpu_seconds()
    if workers <= 1:
        loops, slots = _build_day((screens, campaigns, creatives, day))
    else:
        chunks = [screens[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(
            workers, initializer=_set_caching, initargs=(engine._CACHING,)
        ) as pool:
            results = list(
                pool.map(_build_day, [(chunk, campaigns, creatives, day) for chunk in chunks])
            )
        loops, slots = sum(r[0] for r in results), sum(r[1] for r in results)
    return loops, slots, clock.perf_counter() - started, _cpu_seconds() - cpu_started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=500)
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 6, 13))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="process counts to time the day with, one column each (default: 1 2)",
    )
    parser.add_argument(
        "--reference", action="store_true", help="no caches: every loop from scratch (slow)"
    )
    args = parser.parse_args()
    if args.reference:
        engine._CACHING = False
    load_before = os.getloadavg()[0]

    started = clock.perf_counter()
    screens, creatives, campaigns = make_plan(args.screens, args.campaigns, args.seed)
    generated = clock.perf_counter() - started
    by_id = {c.id: c for c in creatives}

    started = clock.perf_counter()
    cpu_started = _cpu_seconds()
    problems = check_overbooking(screens, campaigns)
    checked = clock.perf_counter() - started
    checked_cpu = _cpu_seconds() - cpu_started
    assert not problems, problems[:3]

    # worker pools first, while this process holds nothing but the plan: forked
    # workers then start as lean as a server's would, and the in-process run after
    # them starts with cold caches all the same
    timings = {
        workers: _timed_day(workers, screens, campaigns, by_id, args.day)
        for workers in sorted(set(args.workers), reverse=True)
    }
    counts = {(loops, slots) for loops, slots, _, _ in timings.values()}
    assert len(counts) == 1, counts
    ((loops, slots),) = counts

    rng = random.Random(args.seed)
    probes = 200
    started = clock.perf_counter()
    for _ in range(probes):
        screen = rng.choice(screens)
        at = datetime.combine(args.day, time(rng.randrange(24), rng.randrange(60)), tzinfo=UTC)
        build_loop(screen, campaigns, by_id, at, signals={"footfall": 150.0})
    single = (clock.perf_counter() - started) / probes

    guaranteed = sum(1 for c in campaigns if c.priority == "guaranteed")
    shared = [
        ("screens", f"{len(screens)}"),
        ("campaigns (guaranteed after demotion)", f"{len(campaigns)} ({guaranteed})"),
        ("caches", "off (--reference)" if args.reference else "on"),
        ("plan generation + demotion, wall", f"{generated:.2f} s"),
        ("check_overbooking (all screens), wall / CPU", f"{checked:.2f} s / {checked_cpu:.2f} s"),
        ("loops built (one local day)", f"{loops}"),
        ("slots filled", f"{slots}"),
        ("single build_loop (2000 campaigns, warm plan index)", f"{single * 1000:.1f} ms"),
        (
            "load average (1 min) before / after",
            f"{load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs",
        ),
    ]
    columns = [f"{w} process" + ("es" if w > 1 else "") for w in sorted(timings)]
    per_workers = [
        ("day: seconds (wall)", [f"{t[2]:.2f}" for _, t in sorted(timings.items())]),
        ("day: seconds (CPU, all processes)", [f"{t[3]:.2f}" for _, t in sorted(timings.items())]),
        ("day: loops/s (wall)", [f"{loops / t[2]:,.0f}" for _, t in sorted(timings.items())]),
        ("day: loops per CPU-second", [f"{loops / t[3]:,.0f}" for _, t in sorted(timings.items())]),
        (
            "target: day < 10 s wall",
            ["met" if t[2] < 10 else "MISSED" for _, t in sorted(timings.items())],
        ),
    ]
    width = max(len(name) for name, _ in [*shared, *per_workers])
    cell = max(14, *(len(c) for c in columns))
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * cell}")
    for name, value in shared:
        print(f"{name:<{width}}  {value}")
    print()
    print(f"{'':<{width}}  " + "  ".join(f"{c:>{cell}}" for c in columns))
    print(f"{'-' * width}  " + "  ".join("-" * cell for _ in columns))
    for name, values in per_workers:
        print(f"{name:<{width}}  " + "  ".join(f"{v:>{cell}}" for v in values))


if __name__ == "__main__":
    main()
