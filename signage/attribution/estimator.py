"""Did the screens sell anything? Uplift of promoted scans after plays, against matched
control windows. Pure: values in, a report out.

Design
------
*Exposure.* A store is exposed during ``[play, play + window)`` for every play of the
campaign on a screen near it (``screen_stores``); overlapping windows merge.

*Matched controls.* Each exposed interval is compared with the *same local weekday
and clock time* 1…``max_weeks`` weeks earlier and later, in the same store, whenever
that shifted interval lies inside the observed data and the campaign did not expose
the store then. Shifting by whole weeks in local time keeps weekday, hour and minute
(and survives DST). Intervals without any valid control are left out and reported as
``unmatched_minutes``.

*Estimate.* ``treated`` = promoted units scanned in the exposed intervals; ``expected``
= the mean of each interval's control counts, summed. ``uplift = treated / expected − 1``;
incremental scans ``treated − expected``; incremental revenue the same per GTIN times
its unit price.

*Confidence interval.* A cluster bootstrap with percentile intervals: clusters are
(store, local day); each replicate resamples clusters with replacement, keeping each
exposed interval together with its own controls. Why not a Poisson/normal formula:
scan counts are overdispersed (day-level shocks such as weather, baskets holding several
units) and a Poisson variance would understate the uncertainty; the bootstrap takes the
spread from the data. Seeded, so a report is reproducible. Offer acceptance gets a
Wilson score interval.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from zoneinfo import ZoneInfo

from signage.attribution.model import (
    AttributionReport,
    CampaignInput,
    OfferOutcome,
    Play,
    ScanCount,
    SeriesPoint,
)

METHOD = (
    "exposed windows [play, play + window) in stores near the screens vs the same weekday "
    "and clock time in other weeks without the campaign; uplift = treated / expected - 1; "
    "{confidence:.0%} percentile cluster bootstrap over (store, day), {replicates} replicates"
)

Interval = tuple[datetime, datetime]


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of half-open intervals, sorted."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _overlaps(intervals: Sequence[Interval], start: datetime, end: datetime) -> bool:
    i = bisect_left(intervals, (start, start))
    if i > 0 and intervals[i - 1][1] > start:
        return True
    return i < len(intervals) and intervals[i][0] < end


def shift_weeks(at: datetime, weeks: int, tz: ZoneInfo) -> datetime:
    """The same local weekday and wall-clock time ``weeks`` later (earlier if negative)."""
    local = at.astimezone(tz)
    return (local + timedelta(days=7 * weeks)).astimezone(UTC)


class _Counter:
    """Units scanned per (store, GTIN) in any interval, by binary search on sorted times."""

    def __init__(self, scans: Iterable[ScanCount]) -> None:
        series: dict[tuple[str, str], list[tuple[datetime, int]]] = defaultdict(list)
        for scan in scans:
            series[(scan.store_id, scan.gtin)].append((_utc(scan.at), scan.qty))
        self.times: dict[tuple[str, str], list[datetime]] = {}
        self.cumulative: dict[tuple[str, str], list[int]] = {}
        for key, rows in series.items():
            rows.sort(key=lambda r: r[0])
            self.times[key] = [t for t, _ in rows]
            running, cum = 0, [0]
            for _, qty in rows:
                running += qty
                cum.append(running)
            self.cumulative[key] = cum

    def count(self, store: str, gtin: str, start: datetime, end: datetime) -> int:
        times = self.times.get((store, gtin))
        if not times:
            return 0
        cum = self.cumulative[(store, gtin)]
        return cum[bisect_left(times, end)] - cum[bisect_left(times, start)]


@dataclass
class _Cluster:
    treated: dict[str, float]
    expected: dict[str, float]


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics."""
    if not sorted_values:
        raise ValueError("no values")
    pos = q * (len(sorted_values) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def wilson_interval(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def attribution_report(
    campaign: CampaignInput,
    plays: Iterable[Play],
    scans: Iterable[ScanCount],
    offers: Iterable[OfferOutcome] = (),
    *,
    screen_stores: Mapping[str, Sequence[str]],
    observed: Interval,
    timezone: str = "Europe/Paris",
    window_minutes: int = 30,
    max_weeks: int = 4,
    confidence: float = 0.95,
    replicates: int = 2000,
    seed: int = 0,
) -> AttributionReport:
    """The campaign's uplift report over the period its plays span.

    ``observed`` is the span the scan data covers (controls must fall inside it);
    ``screen_stores`` maps each screen to the stores near it."""
    tz = ZoneInfo(timezone)
    window = timedelta(minutes=window_minutes)
    observed = (_utc(observed[0]), _utc(observed[1]))
    own_plays = sorted(
        (p for p in plays if p.campaign_id == campaign.campaign_id),
        key=lambda p: _utc(p.started_at),
    )
    gtins = sorted(campaign.gtins)
    counter = _Counter(s for s in scans if s.gtin in campaign.gtins)

    exposure_raw: dict[str, list[Interval]] = defaultdict(list)
    for play in own_plays:
        start = _utc(play.started_at)
        for store in screen_stores.get(play.screen_id, ()):
            exposure_raw[store].append((start, start + window))
    exposure = {store: merge(raw) for store, raw in exposure_raw.items()}
    stores = tuple(sorted(exposure))

    clusters: dict[tuple[str, str], _Cluster] = {}
    exposed_minutes = unmatched_minutes = 0
    for store in stores:
        for start, end in exposure[store]:
            minutes = int((end - start).total_seconds() // 60)
            exposed_minutes += minutes
            controls: list[Interval] = []
            for k in range(-max_weeks, max_weeks + 1):
                if k == 0:
                    continue
                c_start, c_end = shift_weeks(start, k, tz), shift_weeks(end, k, tz)
                if c_start < observed[0] or c_end > observed[1]:
                    continue
                if _overlaps(exposure[store], c_start, c_end):
                    continue
                controls.append((c_start, c_end))
            if not controls:
                unmatched_minutes += minutes
                continue
            day = start.astimezone(tz).date().isoformat()
            cluster = clusters.setdefault(
                (store, day), _Cluster(defaultdict(float), defaultdict(float))
            )
            for gtin in gtins:
                cluster.treated[gtin] += counter.count(store, gtin, start, end)
                cluster.expected[gtin] += sum(
                    counter.count(store, gtin, a, b) for a, b in controls
                ) / len(controls)

    prices = {g: campaign.unit_price_cents.get(g, 0) for g in gtins}

    def totals(chosen: Iterable[_Cluster]) -> tuple[float, float, float]:
        treated = expected = revenue = 0.0
        for cluster in chosen:
            for gtin in gtins:
                t, e = cluster.treated.get(gtin, 0.0), cluster.expected.get(gtin, 0.0)
                treated += t
                expected += e
                revenue += (t - e) * prices[gtin]
        return treated, expected, revenue

    members = [clusters[key] for key in sorted(clusters)]
    treated, expected, revenue = totals(members)
    uplift = treated / expected - 1 if expected > 0 else None
    uplift_ci = incremental_ci = None
    revenue_ci = None
    if len(members) >= 2 and replicates > 0:
        rng = random.Random(seed)
        ratios: list[float] = []
        increments: list[float] = []
        revenues: list[float] = []
        for _ in range(replicates):
            sample = [members[rng.randrange(len(members))] for _ in members]
            t, e, r = totals(sample)
            increments.append(t - e)
            revenues.append(r)
            if e > 0:
                ratios.append(t / e - 1)
        alpha = (1 - confidence) / 2
        increments.sort()
        revenues.sort()
        incremental_ci = (_percentile(increments, alpha), _percentile(increments, 1 - alpha))
        revenue_ci = (round(_percentile(revenues, alpha)), round(_percentile(revenues, 1 - alpha)))
        if ratios:
            ratios.sort()
            uplift_ci = (_percentile(ratios, alpha), _percentile(ratios, 1 - alpha))

    if own_plays:
        first = _utc(own_plays[0].started_at).astimezone(tz)
        last = _utc(own_plays[-1].started_at).astimezone(tz)
        period_start = first.replace(hour=0, minute=0, second=0, microsecond=0)
        period_end = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        period = (period_start.astimezone(UTC), period_end.astimezone(UTC))
    else:
        period = observed

    made = accepted = 0
    for offer in offers:
        at = _utc(offer.offered_at)
        if not period[0] <= at < period[1] or offer.store_id not in exposure:
            continue
        if offer.gtins & campaign.gtins or offer.categories & campaign.categories:
            made += 1
            accepted += offer.accepted
    acceptance = accepted / made if made else None
    acceptance_ci = wilson_interval(accepted, made, confidence) if made else None

    return AttributionReport(
        campaign_id=campaign.campaign_id,
        period_start=period[0],
        period_end=period[1],
        window_minutes=window_minutes,
        confidence=confidence,
        method=METHOD.format(confidence=confidence, replicates=replicates),
        stores=stores,
        plays=len(own_plays),
        exposed_minutes=exposed_minutes,
        unmatched_minutes=unmatched_minutes,
        clusters=len(members),
        treated_scans=round(treated),
        expected_scans=expected,
        incremental_scans=treated - expected,
        incremental_scans_ci=incremental_ci,
        uplift=uplift,
        uplift_ci=uplift_ci,
        incremental_revenue_cents=round(revenue),
        incremental_revenue_ci=revenue_ci,
        offers_made=made,
        offers_accepted=accepted,
        acceptance_rate=acceptance,
        acceptance_ci=acceptance_ci,
        series=_hourly_series(
            own_plays, counter, gtins, stores, exposure, period, observed, tz, max_weeks
        ),
    )


def _hourly_series(
    plays: Sequence[Play],
    counter: _Counter,
    gtins: Sequence[str],
    stores: Sequence[str],
    exposure: Mapping[str, Sequence[Interval]],
    period: Interval,
    observed: Interval,
    tz: ZoneInfo,
    max_weeks: int,
) -> tuple[SeriesPoint, ...]:
    """Per hour of the period: plays, promoted scans in the near stores, and the mean of
    the same hour in other weeks where the campaign did not expose those stores."""
    plays_per_hour: dict[datetime, int] = defaultdict(int)
    for play in plays:
        at = _utc(play.started_at)
        plays_per_hour[at.replace(minute=0, second=0, microsecond=0)] += 1
    points: list[SeriesPoint] = []
    hour = period[0].replace(minute=0, second=0, microsecond=0)
    while hour < period[1]:
        end = hour + timedelta(hours=1)
        scans = sum(counter.count(s, g, hour, end) for s in stores for g in gtins)
        baseline: list[int] = []
        for k in range(-max_weeks, max_weeks + 1):
            if k == 0:
                continue
            a, b = shift_weeks(hour, k, tz), shift_weeks(end, k, tz)
            if a < observed[0] or b > observed[1]:
                continue
            if any(_overlaps(exposure[s], a, b) for s in stores):
                continue
            baseline.append(sum(counter.count(s, g, a, b) for s in stores for g in gtins))
        expected = sum(baseline) / len(baseline) if baseline else None
        points.append(SeriesPoint(hour, plays_per_hour.get(hour, 0), scans, expected))
        hour = end
    return tuple(points)
