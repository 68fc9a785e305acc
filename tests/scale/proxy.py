"""A flaky TCP proxy for tests: sits between handhelds and a server and delays data,
stalls connections (everything dropped for a while, then the connection dies, as behind
a Wi-Fi access point that lost the device) and cuts connections outright, at random
from a seed.

Bytes inside one connection are never reordered or corrupted (TCP would not let that
reach the application either); what the application sees is latency, silence and
resets, which is what store Wi-Fi does to handhelds. ``silence()`` does on command what
a network does to a device that went to sleep: its connections carry nothing more, and
neither end is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field


@dataclass
class FlakyProxy:
    target_host: str
    target_port: int
    seed: int
    max_delay_s: float = 0.02
    cut_rate: float = 0.01  # per chunk forwarded
    stall_rate: float = 0.005  # per chunk forwarded
    stall_s: tuple[float, float] = (0.2, 1.0)
    rng: random.Random = field(init=False)
    connections: int = 0
    cuts: int = 0
    stalls: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _quiet: set[asyncio.Event] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            _abort(writer)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            _abort(client_w)
            return
        self._writers |= {client_w, server_w}
        dead = asyncio.Event()
        quiet = asyncio.Event()
        self._quiet.add(quiet)

        def kill() -> None:
            dead.set()
            _abort(client_w)
            _abort(server_w)

        pipes = [
            asyncio.create_task(self._pipe(client_r, server_w, kill, dead, quiet)),
            asyncio.create_task(self._pipe(server_r, client_w, kill, dead, quiet)),
        ]
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            kill()
            self._writers -= {client_w, server_w}
            self._quiet.discard(quiet)

    def silence(self) -> None:
        """The connections open now stay open but carry nothing more (what is sent on
        them is lost); connections made later work."""
        for quiet in self._quiet:
            quiet.set()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        kill: object,
        dead: asyncio.Event,
        quiet: asyncio.Event,
    ) -> None:
        assert callable(kill)
        while not dead.is_set():
            chunk = await reader.read(65536)
            if not chunk:
                kill()
                return
            if quiet.is_set():
                continue
            roll = self.rng.random()
            if roll < self.cut_rate:
                self.cuts += 1
                kill()
                return
            if roll < self.cut_rate + self.stall_rate:
                self.stalls += 1
                await asyncio.sleep(self.rng.uniform(*self.stall_s))  # the chunk is lost
                kill()
                return
            await asyncio.sleep(self.rng.uniform(0, self.max_delay_s))
            if dead.is_set():
                return
            writer.write(chunk)
            await writer.drain()


def _abort(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.transport.abort()
