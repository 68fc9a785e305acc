"""Everything a running store server holds, built in the app's lifespan."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from store_server.catalog.service import ProductCache, PromotionCache
from store_server.checkout.audit_policy import AuditPolicy
from store_server.config import Settings
from store_server.db import is_sqlite, make_engine, session_scope
from store_server.events import EventBus, make_event_bus
from store_server.pricing.variable_measure import DEFAULT_LAYOUTS, VariableMeasureLayout

T = TypeVar("T")


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class ServerState:
    settings: Settings
    engine: Engine
    layouts: tuple[VariableMeasureLayout, ...]
    audit_policy: AuditPolicy
    events: EventBus
    promotions: PromotionCache = field(default_factory=PromotionCache)
    products: ProductCache = field(default_factory=ProductCache)
    executor: ThreadPoolExecutor | None = None
    rng: random.Random = field(default_factory=random.SystemRandom)
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    connected_devices: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> ServerState:
        layouts = (
            tuple(VariableMeasureLayout.from_config(d) for d in settings.variable_measure_layouts)
            if settings.variable_measure_layouts is not None
            else DEFAULT_LAYOUTS
        )
        engine = make_engine(settings.database_url)
        # SQLite work is short and serialised by the database anyway: running it on the
        # event loop avoids a thread hop and GIL hand-offs that cost more than the query.
        # PostgreSQL waits on the network, so it gets a pool of database threads.
        executor = (
            None
            if is_sqlite(settings.database_url)
            else ThreadPoolExecutor(max_workers=8, thread_name_prefix="caddie-db")
        )
        return cls(
            settings=settings,
            engine=engine,
            layouts=layouts,
            audit_policy=AuditPolicy.from_config(settings.audit_policy),
            events=make_event_bus(settings.pubsub_url),
            executor=executor,
        )

    async def run_db(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction on the database threads."""

        def job() -> T:
            with session_scope(self.engine) as session:
                return work(session)

        if self.executor is None:
            return job()
        return await asyncio.get_running_loop().run_in_executor(self.executor, job)

    def bucket(self, device_id: str) -> TokenBucket:
        bucket = self.buckets.get(device_id)
        if bucket is None:
            if len(self.buckets) > 100_000:
                self.buckets.clear()
            bucket = self.buckets[device_id] = TokenBucket(
                self.settings.rate_limit_per_second, self.settings.rate_limit_burst
            )
        return bucket

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        self.engine.dispose()

    def finish_callback(self) -> Callable[[Session, Any, dict[str, Any]], dict[str, Any]]:
        from store_server.checkout.service import finish_basket

        def finish(session: Session, basket: Any, view: dict[str, Any]) -> dict[str, Any]:
            return finish_basket(session, basket, view, policy=self.audit_policy, rng=self.rng)

        return finish
