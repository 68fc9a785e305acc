"""Signage requests that write never wait for the database on the event loop.

A real server process on SQLite, and a transaction of the test holding the database's
write lock: each writing request of the signage app must wait for the lock on a worker
thread, so that the server keeps answering everything else meanwhile. Waiting on the
event loop, it would stall the whole process until SQLite's busy timeout failed it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.accounts import PASSWORD, bearer, make_user
from tests.csrf import csrf_headers
from tests.servers import ServerProcess
from tests.signage.conftest import Loaded
from tests.signage.signage_helpers import campaign, play, png_bytes

pytestmark = [pytest.mark.integration]

# How long a request is given to reach the lock before the test checks that the server
# still answers. A machine slow enough to need more makes this test pass without
# proving anything; it cannot make it fail.
REACH_LOCK_S = 1.0


def _requests(loaded: Loaded) -> dict[str, Callable[[httpx.Client], httpx.Response]]:
    operator = bearer(loaded.operator)
    return {
        "proof of play": lambda c: c.post(
            "/signage/proof-of-play",
            json={"plays": [play()]},
            headers=bearer(loaded.tokens["S-01"]),
        ),
        "campaign booking": lambda c: c.post(
            "/signage/api/campaigns", json=campaign(id="K-LOCKED"), headers=operator
        ),
        "creative upload": lambda c: c.post(
            "/signage/api/creatives",
            headers=operator,
            data={"id": "CR-LOCKED", "duration_s": "10"},
            files={"file": ("locked.png", png_bytes("teal"), "image/png")},
        ),
        "operator login form": lambda c: c.post(
            "/signage/console/login",
            data={"username": "opal", "password": PASSWORD},
            headers=csrf_headers(c, "/signage/console/login"),
            follow_redirects=False,
        ),
    }


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the write lock is SQLite's
def test_writes_wait_for_the_lock_off_the_event_loop(loaded: Loaded) -> None:
    make_user(loaded.engine, "opal", "operator", None)
    database = loaded.url.removeprefix("sqlite:///")
    with (
        ServerProcess(loaded.url) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        for name, send in _requests(loaded).items():
            holder = sqlite3.connect(database, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # the write lock, as a long writer holds it
            replies: list[Any] = []
            writer = threading.Thread(target=lambda s=send, r=replies: r.append(s(client)))
            writer.start()
            time.sleep(REACH_LOCK_S)
            try:
                # Answered while the write waits: the event loop is free.
                assert client.get("/healthz").status_code == 200, name
                assert writer.is_alive(), f"{name} did not wait for the lock"
            finally:
                holder.execute("ROLLBACK")
                holder.close()
                writer.join(60)
            assert replies and replies[0].status_code in (200, 201, 303), (
                name,
                replies and replies[0].text,
            )
