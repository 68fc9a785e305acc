"""The login throttle under parallel guessing (a real server, SQLite and PostgreSQL),
and logins for unknown or disabled accounts costing a password check like any other."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from store_server import security
from store_server.app import create_app
from store_server.auth.models import User
from store_server.config import Settings
from store_server.db import make_engine, session_scope
from store_server.security import hash_password
from tests.servers import ServerProcess

PASSWORD = "the-real-password-of-alice"
LIMIT = 10
PARALLEL = 48


def add_user(url: str, username: str, *, disabled: bool = False) -> None:
    """An account with a hash of the real cost, as ``caddie user create`` makes it: the
    password check is as slow as in production, so parallel guesses overlap."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            session.add(
                User(
                    username=username,
                    password_hash=hash_password(PASSWORD),
                    role="staff",
                    store_id="store-1",
                    disabled=disabled,
                )
            )
    finally:
        engine.dispose()


async def guess_at_once(base: str, username: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post("/api/auth/login", json={"username": username, "password": f"g-{i}"})
                for i in range(n)
            )
        )


@pytest.mark.integration
@pytest.mark.slow
def test_parallel_wrong_passwords_get_at_most_the_limit_of_password_checks(
    db_url: str, tmp_path: Path
) -> None:
    add_user(db_url, "alice")
    env = {"CADDIE_LOGIN_ATTEMPTS_PER_MINUTE": str(LIMIT)}
    with ServerProcess(db_url, env=env, log_path=tmp_path / "server.log") as server:
        replies = asyncio.run(guess_at_once(server.url, "alice", PARALLEL))
        statuses = Counter(reply.status_code for reply in replies)
        assert statuses == {401: LIMIT, 429: PARALLEL - LIMIT}, statuses
        assert all(
            reply.json()["error"]["code"] == "rate_limited"
            for reply in replies
            if reply.status_code == 429
        )
        right = httpx.post(
            server.url + "/api/auth/login",
            json={"username": "alice", "password": PASSWORD},
            timeout=10,
        )
        assert right.status_code == 429  # the limit holds for the right password too


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The hashes the password hasher verified against, in order."""
    checked: list[str] = []
    verify: Callable[[str, str], bool] = security._password_hash.verify

    def counting(password: str, hash: str) -> bool:
        checked.append(hash)
        return verify(password, hash)

    monkeypatch.setattr(security._password_hash, "verify", counting)
    yield checked


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    add_user(sqlite_url, "alice")
    add_user(sqlite_url, "dora", disabled=True)
    with TestClient(create_app(Settings(database_url=sqlite_url, environment="test"))) as client:
        yield client


@pytest.mark.parametrize(
    "username, password",
    [("alice", "wrong-password"), ("nobody", "wrong-password"), ("dora", PASSWORD)],
    ids=["wrong password", "unknown user", "disabled user"],
)
def test_every_refused_login_checks_a_password(
    client: TestClient, password_checks: list[str], username: str, password: str
) -> None:
    """No shortcut for a name that does not exist (or an account that is disabled): the
    refusal costs one argon2 verification, as a wrong password does, so its timing does
    not tell which usernames exist."""
    reply = client.post("/api/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 401
    assert reply.json()["error"]["message"] == "wrong username or password"
    assert len(password_checks) == 1
    assert password_checks[0].startswith("$argon2id$")


def test_unknown_users_are_checked_against_a_hash_of_the_real_cost(
    client: TestClient, password_checks: list[str]
) -> None:
    """The stand-in hash has the parameters (memory, iterations, lanes) of real ones."""
    client.post("/api/auth/login", json={"username": "alice", "password": "wrong-password"})
    client.post("/api/auth/login", json={"username": "nobody", "password": "wrong-password"})
    real, stand_in = (h.split("$")[3] for h in password_checks)
    assert real == stand_in


def test_a_flood_of_unknown_names_costs_a_bounded_number_of_hashes(
    client: TestClient, password_checks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a budget of stand-in checks, an unknown name is refused without a hash, so a
    flood of made-up names (from many addresses, each under its own limit) cannot eat
    the CPU that real logins need; a real account's password is always checked."""
    from store_server.auth import service

    now = [0.0]
    monkeypatch.setattr(
        service, "UNKNOWN_USER_HASHES", service.HashBudget(1.0, 2, clock=lambda: now[0])
    )
    for i in range(10):
        reply = client.post("/api/auth/login", json={"username": f"ghost{i}", "password": "x"})
        assert reply.status_code == 401
        assert reply.json()["error"]["message"] == "wrong username or password"
    assert len(password_checks) == 2  # the budget, not the flood
    assert (
        client.post("/api/auth/login", json={"username": "alice", "password": "nope"}).status_code
        == 401
    )
    right = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert right.status_code == 200 and len(password_checks) == 4
    now[0] += 1.0  # the budget refills with time
    client.cookies.clear()  # a script, not the browser alice just logged in with
    assert (
        client.post("/api/auth/login", json={"username": "ghost", "password": "x"}).status_code
        == 401
    )
    assert len(password_checks) == 5
