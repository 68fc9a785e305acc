"""Shared fixtures: databases (SQLite and the real PostgreSQL), apps, factories, paths."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
# The tests report plays on fixed dates (a Saturday in November 2026, as their plans book
# it): proof of play of any age is taken from them unless a test says otherwise.
os.environ.setdefault("CADDIE_MAX_PLAY_AGE_HOURS", str(100 * 365 * 24))
# Every test client calls from one address and many tests fail authentications on purpose
# (the role matrix alone, hundreds of times): the per-address limit on failures is off
# unless a test sets it (tests/security/test_auth_throttling.py does).
os.environ.setdefault("CADDIE_AUTH_FAILURES_PER_MINUTE", "1000000000")
PG_ADMIN_URL = os.environ.get("CADDIE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating takes longer than copying)."""
    from store_server.db import migrate

    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server for this test session."""
    import psycopg

    name = f"caddie_test_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for the postgres tests: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    from store_server.db import migrate

    migrate(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_all(url: str) -> None:
    from sqlmodel import SQLModel

    from store_server.db import make_engine

    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a copied SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "caddie.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        _truncate_all(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "caddie.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    from store_server.db import make_engine

    eng = make_engine(db_url)
    yield eng
    eng.dispose()
