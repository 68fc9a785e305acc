"""The privacy rule of attribution: no figure rests on fewer than ``min_count`` baskets.

The mall operator chooses the promoted GTINs, the screens and the period, so one
basket's scan must never show — not in the summary, the hourly series, the exports or
the chart — and must not come back by subtracting shown figures from one another,
within one report or between reports of different periods.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from signage.attribution import (
    AttributionReport,
    CampaignInput,
    OfferOutcome,
    Play,
    ScanCount,
    attribution_report,
    render_chart_svg,
    report_to_json,
    reports_to_csv,
    series_to_csv,
)
from signage.attribution.estimator import shift_weeks

PARIS = "Europe/Paris"
TZ = ZoneInfo(PARIS)
G1, G2 = "03012345678903", "03012345678910"
CAMPAIGN = CampaignInput("K-SPY", frozenset({G1}), {G1: 300})
T = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # Wednesday 10:00 in Paris
DAY = timedelta(days=1)
OBSERVED = (T - timedelta(weeks=4, hours=10), T + timedelta(days=3))


def baskets(
    gtin: str, at: datetime, n: int, *, tag: str, store: str = "store-1", qty: int = 1
) -> list[ScanCount]:
    """``n`` baskets, each scanning ``qty`` units of ``gtin`` one minute apart from ``at``."""
    return [
        ScanCount(store, gtin, at + timedelta(minutes=i % 25), qty, basket=f"{tag}-{i}")
        for i in range(n)
    ]


def controls(at: datetime, n: int, gtin: str = G1) -> list[ScanCount]:
    """``n`` baskets in each of the four control weeks of a window starting at ``at``."""
    return [
        scan
        for week in range(1, 5)
        for scan in baskets(gtin, shift_weeks(at, -week, TZ), n, tag=f"c{week}-{gtin}-{at}")
    ]


def report(
    plays: list[Play], scans: list[ScanCount], campaign: CampaignInput = CAMPAIGN, **kw: Any
) -> AttributionReport:
    options: dict[str, Any] = {
        "screen_stores": {"S-01": ["store-1"]},
        "observed": OBSERVED,
        "timezone": PARIS,
        "replicates": 50,
    }
    options.update(kw)
    return attribution_report(campaign, plays, scans, **options)


def day_period(at: datetime, days: int = 1) -> tuple[datetime, datetime]:
    start = at.replace(hour=0) - timedelta(hours=1)  # local midnight in Paris (CET)
    return start, start + days * DAY


def nothing_about_scans(r: AttributionReport) -> None:
    """Every figure made from scans is hidden, in the report and in every export."""
    assert r.treated_scans is None and r.expected_scans is None
    assert r.incremental_scans is None and r.incremental_scans_ci is None
    assert r.uplift is None and r.uplift_ci is None
    assert r.incremental_revenue_cents is None and r.incremental_revenue_ci is None
    assert all(p.scans is None and p.expected_scans is None for p in r.series)
    data = json.loads(report_to_json(r))
    assert all(point["scans"] is None for point in data["series"])
    (row,) = csv.DictReader(io.StringIO(reports_to_csv([r])))
    for column in ("treated_scans", "expected_scans", "uplift", "incremental_revenue_cents"):
        assert row[column] == "", column
    assert all(row["scans"] == "" for row in csv.DictReader(io.StringIO(series_to_csv(r))))
    svg = ET.fromstring(render_chart_svg(r))
    assert not [e for e in svg.iter() if e.get("class") in ("scans", "expected")]


# --------------------------------------------------------------------------- the spy


def test_one_basket_scanned_after_one_play_never_shows() -> None:
    """The audit's case: one play, one basket, one unit of a product the operator chose."""
    plays = [Play("K-SPY", "S-01", T)]
    scans = baskets(G1, T + timedelta(minutes=5), 1, tag="spy") + controls(T, 6)
    r = report(plays, scans)
    assert r.plays == 1 and r.series[10].plays == 1  # plays are not about shoppers
    nothing_about_scans(r)
    assert (r.clusters, r.suppressed_clusters, r.suppressed_minutes) == (0, 1, 30)


@pytest.mark.parametrize(("n", "qty"), [(1, 5), (4, 1), (4, 3)])
def test_fewer_than_five_baskets_are_hidden_however_many_units(n: int, qty: int) -> None:
    scans = baskets(G1, T, n, tag="few", qty=qty) + controls(T, 6)
    nothing_about_scans(report([Play("K-SPY", "S-01", T)], scans))


def test_five_baskets_show_exactly() -> None:
    scans = baskets(G1, T, 5, tag="five", qty=2) + controls(T, 2)
    r = report([Play("K-SPY", "S-01", T)], scans)
    assert (r.treated_scans, r.expected_scans) == (10, 2.0)  # 8 control baskets, 2 a week
    assert r.incremental_revenue_cents == (10 - 2) * 300
    shown = [p for p in r.series if p.scans is not None]
    assert [(p.hour_start, p.scans, p.expected_scans) for p in shown] == [(T, 10, 2.0)]


