"""Did the screens sell anything? Uplift of promoted scans after plays, against matched
control windows. Pure: values in, a report out.

Design
------
*Exposure.* A store is exposed during ``[play, play + window)`` for every play of the
campaign on a screen near it (``screen_stores``); overlapping windows merge, and the
result is cut at local midnights, so each piece of exposure belongs to one local day.

*Matched controls.* Each exposed piece is compared with the *same local weekday and
clock time* 1…``max_weeks`` weeks earlier, in the same store, whenever that shifted
piece lies inside the observed data and the campaign did not expose the store then
(every play given counts for that, also those outside the reported period). Shifting
by whole weeks in local time keeps weekday, hour and minute (and survives DST). Pieces
without any valid control are left out and reported as ``unmatched_minutes``.

*Estimate.* ``treated`` = promoted units scanned in the exposed pieces; ``expected``
= the mean of each piece's control counts, summed. ``uplift = treated / expected − 1``;
incremental scans ``treated − expected``; incremental revenue the same per GTIN times
its unit price.

*Confidence interval.* A cluster bootstrap with percentile intervals: clusters are
(store, local day); each replicate resamples clusters with replacement, keeping each
exposed piece together with its own controls. Why not a Poisson/normal formula:
scan counts are overdispersed (day-level shocks such as weather, baskets holding several
units) and a Poisson variance would understate the uncertainty; the bootstrap takes the
spread from the data. Seeded, so a report is reproducible. Offer acceptance gets a
Wilson score interval.

Privacy (DESIGN.md: the mall operator sees aggregates, never a shopper or a basket)
----------------------------------------------------------------------------------
The operator chooses the promoted GTINs, the screens and the period, so a report must
never describe a handful of baskets. The rule is the live store signals' one
(``store_server.signals.models``): a count made from fewer than ``min_count`` *distinct
baskets* — zero included, so that "hidden" never tells "nobody" from "a few" — is not
shown. It is applied to cells that do not depend on the period asked for, and every
total is a sum of shown cells only, so no subtraction between figures (of one report
or of several) can bring a hidden count back:

* a (store, local day) cluster counts only if its exposed pieces hold promoted scans
  from at least ``min_count`` baskets *and* its control pieces do too; the others are
  left out of every figure (``suppressed_clusters``, ``suppressed_minutes``). The
  treated, expected, incremental and uplift figures and their intervals are made from
  the clusters that count (None when none does). Incremental revenue weighs GTINs by
  price, which would tell them apart, so with GTINs at different prices it is shown
  only if every cluster that counts also passes for each GTIN on its own;
* the hourly series splits those same clusters by clock hour: an hour's scans (and its
  expected scans) are shown if they come from ``min_count`` baskets; and within each
  local day, if the hidden hours together hold between 1 and ``min_count`` - 1 baskets,
  the shown hour with the fewest baskets is hidden too, until they hold at least
  ``min_count`` (the day's total minus its shown hours is then no small count);
* offers count per local day (offers made in stores exposed that day): a day counts
  only if the offers were made in at least ``min_count`` baskets, accepted in at least
  ``min_count`` and declined in at least ``min_count`` (made − accepted must not single
  anyone out either); the others are left out (``suppressed_offer_days``).

Cells are made independent of the period asked for by cutting exposure at local
midnight, taking controls only from earlier weeks (inside the observed data whatever
the period), and letting plays outside the period still block controls. What the rule
cannot stop is a figure that changes because the data did (a new basket, or one
abandoned, between two requests); reports are meant for days that are over.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
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
    "and clock time in earlier weeks without the campaign; uplift = treated / expected - 1; "
    "{confidence:.0%} percentile cluster bootstrap over (store, day), {replicates} replicates; "
    "counts from fewer than {min_count} distinct baskets are hidden and left out"
)
DEFAULT_MIN_COUNT = 5  # as the store signals' CADDIE_SIGNALS_MIN_COUNT
MINUTE = timedelta(minutes=1)

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


def split_days(intervals: Iterable[Interval], tz: ZoneInfo) -> list[Interval]:
    """``intervals`` cut at every local midnight they cross, so each piece is in one day."""
    pieces: list[Interval] = []
    for start, end in intervals:
        while start < end:
            day = start.astimezone(tz).date() + timedelta(days=1)
            cut = min(end, datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC))
            pieces.append((start, cut))
            start = cut
    return pieces


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
    """Units scanned per (store, GTIN) in any interval, and the distinct baskets they
    were scanned into, by binary search on sorted times."""

    def __init__(self, scans: Iterable[ScanCount]) -> None:
        series: dict[tuple[str, str], list[tuple[datetime, int, str]]] = defaultdict(list)
        for n, scan in enumerate(scans):
            # a row without a basket is a basket of its own ("\0…" is never a token)
            basket = scan.basket if scan.basket is not None else f"\0{n}"
            series[(scan.store_id, scan.gtin)].append((_utc(scan.at), scan.qty, basket))
        self.times: dict[tuple[str, str], list[datetime]] = {}
        self.cumulative: dict[tuple[str, str], list[int]] = {}
        self.baskets_of: dict[tuple[str, str], list[str]] = {}
        for key, rows in series.items():
            rows.sort(key=lambda r: r[0])
            self.times[key] = [t for t, _, _ in rows]
            self.baskets_of[key] = [b for _, _, b in rows]
            running, cum = 0, [0]
            for _, qty, _ in rows:
                running += qty
                cum.append(running)
            self.cumulative[key] = cum

    def _span(self, store: str, gtin: str, start: datetime, end: datetime) -> tuple[int, int]:
        times = self.times.get((store, gtin))
        if not times:
            return 0, 0
        return bisect_left(times, start), bisect_left(times, end)

    def count(self, store: str, gtin: str, start: datetime, end: datetime) -> int:
        i, j = self._span(store, gtin, start, end)
        if i == j:
            return 0
        cum = self.cumulative[(store, gtin)]
        return cum[j] - cum[i]

    def baskets(self, store: str, gtin: str, start: datetime, end: datetime) -> set[str]:
        i, j = self._span(store, gtin, start, end)
        return set(self.baskets_of[(store, gtin)][i:j]) if i != j else set()


@dataclass
class _Piece:
    """Exposure of one store within one local day, with the weeks back its controls are."""

    store: str
    start: datetime
    end: datetime
    weeks: tuple[int, ...]


@dataclass
class _Cluster:
    """A (store, local day): per GTIN the units scanned while exposed, the control mean,
    and the distinct baskets behind each."""

    pieces: list[_Piece] = field(default_factory=list)
    treated: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    expected: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    treated_baskets: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    control_baskets: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def span(self) -> timedelta:
        return sum((p.end - p.start for p in self.pieces), timedelta())


@dataclass
class _Observed:
    """One GTIN in one store over an exposed interval: the units scanned and their
    baskets, and over its control intervals the mean units and all their baskets."""

    units: int
    baskets: set[str]
    expected: float
    control_baskets: set[str]


def _observe(
    counter: _Counter,
    store: str,
    gtin: str,
    interval: Interval,
    controls: Sequence[Interval],
) -> _Observed:
    total, control_baskets = 0, set[str]()
    for a, b in controls:
        total += counter.count(store, gtin, a, b)
        control_baskets |= counter.baskets(store, gtin, a, b)
    start, end = interval
    return _Observed(
        counter.count(store, gtin, start, end),
        counter.baskets(store, gtin, start, end),
        total / len(controls),
        control_baskets,
    )


def _union(sets: Iterable[set[str]]) -> set[str]:
    out: set[str] = set()
    for one in sets:
        out |= one
    return out


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
    period: Interval | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
) -> AttributionReport:
    """The campaign's uplift report over ``period`` (default: the days its plays span).

    ``observed`` is the span the scan data covers (controls must fall inside it);
    ``screen_stores`` maps each screen to the stores near it. Plays outside ``period``
    only keep controls off the times they exposed a store. ``min_count`` is the privacy
    rule's smallest number of distinct baskets (module docstring)."""
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    tz = ZoneInfo(timezone)
    window = timedelta(minutes=window_minutes)
    observed = (_utc(observed[0]), _utc(observed[1]))
    own_plays = sorted(
        (p for p in plays if p.campaign_id == campaign.campaign_id),
        key=lambda p: _utc(p.started_at),
    )
    if period is not None:
        period = (_utc(period[0]), _utc(period[1]))
    elif own_plays:
        first = _utc(own_plays[0].started_at).astimezone(tz)
        last = _utc(own_plays[-1].started_at).astimezone(tz)
        period = (
            datetime.combine(first.date(), time(0), tzinfo=tz).astimezone(UTC),
            datetime.combine(last.date() + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC),
        )
    else:
        period = observed
    in_period = [p for p in own_plays if period[0] <= _utc(p.started_at) < period[1]]
    gtins = sorted(campaign.gtins)
    counter = _Counter(s for s in scans if s.gtin in campaign.gtins)

    exposure_raw: dict[str, list[Interval]] = defaultdict(list)
    for play in own_plays:
        start = _utc(play.started_at)
        for store in screen_stores.get(play.screen_id, ()):
            exposure_raw[store].append((start, start + window))
    exposure = {store: merge(raw) for store, raw in exposure_raw.items()}

    clusters: dict[tuple[str, date], _Cluster] = {}
    exposed_days: set[tuple[str, date]] = set()
    exposed = unmatched = timedelta()  # whole minutes only once summed: pieces split them
    for store in sorted(exposure):
        for start, end in split_days(exposure[store], tz):
            start, end = max(start, period[0]), min(end, period[1])
            if start >= end:
                continue
            day = start.astimezone(tz).date()
            exposed_days.add((store, day))
            exposed += end - start
            weeks, controls = [], []
            for k in range(1, max_weeks + 1):
                c_start, c_end = shift_weeks(start, -k, tz), shift_weeks(end, -k, tz)
                if c_start < observed[0] or c_end > observed[1]:
                    continue
                if _overlaps(exposure[store], c_start, c_end):
                    continue
                weeks.append(k)
                controls.append((c_start, c_end))
            if not weeks:
                unmatched += end - start
                continue
            piece = _Piece(store, start, end, tuple(weeks))
            cluster = clusters.setdefault((store, day), _Cluster())
            cluster.pieces.append(piece)
            for gtin in gtins:
                seen = _observe(counter, store, gtin, (start, end), controls)
                cluster.treated[gtin] += seen.units
                cluster.treated_baskets[gtin] |= seen.baskets
                cluster.expected[gtin] += seen.expected
                cluster.control_baskets[gtin] |= seen.control_baskets
    stores = tuple(sorted({store for store, _ in exposed_days}))

    def enough(baskets: Iterable[set[str]]) -> bool:
        return len(_union(baskets)) >= min_count

    members: list[_Cluster] = []
    suppressed = timedelta()
    for key in sorted(clusters):
        cluster = clusters[key]
        if enough(cluster.treated_baskets.values()) and enough(cluster.control_baskets.values()):
            members.append(cluster)
        else:
            suppressed += cluster.span()

    prices = {g: campaign.unit_price_cents.get(g, 0) for g in gtins}
    # with GTINs at different prices, revenue beside the scan totals would tell the
    # GTINs apart: then every cluster must pass for each GTIN on its own
    revenue_shown = len(set(prices.values())) <= 1 or all(
        len(c.treated_baskets[g]) >= min_count and len(c.control_baskets[g]) >= min_count
        for c in members
        for g in gtins
    )

    def totals(chosen: Iterable[_Cluster]) -> tuple[float, float, float]:
        treated = expected = revenue = 0.0
        for cluster in chosen:
            for gtin in gtins:
                t, e = cluster.treated.get(gtin, 0.0), cluster.expected.get(gtin, 0.0)
                treated += t
                expected += e
                revenue += (t - e) * prices[gtin]
        return treated, expected, revenue

    treated, expected, revenue = totals(members)
    uplift = treated / expected - 1 if members and expected > 0 else None
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

    offer_days, offer_figures = _offer_days(
        offers, campaign, period, tz, exposed_days, min_count, confidence
    )
    made, accepted, acceptance, acceptance_ci = offer_figures

    return AttributionReport(
        campaign_id=campaign.campaign_id,
        period_start=period[0],
        period_end=period[1],
        window_minutes=window_minutes,
        confidence=confidence,
        method=METHOD.format(confidence=confidence, replicates=replicates, min_count=min_count),
        stores=stores,
        plays=len(in_period),
        exposed_minutes=exposed // MINUTE,
        unmatched_minutes=unmatched // MINUTE,
        clusters=len(members),
        treated_scans=round(treated) if members else None,
        expected_scans=expected if members else None,
        incremental_scans=treated - expected if members else None,
        incremental_scans_ci=incremental_ci,
        uplift=uplift,
        uplift_ci=uplift_ci,
        incremental_revenue_cents=round(revenue) if members and revenue_shown else None,
        incremental_revenue_ci=revenue_ci if revenue_shown else None,
        offers_made=made,
        offers_accepted=accepted,
        acceptance_rate=acceptance,
        acceptance_ci=acceptance_ci,
        series=_hourly_series(in_period, members, counter, gtins, period, tz, min_count),
        min_count=min_count,
        suppressed_clusters=len(clusters) - len(members),
        suppressed_minutes=suppressed // MINUTE,
        suppressed_offer_days=offer_days,
    )


