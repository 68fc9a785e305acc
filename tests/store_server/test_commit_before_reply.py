"""A success reply is sent only once its transaction has committed.

If the commit ran after the reply (a request-scoped dependency's exit does), a client
could be told "done" for a write that then failed, and its next request could race the
commit (a login cookie that the next page does not know yet). Here the database refuses
every commit for one request: the reply must say so, and nothing of it may be stored.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from store_server.app import create_app
from store_server.auth.models import AuthSession
from store_server.config import Settings
from store_server.db import make_engine
from tests.accounts import PASSWORD, make_user
from tests.commits import commits_refused, internal_error
from tests.dbrows import row_count


def sessions_stored(url: str) -> int:
    return row_count(url, AuthSession)


def test_a_login_whose_commit_fails_is_not_a_success(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    make_user(engine, "root", "admin", None)
    engine.dispose()
    app = create_app(Settings(database_url=sqlite_url, environment="test"))
    with TestClient(app, raise_server_exceptions=False) as client:
        body = {"username": "root", "password": PASSWORD}
        with commits_refused() as refusals:
            reply = client.post("/api/auth/login", json=body)
        assert refusals, "the login never tried to commit"
        internal_error(reply)
        assert "caddie_session" not in reply.cookies
        assert sessions_stored(sqlite_url) == 0

        reply = client.post("/api/auth/login", json=body)
        assert reply.status_code == 200, reply.text
        assert sessions_stored(sqlite_url) == 1
        token = reply.json()["token"]
        me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
