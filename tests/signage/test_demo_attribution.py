"""The demo's attribution page has something to show: a campaign with promoted GTINs and
five weeks of plays and scans, from which a real uplift and its interval are measured."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from sqlmodel import Session

from signage.attribution.service import attributable_campaigns, campaign_attribution
from store_server.config import load_settings
from store_server.db import make_engine


def test_the_demo_measures_the_uplift_of_its_coffee_campaign(tmp_path: Path) -> None:
    from store_server.demo import prepare

    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}", environment="test")
    prepare(settings, tmp_path / "media", Console(file=io.StringIO()))
    engine = make_engine(settings.database_url)
    today = date.today()
    with Session(engine) as session:
        assert attributable_campaigns(session) == ["K-COFFEE-A"]
        report = campaign_attribution(
            session,
            "K-COFFEE-A",
            first=today - timedelta(days=7),
            last=today - timedelta(days=1),
            timezone="Europe/Paris",
            default_store=settings.store_id,
            replicates=400,
        )
    engine.dispose()
    assert report.plays > 100
    assert report.treated_scans is not None and report.uplift is not None
    assert report.uplift_ci is not None
    low, high = report.uplift_ci
    assert 0 < low < report.uplift < high  # the simulated +40 % is found, and it is not zero
    assert report.incremental_revenue_cents is not None and report.incremental_revenue_cents > 0
