"""Two ``caddie serve`` processes on one PostgreSQL database share baskets and live events
(through Redis, or PostgreSQL LISTEN/NOTIFY) and apply each request id once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from store_server.events import EventBus, make_event_bus
from tests.scale.conftest import CODES, Store
from tests.servers import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def wait_ready(*servers: ServerProcess, timeout: float = 30) -> None:
    """Until /readyz answers 200: the database is reachable and the pub/sub subscribed."""
    deadline = time.monotonic() + timeout
    for server in servers:
        while True:
            reply = httpx.get(server.url + "/readyz", timeout=5)
            if reply.status_code == 200:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{server.url} never became ready: {reply.text}")
            time.sleep(0.1)


async def call(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 20))
    return reply


async def hello(server: ServerProcess, device: str, token: str) -> ClientConnection:
    ws = await connect(server.ws_url)
    welcome = await call(ws, {"type": "hello", "protocol": 1, "device_id": device, "token": token})
    assert welcome["type"] == "welcome", welcome
    return ws


async def staff_console(server: ServerProcess, token: str) -> ClientConnection:
    ws = await connect(
        server.ws_url.replace("/ws/handheld", "/ws/staff"),
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    first = json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert first["type"] == "queue", first
    return ws


async def next_event(ws: ClientConnection, event: str, basket_id: str) -> dict[str, Any]:
    """The console's next message about ``basket_id`` with ``event`` (others are skipped)."""
    async with asyncio.timeout(20):
        while True:
            message = json.loads(await ws.recv())
            if message.get("event") == event and message["basket"]["basket_id"] == basket_id:
                return dict(message)


def pubsub_url(kind: str, store: Store, redis_url: str) -> str:
    return redis_url if kind == "redis" else store.url


@pytest.mark.parametrize("broker", ["redis", "postgresql"])
def test_handheld_on_a_and_staff_on_b_see_each_other_live(
    broker: str, store: Store, request: pytest.FixtureRequest, servers: list[ServerProcess]
) -> None:
    redis_url = request.getfixturevalue("redis_url") if broker == "redis" else ""
    url = pubsub_url(broker, store, redis_url)
    a = store.server(url)
    b = store.server(url)
    servers += [a, b]
    a.start(), b.start()
    wait_ready(a, b)
    staff_token = store.login(b)

    async def scenario() -> None:
        console_b = await staff_console(b, staff_token)
        console_a = await staff_console(a, staff_token)
        device, token = "H-000", store.tokens["H-000"]
        handheld = await hello(a, device, token)
        opened = await call(
            handheld, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "7"}
        )
        basket_id = opened["basket"]["basket_id"]
        for code in CODES[:3]:
            ack = await call(handheld, {"type": "scan", "id": str(uuid.uuid4()), "code": code})
            assert ack["type"] == "ack", ack
        checkout = await call(handheld, {"type": "finish", "id": str(uuid.uuid4())})
        assert checkout["type"] == "checkout" and checkout["audit"]["decision"] == "none"

        # the staff console on the other process sees the basket arrive at the exit
        seen = await next_event(console_b, "basket.finished", basket_id)
        assert seen["in_queue"] and seen["basket"]["item_count"] == 3

        # staff on B release it; the console on A sees that live ...
        released = httpx.post(
            f"{b.url}/api/checkout/baskets/{basket_id}/release",
            headers={"Authorization": f"Bearer {staff_token}"},
            timeout=10,
        )
        assert released.status_code == 200, released.text
        await next_event(console_a, "basket.finished", basket_id)
        change = await next_event(console_a, "checkout.released", basket_id)
        assert change["basket"]["status"] == released.json()["basket"]["status"]
        # ... and the handheld, moving to B, finds its basket as the exit holds it
        await handheld.close()
        handheld = await connect(b.ws_url)
        welcome = await call(
            handheld, {"type": "hello", "protocol": 1, "device_id": device, "token": token}
        )
        assert welcome["basket"]["basket_id"] == basket_id
        assert welcome["basket"]["status"] == change["basket"]["status"] == "finishing"
        assert welcome["basket"]["item_count"] == 3
        again = await call(
            handheld, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "7"}
        )
        assert again["type"] == "error" and again["code"] == "basket_locked", again
        for ws in (handheld, console_a, console_b):
            await ws.close()

    asyncio.run(scenario())


