"""Fixtures of the manager console tests: an app on a migrated database with accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from store_server.app import create_app
from store_server.auth.service import create_user
from store_server.config import Settings
from store_server.db import session_scope
from tests.accounts import auth_headers
from tests.csrf import csrf_headers

PASSWORD = "manager console pw"
ACCOUNTS = {
    "boss": ("manager", "store-1"),
    "root": ("admin", None),
    "cashier": ("staff", "store-1"),
    "mall": ("operator", None),
}


@pytest.fixture
def app_client(db_url: str, engine: Engine) -> Iterator[TestClient]:
    with session_scope(engine) as session:
        for name, (role, store) in ACCOUNTS.items():
            create_user(session, username=name, password=PASSWORD, role=role, store_id=store)
    settings = Settings(
        database_url=db_url, environment="test", login_attempts_per_minute=100, timezone="UTC"
    )
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        yield client


def log_in(client: TestClient, username: str) -> TestClient:
    """A cookie session as the console's login form opens it."""
    client.cookies.clear()
    reply = client.post(
        "/manager/login",
        data={"username": username, "password": PASSWORD},
        headers=csrf_headers(client, "/manager/login"),
        follow_redirects=False,
    )
    assert reply.status_code in (303, 403), reply.text
    return client


def bearer(client: TestClient, username: str) -> dict[str, str]:
    return auth_headers(client, username, PASSWORD)
