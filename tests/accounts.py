"""Staff accounts for tests: the test password and its hash, the account rows, logging
in as an API script does, and the bearer header every request then carries."""

from __future__ import annotations

import functools

from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.engine import Engine

from store_server.auth.models import User
from store_server.db import session_scope

PASSWORD = "correct horse battery"


@functools.cache
def password_hash(password: str = PASSWORD) -> str:
    """An argon2 hash with the lowest cost: the server verifies it with the parameters it
    carries, so the many logins of the tests take milliseconds, not half a second each."""
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    return weak.hash(password)


def make_user(
    engine: Engine,
    username: str,
    role: str,
    store_id: str | None = "store-1",
    *,
    password: str = PASSWORD,
) -> None:
    with session_scope(engine) as session:
        session.add(
            User(
                username=username,
                password_hash=password_hash(password),
                role=role,
                store_id=store_id,
            )
        )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """The login token of ``username``. No cookie goes with the login or stays after it
    (a cookie would make it a browser's login): each request states its credential."""
    client.cookies.clear()
    reply = client.post("/api/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    client.cookies.clear()
    token: str = reply.json()["token"]
    return token


def auth_headers(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """The bearer header of a fresh login of ``username``."""
    return bearer(login(client, username, password))
