"""The login and screen cookies carry ``Secure`` when the request came over https (here,
through a proxy's ``X-Forwarded-Proto``, which uvicorn trusts from 127.0.0.1), and on
every request in production; plain http on localhost keeps working elsewhere."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from signage.config import SignageSettings
from signage.service import enroll
from store_server.db import make_engine, session_scope
from tests.accounts import PASSWORD, make_user
from tests.csrf import page_token
from tests.security.world import fresh_database
from tests.servers import ServerProcess

pytestmark = [pytest.mark.integration]

HTTPS = {"X-Forwarded-Proto": "https"}


@dataclass
class Store:
    server: ServerProcess
    screen_token: str

    def login(self, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(
            self.server.url + "/api/auth/login",
            json={"username": "alice", "password": PASSWORD},
            headers=headers,
            timeout=10,
        )

    def console_login(self, path: str, user: str, headers: dict[str, str]) -> httpx.Response:
        """As a browser does it: the login page (its token, and the pre-login cookie it
        sets), then the form, from the page's own origin."""
        page = httpx.get(self.server.url + path, headers=headers, timeout=10)
        pre = page.cookies["caddie_csrf"]
        scheme = "https" if headers.get("X-Forwarded-Proto") == "https" else "http"
        return httpx.post(
            self.server.url + path,
            data={"username": user, "password": PASSWORD, "csrf_token": page_token(page.text)},
            headers={
                **headers,
                "Cookie": f"caddie_csrf={pre}",
                "Origin": f"{scheme}://127.0.0.1:{self.server.port}",
            },
            timeout=10,
        )

    def pair_screen(self, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.get(
            self.server.url + "/signage/screens/S-01/play",
            params={"token": self.screen_token},
            headers=headers,
            timeout=10,
        )


def set_cookie(reply: httpx.Response, name: str) -> list[str]:
    """The attributes of the ``Set-Cookie`` of ``name``, lower-cased."""
    for header in reply.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            return [part.strip().lower() for part in header.split(";")[1:]]
    raise AssertionError(f"no {name} cookie in {reply.headers}")


def store_with(sqlite_template: Path, folder: Path, env: dict[str, str]) -> Iterator[Store]:
    url = fresh_database(sqlite_template, folder)
    engine = make_engine(url)
    try:
        make_user(engine, "alice", "staff", "store-1")
        make_user(engine, "olga", "operator", "store-1")
        with session_scope(engine) as session:
            [(_, token)] = enroll(session, ["S-01"], settings=SignageSettings(), timezone="UTC")
    finally:
        engine.dispose()
    with ServerProcess(url, env=env, log_path=folder / "server.log") as server:
        yield Store(server, token)


@pytest.fixture
def test_store(sqlite_template: Path, tmp_path: Path) -> Iterator[Store]:
    yield from store_with(sqlite_template, tmp_path, {"CADDIE_ENVIRONMENT": "test"})


@pytest.fixture
def production_store(sqlite_template: Path, tmp_path: Path) -> Iterator[Store]:
    env = {"CADDIE_ENVIRONMENT": "production", "CADDIE_SECRET_KEY": secrets.token_urlsafe(32)}
    yield from store_with(sqlite_template, tmp_path, env)


def test_cookies_are_secure_when_the_request_came_over_https(test_store: Store) -> None:
    over_https = test_store.login(HTTPS)
    assert over_https.status_code == 200
    assert "secure" in set_cookie(over_https, "caddie_session")
    paired = test_store.pair_screen(HTTPS)
    assert paired.status_code == 303
    assert "secure" in set_cookie(paired, "caddie_screen")
    for path, user in (("/staff/login", "alice"), ("/signage/console/login", "olga")):
        console = test_store.console_login(path, user, HTTPS)
        assert console.status_code == 303, console.text
        assert "secure" in set_cookie(console, "caddie_session"), path


def test_plain_http_outside_production_keeps_working(test_store: Store) -> None:
    with httpx.Client(base_url=test_store.server.url, timeout=10, follow_redirects=True) as browser:
        login = browser.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        attributes = set_cookie(login, "caddie_session")
        assert "secure" not in attributes and "httponly" in attributes
        assert browser.get("/api/auth/me").status_code == 200  # the cookie came back
        paired = browser.get(
            "/signage/screens/S-01/play", params={"token": test_store.screen_token}
        )
        assert paired.status_code == 200  # the redirect, then the page with the cookie
        assert "secure" not in set_cookie(paired.history[0], "caddie_screen")


def test_production_marks_cookies_secure_even_on_plain_http(production_store: Store) -> None:
    """Production is served behind TLS: even when the proxy does not say so, the
    cookies must never travel in clear."""
    login = production_store.login()
    assert login.status_code == 200
    assert "secure" in set_cookie(login, "caddie_session")
    assert "secure" in set_cookie(production_store.pair_screen(), "caddie_screen")


def test_a_setting_can_turn_forced_secure_cookies_off(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """A store LAN served over plain http in production: Secure only where https is."""
    env = {
        "CADDIE_ENVIRONMENT": "production",
        "CADDIE_SECRET_KEY": secrets.token_urlsafe(32),
        "CADDIE_SECURE_COOKIES": "false",
    }
    for store in store_with(sqlite_template, tmp_path, env):
        assert "secure" not in set_cookie(store.login(), "caddie_session")
        assert "secure" in set_cookie(store.login(HTTPS), "caddie_session")