def test_controls_from_few_baskets_hide_the_cluster_too() -> None:
    """The expectation is a count as well: four baskets over the control weeks say who."""
    scans = baskets(G1, T, 20, tag="busy") + controls(T, 1)
    r = report([Play("K-SPY", "S-01", T)], scans)
    nothing_about_scans(r)
    assert r.suppressed_clusters == 1


def test_nobody_is_hidden_like_somebody() -> None:
    """Zero rests on no basket: shown, it would tell a hidden cell holds somebody."""
    r = report([Play("K-SPY", "S-01", T)], controls(T, 6))
    assert r.treated_scans is None and all(p.scans is None for p in r.series)


# --------------------------------------------------------------------------- busy periods


def busy_week(days: int = 3) -> tuple[list[Play], list[ScanCount]]:
    """Plays at 10:00 and 12:00 on each day, 8 baskets after each, 3 a week in controls."""
    plays: list[Play] = []
    scans: list[ScanCount] = []
    for d in range(days):
        for hours in (0, 2):
            at = T + d * DAY + timedelta(hours=hours)
            plays.append(Play("K-SPY", "S-01", at))
            scans += baskets(G1, at, 8, tag=f"b{d}{hours}", qty=2) + controls(at, 3)
    return plays, scans


def test_an_ordinary_busy_period_reports_exact_figures() -> None:
    plays, scans = busy_week()
    r = report(plays, scans)
    assert (r.clusters, r.suppressed_clusters) == (3, 0)
    assert r.treated_scans == 3 * 2 * 8 * 2
    assert r.expected_scans == pytest.approx(3 * 2 * 3)
    assert r.uplift == pytest.approx(96 / 18 - 1)
    assert r.uplift_ci is not None and r.incremental_revenue_cents == (96 - 18) * 300
    shown = [p.scans for p in r.series if p.scans is not None]
    assert shown == [16, 16] * 3  # every exposed hour, exactly


# --------------------------------------------------------------------------- differencing


def test_a_quiet_hour_cannot_be_had_by_subtracting_the_other_hours() -> None:
    """Day total 16 + 1: showing the busy hour would give the quiet one as 17 - 16."""
    plays = [Play("K-SPY", "S-01", T), Play("K-SPY", "S-01", T + timedelta(hours=2))]
    scans = (
        baskets(G1, T, 8, tag="busy", qty=2)
        + baskets(G1, T + timedelta(hours=2), 1, tag="alone")
        + controls(T, 3)
        + controls(T + timedelta(hours=2), 3)
    )
    r = report(plays, scans)
    assert r.treated_scans == 17  # 9 baskets: the day counts
    assert [p.scans for p in r.series if p.scans is not None] == []  # both hours hidden


def test_complementary_hiding_stops_once_the_hidden_hours_hold_five_baskets() -> None:
    at = [T, T + timedelta(hours=2), T + timedelta(hours=4)]
    plays = [Play("K-SPY", "S-01", a) for a in at]
    scans = (
        baskets(G1, at[0], 10, tag="ten")
        + baskets(G1, at[1], 6, tag="six")
        + baskets(G1, at[2], 1, tag="one")
        + [c for a in at for c in controls(a, 3)]
    )
    r = report(plays, scans)
    assert r.treated_scans == 17
    shown = {p.hour_start: p.scans for p in r.series if p.scans is not None}
    assert shown == {T: 10}  # 17 - 10 is the 7 baskets of the two hidden hours together


def test_a_quiet_day_cannot_be_had_by_subtracting_two_periods() -> None:
    plays, scans = busy_week(days=1)
    quiet = T + DAY
    plays.append(Play("K-SPY", "S-01", quiet))
    scans += baskets(G1, quiet, 1, tag="alone") + controls(quiet, 6)
    both = report(plays, scans, period=day_period(T, 2))
    first = report(plays, scans, period=day_period(T))
    second = report(plays, scans, period=day_period(quiet))
    nothing_about_scans(second)
    assert both.treated_scans == first.treated_scans == 32
    assert both.expected_scans == first.expected_scans
    assert both.suppressed_clusters == 1 and both.plays == first.plays + 1


def as_the_service_asks(
    plays: list[Play], scans: list[ScanCount], first: datetime, days: int
) -> AttributionReport:
    """A report as ``campaign_attribution`` makes it: every play it read, and scan data
    observed from four weeks before the period to its end."""
    period = day_period(first, days)
    return report(plays, scans, period=period, observed=(period[0] - 4 * 7 * DAY, period[1]))


