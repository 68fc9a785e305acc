"""Measured uplift of campaigns: pure estimator, synthetic mall, exports and chart."""

from __future__ import annotations

from signage.attribution.chart import render_chart_svg
from signage.attribution.estimator import attribution_report
from signage.attribution.export import (
    report_to_dict,
    report_to_json,
    reports_to_csv,
    series_to_csv,
)
from signage.attribution.model import (
    AttributionReport,
    CampaignInput,
    OfferOutcome,
    Play,
    ScanCount,
    SeriesPoint,
)
from signage.attribution.synthetic import SyntheticMall, simulate_mall_week

__all__ = [
    "AttributionReport",
    "CampaignInput",
    "OfferOutcome",
    "Play",
    "ScanCount",
    "SeriesPoint",
    "SyntheticMall",
    "attribution_report",
    "render_chart_svg",
    "report_to_dict",
    "report_to_json",
    "reports_to_csv",
    "series_to_csv",
    "simulate_mall_week",
]
