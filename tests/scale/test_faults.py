"""Faults under load, with real processes and the real PostgreSQL and Redis: a server
killed with SIGKILL, PostgreSQL and Redis restarted mid-stream, and a flaky network.
Whatever happens, every basket ends exactly as its handheld scanned it.

The restart tests stop the machine's PostgreSQL/Redis for a few seconds (anything else
using them at that moment sees the outage too); they need root and Debian's
``pg_ctlcluster``, and always bring the services back in a ``finally``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.scale.conftest import CODES, Store, can_restart_services
from tests.scale.fleet import SimHandheld, stream
from tests.scale.proxy import FlakyProxy
from tests.scale.test_multiprocess import call, hello, next_event, staff_console, wait_ready
from tests.servers import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow]

PG_CLUSTER = sorted(p.name for p in Path("/etc/postgresql").glob("*"))[-1:] or ["15"]
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


def pg_ctl(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", PG_CLUSTER[0], "main", action],
        capture_output=True,
        text=True,
        timeout=60,
    )


def ensure_postgres_running() -> None:
    if pg_ctl("status").returncode != 0:
        started = pg_ctl("start")
        assert started.returncode == 0, started.stderr


def redis_up() -> bool:
    ping = subprocess.run(["redis-cli", "ping"], capture_output=True, text=True, timeout=10)
    return ping.stdout.strip() == "PONG"


def ensure_redis_running() -> None:
    if not redis_up():
        subprocess.run(REDIS_START, check=True, timeout=30, capture_output=True)
        for _ in range(100):
            if redis_up():
                return
            time.sleep(0.1)


def fleet_of(store: Store, count: int, urls: Sequence[str], window: int = 4) -> list[SimHandheld]:
    devices = sorted(store.tokens)[:count]
    return [
        SimHandheld(d, store.tokens[d], urls, first=i % len(urls), window=window)
        for i, d in enumerate(devices)
    ]


def assert_exact(store: Store, fleet: Sequence[SimHandheld]) -> None:
    """Each device's baskets in the database hold exactly what it scanned."""
    for handheld in fleet:
        assert handheld.errors == [], (handheld.device_id, handheld.errors)
        assert handheld.acked == sum(handheld.scanned.values()), handheld.device_id
        expected = {"0" + code: n for code, n in handheld.scanned.items()}
        assert store.lines(handheld.device_id) == expected, handheld.device_id


def start_pair(store: Store, redis_url: str, servers: list[ServerProcess]) -> list[ServerProcess]:
    pair = [store.server(redis_url), store.server(redis_url)]
    servers += pair
    for server in pair:
        server.start()
    wait_ready(*pair)
    return pair


def test_kill_one_of_two_servers_while_50_handhelds_stream(
    store: Store, redis_url: str, servers: list[ServerProcess]
) -> None:
    a, b = start_pair(store, redis_url, servers)
    fleet = fleet_of(store, 50, [a.ws_url, b.ws_url])

    async def scenario() -> None:
        midway = asyncio.Event()
        run = asyncio.create_task(
            stream(fleet, CODES, scans_each=24, pace_s=0.2, seed=1, midway=midway)
        )
        await midway.wait()
        await asyncio.to_thread(a.kill)  # SIGKILL: no drain, no goodbye
        await run

    asyncio.run(scenario())
    on_a = [h for h in fleet if h.first == 0]
    # the handhelds on A lost their connection and carried on with B
    assert all(h.link.ends for h in on_a)
    assert_exact(store, fleet)


def stream_through_outage(
    fleet: Sequence[SimHandheld],
    seed: int,
    outage: Callable[[], Awaitable[None]],
    restore: Callable[[], None],
) -> None:
    """The fleet streams its scans; midway ``outage`` runs, and ``restore`` brings the
    service back whatever happened (again at the end, should the stream itself fail)."""

    async def scenario() -> None:
        midway = asyncio.Event()
        run = asyncio.create_task(
            stream(fleet, CODES, scans_each=30, pace_s=0.15, seed=seed, midway=midway)
        )
        await midway.wait()
        try:
            await outage()
        finally:
            await asyncio.to_thread(restore)
        await run

    try:
        asyncio.run(scenario())
    finally:
        restore()


@pytest.fixture
def restartable() -> None:
    reason = can_restart_services()
    if reason:
        pytest.skip(reason)


