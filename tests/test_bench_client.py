"""The benchmarks' lean WebSocket client: its figures are only as good as its framing."""

from __future__ import annotations

import asyncio
import random
import struct
from pathlib import Path

import pytest

from benchmarks.wire_client import Closed, Connection, _Protocol, frame
from tests.servers import ServerProcess
from tests.store_server.factories import enroll_devices


def test_masking_matches_the_rfc_example() -> None:
    """RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58."""

    class Fixed(random.Random):
        def getrandbits(self, k: int) -> int:
            return int.from_bytes(bytes.fromhex("37fa213d"), "little")

    assert frame(0x1, b"Hello", Fixed()) == bytes.fromhex("818537fa213d7f9f4d5158")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_every_length_encoding_is_unmasked_back(size: int) -> None:
    payload = bytes(random.Random(size).randrange(256) for _ in range(size))
    sent = frame(0x1, payload, random.Random(1))
    length, offset = sent[1] & 0x7F, 2
    if length == 126:
        length, offset = struct.unpack_from("!H", sent, 2)[0], 4
    elif length == 127:
        length, offset = struct.unpack_from("!Q", sent, 2)[0], 10
    assert length == size and sent[1] & 0x80  # client frames are always masked
    key, body = sent[offset : offset + 4], sent[offset + 4 :]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(body)) == payload


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


def server_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes([0x80 | opcode, n]) + payload
    if n < 1 << 16:
        return bytes([0x80 | opcode, 126]) + struct.pack("!H", n) + payload
    return bytes([0x80 | opcode, 127]) + struct.pack("!Q", n) + payload


def test_replies_split_anywhere_are_reassembled_and_pings_answered() -> None:
    protocol = _Protocol(b"", random.Random(2))
    transport = FakeTransport()
    protocol.transport = transport  # type: ignore[assignment]
    stream = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        + server_frame(0x1, b'{"type":"ack"}')
        + server_frame(0x9, b"beat")
        + server_frame(0x1, b"x" * 70000)
        + server_frame(0x8, struct.pack("!H", 4401) + b"unauthorized")
    )
    for i in range(0, len(stream), 7):  # arriving in 7-byte pieces
        protocol.data_received(stream[i : i + 7])
    assert list(protocol.messages) == [b'{"type":"ack"}', b"x" * 70000]
    pong = transport.written[0]
    assert pong[0] == 0x8A and pong[1] == 0x80 | 4  # a masked pong with the ping's data
    key = pong[2:6]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(pong[6:])) == b"beat"
    assert protocol.closed is not None and protocol.closed.code == 4401
    assert transport.closed


def test_it_talks_to_a_real_store_server(sqlite_url: str, tmp_path: Path) -> None:
    """Hello and a welcome through a real ``caddie serve``; a bad token gets the error and
    the 4401 close that PROTOCOL.md specifies, seen as :class:`Closed`."""
    from store_server.db import make_engine

    engine = make_engine(sqlite_url)
    tokens = enroll_devices(engine, "H-1")
    engine.dispose()

    async def scenario(server: ServerProcess) -> None:
        async with await Connection.open(server.ws_url) as ws:
            await ws.send(
                f'{{"type":"hello","protocol":1,"device_id":"H-1","token":"{tokens["H-1"]}"}}'
            )
            assert (await ws.recv()).startswith(b'{"type":"welcome"')
        async with await Connection.open(server.ws_url) as ws:
            await ws.send('{"type":"hello","protocol":1,"device_id":"H-1","token":"wrong"}')
            assert b'"unauthorized"' in await ws.recv()
            with pytest.raises(Closed) as closed:
                await asyncio.wait_for(ws.recv(), 20)
            assert closed.value.code == 4401

    with ServerProcess(sqlite_url, log_path=tmp_path / "server.log") as server:
        asyncio.run(scenario(server))