def _offer_days(
    offers: Iterable[OfferOutcome],
    campaign: CampaignInput,
    period: Interval,
    tz: ZoneInfo,
    exposed_days: set[tuple[str, date]],
    min_count: int,
    confidence: float,
) -> tuple[int, tuple[int | None, int | None, float | None, tuple[float, float] | None]]:
    """``(days left out, (made, accepted, rate, interval))`` over the local days whose
    offers were made, accepted and declined in ``min_count`` baskets each."""
    days: dict[date, tuple[list[int], list[set[str]]]] = {}
    for n, offer in enumerate(offers):
        at = _utc(offer.offered_at)
        if not period[0] <= at < period[1]:
            continue
        day = at.astimezone(tz).date()
        if (offer.store_id, day) not in exposed_days:
            continue
        if not (offer.gtins & campaign.gtins or offer.categories & campaign.categories):
            continue
        counts, baskets = days.setdefault(day, ([0, 0], [set(), set(), set()]))
        basket = offer.basket if offer.basket is not None else f"\0{n}"
        counts[0] += 1
        counts[1] += offer.accepted
        baskets[0].add(basket)
        baskets[1 if offer.accepted else 2].add(basket)
    made = accepted = shown = 0
    for counts, baskets in days.values():
        if all(len(b) >= min_count for b in baskets):
            made, accepted, shown = made + counts[0], accepted + counts[1], shown + 1
    if not shown:
        return len(days), (None, None, None, None)
    interval = wilson_interval(accepted, made, confidence)
    return len(days) - shown, (made, accepted, accepted / made, interval)


