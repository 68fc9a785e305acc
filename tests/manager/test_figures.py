"""Pure arithmetic of the console, and the Grafana dashboard naming real gauges."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store_server.manager.figures import BUCKETS, bucket_of, loss_estimate, parse_period, percentile
from store_server.metrics import MANAGER_GAUGES
from store_server.shared.errors import InvalidInput

TODAY = date(2026, 3, 11)


def test_periods() -> None:
    week = parse_period("week", "2026-03-11", None, None, TODAY)
    assert (week.first, week.last) == (date(2026, 3, 9), date(2026, 3, 15))
    assert (week.previous().first, week.previous().last) == (date(2026, 3, 2), date(2026, 3, 8))
    month = parse_period("month", "2026-03-11", None, None, TODAY)
    assert (month.first, month.last, month.previous().first) == (
        date(2026, 3, 1),
        date(2026, 3, 31),
        date(2026, 2, 1),
    )
    assert month.previous().last == date(2026, 2, 28)
    day = parse_period("day", None, None, None, TODAY)
    assert day.first == day.last == TODAY
    custom = parse_period("custom", None, "2026-01-01", "2026-01-10", TODAY)
    assert custom.days == 10 and custom.previous().last == date(2025, 12, 31)
    with pytest.raises(InvalidInput, match="after"):
        parse_period("custom", None, "2026-01-10", "2026-01-01", TODAY)


@given(st.lists(st.floats(0, 20_000), min_size=1, max_size=200))
def test_percentile_lies_in_the_bucket_of_the_exact_one(values: list[float]) -> None:
    hist: dict[int, int] = {}
    for v in values:
        hist[bucket_of(v)] = hist.get(bucket_of(v), 0) + 1
    exact = sorted(values)[max(0, -(-len(values) // 2) - 1)]  # the lower median
    got = percentile(hist, 0.5)
    assert got is not None
    index = bucket_of(exact)
    low = 0 if index == 0 else BUCKETS[index - 1]
    high = BUCKETS[index] if index < len(BUCKETS) else float("inf")
    assert low <= got <= high


def test_loss_estimate_interval() -> None:
    est = loss_estimate(2000, 3_000_000, 500, 6000)
    assert (est.unrecovered_cents, est.low_cents, est.high_cents) == (1500, 0, 4895)
    assert est.basis_points == 2500.0
    assert loss_estimate(0, 0, 0, 0).basis_points is None


def test_the_grafana_dashboard_uses_real_gauges() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "grafana-manager.json"
    dashboard = json.loads(doc.read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = set(re.findall(r"caddie_today_([a-z_]+)", exprs))
    assert used and used <= set(MANAGER_GAUGES)
