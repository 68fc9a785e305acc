"""Everything a running store server holds, built in the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import Session

from store_server.catalog.service import ProductCache, PromotionCache
from store_server.checkout.audit_policy import AuditPolicy
from store_server.config import Settings
from store_server.events import EventBus, make_event_bus
from store_server.group_commit import GroupCommitter
from store_server.pricing.variable_measure import DEFAULT_LAYOUTS, VariableMeasureLayout
from store_server.ratelimit import RateLimiter
from store_server.unit_of_work import Database

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class ServerState:
    settings: Settings
    # The process's one engine, and the unit of work every write runs in.
    db: Database
    layouts: tuple[VariableMeasureLayout, ...]
    audit_policy: AuditPolicy
    events: EventBus
    promotions: PromotionCache = field(default_factory=PromotionCache)
    products: ProductCache = field(default_factory=ProductCache)
    rng: random.Random = field(default_factory=random.SystemRandom)
    connected_devices: dict[str, int] = field(default_factory=dict)
    # Graceful shutdown: open handheld connections, and whether the server is draining
    # (set on SIGTERM: no new requests are applied, connections are told to reconnect).
    handhelds: set[Any] = field(default_factory=set)
    draining: bool = False
    drain_task: asyncio.Task[None] | None = None
    committer: GroupCommitter = field(init=False)
    # Per-device request budget on the handheld socket (the event loop's only).
    handheld_limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.handheld_limiter = RateLimiter(
            self.settings.rate_limit_per_second, self.settings.rate_limit_burst
        )
        self.committer = GroupCommitter(
            self.db,
            max_batch=self.settings.group_commit_max,
            # SQLite has one writer; PostgreSQL overlaps transactions on several threads.
            max_in_flight=1 if self.db.sqlite else 4,
        )

    @classmethod
    def build(cls, settings: Settings) -> ServerState:
        layouts = (
            tuple(VariableMeasureLayout.from_config(d) for d in settings.variable_measure_layouts)
            if settings.variable_measure_layouts is not None
            else DEFAULT_LAYOUTS
        )
        db = Database.open(settings.database_url)
        # The loop thread and the database thread hand the GIL to each other on every
        # request; with the default 5 ms switch interval each hand-off can wait that long.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        return cls(
            settings=settings,
            db=db,
            layouts=layouts,
            audit_policy=AuditPolicy.from_config(settings.audit_policy),
            events=make_event_bus(settings.pubsub_url),
        )

    async def drain(self, timeout: float = 10.0) -> None:
        """Finish the requests being applied, then close every handheld socket with
        1012 ("service restart") so devices resend their unanswered scans elsewhere."""
        self.draining = True
        count = len(self.handhelds)
        log.info("draining: closing %d handheld connections after their current request", count)
        # Idle connections are closed now; busy ones close themselves after their reply.
        await asyncio.gather(
            *(c.close_for_restart() for c in list(self.handhelds) if not c.busy),
            return_exceptions=True,
        )
        deadline = time.monotonic() + timeout
        while self.handhelds and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.handhelds:
            log.warning("draining: %d handheld connections still open", len(self.handhelds))
        else:
            log.info("draining: done")

    def close(self) -> None:
        self.db.close()

    def finish_callback(
        self,
    ) -> Callable[[Session, Any, dict[str, Any], Sequence[Any]], dict[str, Any]]:
        from store_server.checkout.audit import finish_basket

        def finish(
            session: Session, basket: Any, view: dict[str, Any], lines: Sequence[Any]
        ) -> dict[str, Any]:
            return finish_basket(
                session, basket, view, policy=self.audit_policy, rng=self.rng, lines=lines
            )

        return finish
