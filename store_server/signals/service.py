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
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from store_server.baskets.models import Basket, BasketLine
from store_server.devices.models import Device
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


def promoted_scan_counts(
    session: Session,
    *,
    gtins: Iterable[str],
    since: datetime,
    until: datetime,
    bucket_minutes: int = 5,
) -> list[tuple[str, str, datetime, int]]:
    """Units of ``gtins`` added to baskets per (store, GTIN, time bucket), for attribution.

    Counts only, bucketed (``bucket_minutes``), never a basket or a shopper: this is what
    may cross to the mall side for ``signage.attribution``. Each row is
    ``(store_id, gtin, bucket_start, units)``."""
    wanted = sorted(set(gtins))
    if not wanted:
        return []
    rows = (
        session.connection()
        .execute(
            sa_select(BASKETS.c.store_id, LINES.c.gtin, LINES.c.added_at, LINES.c.qty)
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
    counts: dict[tuple[str, str, datetime], int] = {}
    for store_id, gtin, added_at, qty in rows:
        at = as_utc(added_at)
        start = datetime.fromtimestamp(at.timestamp() // size * size, tz=UTC)
        key = (store_id, gtin, start)
        counts[key] = counts.get(key, 0) + qty
    return [(s, g, t, n) for (s, g, t), n in sorted(counts.items())]
