"""The database of a server process, and the one way to write to it: the unit of work.

A server process opens one :class:`Database` (``Database.open``, from the lifespan of
the store app or of the standalone signage app): one engine, the threads that run
database work off the event loop and, on an SQLite file, the writer lock and the WAL
checkpoint thread. Every domain writes in a unit of work:

* ``await db.run(work)`` from ``async`` code: ``work(session)`` on the database
  threads, committed when it returns;
* ``with db.unit_of_work() as session:`` from code already on a worker thread (a
  plain ``def`` route, the login's password check, the command line).

Both take the *writer turn* (:meth:`Database.writer_turn`): the writer lock, then on
SQLite ``BEGIN IMMEDIATE``, and they commit before giving the turn back, so processes
sharing one SQLite file write in turns, and every writer of a process waits for the
lock the same way. The scan path's group commit (``store_server.group_commit``) runs
its batches in the same turn. Reads that write nothing (``SessionDep``) take no turn;
their session refuses writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import ORMExecuteState, UOWTransaction
from sqlmodel import Session

from store_server.db import is_sqlite, make_engine, session_scope
from store_server.wal_checkpoint import BACKSTOP_PAGES, WalCheckpointer

T = TypeVar("T")


class WriterLock:
    """A file lock (``<database>-writer``) that the writers of every server process
    sharing one SQLite file take around each transaction, so they write in turns.

    SQLite lets one writer in at a time and makes the others wait by polling: its busy
    handler sleeps 1, 2, 5, 10 … up to 100 ms between tries, so with two processes
    writing all the time a transaction can wait hundreds of milliseconds for a lock
    that was free after one. A process waiting here sleeps in the kernel and wakes the
    moment the lock is released. ``flock`` locks belong to the open file, not the
    thread, so the threads of one process first take turns on a thread lock."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.path = f"{database}-writer"
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._open()

    def _open(self) -> int:
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
        if os.geteuid() == 0 and os.path.exists(self.database):
            # As SQLite does for its -wal and -shm files: a server started once as root
            # must not leave a file the store's own service user cannot open. (A
            # database not created yet will be root's too.)
            owner = os.stat(self.database)
            os.fchown(fd, owner.st_uid, owner.st_gid)
        self._fd = fd
        return fd

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            # Closed (its server stopped) and used again, as an engine can be after
            # dispose: open the lock file again.
            fd = self._fd if self._fd is not None else self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class ReadingSession(Session):
    """A session that only reads (a request's ``SessionDep``): a write through it is a
    mistake, refused before it reaches the database, since it would skip the turn."""


_WRITE_IN_A_UNIT_OF_WORK = "this session only reads; write in a unit of work (Database.run)"


@event.listens_for(ReadingSession, "before_flush")
def _refuse_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    if session.new or session.deleted or any(session.is_modified(o) for o in session.dirty):
        raise RuntimeError(_WRITE_IN_A_UNIT_OF_WORK)


@event.listens_for(ReadingSession, "do_orm_execute")
def _refuse_statement(execution: ORMExecuteState) -> None:
    if execution.is_insert or execution.is_update or execution.is_delete:
        raise RuntimeError(_WRITE_IN_A_UNIT_OF_WORK)


class Database:
    """The process's engine and the unit of work every domain writes in."""

    def __init__(
        self,
        engine: Engine,
        *,
        executor: ThreadPoolExecutor | None = None,
        writer_lock: WriterLock | None = None,
        checkpointer: WalCheckpointer | None = None,
    ) -> None:
        self.engine = engine
        # None: work runs on the calling thread (tests that run without threads).
        self.executor = executor
        self.writer_lock = writer_lock
        self.checkpointer = checkpointer
        self.sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def open(cls, url: str, *, serving: bool = True) -> Database:
        """The database of a process: the one place its engine is built. A command
        (``serving=False``) runs its work on its own thread and leaves checkpoints to
        SQLite; its writes take the writer turn as the server's do."""
        sqlite_file = _sqlite_file(url)
        checkpoints = sqlite_file if serving else None
        engine = make_engine(url, autocheckpoint_pages=BACKSTOP_PAGES if checkpoints else None)
        checkpointer = WalCheckpointer(checkpoints) if checkpoints else None
        if not serving:
            return cls(engine, writer_lock=WriterLock(sqlite_file) if sqlite_file else None)
        # Database work never runs on the event loop: a SQLite write waiting for a lock
        # held by a request thread would stall every socket, and that thread may itself
        # wait for the loop to commit. SQLite serialises writers anyway, so one thread;
        # PostgreSQL waits on the network, so a pool.
        executor = ThreadPoolExecutor(
            max_workers=1 if is_sqlite(url) else 8, thread_name_prefix="caddie-db"
        )
        database = cls(
            engine,
            executor=executor,
            writer_lock=WriterLock(sqlite_file) if sqlite_file else None,
            checkpointer=checkpointer,
        )
        if checkpointer is not None:
            checkpointer.start()
        return database

    @contextlib.contextmanager
    def writer_turn(self, session: Session) -> Iterator[None]:
        """Make ``session``'s transaction a writer's: take the writer lock, begin (on
        SQLite, ``BEGIN IMMEDIATE``), then commit, or roll back if the block raises,
        before the turn passes on, so the next writer sees it all.

        The SQLite driver begins a transaction only at the first write, and a savepoint
        opened before that would commit when released; beginning explicitly also takes
        SQLite's write lock now (waiting for it like any writer) rather than failing to
        upgrade a read later. What ``session`` read before the turn was read outside
        any transaction (the group commit prices its scans so)."""
        lock = self.writer_lock.held() if self.writer_lock else contextlib.nullcontext()
        with lock:
            if self.sqlite:
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A write transaction on this thread, in the writer turn."""
        with session_scope(self.engine) as session, self.writer_turn(session):
            yield session

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that reads, outside the turn; it refuses writes."""
        with ReadingSession(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()  # ends the transaction and, unlike a rollback, expires nothing
            except BaseException:
                session.rollback()
                raise

    def run_here(self, work: Callable[[Session], T], *, read_only: bool = False) -> T:
        with self.reading() if read_only else self.unit_of_work() as session:
            return work(session)

    async def run(self, work: Callable[[Session], T], *, read_only: bool = False) -> T:
        """``work(session)`` in a unit of work on the database threads, committed when it
        returns; ``read_only`` work only reads, outside the writer turn."""
        if self.executor is None:
            return self.run_here(work, read_only=read_only)
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, lambda: self.run_here(work, read_only=read_only)
        )

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self.writer_lock is not None:
            self.writer_lock.close()
        self.engine.dispose()


def _sqlite_file(url: str) -> str | None:
    """The file of an SQLite URL; None for PostgreSQL and in-memory databases."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    return database if database and database != ":memory:" and "mode=memory" not in url else None
