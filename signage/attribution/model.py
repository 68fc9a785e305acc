"""What attribution reads (plays, scan counts, offer outcomes) and what it reports.

Plain frozen dataclasses: the signage lead fills them from proof of play and from the
stores' aggregate scan counts; nothing here names a shopper or a basket. A ``basket``
field holds an opaque token, keyed afresh for each report, so that the estimator can
count *distinct* baskets (the privacy rule, ``signage.attribution.estimator``) without
being able to tell which basket, or match it across reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Play:
    """One proof-of-play record."""

    campaign_id: str
    screen_id: str
    started_at: datetime


@dataclass(frozen=True)
class ScanCount:
    """Units of one GTIN scanned in one store at (or in the bucket starting at) ``at``."""

    store_id: str
    gtin: str
    at: datetime
    qty: int = 1
    # a token standing for the basket the units were scanned into; None: the row is a
    # basket of its own (simulations, where every scan is another shopper)
    basket: str | None = None


@dataclass(frozen=True)
class OfferOutcome:
    """A personal offer made on a handheld, and whether the shopper took it."""

    offer_id: str
    store_id: str
    gtins: frozenset[str]
    offered_at: datetime
    accepted: bool
    categories: frozenset[str] = frozenset()
    basket: str | None = None  # as ``ScanCount.basket``


@dataclass(frozen=True)
class CampaignInput:
    """A campaign as attribution needs it: what it promotes and what a unit brings in."""

    campaign_id: str
    gtins: frozenset[str]
    unit_price_cents: Mapping[str, int] = field(default_factory=dict)
    categories: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SeriesPoint:
    """One hour of the chart: plays, promoted scans in the exposed windows of that hour,
    and the matched-control expectation for them; None where nothing was measured or
    the count came from fewer than the report's ``min_count`` distinct baskets."""

    hour_start: datetime
    plays: int
    scans: int | None
    expected_scans: float | None


@dataclass(frozen=True)
class AttributionReport:
    """A campaign's measured uplift; every figure made from scans or offers is None
    when it would rest on fewer than ``min_count`` distinct baskets (see the estimator).
    """

    campaign_id: str
    period_start: datetime
    period_end: datetime
    window_minutes: int
    confidence: float
    method: str
    stores: tuple[str, ...]
    plays: int
    exposed_minutes: int
    unmatched_minutes: int
    clusters: int
    treated_scans: int | None
    expected_scans: float | None
    incremental_scans: float | None
    incremental_scans_ci: tuple[float, float] | None
    uplift: float | None
    uplift_ci: tuple[float, float] | None
    incremental_revenue_cents: int | None
    incremental_revenue_ci: tuple[int, int] | None
    offers_made: int | None
    offers_accepted: int | None
    acceptance_rate: float | None
    acceptance_ci: tuple[float, float] | None
    series: tuple[SeriesPoint, ...] = ()
    # the privacy rule: the smallest number of distinct baskets a figure may rest on,
    # and what was left out because it rested on fewer
    min_count: int = 1
    suppressed_clusters: int = 0
    suppressed_minutes: int = 0
    suppressed_offer_days: int = 0