def test_postgres_restart_mid_stream(
    store: Store, redis_url: str, servers: list[ServerProcess], restartable: None
) -> None:
    a, b = start_pair(store, redis_url, servers)
    staff_token = store.login(b)
    fleet = fleet_of(store, 20, [a.ws_url, b.ws_url])
    during: dict[str, object] = {}

    async def outage() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            stopped = await asyncio.to_thread(pg_ctl, "stop")
            assert stopped.returncode == 0, stopped.stderr
            ready = await http.get(a.url + "/readyz")
            during["readyz"] = (ready.status_code, ready.json())
            queue = await http.get(
                b.url + "/api/checkout/baskets", headers={"Authorization": f"Bearer {staff_token}"}
            )
            during["rest"] = (queue.status_code, queue.json(), queue.headers.get("retry-after"))
            ws = await connect(a.ws_url)
            device = "H-059"
            await ws.send(
                json.dumps(
                    {
                        "type": "hello",
                        "protocol": 1,
                        "device_id": device,
                        "token": store.tokens[device],
                    }
                )
            )
            try:
                async with asyncio.timeout(20):
                    async for _ in ws:
                        pass
            except ConnectionClosed:
                pass
            during["hello"] = (ws.close_code, ws.close_reason)
            await asyncio.sleep(1.0)  # the streaming handhelds meet the outage too

    stream_through_outage(fleet, 2, outage, ensure_postgres_running)
    status, body = during["readyz"]  # type: ignore[misc]
    assert status == 503 and body["status"] == "unavailable"
    assert body["database"].startswith("unavailable") and body["pubsub"].startswith("ok")
    status, body, retry = during["rest"]  # type: ignore[misc]
    assert status == 503 and body["error"]["code"] == "unavailable" and retry
    assert during["hello"][0] == 1013  # type: ignore[index]
    assert any(h.close_codes["closed 1013"] for h in fleet)
    wait_ready(a, b)  # recovered by itself
    assert_exact(store, fleet)


def test_redis_restart_mid_stream(
    store: Store, redis_url: str, servers: list[ServerProcess], restartable: None
) -> None:
    a, b = start_pair(store, redis_url, servers)
    staff_token = store.login(b)
    fleet = fleet_of(store, 20, [a.ws_url, b.ws_url])
    during: dict[str, object] = {}

    async def outage() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            await asyncio.to_thread(
                subprocess.run, ["redis-cli", "shutdown", "nosave"], capture_output=True, timeout=30
            )
            acked = sum(h.acked for h in fleet)
            for _ in range(100):  # the servers notice within their ping interval
                ready = await http.get(a.url + "/readyz")
                if ready.status_code == 503:
                    break
                await asyncio.sleep(0.1)
            during["readyz"] = (ready.status_code, ready.json())
            await asyncio.sleep(1.0)
            during["acked while down"] = sum(h.acked for h in fleet) - acked

    stream_through_outage(fleet, 3, outage, ensure_redis_running)
    status, body = during["readyz"]  # type: ignore[misc]
    assert status == 503 and body["pubsub"].startswith("unavailable")
    assert body["database"] == "ok"
    assert during["acked while down"] > 0  # scans never wait for the broker
    assert_exact(store, fleet)
    wait_ready(a, b, timeout=60)  # resubscribed by itself

    async def live_again() -> None:
        console = await staff_console(b, staff_token)
        ws = await hello(a, "H-058", store.tokens["H-058"])
        opened = await call(ws, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "58"})
        await call(ws, {"type": "scan", "id": str(uuid.uuid4()), "code": CODES[0]})
        await call(ws, {"type": "finish", "id": str(uuid.uuid4())})
        await next_event(console, "basket.finished", opened["basket"]["basket_id"])
        await ws.close()
        await console.close()

    asyncio.run(live_again())


def test_flaky_network_keeps_exactly_once(store: Store, servers: list[ServerProcess]) -> None:
    server = store.server()
    servers.append(server)
    server.start()

    async def scenario() -> FlakyProxy:
        proxy = FlakyProxy("127.0.0.1", server.port, seed=20261125, cut_rate=0.03, stall_rate=0.02)
        port = await proxy.start()
        fleet = fleet_of(store, 10, [f"ws://127.0.0.1:{port}/ws/handheld"], window=8)
        try:
            await stream(fleet, CODES, scans_each=40, pace_s=0.03, seed=4)
        finally:
            await proxy.close()
        assert_exact(store, fleet)
        return proxy

    proxy = asyncio.run(scenario())
    # the network really was bad: many connections cut or stalled, then recovered
    assert proxy.cuts >= 5 and proxy.stalls >= 2, (proxy.cuts, proxy.stalls)
    assert proxy.connections > 10
