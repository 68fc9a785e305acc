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
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from store_server.db import session_scope
from store_server.shared.errors import CaddieError

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


class WriterLock:
    """A file lock (``<database>-writer``) that server processes sharing one SQLite file
    take around each group commit, so they write in turns.

    SQLite lets one writer in at a time and makes the others wait by polling: its busy
    handler sleeps 1, 2, 5, 10 … up to 100 ms between tries, so with two processes
    writing all the time a transaction can wait hundreds of milliseconds for a lock
    that was free after one. A process waiting here sleeps in the kernel and wakes the
    moment the lock is released. Only the group commits take it (the scan path); other
    writers still wait on SQLite's own lock."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}-writer"
        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
        if os.geteuid() == 0 and os.path.exists(database):
            # As SQLite does for its -wal and -shm files: a server started once as root
            # must not leave a file the store's own service user cannot open. (A
            # database not created yet will be root's too.)
            owner = os.stat(database)
            os.fchown(self._fd, owner.st_uid, owner.st_gid)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class GroupCommitter:
    """Runs submitted database work in shared transactions on ``executor``.

    ``max_in_flight`` transactions run at once (1 for SQLite, which has one writer;
    more for PostgreSQL, whose transactions wait on the network). With ``writer_lock``
    each transaction runs holding it (processes sharing one SQLite file)."""

    def __init__(
        self,
        engine: Engine,
        executor: Executor | None,
        *,
        max_batch: int = 64,
        max_in_flight: int = 1,
        writer_lock: WriterLock | None = None,
    ) -> None:
        self.engine = engine
        self.writer_lock = writer_lock
        self.executor = executor
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

    def _turn(self) -> contextlib.AbstractContextManager[None]:
        return self.writer_lock.held() if self.writer_lock else contextlib.nullcontext()

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
        with session_scope(self.engine) as session:
            # Prepared jobs read first: on SQLite outside any transaction (the driver
            # begins one only at a write), so before the writer lock.
            steps = [self._prepare(job, session) for job in jobs]
            with self._turn():
                if self.engine.dialect.name == "sqlite":
                    # The SQLite driver begins a transaction only at the first write,
                    # and a savepoint opened before that would commit when released.
                    # Begin the batch's transaction explicitly, taking the write lock
                    # now (waiting for it like any writer) rather than failing to
                    # upgrade a read later.
                    session.connection().exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    for job, step in zip(jobs, steps, strict=True):
                        results.append(self._step(job, step, session))
                    session.commit()  # within the turn: the next writer sees it all
                except BaseException:
                    session.rollback()  # and a failed batch is undone within it too
                    raise
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
            with self._turn(), session_scope(self.engine) as session:
                value = job.work(session)
        except Exception as exc:
            return (False, exc)
        self.batches += 1
        self.jobs += 1
        return (True, value)
