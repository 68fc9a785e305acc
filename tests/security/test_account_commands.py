"""``caddie user create`` (a reset), ``disable`` and ``enable`` against a running server:
a reset or a disable ends the account's sessions, their open staff console sockets
included, and a reset does not quietly undo a disable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.security.world import fresh_database
from tests.servers import ServerProcess, caddie
from tests.store_server.checkout.test_staff_socket_sessions import WAIT_S, closed_by_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OLD_PASSWORD = "first-password-of-staff1"
NEW_PASSWORD = "second-password-of-staff1"


@dataclass
class Store:
    server: ServerProcess

    def user(self, *args: str, password: str = NEW_PASSWORD) -> str:
        """``caddie user ARGS…`` on the store's database; its output (stdout + stderr)."""
        done = caddie(
            "user",
            *args,
            "--database-url",
            self.server.database_url,
            env={"CADDIE_NEW_PASSWORD": password},
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def login(self, password: str) -> httpx.Response:
        return httpx.post(
            self.server.url + "/api/auth/login",
            json={"username": "staff1", "password": password},
            timeout=10,
        )

    def token(self, password: str) -> str:
        reply = self.login(password)
        assert reply.status_code == 200, reply.text
        token: str = reply.json()["token"]
        return token

    def me(self, token: str) -> int:
        reply = httpx.get(
            self.server.url + "/api/auth/me",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        return reply.status_code

    @contextmanager
    def console(self, token: str) -> Iterator[ClientConnection]:
        with connect(
            self.server.url.replace("http://", "ws://") + "/ws/staff",
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=WAIT_S,
        ) as ws:
            assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "queue"
            yield ws


@pytest.fixture
def store(sqlite_template: Path, tmp_path: Path) -> Iterator[Store]:
    """A server that re-checks staff sockets every half second, and staff1 made with the
    command line (an argon2 hash of the real cost)."""
    url = fresh_database(sqlite_template, tmp_path)
    server = ServerProcess(
        url,
        env={"CADDIE_STAFF_SOCKET_RECHECK_SECONDS": "0.5"},
        log_path=tmp_path / "server.log",
    )
    store = Store(server)
    store.user("create", "staff1", "--role", "staff", "--store", "store-1", password=OLD_PASSWORD)
    server.start()
    try:
        yield store
    finally:
        server.stop()


def test_a_password_reset_ends_the_old_sessions_and_their_sockets(store: Store) -> None:
    old = store.token(OLD_PASSWORD)
    with store.console(old) as ws:
        store.user("create", "staff1", "--role", "staff", "--store", "store-1")
        assert store.me(old) == 401
        code, reason, _ = closed_by_server(ws)
    assert (code, reason) == (4401, "unauthorized")
    assert store.login(OLD_PASSWORD).status_code == 401
    assert store.me(store.token(NEW_PASSWORD)) == 200


def test_disable_ends_the_sessions_and_only_enable_lets_the_account_back(store: Store) -> None:
    token = store.token(OLD_PASSWORD)
    with store.console(token) as ws:
        store.user("disable", "staff1")
        assert store.me(token) == 401
        code, reason, _ = closed_by_server(ws)
    assert (code, reason) == (4401, "unauthorized")
    assert store.login(OLD_PASSWORD).status_code == 401

    # A reset leaves a disabled account disabled, and says so.
    said = store.user("create", "staff1", "--role", "staff", "--store", "store-1")
    assert "staff1 is disabled" in said and "caddie user enable staff1" in said
    assert store.login(NEW_PASSWORD).status_code == 401

    store.user("enable", "staff1")
    assert store.me(store.token(NEW_PASSWORD)) == 200
    assert store.me(token) == 401  # enabling does not bring the ended session back


def test_disable_and_enable_refuse_an_unknown_account(sqlite_url: str) -> None:
    for command in ("disable", "enable"):
        done = caddie("user", command, "nobody", "--database-url", sqlite_url)
        assert done.returncode == 1
        assert "no user 'nobody'" in done.stderr and "Traceback" not in done.stderr