def test_a_replayed_scan_sent_to_both_processes_is_applied_once(
    store: Store, redis_url: str, servers: list[ServerProcess]
) -> None:
    a = store.server(redis_url)
    b = store.server(redis_url)
    servers += [a, b]
    a.start(), b.start()
    wait_ready(a, b)
    device, token = "H-001", store.tokens["H-001"]

    async def scenario() -> None:
        on_a = await hello(a, device, token)
        on_b = await hello(b, device, token)
        await call(on_a, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "8"})
        expected = 0
        for i in range(25):
            scan = {"type": "scan", "id": f"twice-{i}", "code": CODES[i % len(CODES)], "qty": 2}
            # the same request to both processes at once: one applies it, the other
            # answers with the stored reply
            from_a, from_b = await asyncio.gather(call(on_a, scan), call(on_b, scan))
            expected += 2
            assert from_a["type"] == from_b["type"] == "ack", (from_a, from_b)
            assert from_a == from_b
            assert from_a["basket"]["item_count"] == expected
        # and once more later, crossed over
        late = await call(on_b, {"type": "scan", "id": "twice-0", "code": CODES[0], "qty": 2})
        assert late["basket"]["item_count"] == 2
        now = await call(on_a, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "8"})
        assert now["basket"]["item_count"] == expected
        await on_a.close()
        await on_b.close()

    asyncio.run(scenario())
    units = store.lines(device)
    assert sum(units.values()) == 50
    for i, code in enumerate(CODES[:25]):
        assert units["0" + code] == 2 * sum(1 for j in range(25) if j % len(CODES) == i)


# --- the event buses themselves, against the real brokers ---------------------------------


def broker_url(broker: str, request: pytest.FixtureRequest) -> str:
    if broker == "redis":
        return str(request.getfixturevalue("redis_url"))
    return str(request.getfixturevalue("postgres_database"))


async def subscribed(bus: EventBus) -> None:
    async with asyncio.timeout(20):
        while True:
            try:
                await bus.ping()
                return
            except Exception:
                await asyncio.sleep(0.05)


@pytest.mark.parametrize("broker", ["redis", "postgresql"])
def test_two_buses_share_events_and_prefixes_keep_stores_apart(
    broker: str, request: pytest.FixtureRequest
) -> None:
    url = broker_url(broker, request)
    tag = uuid.uuid4().hex[:8]
    joiner = "&" if "?" in url else "?"

    async def scenario() -> None:
        one = make_event_bus(f"{url}{joiner}channel_prefix=s{tag}")
        two = make_event_bus(f"{url}{joiner}channel_prefix=s{tag}")
        other_store = make_event_bus(f"{url}{joiner}channel_prefix=t{tag}")
        for bus in (one, two, other_store):
            await bus.start()
        try:
            await asyncio.gather(*(subscribed(b) for b in (one, two, other_store)))
            async with (
                two.subscribe("baskets") as on_two,
                one.subscribe("baskets") as on_one,
                other_store.subscribe("baskets") as elsewhere,
            ):
                for i in range(20):
                    await one.publish("baskets", {"n": i, "basket_id": f"b-{i}"})
                two.publish_threadsafe("baskets", {"n": 20})
                for queue in (on_two, on_one):  # the publisher hears itself once, via the broker
                    got = [await asyncio.wait_for(queue.get(), 10) for _ in range(21)]
                    assert sorted(e["n"] for e in got) == list(range(21))
                await asyncio.sleep(0.3)
                assert on_one.empty() and on_two.empty() and elsewhere.empty()
        finally:
            for bus in (one, two, other_store):
                await bus.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "postgresql://postgres@127.0.0.1:1/none"])
def test_an_unreachable_broker_degrades_to_local_delivery(url: str) -> None:
    async def scenario() -> None:
        bus = make_event_bus(url)
        await bus.start()
        try:
            with pytest.raises(Exception, match="not subscribed"):
                await bus.ping()
            async with bus.subscribe("baskets") as queue:
                await bus.publish("baskets", {"n": 1})
                assert (await asyncio.wait_for(queue.get(), 20)) == {"n": 1}
        finally:
            await bus.stop()

    asyncio.run(scenario())


def test_an_unknown_pubsub_scheme_is_refused() -> None:
    from store_server.shared.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="CADDIE_PUBSUB_URL"):
        make_event_bus("amqp://guest@localhost/")