def test_a_day_reads_the_same_alone_or_within_a_longer_period() -> None:
    """Cells do not depend on the period asked for, so periods subtract to whole days."""
    plays, scans = busy_week(days=1)
    later, plays_2, scans_2 = 8 * DAY, *busy_week(days=1)
    plays += [Play(p.campaign_id, p.screen_id, p.started_at + later) for p in plays_2]
    scans += [ScanCount(c.store_id, c.gtin, c.at + later, c.qty, f"{c.basket}+") for c in scans_2]
    # a play a week before the period: that week cannot be a control, asked alone or not
    plays.append(Play("K-SPY", "S-01", T - 7 * DAY))
    scans += baskets(G1, T - 7 * DAY, 9, tag="week-before")
    # a week after day one, at its time, unexposed: only a later-week control would see it
    scans += baskets(G1, T + 7 * DAY, 9, tag="week-after")
    # a play at 23:50 the evening before: its window runs past midnight into day one
    late = T.replace(hour=22, minute=50) - DAY
    plays.append(Play("K-SPY", "S-01", late))
    scans += baskets(G1, late, 6, tag="late") + controls(late, 3)
    scans += baskets(G1, T.replace(hour=23, minute=5) - DAY, 6, tag="after-midnight")
    per_day = [as_the_service_asks(plays, scans, T + d * DAY, 1) for d in range(9)]
    whole = as_the_service_asks(plays, scans, T, 9)
    assert whole.treated_scans == sum(r.treated_scans or 0 for r in per_day) == 2 * 32 + 6
    assert whole.expected_scans == pytest.approx(sum(r.expected_scans or 0 for r in per_day))
    assert [p for r in per_day for p in r.series] == list(whole.series)


# --------------------------------------------------------------------------- revenue, offers


def test_revenue_is_hidden_when_one_gtin_at_another_price_rests_on_few_baskets() -> None:
    """Scans and revenue together would give each GTIN's increment: G2 is one basket."""
    two = CampaignInput("K-SPY", frozenset({G1, G2}), {G1: 300, G2: 500})
    scans = (
        baskets(G1, T, 8, tag="g1")
        + baskets(G2, T, 1, tag="g2")
        + controls(T, 3)
        + controls(T, 3, G2)
    )
    r = report([Play("K-SPY", "S-01", T)], scans, campaign=two)
    assert r.treated_scans == 9 and r.incremental_revenue_cents is None
    same_price = CampaignInput("K-SPY", frozenset({G1, G2}), {G1: 300, G2: 300})
    r = report([Play("K-SPY", "S-01", T)], scans, campaign=same_price)
    assert r.incremental_revenue_cents == round((9 - 6) * 300)


def offers(accepted: int, declined: int, at: datetime = T) -> list[OfferOutcome]:
    return [
        OfferOutcome(f"O-{at}-{i}", "store-1", frozenset({G1}), at, i < accepted, basket=f"b{i}")
        for i in range(accepted + declined)
    ]


@pytest.mark.parametrize(("accepted", "declined"), [(4, 10), (10, 4), (10, 0), (0, 10)])
def test_offers_are_hidden_unless_made_taken_and_declined_in_five_baskets(
    accepted: int, declined: int
) -> None:
    r = report([Play("K-SPY", "S-01", T)], [], offers=offers(accepted, declined))
    assert (r.offers_made, r.offers_accepted, r.acceptance_rate, r.acceptance_ci) == (
        None,
        None,
        None,
        None,
    )
    assert r.suppressed_offer_days == 1
    (row,) = csv.DictReader(io.StringIO(reports_to_csv([r])))
    assert row["offers_made"] == row["offers_accepted"] == row["acceptance_rate"] == ""


def test_offers_count_by_day_so_a_quiet_day_is_left_out() -> None:
    plays = [Play("K-SPY", "S-01", T), Play("K-SPY", "S-01", T + DAY)]
    made = offers(6, 5) + offers(1, 0, T + DAY)
    r = report(plays, [], offers=made)
    assert (r.offers_made, r.offers_accepted, r.suppressed_offer_days) == (11, 6, 1)


def test_one_basket_with_many_offers_is_still_one_basket() -> None:
    many = [
        OfferOutcome(f"O{i}", "store-1", frozenset({G1}), T, i % 2 == 0, basket="same")
        for i in range(20)
    ]
    r = report([Play("K-SPY", "S-01", T)], [], offers=many)
    assert r.offers_made is None


def test_min_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="min_count"):
        report([], [], min_count=0)


def test_rows_without_a_basket_count_one_basket_each() -> None:
    """Simulations give no tokens: each row is taken for a shopper of its own."""
    scans = [ScanCount("store-1", G1, T + timedelta(minutes=i)) for i in range(5)]
    scans += [
        ScanCount("store-1", G1, shift_weeks(T, -w, TZ)) for w in range(1, 5) for _ in range(2)
    ]
    r = report([Play("K-SPY", "S-01", T)], scans)
    assert (r.treated_scans, r.expected_scans) == (5, 2.0)
    assert r.period_start.tzinfo is UTC
