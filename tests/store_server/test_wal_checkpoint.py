"""SQLite WAL checkpoints: the server's commits leave them to a thread of their own."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from store_server.config import Settings
from store_server.db import make_engine
from store_server.state import ServerState
from store_server.wal_checkpoint import BACKSTOP_PAGES, WalCheckpointer

PAGE_ROWS = 300  # rows of 1 KiB each commit writes: about 75 pages of 4 KiB


@contextmanager
def _written(url: str, commits: int, *, autocheckpoint_pages: int | None) -> Iterator[Engine]:
    """An engine that made ``commits`` commits of about 75 pages each, still open (the
    last connection to close checkpoints the whole log)."""
    engine = make_engine(url, autocheckpoint_pages=autocheckpoint_pages)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS blob (id INTEGER PRIMARY KEY, b TEXT)"))
        rows = [{"b": "x" * 1024}] * PAGE_ROWS
        for _ in range(commits):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO blob (b) VALUES (:b)"), rows)
        with engine.connect() as conn:
            pages = conn.execute(text("PRAGMA wal_autocheckpoint")).scalar()
            assert pages == (autocheckpoint_pages or 1000)
        yield engine
    finally:
        engine.dispose()


def _database_bytes(path: Path) -> int:
    return path.stat().st_size


def test_commits_past_the_default_threshold_leave_the_log_to_the_checkpointer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wal.db"
    # 30 commits of ~75 pages: 2,250 pages, past SQLite's default threshold of 1,000.
    with _written(f"sqlite:///{path}", 30, autocheckpoint_pages=BACKSTOP_PAGES):
        before = _database_bytes(path)
        assert before < 1_000_000, "a commit copied the log into the database file"
        checkpointer = WalCheckpointer(str(path))
        with sqlite3.connect(path) as connection:
            busy, logged, copied = checkpointer.checkpoint_once(connection)
        assert busy == 0 and logged >= 2_000 and copied == logged
        assert _database_bytes(path) > before + 8_000_000  # the ~9 MB written are in it now
        assert checkpointer.frames_copied == copied


def test_without_the_raised_threshold_commits_checkpoint_themselves(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    with _written(f"sqlite:///{path}", 30, autocheckpoint_pages=None):
        assert _database_bytes(path) > 1_000_000  # SQLite's own checkpoints ran in commits


def test_the_server_checkpoints_its_sqlite_file_on_its_own_thread(sqlite_url: str) -> None:
    state = ServerState.build(Settings(database_url=sqlite_url, environment="test"))
    try:
        assert state.db.checkpointer is not None
        with state.db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == BACKSTOP_PAGES
        with _written(sqlite_url, 20, autocheckpoint_pages=BACKSTOP_PAGES):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and state.db.checkpointer.frames_copied == 0:
                time.sleep(0.1)
        assert state.db.checkpointer.frames_copied > 0
    finally:
        state.close()
    assert not any(t.name == "caddie-wal" for t in threading.enumerate())


def test_a_checkpointer_that_cannot_open_its_file_warns_once_and_keeps_trying(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpointer = WalCheckpointer(str(tmp_path), interval_s=0.01)  # a folder, not a file
    with caplog.at_level(logging.WARNING, logger="store_server.wal_checkpoint"):
        checkpointer.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and checkpointer.failures < 5:
            time.sleep(0.01)
        checkpointer.stop()
    assert checkpointer.failures >= 5 and checkpointer.checkpoints == 0
    warnings = [r for r in caplog.records if r.name == "store_server.wal_checkpoint"]
    assert len(warnings) == 1 and "failing" in warnings[0].getMessage()


@pytest.mark.postgres
def test_postgresql_has_no_checkpointer(postgres_database: str) -> None:
    state = ServerState.build(Settings(database_url=postgres_database, environment="test"))
    try:
        assert state.db.checkpointer is None
    finally:
        state.close()