def _hourly_series(
    plays: Sequence[Play],
    members: Sequence[_Cluster],
    counter: _Counter,
    gtins: Sequence[str],
    period: Interval,
    tz: ZoneInfo,
    min_count: int,
) -> tuple[SeriesPoint, ...]:
    """Per clock hour of the period: plays, and the counted clusters' exposed scans and
    their control expectation, split by hour, with the privacy rule applied."""
    hours: list[datetime] = []
    hour = period[0]
    while hour < period[1]:
        hours.append(hour)
        hour += timedelta(hours=1)
    plays_per_hour = [0] * len(hours)
    for play in plays:
        plays_per_hour[int((_utc(play.started_at) - period[0]).total_seconds() // 3600)] += 1
    measured = [False] * len(hours)
    scans = [0] * len(hours)
    expected = [0.0] * len(hours)
    baskets: list[set[str]] = [set() for _ in hours]
    control_baskets: list[set[str]] = [set() for _ in hours]
    for cluster in members:
        for piece in cluster.pieces:
            at = piece.start
            while at < piece.end:
                i = int((at - period[0]).total_seconds() // 3600)
                until = min(piece.end, hours[i] + timedelta(hours=1))
                measured[i] = True
                controls = [
                    (shift_weeks(at, -k, tz), shift_weeks(until, -k, tz)) for k in piece.weeks
                ]
                for gtin in gtins:
                    seen = _observe(counter, piece.store, gtin, (at, until), controls)
                    scans[i] += seen.units
                    baskets[i] |= seen.baskets
                    expected[i] += seen.expected
                    control_baskets[i] |= seen.control_baskets
                at = until
    by_day: dict[date, list[int]] = defaultdict(list)
    for i, start in enumerate(hours):
        by_day[start.astimezone(tz).date()].append(i)
    show_scans = _shown(measured, baskets, by_day.values(), min_count)
    show_expected = _shown(measured, control_baskets, by_day.values(), min_count)
    return tuple(
        SeriesPoint(
            hours[i],
            plays_per_hour[i],
            scans[i] if show_scans[i] else None,
            expected[i] if show_expected[i] else None,
        )
        for i in range(len(hours))
    )


def _shown(
    measured: Sequence[bool],
    baskets: Sequence[set[str]],
    days: Iterable[Sequence[int]],
    min_count: int,
) -> list[bool]:
    """Which hours may show their count: measured, from ``min_count`` baskets, and —
    within each day — leaving the hidden hours together either without any basket or
    with at least ``min_count`` (hiding the smallest shown hours until they do)."""
    shown = [m and len(b) >= min_count for m, b in zip(measured, baskets, strict=True)]
    for day in days:
        hidden = _union(baskets[i] for i in day if not shown[i])
        while 0 < len(hidden) < min_count:
            candidates = [i for i in day if shown[i]]
            if not candidates:
                break
            smallest = min(candidates, key=lambda i: (len(baskets[i]), i))
            shown[smallest] = False
            hidden |= baskets[smallest]
    return shown
