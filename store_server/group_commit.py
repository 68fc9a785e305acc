"""Group commit: the requests of many handhelds applied in one database transaction.

A scan is acknowledged only once it is committed, and a commit costs about as much as
the scan itself. Under load, requests that arrive while a transaction is running wait
and go together in the next one, so the commit is paid once per batch; when the
server is quiet a batch holds one request and nothing waits.

Two kinds of job share a batch:

* *isolated* jobs run inside a savepoint: whatever they raise undoes their own writes
  only (start, finish, offers: the ORM code paths);
* *plain* jobs skip the savepoint. They promise to raise :class:`CaddieError` (or
  :class:`JobRetry`) only while nothing of theirs is written; anything else they raise
  fails the whole batch.

A batch that fails as a whole (a lost connection, a deadlock with another process, a
plain job breaking its promise) is rolled back and its jobs are run again one
transaction each, so one bad request cannot fail its neighbours.

Batches are units of work like any other (``store_server.unit_of_work``): each runs in
the database's writer turn; only what a prepared job reads comes before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel import Session

from store_server.db import session_scope
from store_server.shared.errors import CaddieError
from store_server.unit_of_work import Database

T = TypeVar("T")
log = logging.getLogger(__name__)


class JobRetry(Exception):
    """Raised by a plain job that found its cached view of the data out of date and
    wrote nothing (net) in the transaction: the caller reloads and submits again."""


@dataclass
class _Job:
    work: Callable[[Session], Any]
    isolated: bool
    future: asyncio.Future[Any]
    # A prepared job reads and works out its writes before the batch takes the writer
    # lock, and returns them to run inside it (``work`` is then both steps in one).
    prepare: Callable[[Session], Callable[[Session], Any]] | None = None


_Result = tuple[bool, Any]  # (ok, value or exception)


class GroupCommitter:
    """Runs submitted database work in shared transactions on the database's threads.

    ``max_in_flight`` transactions run at once (1 for SQLite, which has one writer;
    more for PostgreSQL, whose transactions wait on the network)."""

    def __init__(self, db: Database, *, max_batch: int = 64, max_in_flight: int = 1) -> None:
        self.db = db
        self.executor = db.executor
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._pending: list[_Job] = []
        self._in_flight = 0
        # Transactions committed and the requests in them (the tests read these).
        self.batches = 0
        self.jobs = 0

    async def run(self, work: Callable[[Session], T], *, isolated: bool = True) -> T:
        loop = asyncio.get_running_loop()
        result: T = await self._submit(_Job(work, isolated, loop.create_future()))
        return result

    async def run_prepared(self, prepare: Callable[[Session], Callable[[Session], T]]) -> T:
        """A plain job in two steps: ``prepare`` only reads (the basket, the catalog) and
        works out the reply, then returns the writes, which run in the batch's
        transaction. The batch prepares its jobs before it takes the writer lock, so
        another process sharing the SQLite file can write meanwhile; whatever changed
        in between is the writes' to detect (a basket written only at the version the
        prepare saw). ``prepare`` may raise :class:`CaddieError` or :class:`JobRetry`."""

        def both(session: Session) -> T:
            return prepare(session)(session)

        loop = asyncio.get_running_loop()
        result: T = await self._submit(_Job(both, False, loop.create_future(), prepare))
        return result

    async def _submit(self, job: _Job) -> Any:
        self._pending.append(job)
        if self._in_flight < self.max_in_flight:
            self._launch(job.future.get_loop())
        return await job.future

    def _launch(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        self._in_flight += 1
        if self.executor is None:  # tests that run without threads
            self._finish(loop, jobs, self._run_batch(jobs), None)
            return
        running = loop.run_in_executor(self.executor, self._run_batch, jobs)
        running.add_done_callback(
            lambda done: self._finish(
                loop, jobs, None if done.exception() else done.result(), done.exception()
            )
        )

    def _finish(
        self,
        loop: asyncio.AbstractEventLoop,
        jobs: list[_Job],
        results: list[_Result] | None,
        error: BaseException | None,
    ) -> None:
        self._in_flight -= 1
        for index, job in enumerate(jobs):
            if job.future.done():  # the connection went away meanwhile
                continue
            if results is None:
                job.future.set_exception(error or RuntimeError("batch failed"))
                continue
            ok, value = results[index]
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)
        if self._pending and self._in_flight < self.max_in_flight:
            self._launch(loop)

    # On the database thread.

    def _run_batch(self, jobs: list[_Job]) -> list[_Result]:
        try:
            results = self._together(jobs)
        except Exception as exc:
            if len(jobs) == 1:
                return [(False, exc)]
            log.warning(
                "a batch of %d requests failed (%s); applying them one by one",
                len(jobs),
                type(exc).__name__,
            )
            return [self._alone(job) for job in jobs]
        self.batches += 1
        self.jobs += sum(1 for ok, _ in results if ok)
        return results

    def _together(self, jobs: list[_Job]) -> list[_Result]:
        results: list[_Result] = []
        with session_scope(self.db.engine) as session:
            # Prepared jobs read first: on SQLite outside any transaction (the driver
            # begins one only at a write), so before the writer turn.
            steps = [self._prepare(job, session) for job in jobs]
            with self.db.writer_turn(session):
                for job, step in zip(jobs, steps, strict=True):
                    results.append(self._step(job, step, session))
        return results

    @staticmethod
    def _step(job: _Job, step: Callable[[Session], Any] | Exception, session: Session) -> _Result:
        if isinstance(step, Exception):  # refused while preparing
            return (False, step)
        if job.isolated:
            savepoint = session.begin_nested()
            try:
                value = step(session)
                savepoint.commit()
            except Exception as exc:
                savepoint.rollback()
                return (False, exc)
            return (True, value)
        try:
            return (True, step(session))
        except (CaddieError, JobRetry) as exc:
            return (False, exc)

    @staticmethod
    def _prepare(job: _Job, session: Session) -> Callable[[Session], Any] | Exception:
        if job.prepare is None:
            return job.work
        try:
            return job.prepare(session)
        except (CaddieError, JobRetry) as exc:
            return exc

    def _alone(self, job: _Job) -> _Result:
        try:
            value = self.db.run_here(job.work)
        except Exception as exc:
            return (False, exc)
        self.batches += 1
        self.jobs += 1
        return (True, value)
