"""Attribution reports as JSON and CSV, for downloads from the operator console.

A figure the privacy rule hides (``signage.attribution.estimator``) is ``null`` in JSON
and an empty cell in CSV, never a zero; ``min_count`` and the ``suppressed_*`` fields
say how much was left out."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from signage.attribution.model import AttributionReport

SUMMARY_COLUMNS = (
    "campaign_id",
    "period_start",
    "period_end",
    "stores",
    "plays",
    "window_minutes",
    "exposed_minutes",
    "unmatched_minutes",
    "treated_scans",
    "expected_scans",
    "incremental_scans",
    "incremental_scans_low",
    "incremental_scans_high",
    "uplift",
    "uplift_low",
    "uplift_high",
    "incremental_revenue_cents",
    "incremental_revenue_low",
    "incremental_revenue_high",
    "offers_made",
    "offers_accepted",
    "acceptance_rate",
    "acceptance_low",
    "acceptance_high",
    "confidence",
    "min_count",
    "suppressed_clusters",
    "suppressed_minutes",
    "suppressed_offer_days",
)
SERIES_COLUMNS = ("campaign_id", "hour_start", "plays", "scans", "expected_scans")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def report_to_dict(report: AttributionReport) -> dict[str, Any]:
    """JSON-safe form (times as ISO-8601 UTC, intervals as [low, high])."""
    data: dict[str, Any] = _plain(asdict(report))
    return data


def report_to_json(report: AttributionReport) -> str:
    return json.dumps(report_to_dict(report), indent=2, sort_keys=True)


def _cell(value: float | None, digits: int = 4) -> Any:
    return "" if value is None else round(value, digits)


def _bounds(ci: tuple[float, float] | None, digits: int = 4) -> list[Any]:
    if ci is None:
        return ["", ""]
    if digits == 0:
        return [round(ci[0]), round(ci[1])]
    return [round(ci[0], digits), round(ci[1], digits)]


def reports_to_csv(reports: Iterable[AttributionReport]) -> str:
    """One row per campaign."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for r in reports:
        revenue_ci = (
            None
            if r.incremental_revenue_ci is None
            else (float(r.incremental_revenue_ci[0]), float(r.incremental_revenue_ci[1]))
        )
        writer.writerow(
            [
                r.campaign_id,
                r.period_start.isoformat(),
                r.period_end.isoformat(),
                ";".join(r.stores),
                r.plays,
                r.window_minutes,
                r.exposed_minutes,
                r.unmatched_minutes,
                _cell(r.treated_scans),
                _cell(r.expected_scans, 2),
                _cell(r.incremental_scans, 2),
                *_bounds(r.incremental_scans_ci, 2),
                _cell(r.uplift),
                *_bounds(r.uplift_ci),
                _cell(r.incremental_revenue_cents),
                *_bounds(revenue_ci, 0),
                _cell(r.offers_made),
                _cell(r.offers_accepted),
                _cell(r.acceptance_rate),
                *_bounds(r.acceptance_ci),
                r.confidence,
                r.min_count,
                r.suppressed_clusters,
                r.suppressed_minutes,
                r.suppressed_offer_days,
            ]
        )
    return out.getvalue()


def series_to_csv(report: AttributionReport) -> str:
    """The chart's data: one row per hour."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SERIES_COLUMNS)
    for p in report.series:
        writer.writerow(
            [
                report.campaign_id,
                p.hour_start.isoformat(),
                p.plays,
                _cell(p.scans),
                _cell(p.expected_scans, 2),
            ]
        )
    return out.getvalue()
