"""Engines, sessions and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, create_engine

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Accept the plain ``postgresql://`` form of PROTOCOL.md and use psycopg 3."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, autocheckpoint_pages: int | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``. On SQLite, ``autocheckpoint_pages`` raises the WAL size at
    which a commit checkpoints (the server checkpoints on a thread of its own)."""
    url = normalise_url(url)
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL with synchronous=NORMAL survives a killed process (the WAL is in the OS
            # page cache); only a power cut can lose the last transactions.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if autocheckpoint_pages is not None:
                cur.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages)}")
            cur.close()

        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    # Timestamps are stored as UTC whatever the server's TimeZone setting.
    kwargs.setdefault("connect_args", {"options": "-c timezone=UTC"})
    return create_engine(url, pool_pre_ping=True, **kwargs)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """The one place that commits: services only flush."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class ChangeCounter:
    """A one-row table (``id`` 1) whose ``column`` counts the changes to something that
    server processes keep in memory (the catalog, the mall plan): a writer moves it in
    its own transaction, a process reads it to know whether what it keeps is current."""

    def __init__(self, table: Any, column: str) -> None:
        value = table.c[column]
        self._read = select(value).where(table.c.id == 1)
        self._move = update(table).where(table.c.id == 1).values({column: value + 1})
        self._first = insert(table).values({"id": 1, column: 1})

    def read(self, connection: Connection) -> int:
        return int(connection.execute(self._read).scalar() or 0)

    def move(self, connection: Connection) -> None:
        if not connection.execute(self._move).rowcount:  # the row the migration wrote is gone
            connection.execute(self._first)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    here = Path(__file__).resolve().parent
    cfg = Config()
    cfg.set_main_option("script_location", str(here / "migrations"))
    cfg.set_main_option(
        "version_locations",
        f"{here / 'migrations' / 'versions'} {here.parent / 'signage' / 'migrations' / 'versions'}",
    )
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["database_url"] = normalise_url(url)
    return cfg


def migrate(url: str) -> None:
    """Bring the schema to the newest revision of every package (``alembic upgrade heads``)."""
    from alembic import command

    command.upgrade(alembic_config(url), "heads")
