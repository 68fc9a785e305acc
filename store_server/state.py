"""Everything a running store server holds, built in the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from store_server.catalog.service import ProductCache, PromotionCache
from store_server.checkout.audit_policy import AuditPolicy
from store_server.config import Settings
from store_server.db import is_sqlite, make_engine, run_in_transaction
from store_server.events import EventBus, make_event_bus
from store_server.group_commit import GroupCommitter, WriterLock
from store_server.pricing.variable_measure import DEFAULT_LAYOUTS, VariableMeasureLayout
from store_server.ratelimit import RateLimiter
from store_server.wal_checkpoint import BACKSTOP_PAGES, WalCheckpointer

T = TypeVar("T")
log = logging.getLogger(__name__)


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
    connected_devices: dict[str, int] = field(default_factory=dict)
    # Graceful shutdown: open handheld connections, and whether the server is draining
    # (set on SIGTERM: no new requests are applied, connections are told to reconnect).
    handhelds: set[Any] = field(default_factory=set)
    draining: bool = False
    drain_task: asyncio.Task[None] | None = None
    committer: GroupCommitter = field(init=False)
    # SQLite file databases: WAL checkpoints on their own thread, not in a commit.
    checkpointer: WalCheckpointer | None = None
    # and a file lock its group commits take, for other processes on the same file.
    writer_lock: WriterLock | None = None
    # Per-device request budget on the handheld socket (the event loop's only).
    handheld_limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.handheld_limiter = RateLimiter(
            self.settings.rate_limit_per_second, self.settings.rate_limit_burst
        )
        sqlite = self.engine.dialect.name == "sqlite"
        self.committer = GroupCommitter(
            self.engine,
            self.executor,
            max_batch=self.settings.group_commit_max,
            # SQLite has one writer; PostgreSQL overlaps transactions on several threads.
            max_in_flight=1 if sqlite else 4,
            writer_lock=self.writer_lock,
        )

    @classmethod
    def build(cls, settings: Settings) -> ServerState:
        layouts = (
            tuple(VariableMeasureLayout.from_config(d) for d in settings.variable_measure_layouts)
            if settings.variable_measure_layouts is not None
            else DEFAULT_LAYOUTS
        )
        sqlite_file = _sqlite_file(settings.database_url)
        engine = make_engine(
            settings.database_url, autocheckpoint_pages=BACKSTOP_PAGES if sqlite_file else None
        )
        checkpointer = WalCheckpointer(sqlite_file) if sqlite_file else None
        # Database work never runs on the event loop: a SQLite write waiting for a lock
        # held by a request thread would stall every socket, and that thread may itself
        # wait for the loop to commit. SQLite serialises writers anyway, so one thread;
        # PostgreSQL waits on the network, so a pool.
        workers = 1 if is_sqlite(settings.database_url) else 8
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caddie-db")
        # The loop thread and the database thread hand the GIL to each other on every
        # request; with the default 5 ms switch interval each hand-off can wait that long.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        state = cls(
            settings=settings,
            engine=engine,
            layouts=layouts,
            audit_policy=AuditPolicy.from_config(settings.audit_policy),
            events=make_event_bus(settings.pubsub_url),
            executor=executor,
            checkpointer=checkpointer,
            writer_lock=WriterLock(sqlite_file) if sqlite_file else None,
        )
        if checkpointer is not None:
            checkpointer.start()
        return state

    async def run_db(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction on the database threads."""
        if self.executor is None:
            return run_in_transaction(self.engine, work)
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, run_in_transaction, self.engine, work
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
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self.writer_lock is not None:
            self.writer_lock.close()
        self.engine.dispose()

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


def _sqlite_file(url: str) -> str | None:
    """The file of an SQLite URL; None for PostgreSQL and in-memory databases."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    return database if database and database != ":memory:" and "mode=memory" not in url else None
