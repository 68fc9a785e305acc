"""A simulated mall: baseline weeks, then one campaign week with a known true uplift.

Used to check that the estimator recovers what was put in. The simulation is
deliberately harder than Poisson noise alone:

* scan rates vary by store, weekday and hour (a lunchtime and an evening peak);
* every (store, day) gets its own multiplicative shock (weather, events), so counts are
  overdispersed and a naive Poisson interval would be too narrow;
* the campaign plays in two dayparts, on screens each near some of the stores, and
  multiplies the promoted GTINs' rate by ``1 + true_uplift`` during
  ``[play, play + window)`` in those stores, and nowhere else.

Plays fall on 5-minute marks and the window is a multiple of 5 minutes, so every
5-minute bucket is wholly exposed or not and the truth is exact.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from signage.attribution.model import CampaignInput, OfferOutcome, Play, ScanCount

BUCKET = timedelta(minutes=5)
OPEN, CLOSE = 8, 22


@dataclass(frozen=True)
class SyntheticMall:
    campaign: CampaignInput
    plays: tuple[Play, ...]
    scans: tuple[ScanCount, ...]
    offers: tuple[OfferOutcome, ...]
    screen_stores: dict[str, tuple[str, ...]]
    observed: tuple[datetime, datetime]
    timezone: str
    window_minutes: int
    true_uplift: float
    true_acceptance: float
    # What the campaign added in expectation, given the simulated shocks.
    true_incremental_scans: float
    true_incremental_revenue_cents: float


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method (rates here are small); normal approximation for large ones."""
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _hour_profile(hour: int) -> float:
    lunch = math.exp(-((hour - 12.5) ** 2) / 3)
    evening = 1.3 * math.exp(-((hour - 18) ** 2) / 4)
    return 0.3 + lunch + evening


def simulate_mall_week(
    *,
    seed: int,
    true_uplift: float,
    weeks_before: int = 3,
    first_day: date = date(2026, 11, 2),
    timezone: str = "Europe/Paris",
    window_minutes: int = 30,
    base_rate_per_hour: float = 6.0,
    day_shock_sd: float = 0.12,
    true_acceptance: float = 0.3,
    offers_per_day: int = 20,
) -> SyntheticMall:
    """``weeks_before`` baseline weeks from ``first_day`` (a Monday), then the campaign
    week. Deterministic for a given ``seed``."""
    if window_minutes % 5:
        raise ValueError("window_minutes must be a multiple of 5")
    rng = random.Random(seed)
    tz = ZoneInfo(timezone)
    stores = ("store-1", "store-2", "store-3", "store-4")
    screen_stores = {"S-01": ("store-1", "store-2"), "S-02": ("store-3",)}
    store_level = {"store-1": 1.0, "store-2": 0.7, "store-3": 1.3, "store-4": 0.9}
    gtins = {"03012345678903": 349, "03012345678910": 499}
    weekday_level = (0.9, 0.85, 0.95, 1.0, 1.15, 1.4, 0.6)
    campaign = CampaignInput("K-COFFEE", frozenset(gtins), dict(gtins), frozenset({"coffee"}))
    campaign_day0 = first_day + timedelta(days=7 * weeks_before)
    days = [first_day + timedelta(days=d) for d in range(7 * (weeks_before + 1))]

    plays: list[Play] = []
    for d in range(7):
        day = campaign_day0 + timedelta(days=d)
        for screen, (start_h, end_h, every) in (("S-01", (11, 14, 10)), ("S-02", (17, 20, 15))):
            at = datetime.combine(day, time(start_h), tzinfo=tz)
            stop = datetime.combine(day, time(end_h), tzinfo=tz)
            while at < stop:
                plays.append(Play(campaign.campaign_id, screen, at.astimezone(UTC)))
                at += timedelta(minutes=every)
    window = timedelta(minutes=window_minutes)
    exposed: dict[str, set[datetime]] = {s: set() for s in stores}
    for play in plays:
        for store in screen_stores[play.screen_id]:
            bucket = play.started_at
            while bucket < play.started_at + window:
                exposed[store].add(bucket)
                bucket += BUCKET

    scans: list[ScanCount] = []
    true_scans = true_revenue = 0.0
    for day in days:
        weekday = day.weekday()
        for store in stores:
            shock = math.exp(rng.gauss(-(day_shock_sd**2) / 2, day_shock_sd))
            bucket = datetime.combine(day, time(OPEN), tzinfo=tz).astimezone(UTC)
            close = datetime.combine(day, time(CLOSE), tzinfo=tz).astimezone(UTC)
            while bucket < close:
                hour = bucket.astimezone(tz).hour
                base = (
                    base_rate_per_hour
                    / 12
                    * store_level[store]
                    * weekday_level[weekday]
                    * _hour_profile(hour)
                    * shock
                )
                lift = 1 + true_uplift if bucket in exposed[store] else 1.0
                for gtin, price in gtins.items():
                    lam = base * lift
                    if lift != 1.0:
                        true_scans += base * true_uplift
                        true_revenue += base * true_uplift * price
                    for _ in range(_poisson(rng, lam)):
                        offset = timedelta(seconds=rng.randrange(300))
                        scans.append(ScanCount(store, gtin, bucket + offset))
                bucket += BUCKET

    offers: list[OfferOutcome] = []
    for d in range(7):
        day = campaign_day0 + timedelta(days=d)
        for i in range(offers_per_day):
            store = stores[i % 3]  # the stores near the screens
            at = datetime.combine(day, time(10), tzinfo=tz) + timedelta(minutes=30 * i)
            offers.append(
                OfferOutcome(
                    offer_id=f"O-{d}-{i}",
                    store_id=store,
                    gtins=frozenset({next(iter(gtins))}),
                    offered_at=at.astimezone(UTC),
                    accepted=rng.random() < true_acceptance,
                )
            )
    observed = (
        datetime.combine(first_day, time(0), tzinfo=tz).astimezone(UTC),
        datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC),
    )
    return SyntheticMall(
        campaign=campaign,
        plays=tuple(plays),
        scans=tuple(scans),
        offers=tuple(offers),
        screen_stores=screen_stores,
        observed=observed,
        timezone=timezone,
        window_minutes=window_minutes,
        true_uplift=true_uplift,
        true_acceptance=true_acceptance,
        true_incremental_scans=true_scans,
        true_incremental_revenue_cents=true_revenue,
    )
