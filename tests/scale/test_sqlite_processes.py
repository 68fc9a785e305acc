"""Two ``caddie serve`` processes on one SQLite file: their group commits take turns
through the writer lock, every scan is applied once, and either process answers a
replay with the stored reply."""

from __future__ import annotations

import asyncio
import fcntl
import random
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.scale.conftest import CODES, Store, make_store
from tests.scale.test_multiprocess import call, hello
from tests.servers import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def store(sqlite_url: str, tmp_path: Path) -> Store:
    return make_store(sqlite_url, tmp_path, devices=20)


def writer_lock_path(store: Store) -> Path:
    return Path(f"{make_url(store.url).database}-writer")


def test_two_processes_on_one_sqlite_file_apply_every_scan_once(
    store: Store, servers: list[ServerProcess]
) -> None:
    a, b = store.server(), store.server()
    servers += [a, b]
    a.start(), b.start()
    devices = sorted(store.tokens)
    sent: dict[str, dict[str, int]] = {}
    last_scan: dict[str, tuple[dict[str, object], dict[str, object]]] = {}

    async def shopper(index: int, device: str) -> None:
        server = (a, b)[index % 2]
        rng = random.Random(index)
        ws = await hello(server, device, store.tokens[device])
        await call(ws, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": device})
        units = sent.setdefault(device, {})
        for n in range(30):
            code = rng.choice(CODES)
            scan = {"type": "scan", "id": str(uuid.uuid4()), "code": code}
            ack = await call(ws, scan)
            assert ack["type"] == "ack", ack
            assert ack["basket"]["item_count"] == n + 1
            units["0" + code] = units.get("0" + code, 0) + 1
            last_scan[device] = (scan, ack)
        await ws.close()

    async def replays() -> None:
        """Each device's last scan sent again to the other process: the stored reply."""
        for index, device in enumerate(devices):
            other = (b, a)[index % 2]
            ws = await hello(other, device, store.tokens[device])
            scan, ack = last_scan[device]
            assert await call(ws, scan) == ack
            await ws.close()

    async def scenario() -> None:
        await asyncio.gather(*(shopper(i, d) for i, d in enumerate(devices)))
        await replays()

    asyncio.run(scenario())
    for device in devices:
        assert store.lines(device) == sent[device], device
    assert writer_lock_path(store).exists()


def test_a_server_writes_only_in_its_turn(store: Store, servers: list[ServerProcess]) -> None:
    """While another process holds the writer lock, a start and a scan wait for it; they
    are applied as soon as it is released."""
    server = store.server()
    servers.append(server)
    server.start()
    device = "H-000"

    async def scenario() -> None:
        ws = await hello(server, device, store.tokens[device])
        for message in (
            {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "7"},
            {"type": "scan", "id": str(uuid.uuid4()), "code": CODES[0]},
        ):
            with open(writer_lock_path(store), "a+b") as other_process:
                fcntl.flock(other_process, fcntl.LOCK_EX)
                reply = asyncio.ensure_future(call(ws, message))
                done, _ = await asyncio.wait([reply], timeout=0.5)
                assert not done, f"{message['type']} was applied out of turn"
                fcntl.flock(other_process, fcntl.LOCK_UN)
            assert (await reply)["type"] in ("basket", "ack")
        await ws.close()

    asyncio.run(scenario())
    assert store.lines(device) == {"0" + CODES[0]: 1}


def test_one_device_scanning_through_both_processes_at_once_loses_nothing(
    store: Store, servers: list[ServerProcess]
) -> None:
    """Two connections of one device, one on each process, scanning into the same basket
    at the same time: each process prices on the basket as it last saw it, finds it
    changed by the other when it comes to write, and applies the scan again on a fresh
    read in its turn. Every scan is acknowledged with its own count, and stored once."""
    a, b = store.server(), store.server()
    servers += [a, b]
    a.start(), b.start()
    device, token = "H-000", store.tokens["H-000"]
    counts: list[int] = []

    async def scans(server: ServerProcess) -> None:
        ws = await hello(server, device, token)
        for _ in range(25):
            ack = await call(ws, {"type": "scan", "id": str(uuid.uuid4()), "code": CODES[1]})
            assert ack["type"] == "ack", ack
            counts.append(ack["basket"]["item_count"])
        await ws.close()

    async def scenario() -> None:
        ws = await hello(a, device, token)
        await call(ws, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "5"})
        await asyncio.gather(scans(a), scans(b))
        await ws.close()

    asyncio.run(scenario())
    assert sorted(counts) == list(range(1, 51))
    assert store.lines(device) == {"0" + CODES[1]: 50}
