"""Reading basket activity for the store signals, and the rolling window of scans.

Active shoppers are read from the database on every tick (the truth, whichever server
process served the handheld). Scans arrive as facts over the event bus (so every process
sees every scan when Redis is configured) and are kept for the momentum window; a
process that starts seeds that window from the basket lines added recently.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from store_server.baskets.models import Basket, BasketLine
from store_server.devices.models import Device
from store_server.offers.models import OfferGrant
from store_server.signals.models import ActiveBasket, Momentum, ScanFact, Scope
from store_server.timeutil import as_utc

BASKETS = Basket.__table__  # type: ignore[attr-defined]
LINES = BasketLine.__table__  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=4096)  # a basket's scans ask again and again
def basket_token(secret: str, basket_id: str) -> str:
    """A stand-in for a basket id, used only to count distinct baskets.

    Keyed so that the id cannot be recovered or matched against a guessed id by anyone
    without the server secret; never published on the ``signals`` channel either way."""
    digest = hmac.new(secret.encode(), basket_id.encode(), hashlib.sha256).hexdigest()
    return digest[:16]


def active_baskets(
    session: Session, *, since: datetime, device_zones: Mapping[str, str], secret: str
) -> list[ActiveBasket]:
    """Open baskets touched since ``since`` (any scan, removal or start moves ``updated_at``)."""
    rows = session.exec(
        select(Basket.id, Basket.store_id, Basket.device_id, Basket.updated_at).where(
            Basket.status == "open", col(Basket.updated_at) >= since
        )
    ).all()
    return [
        ActiveBasket(
            store_id,
            device_zones.get(device_id),
            basket_token(secret, basket_id),
            as_utc(updated_at),
        )
        for basket_id, store_id, device_id, updated_at in rows
    ]


def recent_scans(
    session: Session, *, since: datetime, device_zones: Mapping[str, str], secret: str
) -> list[ScanFact]:
    """Scan facts rebuilt from basket lines added since ``since`` (start-up only).

    Approximate by design: a line that merged later scans of the same item keeps its
    first ``added_at``, so a fresh process undercounts momentum for at most one window."""
    rows = (
        session.connection()
        .execute(
            sa_select(
                BASKETS.c.id,
                BASKETS.c.store_id,
                BASKETS.c.device_id,
                LINES.c.category,
                LINES.c.qty,
                LINES.c.added_at,
            )
            .join_from(LINES, BASKETS, BASKETS.c.id == LINES.c.basket_id)
            .where(LINES.c.added_at >= since)
        )
        .all()
    )
    return [
        ScanFact(
            store_id,
            device_zones.get(device_id),
            basket_token(secret, basket_id),
            category,
            qty,
            as_utc(added_at),
        )
        for basket_id, store_id, device_id, category, qty, added_at in rows
    ]


def store_scopes(session: Session, *, device_zones: Mapping[str, str]) -> set[Scope]:
    """Every store with enrolled handhelds, and every configured zone of those stores,
    so quiet stores still publish (their zero shoppers and their time of day)."""
    active = col(Device.revoked_at).is_(None)
    # A store has thousands of handhelds: read its id once, not once per device.
    scopes = {
        Scope(store_id)
        for store_id in session.exec(select(Device.store_id).where(active).distinct()).all()
    }
    if device_zones:
        for device_id, store_id in session.exec(
            select(Device.id, Device.store_id).where(active, col(Device.id).in_(list(device_zones)))
        ).all():
            scopes.add(Scope(store_id, device_zones[device_id]))
    return scopes


class ScanWindow:
    """The scan facts of the last ``minutes``, oldest first, with their running
    :class:`Momentum` counts."""

    def __init__(self, minutes: int) -> None:
        self.span = timedelta(minutes=minutes)
        self._facts: deque[ScanFact] = deque()
        self.momentum = Momentum()

    def add(self, fact: ScanFact) -> None:
        self._facts.append(fact)
        self.momentum.add(fact)

    def prune(self, now: datetime) -> None:
        cutoff = as_utc(now) - self.span
        while self._facts and as_utc(self._facts[0].at) < cutoff:
            self.momentum.remove(self._facts.popleft())


def report_key() -> bytes:
    """A key for one report's basket tokens (:func:`one_off_token`), never stored."""
    return secrets.token_bytes(32)


def one_off_token(key: bytes, basket_id: str) -> str:
    """A stand-in for a basket within one report: equal for equal baskets, so the mall
    side can count *distinct* baskets (its privacy rule needs that), but keyed with a
    :func:`report_key` that is thrown away, so it names no basket and matches no token
    of another report (unlike :func:`basket_token`, whose key lasts)."""
    return hmac.new(key, basket_id.encode(), hashlib.sha256).hexdigest()[:16]


class PromotedScans(NamedTuple):
    """Units of one GTIN one basket took in one store and time bucket."""

    store_id: str
    gtin: str
    bucket_start: datetime
    units: int
    basket: str  # :func:`one_off_token`


def promoted_scans(
    session: Session,
    *,
    gtins: Iterable[str],
    since: datetime,
    until: datetime,
    key: bytes,
    bucket_minutes: int = 5,
) -> list[PromotedScans]:
    """Units of ``gtins`` added to baskets per (store, GTIN, time bucket, basket), for
    attribution.

    Bucketed (``bucket_minutes``), with each basket reduced to a one-off token: this is
    what may cross to the mall side for ``signage.attribution``, whose estimator counts
    distinct baskets to hide any figure resting on too few of them (DESIGN.md: the mall
    operator sees aggregates, never a shopper or a basket)."""
    wanted = sorted(set(gtins))
    if not wanted:
        return []
    rows = (
        session.connection()
        .execute(
            sa_select(BASKETS.c.id, BASKETS.c.store_id, LINES.c.gtin, LINES.c.added_at, LINES.c.qty)
            .join_from(LINES, BASKETS, BASKETS.c.id == LINES.c.basket_id)
            .where(
                LINES.c.gtin.in_(wanted),
                LINES.c.added_at >= since,
                LINES.c.added_at < until,
                BASKETS.c.status != "abandoned",
            )
        )
        .all()
    )
    size = bucket_minutes * 60
    counts: dict[tuple[str, str, datetime, str], int] = {}
    tokens: dict[str, str] = {}
    for basket_id, store_id, gtin, added_at, qty in rows:
        at = as_utc(added_at)
        start = datetime.fromtimestamp(at.timestamp() // size * size, tz=UTC)
        token = tokens.get(basket_id)
        if token is None:
            token = tokens[basket_id] = one_off_token(key, basket_id)
        bucket = (store_id, gtin, start, token)
        counts[bucket] = counts.get(bucket, 0) + qty
    return [PromotedScans(s, g, t, n, b) for (s, g, t, b), n in sorted(counts.items())]


def offer_baskets(
    session: Session, *, since: datetime, until: datetime, key: bytes
) -> dict[str, str]:
    """Offer id → :func:`one_off_token` of the basket it was made in, for the offers
    made in ``[since, until)`` (attribution counts offers by distinct baskets too)."""
    rows = session.exec(
        select(OfferGrant.id, OfferGrant.basket_id).where(
            col(OfferGrant.offered_at) >= since, col(OfferGrant.offered_at) < until
        )
    ).all()
    return {str(grant_id): one_off_token(key, basket_id) for grant_id, basket_id in rows}
