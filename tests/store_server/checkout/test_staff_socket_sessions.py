"""An open ``/ws/staff`` socket ends with its login session (real server, real sockets).

A logout closes the socket of that session at once, announced on the event bus; a
console message after the session ended, or the periodic re-check, closes it when
nothing was announced (an account disabled, a role taken away). The other sessions of
the same person stay open.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from store_server.auth.models import User
from store_server.db import make_engine, session_scope
from tests.accounts import PASSWORD, make_user
from tests.csrf import csrf_headers
from tests.security.world import fresh_database
from tests.servers import ServerProcess
from tests.store_server.checkout.conftest import TEST_POLICY
from tests.store_server.factories import COFFEE_ITEM, add_products, enroll_devices

pytestmark = pytest.mark.integration

# Far longer than any wait below: a socket closed within a wait was closed by the
# announcement or by the message, not by the periodic re-check.
NO_PERIODIC_CHECK = "600"
WAIT_S = 20.0


class Store:
    def __init__(self, url: str, tokens: dict[str, str], server: ServerProcess) -> None:
        self.url, self.tokens, self.server = url, tokens, server

    def login(self, username: str) -> str:
        reply = httpx.post(
            self.server.url + "/api/auth/login",
            json={"username": username, "password": PASSWORD},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        token: str = reply.json()["token"]
        return token

    @contextmanager
    def console(
        self, token: str | None = None, *, cookie: str | None = None
    ) -> Iterator[ClientConnection]:
        headers = {"Authorization": f"Bearer {token}"} if token else {"Cookie": cookie or ""}
        with connect(
            self.server.url.replace("http://", "ws://") + "/ws/staff",
            additional_headers=headers,
            open_timeout=WAIT_S,
        ) as ws:
            first = json.loads(ws.recv(timeout=WAIT_S))
            assert first["type"] == "queue", first
            yield ws

    def change_user(self, username: str, **values: Any) -> None:
        engine = make_engine(self.url)
        try:
            with session_scope(engine) as session:
                user = session.exec(select(User).where(User.username == username)).one()
                for name, value in values.items():
                    setattr(user, name, value)
        finally:
            engine.dispose()

    def finished_basket(self, device: str = "H-1") -> str:
        """A shopper trip to the exit, so the consoles get a basket event."""
        with connect(self.server.ws_url, open_timeout=WAIT_S) as ws:

            def call(kind: str, **fields: Any) -> dict[str, Any]:
                ws.send(json.dumps({"type": kind, "id": str(uuid.uuid4()), **fields}))
                reply: dict[str, Any] = json.loads(ws.recv(timeout=WAIT_S))
                return reply

            hello = {"type": "hello", "protocol": 1, "device_id": device}
            ws.send(json.dumps({**hello, "token": self.tokens[device]}))
            assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "welcome"
            assert call("start", loyalty_card=uuid.uuid4().hex[:12])["type"] == "basket"
            assert call("scan", code=COFFEE_ITEM.gtin[1:])["type"] == "ack"
            finished = call("finish")
        assert finished["type"] == "checkout", finished
        basket_id: str = finished["basket"]["basket_id"]
        return basket_id


def start_store(template: Path, folder: Path, recheck: str) -> Store:
    url = fresh_database(template, folder)
    engine = make_engine(url)
    try:
        add_products(engine)
        tokens = enroll_devices(engine, "H-1")
        for username in ("alice", "carol", "dora", "erin", "finn"):
            make_user(engine, username, "staff", "store-1")
    finally:
        engine.dispose()
    server = ServerProcess(
        url,
        env={
            "CADDIE_STAFF_SOCKET_RECHECK_SECONDS": recheck,
            "CADDIE_AUDIT_POLICY": json.dumps(TEST_POLICY),
        },
        log_path=folder / "server.log",
    )
    return Store(url, tokens, server.start())


@pytest.fixture(scope="module")
def store(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    started = start_store(sqlite_template, tmp_path_factory.mktemp("sockets"), NO_PERIODIC_CHECK)
    try:
        yield started
    finally:
        started.server.stop()


def closed_by_server(ws: ClientConnection, *, poke: bool = False) -> tuple[int, str, list[Any]]:
    """Read until the server closes the socket (at most ``WAIT_S``); the close code, its
    reason and the messages before it. ``poke`` sends a console message now and then."""
    seen: list[Any] = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if poke:
                ws.send(json.dumps({"type": "ping"}))
            seen.append(json.loads(ws.recv(timeout=0.5 if poke else WAIT_S)))
        except TimeoutError:
            continue
        except ConnectionClosed as exc:
            assert exc.rcvd is not None, "the connection dropped without a close frame"
            return exc.rcvd.code, exc.rcvd.reason, seen
    raise AssertionError(f"the socket is still open after {WAIT_S} s; got {seen}")


def next_event_about(ws: ClientConnection, basket_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        message: dict[str, Any] = json.loads(ws.recv(timeout=WAIT_S))
        if message.get("basket", {}).get("basket_id") == basket_id:
            return message
    raise AssertionError(f"no event about {basket_id}")


def test_api_logout_closes_that_sessions_socket_and_no_other(store: Store) -> None:
    first, second = store.login("alice"), store.login("alice")
    with store.console(first) as ended, store.console(second) as kept:
        logout = httpx.post(
            store.server.url + "/api/auth/logout",
            headers={"Authorization": f"Bearer {first}"},
            timeout=10,
        )
        assert logout.status_code == 204
        code, reason, seen = closed_by_server(ended)
        assert code == 4401 and reason == "unauthorized"
        assert seen[-1]["type"] == "error" and seen[-1]["code"] == "unauthorized"
        assert "log in again" in seen[-1]["message"]

        # Alice's other session still gets the queue live ...
        basket_id = store.finished_basket()
        assert next_event_about(kept, basket_id)["event"] == "basket.finished"
        # ... until it is logged out too.
        httpx.post(
            store.server.url + "/api/auth/logout",
            headers={"Authorization": f"Bearer {second}"},
            timeout=10,
        )
        assert closed_by_server(kept)[0] == 4401


def test_console_logout_closes_the_socket(store: Store) -> None:
    with httpx.Client(base_url=store.server.url, timeout=10) as browser:
        login = browser.post(
            "/staff/login",
            data={"username": "carol", "password": PASSWORD},
            headers=csrf_headers(browser),
        )
        assert login.status_code == 303, login.text
        cookie = f"caddie_session={browser.cookies['caddie_session']}"
        with store.console(cookie=cookie) as ws:
            headers = csrf_headers(browser, "/staff")
            assert browser.post("/staff/logout", headers=headers).status_code == 303
            code, reason, _ = closed_by_server(ws)
    assert (code, reason) == (4401, "unauthorized")


def test_a_console_message_after_the_account_is_disabled_closes_the_socket(
    store: Store,
) -> None:
    """Nothing is announced when an account is disabled in the database; the next
    message from the console finds out."""
    with store.console(store.login("dora")) as ws:
        store.change_user("dora", disabled=True)
        code, reason, seen = closed_by_server(ws, poke=True)
    assert (code, reason) == (4401, "unauthorized")
    assert seen[-1]["code"] == "unauthorized"


def test_the_periodic_check_closes_sockets_of_disabled_and_demoted_accounts(
    sqlite_template: Path, tmp_path: Path
) -> None:
    quick = start_store(sqlite_template, tmp_path, recheck="0.5")
    try:
        with (
            quick.console(quick.login("erin")) as disabled,
            quick.console(quick.login("finn")) as demoted,
        ):
            quick.change_user("erin", disabled=True)
            quick.change_user("finn", role="operator")
            assert closed_by_server(disabled)[:2] == (4401, "unauthorized")
            code, reason, seen = closed_by_server(demoted)
            assert (code, reason) == (4403, "forbidden")
            assert seen[-1]["code"] == "forbidden"
    finally:
        quick.server.stop()
