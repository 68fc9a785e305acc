"""A lean WebSocket client for the benchmarks' simulated handhelds.

The benchmarks run their handhelds on the same machine as the server they measure, so
every CPU cycle a handheld spends is taken from the server. A general-purpose client
library parses each reply into Python objects and runs a full protocol state machine;
this one speaks just enough RFC 6455 for a handheld (a text frame out, a text frame
back, answering pings) and leaves the reply as bytes, so that most of the machine goes
to the server under test. The echo baseline and the store server are driven by the
same client, so the ratios between them stay fair.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import struct
from collections import deque
from typing import Any

# RFC 6455 opcodes.
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


class Closed(Exception):
    """The server closed the connection (the close code, if it sent one, is ``code``)."""

    def __init__(self, code: int | None = None) -> None:
        super().__init__(f"connection closed ({code})")
        self.code = code


def _mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the repeated 4-byte masking ``key`` (RFC 6455 §5.3)."""
    n = len(payload)
    if not n:
        return payload
    repeated = key * (n // 4 + 1)
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(repeated[:n], "little")
    return masked.to_bytes(n, "little")


def frame(opcode: int, payload: bytes, rng: random.Random) -> bytes:
    """One final, masked client frame."""
    key = rng.getrandbits(32).to_bytes(4, "little")
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + _mask(payload, key)


class _Protocol(asyncio.Protocol):
    def __init__(self, handshake: bytes, rng: random.Random) -> None:
        self.handshake = handshake
        self.rng = rng
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.messages: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed: Closed | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.handshake)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            if b" 101 " not in status + b" ":
                self._close(Closed(None))
                return
            del self.buffer[: end + 4]
            self.upgraded = True
            self._wake()
        self._parse()

    def _parse(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset : offset + length])
            del buffer[: offset + length]
            opcode = first & 0x0F
            if opcode == _TEXT:  # servers here never fragment a handheld reply
                self.messages.append(payload)
                self._wake()
            elif opcode == _PING and self.transport is not None:
                self.transport.write(frame(_PONG, payload, self.rng))
            elif opcode == _CLOSE:
                code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
                self._close(Closed(code))
                return

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _close(self, error: Closed) -> None:
        self.closed = error
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is None:
            self.closed = Closed(None)
        self._wake()


class Connection:
    """One handheld's socket: ``send`` a text message, ``recv`` the next one as bytes."""

    def __init__(self, protocol: _Protocol) -> None:
        self._protocol = protocol

    @classmethod
    async def open(cls, url: str, rng: random.Random | None = None) -> Connection:
        assert url.startswith("ws://"), "the benchmarks talk to 127.0.0.1 without TLS"
        hostport, _, path = url[len("ws://") :].partition("/")
        host, _, port = hostport.partition(":")
        key = base64.b64encode(os.urandom(16)).decode()
        handshake = (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        protocol = _Protocol(handshake, rng or random.Random())
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: protocol, host, int(port or 80))
        connection = cls(protocol)
        while not protocol.upgraded:
            await connection._wait()
        return connection

    async def _wait(self) -> None:
        protocol = self._protocol
        if protocol.closed is not None:
            raise protocol.closed
        protocol.waiter = asyncio.get_running_loop().create_future()
        await protocol.waiter
        protocol.waiter = None

    async def send(self, text: str | bytes) -> None:
        protocol = self._protocol
        if protocol.closed is not None:
            raise protocol.closed
        assert protocol.transport is not None
        payload = text.encode() if isinstance(text, str) else text
        protocol.transport.write(frame(_TEXT, payload, protocol.rng))

    async def recv(self) -> bytes:
        protocol = self._protocol
        while not protocol.messages:
            await self._wait()
        return protocol.messages.popleft()

    async def close(self) -> None:
        protocol = self._protocol
        if protocol.closed is None and protocol.transport is not None:
            protocol.transport.write(frame(_CLOSE, struct.pack("!H", 1000), protocol.rng))
            protocol.transport.close()
            protocol.closed = Closed(1000)

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class LibraryConnection:
    """The same interface over the ``websockets`` library (``--client websockets``): what
    a handheld written with a general-purpose client would cost."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket

    @classmethod
    async def open(cls, url: str, rng: random.Random | None = None) -> LibraryConnection:
        import websockets

        return cls(await websockets.connect(url, max_size=2**20, open_timeout=30))

    async def send(self, text: str | bytes) -> None:
        import websockets

        try:
            await self._socket.send(text)
        except websockets.ConnectionClosed as exc:
            raise Closed(exc.rcvd.code if exc.rcvd else None) from exc

    async def recv(self) -> bytes:
        import websockets

        try:
            reply = await self._socket.recv(decode=False)
        except websockets.ConnectionClosed as exc:
            raise Closed(exc.rcvd.code if exc.rcvd else None) from exc
        return bytes(reply)

    async def __aenter__(self) -> LibraryConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._socket.close()


CLIENTS: dict[str, type[Connection] | type[LibraryConnection]] = {
    "lean": Connection,
    "websockets": LibraryConnection,
}
