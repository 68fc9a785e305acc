"""Loop endpoint benchmark: ``GET /signage/screens/{id}/loop`` on a big mall plan, with the
plan kept per process (as served) against reading it from the database on every request
(as before, the baseline), in the same run.

    .venv/bin/python benchmarks/loop_bench.py [--screens 500] [--campaigns 2000] [--requests 300]

Each screen fetches its next loop once a loop, so 500 screens with loops of one to three
minutes make 3 to 8 requests a second, on the store server's own process. The plan is
``signage_bench.py``'s random mall, stored in a fresh SQLite database through the same
code as ``caddie signage load``; requests go through the whole app (routing, screen
token, loop, reply) in process. Prints latency and CPU per request for both.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from signage_bench import make_plan  # noqa: E402

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def plan_file(screens: int, campaigns: int, seed: int) -> dict[str, Any]:
    """``make_plan``'s mall as a plan file (remote media: nothing to copy)."""
    screen_specs, creatives, campaign_specs = make_plan(screens, campaigns, seed)
    booked = [c for c in campaign_specs if c.state == "booked"]
    return {
        "timezone": "Europe/Paris",
        "screens": [s.plan_entry() for s in screen_specs],
        "creatives": [
            {
                "id": c.id,
                "media": f"https://cdn.example/{c.id}.png",
                "duration_s": min(c.duration_s, 10),
            }
            for c in creatives
        ],
        "campaigns": [
            {
                "id": c.id,
                "advertiser": c.advertiser,
                "category": c.category or "misc",
                "creatives": list(c.creatives),
                "start": c.start.isoformat(),
                "end": c.end.isoformat(),
                "priority": c.priority,
                "share_of_voice": c.share_of_voice,
                "max_plays_per_hour": c.max_plays_per_hour,
                "targets": {
                    "zones": sorted(c.targets.zones),
                    "groups": sorted(c.targets.groups),
                    "screens": sorted(c.targets.screens),
                },
                **({"days": [DAYS[d] for d in sorted(c.days)]} if c.days else {}),
                **(
                    {
                        "dayparts": [
                            [p.start.strftime("%H:%M"), p.end.strftime("%H:%M")] for p in c.dayparts
                        ]
                    }
                    if c.dayparts
                    else {}
                ),
            }
            for c in booked
        ],
    }


class ReadEveryTime:
    """The baseline: the plan read from the database on every request."""

    loads = 0

    def get(self, session: Any, load: Any) -> Any:
        self.loads += 1
        return load(session)


def measure(
    client: Any, tokens: dict[str, str], requests: int, rng: random.Random
) -> dict[str, float]:
    screen_ids = sorted(tokens)
    latencies = []
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    for _ in range(requests):
        screen = rng.choice(screen_ids)
        day, hour, minute = rng.randint(1, 28), rng.randint(8, 21), rng.randint(0, 59)
        at = f"2026-06-{day:02d}T{hour:02d}:{minute:02d}:00+02:00"
        started = time.perf_counter()
        reply = client.get(
            f"/signage/screens/{screen}/loop",
            params={"at": at},
            headers={"Authorization": f"Bearer {tokens[screen]}"},
        )
        latencies.append(time.perf_counter() - started)
        if reply.status_code != 200:
            raise SystemExit(f"loop request failed: {reply.status_code} {reply.text[:200]}")
    wall = time.perf_counter() - wall_before
    latencies.sort()
    return {
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000,
        "rate": requests / wall,
        "cpu": (time.process_time() - cpu_before) * 1000 / requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=500)
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from signage.config import SignageSettings
    from signage.service import enroll, load_plan
    from store_server.app import create_app
    from store_server.config import load_settings
    from store_server.db import make_engine, migrate, session_scope

    work = Path(tempfile.mkdtemp(prefix="caddie-loop-bench-"))
    os.environ["CADDIE_MEDIA_DIR"] = str(work / "media")
    url = f"sqlite:///{work / 'mall.db'}"
    migrate(url)
    plan = plan_file(args.screens, args.campaigns, args.seed)
    (work / "plan.json").write_text(json.dumps(plan))
    engine = make_engine(url)
    with session_scope(engine) as session:
        load_plan(
            session,
            (work / "plan.json").read_bytes(),
            base_dir=work,
            settings=SignageSettings(media_dir=work / "media"),
        )
    with session_scope(engine) as session:
        tokens = dict(
            enroll(
                session,
                [s["id"] for s in plan["screens"]][:50],
                settings=SignageSettings(),
                timezone="Europe/Paris",
            )
        )
    engine.dispose()

    results = {}
    app = create_app(load_settings(database_url=url, environment="test"))
    with TestClient(app) as client:
        signage = next(r.app for r in app.routes if getattr(r, "path", "") == "/signage")
        state = signage.state.signage.get()
        kept = state.plans
        for label, plans in (("plan read every request", ReadEveryTime()), ("plan kept", kept)):
            state.plans = plans
            measure(client, tokens, 5, random.Random(0))  # warm: the kept plan is read here
            results[label] = measure(client, tokens, args.requests, random.Random(args.seed))
        state.plans = kept

    print(
        f"\n{args.screens} screens, {len(plan['campaigns'])} booked campaigns, "
        f"{args.requests} loop requests over {len(tokens)} screens, in process"
    )
    header = f"{'':<26}{'p50 ms':>9}{'p99 ms':>9}{'requests/s':>12}{'CPU ms/request':>16}"
    print(header)
    print("-" * len(header))
    for label, r in results.items():
        print(f"{label:<26}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['rate']:>12.0f}{r['cpu']:>16.2f}")
    base, kept_r = results["plan read every request"], results["plan kept"]
    print("-" * len(header))
    print(
        f"{'ratio kept / every':<26}{kept_r['p50'] / base['p50']:>9.3f}"
        f"{kept_r['p99'] / base['p99']:>9.3f}{kept_r['rate'] / base['rate']:>12.1f}"
        f"{kept_r['cpu'] / base['cpu']:>16.3f}"
    )


if __name__ == "__main__":
    main()
