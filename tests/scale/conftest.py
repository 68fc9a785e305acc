"""Fixtures for the scale-out tests: a store on the real PostgreSQL, server processes
sharing it, and the real Redis."""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from store_server.auth.models import User
from store_server.db import is_sqlite, make_engine, session_scope
from store_server.security import hash_password
from tests.conftest import _truncate_all
from tests.servers import ServerProcess
from tests.store_server.factories import (
    COFFEE_ITEM,
    MILK_ITEM,
    Item,
    add_products,
    enroll_devices,
    gtin14,
)

REDIS_URL = os.environ.get("CADDIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "staff-password-for-scale-tests"
# Items sold by the unit, not age-restricted: any of them can be scanned any number of times.
UNIT_ITEMS = (COFFEE_ITEM, MILK_ITEM) + tuple(
    Item(gtin14(f"03{n:011d}"), f"Scale item {n}", "grocery", 100 + n) for n in range(1, 19)
)
# What a handheld sends: the EAN-13 (the GTIN-14 without its leading zero).
CODES = tuple(i.gtin[1:] for i in UNIT_ITEMS)
# No audits: a finished basket can be released at once.
NO_AUDIT = json.dumps(
    {"base_rate": 0.0, "first_trip_always": False, "max_days_without_audit": None}
)


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:
        return False


@dataclass
class Store:
    """A migrated database with products, handhelds and a staff account."""

    url: str
    tokens: dict[str, str]
    tmp: Path
    staff: str = "sam"

    def server(self, pubsub: str | None = None, **env: str) -> ServerProcess:
        """A ``caddie serve`` process on this store (not started)."""
        settings = {
            "CADDIE_AUDIT_POLICY": NO_AUDIT,
            "CADDIE_RATE_LIMIT_PER_SECOND": "500",
            "CADDIE_RATE_LIMIT_BURST": "500",
            "CADDIE_LOG_FORMAT": "json",
            **({"CADDIE_PUBSUB_URL": pubsub} if pubsub else {}),
            **env,
        }
        n = len(list(self.tmp.glob("server-*.log")))
        return ServerProcess(self.url, env=settings, log_path=self.tmp / f"server-{n}.log")

    def login(self, server: ServerProcess) -> str:
        reply = httpx.post(
            server.url + "/api/auth/login",
            json={"username": self.staff, "password": PASSWORD},
            timeout=10,
        )
        reply.raise_for_status()
        token: str = reply.json()["token"]
        return token

    def lines(self, device_id: str) -> dict[str, int]:
        """Units per GTIN-14 over every basket of a device, as the database has them."""
        from sqlmodel import Session, select

        from store_server.baskets.models import Basket, BasketLine

        engine = make_engine(self.url)
        try:
            with Session(engine) as session:
                rows = session.exec(
                    select(BasketLine.gtin, BasketLine.qty)
                    .join(Basket, Basket.id == BasketLine.basket_id)  # type: ignore[arg-type]
                    .where(Basket.device_id == device_id)
                ).all()
        finally:
            engine.dispose()
        units: dict[str, int] = {}
        for gtin, qty in rows:
            units[gtin] = units.get(gtin, 0) + qty
        return units


def make_store(url: str, tmp: Path, devices: int) -> Store:
    """Products, handhelds and a staff account in a migrated database (PostgreSQL's is
    emptied first; an SQLite one is a fresh copy)."""
    if not is_sqlite(url):
        _truncate_all(url)
    engine = make_engine(url)
    try:
        add_products(engine, UNIT_ITEMS)
        tokens = enroll_devices(engine, *(f"H-{i:03d}" for i in range(devices)))
        with session_scope(engine) as session:
            staff = User(
                username="sam", password_hash=password_hash(), role="staff", store_id="store-1"
            )
            session.add(staff)
    finally:
        engine.dispose()
    return Store(url, tokens, tmp)


@pytest.fixture
def store(postgres_database: str, tmp_path: Path) -> Store:
    return make_store(postgres_database, tmp_path, devices=60)


@pytest.fixture
def redis_url() -> str:
    if not redis_available():
        pytest.fail(f"Redis at {REDIS_URL} is required for the scale-out tests")
    return REDIS_URL


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Server processes a test starts; all are stopped (or killed) at the end."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


def can_restart_services() -> str | None:
    """Why the service-restart tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "restarting PostgreSQL/Redis needs root"
    if shutil.which("pg_ctlcluster") is None:
        return "pg_ctlcluster is missing (not a Debian PostgreSQL install)"
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        return "redis-server/redis-cli are missing"
    if not Path("/etc/postgresql").is_dir():
        return "/etc/postgresql is missing"
    return None
