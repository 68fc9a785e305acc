"""Proof-of-play report benchmark: a year of plays for 500 screens, per campaign.

    .venv/bin/python benchmarks/signage_report_bench.py [--screens 500] [--days 365]
        [--plays-per-day 12] [--campaigns 60]

Builds a fresh SQLite database with ``loop_bench.py``'s random mall, stores a year of
proof of play the way ``POST /signage/proof-of-play`` does (raw rows plus the daily
rollup of ``signage.rollup``), then times, over the whole year:

* delivered plays per campaign with plain SQL over the raw plays (the baseline), and
  from the rollup (what ``signage.reports`` reads), checking that both agree;
* the whole report (``signage.reports.report``, booked and delivered per campaign): the
  first time for a plan (booked plays counted by the scheduler for every screen class
  and day) and again while the plan is unchanged (counts kept).

A real screen plays thousands of times a day (8,640 ten-second slots); the raw query
grows with them, the rollup does not (one row per screen, day and campaign), so
``--plays-per-day`` only changes the baseline.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from loop_bench import plan_file  # noqa: E402


def _timed(work):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = work()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=500)
    parser.add_argument("--campaigns", type=int, default=60)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--plays-per-day", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from sqlalchemy import text
    from sqlmodel import Session

    from signage import reports
    from signage.config import SignageSettings
    from signage.plan_cache import PlanCache
    from signage.rollup import add_plays
    from signage.service import load_plan, plan_specs
    from store_server.db import make_engine, migrate

    folder = Path(tempfile.mkdtemp(prefix="caddie-report-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    migrate(url)
    engine = make_engine(url)
    document = plan_file(args.screens, args.campaigns, args.seed)
    first = date(2026, 1, 1)
    last = first + timedelta(days=args.days - 1)
    with Session(engine) as session:
        load_plan(
            session,
            json.dumps(document),
            base_dir=folder,
            settings=SignageSettings(media_dir=folder / "media"),
        )
        session.commit()

    # a year of plays: raw rows as the endpoint stores them, and the rollup it keeps
    rng = random.Random(args.seed)
    tz = ZoneInfo(document["timezone"])
    campaigns = [(c["id"], c["creatives"][0]) for c in document["campaigns"]]
    started = time.perf_counter()
    raw = 0
    with Session(engine) as session:
        for screen in document["screens"]:
            plays = []
            for d in range(args.days):
                midnight = datetime.combine(first + timedelta(days=d), datetime.min.time(), tz)
                for _ in range(args.plays_per_day):
                    campaign, creative = rng.choice(campaigns)
                    at = (midnight + timedelta(seconds=rng.randrange(86_400))).astimezone(UTC)
                    plays.append(
                        {
                            "play_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                            "screen_id": screen["id"],
                            "creative_id": creative,
                            "campaign_id": campaign,
                            "started_at": at,
                            "duration_ms": 10_000,
                        }
                    )
            session.connection().execute(
                text(
                    "INSERT INTO proof_of_play (play_id, screen_id, creative_id, campaign_id,"
                    " started_at, duration_ms, received_at) VALUES (:play_id, :screen_id,"
                    " :creative_id, :campaign_id, :started_at, :duration_ms, :started_at)"
                ),
                [{**p, "started_at": p["started_at"].replace(tzinfo=None)} for p in plays],
            )
            add_plays(session, screen["id"], document["timezone"], plays)
            raw += len(plays)
        session.commit()
        rollup_rows = (
            session.connection()
            .execute(text("SELECT COUNT(*) FROM signage_play_rollup"))
            .scalar_one()
        )
    print(
        f"{args.screens} screens, {len(campaigns)} campaigns, {args.days} days: "
        f"{raw:,} raw plays, {rollup_rows:,} rollup rows "
        f"(stored in {time.perf_counter() - started:.0f} s)"
    )

    since = datetime.combine(first, datetime.min.time(), tz).astimezone(UTC).replace(tzinfo=None)
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    until_naive = until.astimezone(UTC).replace(tzinfo=None)
    with engine.connect() as connection:
        raw_s, raw_counts = _timed(
            lambda: dict(
                connection.execute(
                    text(
                        "SELECT campaign_id, COUNT(*) FROM proof_of_play WHERE started_at >= :a"
                        " AND started_at < :b GROUP BY campaign_id"
                    ),
                    {"a": since, "b": until_naive},
                ).all()
            )
        )
        rollup_s, rollup_counts = _timed(
            lambda: dict(
                connection.execute(
                    text(
                        "SELECT campaign_id, SUM(plays) FROM signage_play_rollup WHERE day >= :a"
                        " AND day <= :b GROUP BY campaign_id"
                    ),
                    {"a": first, "b": last},
                ).all()
            )
        )
    assert raw_counts == rollup_counts, "the rollup must count what the raw plays say"
    print(f"delivered per campaign, plain SQL over raw plays: {raw_s * 1000:8.1f} ms")
    print(f"delivered per campaign, from the daily rollup:     {rollup_s * 1000:8.1f} ms")
    print(
        f"  (a real year has up to {8640 * args.screens * args.days:,} plays: the raw query "
        f"grows with them, about {raw_s * 8640 / args.plays_per_day:.0f} s at 10 s slots)"
    )

    plans = PlanCache()
    with Session(engine) as session:
        specs = plan_specs(session, plans)
        classes = len(set(reports._booked_of(specs).classes.values()))  # noqa: SLF001
        for label in ("first report for this plan", "again, plan unchanged"):
            took, rows = _timed(
                lambda: reports.report(
                    session, first=first, last=last, group="campaign", plans=plans
                )
            )
            print(f"year report per campaign ({label}): {took:8.2f} s ({len(rows)} rows)")
    print(f"  ({classes} screen classes: screens whose loops cannot differ are counted once)")
    engine.dispose()


if __name__ == "__main__":
    main()
