"""Throttling failed authentications against a real ``caddie serve`` (issue 19, findings 2
and 8): guesses made elsewhere do not lock a person out of the browser they use,
spraying passwords over many accounts or rotating guessed tokens from one address is
slowed, and other addresses are not.

Each client binds its own loopback address (127.0.0.x), as machines on a store's network
would have their own."""

from __future__ import annotations

import json
import secrets
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from signage.config import SignageSettings
from signage.service import enroll as enroll_screen
from store_server.db import make_engine, session_scope
from store_server.devices.service import enroll as enroll_device
from tests.accounts import PASSWORD
from tests.csrf import csrf_headers
from tests.security.world import fresh_database, make_user
from tests.servers import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PER_ACCOUNT = 10
PER_ADDRESS = 20


@dataclass
class Shop:
    server: ServerProcess
    screen_token: str
    device_token: str

    def client(self, address: str) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=address)
        return httpx.Client(base_url=self.server.url, transport=transport, timeout=30)


@pytest.fixture
def shop(sqlite_template: Path, tmp_path: Path) -> Iterator[Shop]:
    url = fresh_database(sqlite_template, tmp_path)
    engine = make_engine(url)
    try:
        for name in ("alice", "bob", "carol"):
            make_user(engine, name, "staff", "store-1")
        make_user(engine, "root", "admin", None)
        with session_scope(engine) as session:
            [(_, screen)] = enroll_screen(
                session, ["S-01"], settings=SignageSettings(), timezone="UTC"
            )
            [(_, device)] = enroll_device(session, ["H-1"], store_id="store-1")
    finally:
        engine.dispose()
    env = {
        "CADDIE_LOGIN_ATTEMPTS_PER_MINUTE": str(PER_ACCOUNT),
        "CADDIE_AUTH_FAILURES_PER_MINUTE": str(PER_ADDRESS),
    }
    with ServerProcess(url, env=env, log_path=tmp_path / "server.log") as server:
        yield Shop(server, screen, device)


def api_login(client: httpx.Client, username: str, password: str) -> int:
    reply = client.post("/api/auth/login", json={"username": username, "password": password})
    return reply.status_code


def console_login(browser: httpx.Client, username: str, password: str) -> httpx.Response:
    return browser.post(
        "/staff/login",
        data={"username": username, "password": password},
        headers=csrf_headers(browser),
    )


def test_guesses_from_elsewhere_do_not_lock_a_person_out_of_their_browser(shop: Shop) -> None:
    with shop.client("127.0.0.1") as browser:
        assert console_login(browser, "alice", PASSWORD).status_code == 303
        assert "caddie_device" in browser.cookies  # this browser is now known for alice
        with shop.client("127.0.0.2") as attacker:
            codes = [api_login(attacker, "alice", f"guess-{i}") for i in range(PER_ACCOUNT + 2)]
            assert codes == [401] * PER_ACCOUNT + [429, 429]
            assert api_login(attacker, "alice", PASSWORD) == 429  # the account is locked…
        with shop.client("127.0.0.3") as new_browser:
            assert console_login(new_browser, "alice", PASSWORD).status_code == 429  # …elsewhere
        # …but not in the browser alice uses: its attempts are its own.
        again = console_login(browser, "alice", PASSWORD)
        assert again.status_code == 303, again.text


def test_spraying_passwords_from_one_address_is_throttled_and_others_are_not(shop: Shop) -> None:
    with shop.client("127.0.0.2") as sprayer:
        codes = [
            api_login(sprayer, name, f"guess-{i}")
            for i in range(PER_ACCOUNT)
            for name in ("alice", "bob", "carol")
        ]
        assert Counter(codes) == {401: PER_ADDRESS, 429: 3 * PER_ACCOUNT - PER_ADDRESS}, codes
        assert codes[:PER_ADDRESS] == [401] * PER_ADDRESS
    with shop.client("127.0.0.3") as colleague:
        assert api_login(colleague, "bob", PASSWORD) == 200


def hello_refused(shop: Shop, address: str, token: str) -> str:
    """Opens the handheld socket from ``address`` and says hello with ``token``."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    sock = socket.create_connection(("127.0.0.1", shop.server.port), source_address=(address, 0))
    try:
        with connect(shop.server.ws_url, sock=sock) as ws:
            hello = {"type": "hello", "protocol": 1, "device_id": "H-1", "token": token}
            ws.send(json.dumps(hello))
            reply = json.loads(ws.recv(timeout=10))
            return "welcome" if reply["type"] == "welcome" else reply["code"]
    except InvalidStatus as exc:
        return f"refused {exc.response.status_code}"


def test_rotating_guessed_tokens_is_throttled_per_address(shop: Shop) -> None:
    def guesses(client: httpx.Client) -> Iterator[int]:
        while True:
            bogus = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
            yield client.get("/api/pos/handoffs/ABCDEFGHJK", headers=bogus).status_code
            yield client.get("/signage/screens/S-01/loop", headers=bogus).status_code

    with shop.client("127.0.0.2") as guesser:
        tried = guesses(guesser)
        codes = [next(tried) for _ in range(PER_ADDRESS)]
        assert codes == [401] * PER_ADDRESS
        assert [next(tried) for _ in range(4)] == [429] * 4
        refused = guesser.get("/signage/screens/S-01/loop", headers={"Authorization": "Bearer x"})
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        # Even the right token waits: the address, not the token, is out of budget.
        right = {"Authorization": f"Bearer {shop.screen_token}"}
        assert guesser.get("/signage/screens/S-01/loop", headers=right).status_code == 429
    assert hello_refused(shop, "127.0.0.2", secrets.token_urlsafe(32)).startswith("refused")
    # The handheld socket counts too, from its own address.
    outcomes = [hello_refused(shop, "127.0.0.4", "bogus") for _ in range(PER_ADDRESS + 1)]
    assert outcomes[:PER_ADDRESS] == ["unauthorized"] * PER_ADDRESS
    assert outcomes[-1].startswith("refused")
    # Everyone else is served as before.
    with shop.client("127.0.0.1") as screen:
        right = {"Authorization": f"Bearer {shop.screen_token}"}
        assert screen.get("/signage/screens/S-01/loop", headers=right).status_code == 200
    assert hello_refused(shop, "127.0.0.1", shop.device_token) == "welcome"
