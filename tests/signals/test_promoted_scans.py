"""What the store lets attribution read: units per bucket and basket, each basket only as
a token keyed for one report, so the mall side can count baskets but never name one."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from store_server.baskets.models import Basket, Shopper
from store_server.db import session_scope
from store_server.offers.models import OfferGrant
from store_server.signals.service import (
    basket_token,
    offer_baskets,
    promoted_scans,
    report_key,
)
from tests.store_server.factories import COFFEE_ITEM, coffee_line, enroll_devices

AT = datetime(2026, 11, 25, 10, 2, tzinfo=UTC)


def basket(session: Session, lines: list[tuple[int, int]], status: str = "paid") -> str:
    """A basket with a coffee line per ``(minutes after AT, qty)``."""
    basket_id = str(uuid.uuid4())
    session.add(Basket(id=basket_id, device_id="H-1", store_id="store-1", status=status))
    session.flush()
    for minutes, qty in lines:
        session.add(coffee_line(basket_id, qty=qty, at=AT + timedelta(minutes=minutes)))
    return basket_id


def test_promoted_scans_count_baskets_with_one_off_tokens(engine: Engine) -> None:
    enroll_devices(engine, "H-1")
    with session_scope(engine) as session:
        ids = [
            basket(session, [(0, 2), (1, 1)]),  # one basket, two lines in one bucket
            basket(session, [(0, 1), (6, 1)]),  # one basket in two buckets
            basket(session, [(2, 4)]),
            basket(session, [(0, 9)], status="abandoned"),
        ]
    since, until = AT - timedelta(hours=1), AT + timedelta(hours=1)
    with Session(engine) as session:
        key = report_key()
        rows = promoted_scans(session, gtins=[COFFEE_ITEM.gtin], since=since, until=until, key=key)
        again = promoted_scans(
            session, gtins=[COFFEE_ITEM.gtin], since=since, until=until, key=report_key()
        )
    first_bucket = AT.replace(minute=0)
    by_bucket = {(r.bucket_start, r.basket): r.units for r in rows}
    assert sorted(by_bucket.values()) == [1, 1, 3, 4]
    assert len({r.basket for r in rows}) == 3  # the abandoned basket is not counted
    assert len({r.basket for r in rows if r.bucket_start == first_bucket}) == 3
    # a token names no basket and matches nothing else: not the id, not the signals'
    # lasting token, not the token of another report
    tokens = {r.basket for r in rows}
    assert not tokens & set(ids)
    assert not tokens & {basket_token("secret", i) for i in ids}
    assert not tokens & {r.basket for r in again}
    counts = Counter[tuple[str, str, datetime]]()
    for r in rows:  # the units of each bucket, whatever the baskets
        counts[(r.store_id, r.gtin, r.bucket_start)] += r.units
    assert sorted((*bucket, units) for bucket, units in counts.items()) == [
        ("store-1", COFFEE_ITEM.gtin, first_bucket, 8),
        ("store-1", COFFEE_ITEM.gtin, first_bucket + timedelta(minutes=5), 1),
    ]


def test_offer_baskets_share_the_reports_tokens(engine: Engine) -> None:
    enroll_devices(engine, "H-1")
    with session_scope(engine) as session:
        shopper = Shopper(loyalty_card="CARD-1")
        session.add(shopper)
        session.flush()
        basket_id = basket(session, [(0, 1)])
        for n in range(2):
            session.add(
                OfferGrant(
                    id=f"offer-{n}",
                    basket_id=basket_id,
                    shopper_id=shopper.id or 0,
                    store_id="store-1",
                    template_id="t",
                    label="coffee deal",
                    reason="r",
                    promotion=json.dumps({"kind": "percent_off", "percent": "10"}),
                    offered_at=AT,
                )
            )
    with Session(engine) as session:
        key = report_key()
        offers = offer_baskets(session, since=AT, until=AT + timedelta(minutes=1), key=key)
        (scan,) = promoted_scans(
            session, gtins=[COFFEE_ITEM.gtin], since=AT, until=AT + timedelta(hours=1), key=key
        )
    assert offers == {"offer-0": scan.basket, "offer-1": scan.basket}
