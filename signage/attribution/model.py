"""What attribution reads (plays, scan counts, offer outcomes) and what it reports.

Plain frozen dataclasses: the signage lead fills them from proof of play and from the
stores' aggregate scan counts; nothing here names a shopper or a basket.
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


@dataclass(frozen=True)
class OfferOutcome:
    """A personal offer made on a handheld, and whether the shopper took it."""

    offer_id: str
    store_id: str
    gtins: frozenset[str]
    offered_at: datetime
    accepted: bool
    categories: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CampaignInput:
    """A campaign as attribution needs it: what it promotes and what a unit brings in."""

    campaign_id: str
    gtins: frozenset[str]
    unit_price_cents: Mapping[str, int] = field(default_factory=dict)
    categories: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SeriesPoint:
    """One hour of the chart: plays, promoted scans, and the matched-control expectation."""

    hour_start: datetime
    plays: int
    scans: int
    expected_scans: float | None


@dataclass(frozen=True)
class AttributionReport:
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
    treated_scans: int
    expected_scans: float
    incremental_scans: float
    incremental_scans_ci: tuple[float, float] | None
    uplift: float | None
    uplift_ci: tuple[float, float] | None
    incremental_revenue_cents: int
    incremental_revenue_ci: tuple[int, int] | None
    offers_made: int
    offers_accepted: int
    acceptance_rate: float | None
    acceptance_ci: tuple[float, float] | None
    series: tuple[SeriesPoint, ...] = ()
