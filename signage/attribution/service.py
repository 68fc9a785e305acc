"""Attribution from real data: proof of play, the stores' promoted scan counts, offers.

The estimator (``signage.attribution.estimator``) is pure; this module reads its
inputs. Under ``caddie serve`` the signage tables and the store's tables share one
database, so one session reads all three:

* plays — ``proof_of_play`` rows of the campaign in the period and the control weeks
  before it (those only keep the controls off the times the campaign played);
* scans — ``store_server.signals.service.promoted_scans`` (units per store, GTIN,
  5-minute bucket and basket token) over the period *and* the control weeks before it,
  which the matched-control estimate compares against;
* offers — ``store_server.offers.service.offer_outcomes`` in the period, with the
  token of the basket each was made in (``offer_baskets``).

Basket tokens are keyed afresh for every report and only let the estimator count
distinct baskets: any figure resting on fewer than ``CADDIE_SIGNALS_MIN_COUNT`` of them
is hidden, as the live store signals do (``signage.attribution.estimator``).

A screen's stores are its ``store_id`` (or the store server's own store).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from signage.attribution.estimator import attribution_report
from signage.attribution.model import (
    AttributionReport,
    CampaignInput,
    OfferOutcome,
    Play,
    ScanCount,
)
from signage.models import Campaign, ProofOfPlay, Screen
from signage.scheduling.model import day_problem
from store_server.for_signage import (
    DEFAULT_MIN_COUNT,
    get_product,
    offer_baskets,
    offer_outcomes,
    promoted_scans,
    report_key,
)
from store_server.shared.errors import CaddieError, InvalidInput, NotFound

MAX_DAYS = 31
CONTROL_WEEKS = 4
WINDOW_MINUTES = 30


def period_bounds(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """``[first 00:00, last+1 00:00)`` local, in UTC; refuses backwards or long periods,
    and days outside those plans cover (``signage.scheduling.model.FIRST_DAY``…)."""
    problems = [p for name, day in (("from", first), ("to", last)) if (p := day_problem(day, name))]
    if problems:
        raise InvalidInput(problems[0], problems=problems)
    if last < first:
        message = "to: the last day is before the first"
        raise InvalidInput(message, problems=[message])
    if (last - first).days >= MAX_DAYS:
        message = f"an attribution report covers at most {MAX_DAYS} days"
        raise InvalidInput(message, problems=[message])
    tz = ZoneInfo(timezone)
    start = datetime.combine(first, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def campaign_attribution(
    session: Session,
    campaign_id: str,
    *,
    first: date,
    last: date,
    timezone: str,
    default_store: str,
    replicates: int = 2000,
    min_count: int = DEFAULT_MIN_COUNT,
) -> AttributionReport:
    """The uplift report of one campaign over local days ``first``…``last``.

    ``min_count`` is the store signals' setting (``CADDIE_SIGNALS_MIN_COUNT``; the
    server passes ``settings.signals.min_count``), so one rule says how few baskets a
    number sent to the mall may describe."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id!r}")
    start, end = period_bounds(first, last, timezone)
    gtins = frozenset(campaign.promoted_gtins or ())
    prices = {}
    for gtin in sorted(gtins):
        # the price when the period ends (a campaign is short), else today's for a
        # product priced since; a GTIN the catalog lacks brings no revenue
        for at in (end, None):
            try:
                prices[gtin] = get_product(session, gtin, at=at).price_cents
                break
            except CaddieError:
                continue
    spec = CampaignInput(
        campaign_id=campaign.id,
        gtins=gtins,
        unit_price_cents=prices,
        categories=frozenset({campaign.category}) if campaign.category else frozenset(),
    )
    screen_stores = {
        s.id: (s.store_id or default_store,) for s in session.exec(select(Screen)).all()
    }
    observed_start = start - timedelta(weeks=CONTROL_WEEKS)
    # plays from a window before the controls begin: they keep controls off their times
    plays = [
        Play(campaign_id=campaign.id, screen_id=row.screen_id, started_at=row.started_at)
        for row in session.exec(
            select(ProofOfPlay).where(
                ProofOfPlay.campaign_id == campaign.id,
                col(ProofOfPlay.started_at) >= observed_start - timedelta(minutes=WINDOW_MINUTES),
                col(ProofOfPlay.started_at) < end,
            )
        ).all()
    ]
    key = report_key()
    scans = [
        ScanCount(store_id=r.store_id, gtin=r.gtin, at=r.bucket_start, qty=r.units, basket=r.basket)
        for r in promoted_scans(session, gtins=gtins, since=observed_start, until=end, key=key)
    ]
    baskets = offer_baskets(session, since=start, until=end, key=key)
    offers = [
        OfferOutcome(
            offer_id=str(r.offer_id),
            store_id=r.store_id,
            gtins=r.gtins,
            offered_at=r.offered_at,
            accepted=r.accepted,
            categories=r.categories,
            basket=baskets.get(str(r.offer_id), f"offer {r.offer_id}"),
        )
        for r in offer_outcomes(session, since=start, until=end)
    ]
    return attribution_report(
        spec,
        plays,
        scans,
        offers,
        screen_stores=screen_stores,
        observed=(observed_start, end),
        period=(start, end),
        timezone=timezone,
        window_minutes=WINDOW_MINUTES,
        max_weeks=CONTROL_WEEKS,
        replicates=replicates,
        min_count=min_count,
    )


def attributable_campaigns(session: Session) -> list[str]:
    """Campaigns with promoted GTINs, the only ones whose scans can be measured."""
    rows = session.exec(select(Campaign).order_by(col(Campaign.id))).all()
    return [r.id for r in rows if r.promoted_gtins]
