"""Safeguards that only show with real processes: login throttling shared by every server
process of a store, and default secrets refused outside development."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.security.world import fresh_database, make_user
from tests.servers import CADDIE, REPO, ServerProcess, free_port
from tests.store_server.checkout.conftest import PASSWORD

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
