"""Safeguards that only show with real processes: login throttling shared by every server
process of a store, and default secrets refused outside development."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.accounts import PASSWORD, make_user
from tests.csrf import csrf_headers
from tests.security.world import fresh_database
from tests.servers import CADDIE, REPO, ServerProcess, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ATTEMPTS = 4


def _login(server: ServerProcess, username: str, password: str) -> httpx.Response:
    return httpx.post(
        server.url + "/api/auth/login",
        json={"username": username, "password": password},
        timeout=10,
    )


def test_login_throttling_holds_across_two_server_processes(
    tmp_path: Path, sqlite_template: Path
) -> None:
    from store_server.db import make_engine

    url = fresh_database(sqlite_template, tmp_path)
    engine = make_engine(url)
    make_user(engine, "alice", "staff", "store-1")
    make_user(engine, "bob", "staff", "store-1")
    engine.dispose()
    env = {"CADDIE_LOGIN_ATTEMPTS_PER_MINUTE": str(ATTEMPTS)}
    with ServerProcess(url, env=env) as a, ServerProcess(url, env=env) as b:
        # The guesses alternate between the processes: each sees only half of them.
        for n in range(ATTEMPTS):
            guess = _login((a, b)[n % 2], "alice", f"guess-{n}")
            assert guess.status_code == 401, guess.text
        for server in (a, b):
            throttled = _login(server, "alice", PASSWORD)  # even the right password
            assert throttled.status_code == 429, throttled.text
            assert throttled.json()["error"]["code"] == "rate_limited"
        assert _login(b, "bob", PASSWORD).status_code == 200  # per account, not global


def _form_login(path: str) -> Callable[[ServerProcess, str, str], httpx.Response]:
    def post(server: ServerProcess, username: str, password: str) -> httpx.Response:
        form = {"username": username, "password": password}
        with httpx.Client(base_url=server.url, timeout=10) as browser:  # a fresh browser
            return browser.post(path, data=form, headers=csrf_headers(browser, path))

    return post


LOGIN_DOORS = {
    "API": _login,
    "staff console form": _form_login("/staff/login"),
    "operator console form": _form_login("/signage/console/login"),
}


def test_every_login_door_counts_wrong_passwords_towards_one_limit(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """Guessing through the consoles' login forms instead of the API gains nothing."""
    from store_server.db import make_engine

    url = fresh_database(sqlite_template, tmp_path)
    engine = make_engine(url)
    make_user(engine, "olga", "operator", None)
    engine.dispose()
    doors = list(LOGIN_DOORS.values())
    with ServerProcess(url, env={"CADDIE_LOGIN_ATTEMPTS_PER_MINUTE": str(ATTEMPTS)}) as server:
        for n in range(ATTEMPTS):
            guess = doors[n % len(doors)](server, "olga", f"guess-{n}")
            assert guess.status_code == 401, guess.text
        for name, door in LOGIN_DOORS.items():
            throttled = door(server, "olga", PASSWORD)  # even the right password
            assert throttled.status_code == 429, (name, throttled.text)
            assert "too many failed logins" in throttled.text, name


def _without_secret() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "CADDIE_SECRET_KEY"}


@pytest.mark.parametrize(
    "secret",
    [None, "caddie-development-secret-do-not-use", "short"],
    ids=["unset", "default", "short"],
)
def test_serve_refuses_a_default_or_weak_secret_in_production(
    tmp_path: Path, sqlite_template: Path, secret: str | None
) -> None:
    url = fresh_database(sqlite_template, tmp_path)
    env = {**_without_secret(), "CADDIE_ENVIRONMENT": "production"}
    if secret is not None:
        env["CADDIE_SECRET_KEY"] = secret
    done = subprocess.run(
        [*CADDIE, "serve", "--port", str(free_port()), "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "CADDIE_SECRET_KEY" in output, output
    assert "Traceback" not in output, output


def test_serve_starts_in_production_with_a_real_secret(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """The control for the test above: what it refuses is the secret, nothing else."""
    url = fresh_database(sqlite_template, tmp_path)
    env = {"CADDIE_ENVIRONMENT": "production", "CADDIE_SECRET_KEY": secrets.token_urlsafe(32)}
    with ServerProcess(url, env=env) as server:
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
