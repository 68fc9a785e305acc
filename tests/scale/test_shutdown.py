"""SIGTERM drains a real server: the scans being applied are answered, handhelds are
told to reconnect with close code 1012, and nothing acknowledged is lost or doubled."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.scale.conftest import CODES, Store
from tests.scale.test_multiprocess import call, hello
from tests.servers import ServerProcess

BURST = 60


@pytest.mark.integration
@pytest.mark.postgres
def test_sigterm_answers_in_flight_scans_then_closes_with_1012(
    store: Store, servers: list[ServerProcess]
) -> None:
    server = store.server()
    servers.append(server)
    server.start()
    busy_device, idle_device = "H-010", "H-011"
    received: list[dict[str, Any]] = []
    closes: dict[str, tuple[int | None, str | None]] = {}

    async def before() -> None:
        idle = await hello(server, idle_device, store.tokens[idle_device])
        await call(idle, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "1"})
        busy = await hello(server, busy_device, store.tokens[busy_device])
        await call(busy, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "2"})
        # a burst of scans, pipelined, and SIGTERM while the server works through them
        for i in range(BURST):
            await busy.send(json.dumps({"type": "scan", "id": f"b-{i}", "code": CODES[i % 7]}))
        first = json.loads(await asyncio.wait_for(busy.recv(), 20))
        received.append(first)
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGTERM)
        for name, ws in (("busy", busy), ("idle", idle)):
            try:
                async with asyncio.timeout(20):
                    async for raw in ws:
                        if name == "busy":
                            received.append(json.loads(raw))
            except ConnectionClosed:
                pass
            closes[name] = (ws.close_code, ws.close_reason)

    asyncio.run(before())
    assert server.proc is not None
    server.proc.wait(30)  # it stops by itself once drained
    # every frame answered before the close is a complete ack, in order
    assert [r["type"] for r in received] == ["ack"] * len(received)
    assert [r["id"] for r in received] == [f"b-{i}" for i in range(len(received))]
    # both sockets were told to reconnect ("service restart"), not cut
    assert closes["idle"][0] == 1012, closes
    assert closes["busy"][0] == 1012, closes
    log = server.log_path.read_text() if server.log_path else ""
    assert "draining" in log

    restarted = ServerProcess(store.url, port=server.port, env=server.env, log_path=server.log_path)
    servers.append(restarted)
    restarted.start()

    async def after() -> int:
        ws = await hello(restarted, busy_device, store.tokens[busy_device])
        for i in range(BURST):  # the device resends everything not acknowledged; and more
            reply = await call(ws, {"type": "scan", "id": f"b-{i}", "code": CODES[i % 7]})
            assert reply["type"] == "ack"
            if i < len(received):
                assert reply == received[i]  # the stored reply, unchanged
        final = await call(ws, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "2"})
        await ws.close()
        count: int = final["basket"]["item_count"]
        return count

    assert asyncio.run(after()) == BURST
    assert sum(store.lines(busy_device).values()) == BURST


def test_a_draining_server_sends_new_handhelds_elsewhere_and_is_not_ready(
    sqlite_url: str,
) -> None:
    """While draining, /readyz answers 503 (the load balancer stops routing here) and a
    handheld that still arrives is closed with 1012 before anything is applied."""
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from store_server.app import create_app
    from store_server.config import Settings

    with TestClient(create_app(Settings(database_url=sqlite_url))) as client:
        assert client.get("/readyz").status_code == 200
        client.app.state.caddie.draining = True  # type: ignore[attr-defined]
        reply = client.get("/readyz")
        assert reply.status_code == 503 and reply.json()["status"] == "draining"
        with (
            client.websocket_connect("/ws/handheld") as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.receive_json()
        assert closed.value.code == 1012
