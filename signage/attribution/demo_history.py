"""Five weeks of history for the demo, so that its attribution page measures something.

The simulated mall of :mod:`signage.attribution.synthetic` (four baseline weeks, then a
campaign week with a known uplift of the promoted products while exposed) is written as
real rows: the campaign's proof of play on one screen, and paid baskets of the store
holding the promoted products, scanned at the simulated times. The page then reads
them like any other data and finds the uplift with its interval.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session

from signage.attribution.synthetic import simulate_mall_week
from signage.models import ProofOfPlay
from signage.rollup import add_plays
from store_server.for_signage import Basket, BasketLine, get_product

SIMULATED_SCREEN = "S-01"  # the simulated screen near the simulated store-1
SIMULATED_STORE = "store-1"


def seed_history(
    session: Session,
    *,
    campaign_id: str,
    creative_id: str,
    screen_id: str,
    store_id: str,
    device_id: str,
    gtins: tuple[str, str],
    today: date,
    timezone: str,
    true_uplift: float = 0.4,
    seed: int = 11,
) -> tuple[int, int]:
    """Write the history ending yesterday; returns (plays, baskets) written."""
    mall = simulate_mall_week(
        seed=seed,
        true_uplift=true_uplift,
        weeks_before=4,
        first_day=today - timedelta(days=35),
        timezone=timezone,
    )
    as_ours = dict(zip(sorted(mall.campaign.gtins), gtins, strict=True))
    plays = []
    for play in mall.plays:
        if play.screen_id != SIMULATED_SCREEN:
            continue
        row: dict[str, Any] = {
            "play_id": uuid.uuid5(uuid.NAMESPACE_URL, f"demo-play/{play.started_at.isoformat()}"),
            "screen_id": screen_id,
            "creative_id": creative_id,
            "campaign_id": campaign_id,
            "started_at": play.started_at,
            "duration_ms": 10_000,
        }
        session.add(ProofOfPlay(**row))
        plays.append(row)
    session.flush()
    add_plays(session, screen_id, timezone, plays)
    products = {gtin: get_product(session, gtin) for gtin in gtins}
    baskets = 0
    for scan in mall.scans:
        if scan.store_id != SIMULATED_STORE:
            continue
        product = products[as_ours[scan.gtin]]
        basket_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-basket/{baskets}"))
        total = scan.qty * product.price_cents
        session.add(
            Basket(
                id=basket_id,
                device_id=device_id,
                store_id=store_id,
                status="paid",
                currency=product.currency,
                total_cents=total,
                item_count=scan.qty,
                created_at=scan.at,
                updated_at=scan.at,
                finished_at=scan.at + timedelta(minutes=5),
            )
        )
        session.add(
            BasketLine(
                basket_id=basket_id,
                gtin=product.gtin,
                scanned_gtin=product.gtin,
                name=product.name,
                category=product.category,
                qty=scan.qty,
                unit_price_cents=product.price_cents,
                line_total_cents=total,
                tax_rate=product.tax_rate,
                added_at=scan.at,
            )
        )
        baskets += 1
    session.flush()
    return len(plays), baskets
