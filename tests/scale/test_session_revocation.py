"""A logout on one server process closes the staff console sockets the same session
opened on another, through the shared event bus (Redis, or PostgreSQL LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.scale.conftest import Store
from tests.scale.test_multiprocess import pubsub_url, staff_console, wait_ready
from tests.servers import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

WAIT_S = 20


@pytest.mark.parametrize("broker", ["redis", "postgresql"])
def test_logout_on_a_closes_the_console_on_b(
    broker: str, store: Store, request: pytest.FixtureRequest, servers: list[ServerProcess]
) -> None:
    redis_url = request.getfixturevalue("redis_url") if broker == "redis" else ""
    url = pubsub_url(broker, store, redis_url)
    # B never re-checks on its own within the test: only the announcement can close it.
    a = store.server(url)
    b = store.server(url, CADDIE_STAFF_SOCKET_RECHECK_SECONDS="600")
    servers += [a, b]
    a.start(), b.start()
    wait_ready(a, b)
    token = store.login(a)

    async def scenario() -> tuple[int, str, list[str]]:
        console = await staff_console(b, token)
        async with httpx.AsyncClient(timeout=10) as client:
            reply = await client.post(
                a.url + "/api/auth/logout", headers={"Authorization": f"Bearer {token}"}
            )
        assert reply.status_code == 204
        seen: list[str] = []
        try:
            async with asyncio.timeout(WAIT_S):
                while True:
                    seen.append(json.loads(await console.recv())["type"])
        except ConnectionClosed as exc:
            assert exc.rcvd is not None
            return exc.rcvd.code, exc.rcvd.reason, seen

    code, reason, seen = asyncio.run(scenario())
    assert (code, reason) == (4401, "unauthorized")
    assert seen[-1:] == ["error"]
