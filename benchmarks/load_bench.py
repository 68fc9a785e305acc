"""Load benchmark: N concurrent handhelds scanning in a closed loop against ``caddie serve``
on SQLite, side by side with a bare FastAPI/uvicorn WebSocket echo server in the same run.

    .venv/bin/python benchmarks/load_bench.py [--handhelds 100] [--seconds 15] [--workers N]
        [--client lean|websockets] [--no-floor]

Each handheld says hello, starts a basket, scans random items of a 2,000-product catalog
(one request in flight, the next sent on the ack), and after 20 to 40 scans finishes and
moves to the next device, as a shopper hands the device back.

Between the echo server and Caddie it measures five *floor* servers (``floor_server.py``):
the echo server plus only what the protocol makes every server do per scan, storing the
reply with the basket change and acknowledging after the commit, with Caddie's three
writes or a single one, on one process or two. They show how much of the gap to the echo
server any server keeping the protocol's promise on SQLite would have. The fifth, the
one-write floor on two processes, also prices the basket with Caddie's own code before
each ack: the least of the store's work on top of that promise.

The handhelds run in this process, on the same cores as the servers, so they speak
WebSocket through a lean client of their own (``wire_client.py``); ``--client
websockets`` uses the websockets library instead, which costs the machine two to three
times as much per scan. Prints scans/s, p50/p99/p99.9 ack latency and their ratios to the
echo baseline, CPU per scan of the servers and the handhelds, then checks that every
acknowledged scan is in Caddie's database and that none is left unacknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from biip.checksums import gs1_standard_check_digit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.wire_client import CLIENTS, Closed, Connection, LibraryConnection  # noqa: E402

ACK = b'{"type":"ack"'

SCANS_PER_BASKET = 30  # on average: each basket gets 20 to 40 scans
FEWEST_SCANS = SCANS_PER_BASKET - 10


def ean13(body12: str) -> str:
    return body12 + str(gs1_standard_check_digit(body12))


def catalog_csv(path: Path, products: int, rng: random.Random) -> list[str]:
    codes: list[str] = []
    with path.open("w") as out:
        out.write("gtin,name,category,price_cents,tax_rate,age_restricted,sold_by\n")
        while len(codes) < products:
            code = ean13(f"3{rng.randrange(10**11):011d}")
            if code in codes:
                continue
            codes.append(code)
            category = rng.choice(["grocery", "dairy", "drinks", "hygiene", "snacks"])
            price = rng.randrange(50, 2000)
            out.write(f"{code},Product {len(codes)},{category},{price},0.055,false,unit\n")
    return codes


TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's worker processes), from Linux /proc."""
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def idle_seconds() -> float:
    """Seconds all cores have spent idle since boot (the ``cpu`` line of /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return (int(fields[4]) + int(fields[5])) / TICKS  # idle + iowait


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


@dataclass
class Result:
    label: str
    scans: int = 0
    errors: int = 0
    unacked: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0  # CPU seconds the server process used during the run
    client_cpu: float = 0.0  # and this benchmark's own process (the handhelds)
    idle_cores: float = 0.0  # cores the machine left idle, on average, during the run

    @property
    def cpu_ms_per_scan(self) -> float:
        return self.server_cpu * 1000 / self.scans if self.scans else float("nan")

    @property
    def client_ms_per_scan(self) -> float:
        return self.client_cpu * 1000 / self.scans if self.scans else float("nan")

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return self.scans / self.seconds if self.seconds else 0.0


Client = type[Connection] | type[LibraryConnection]


async def handheld(
    url: str,
    devices: list[tuple[str, str]],
    codes: list[str],
    stop: float,
    result: Result,
    rng: random.Random,
    client: Client,
) -> None:
    for device, token in devices:
        if time.monotonic() >= stop:
            return
        async with await client.open(url, rng) as ws:
            await ws.send(
                json.dumps({"type": "hello", "protocol": 1, "device_id": device, "token": token})
            )
            await ws.recv()
            await ws.send(
                json.dumps({"type": "start", "id": str(uuid.uuid4()), "loyalty_card": device})
            )
            await ws.recv()
            # Basket sizes vary, as shoppers' do: with one size for all, every handheld
            # would finish (and start again) in the same instant, all run after run.
            for _ in range(rng.randint(FEWEST_SCANS, 2 * SCANS_PER_BASKET - FEWEST_SCANS)):
                if time.monotonic() >= stop:
                    return
                sent = time.perf_counter()
                await ws.send(
                    json.dumps({"type": "scan", "id": str(uuid.uuid4()), "code": rng.choice(codes)})
                )
                try:
                    reply = await asyncio.wait_for(ws.recv(), 30)
                except (TimeoutError, Closed):
                    result.unacked += 1
                    return
                result.latencies.append(time.perf_counter() - sent)
                # Every server here writes the type first; reading the rest of the
                # basket would only spend the server's CPU on the handhelds.
                if reply.startswith(ACK):
                    result.scans += 1
                else:
                    result.errors += 1
            await ws.send(json.dumps({"type": "finish", "id": str(uuid.uuid4())}))
            await ws.recv()


async def warm_up(
    url: str, devices: list[tuple[str, str]], codes: list[str], client: Client = Connection
) -> None:
    """Scan every product once, untimed: a store's product cache is warm in steady state."""
    chunks = [codes[i : i + SCANS_PER_BASKET] for i in range(0, len(codes), SCANS_PER_BASKET)]

    async def one(device: str, token: str, chunk: list[str]) -> None:
        async with await client.open(url) as ws:
            hello = {"type": "hello", "protocol": 1, "device_id": device, "token": token}
            await ws.send(json.dumps(hello))
            await ws.recv()
            await ws.send(
                json.dumps({"type": "start", "id": str(uuid.uuid4()), "loyalty_card": device})
            )
            await ws.recv()
            for code in chunk:
                await ws.send(json.dumps({"type": "scan", "id": str(uuid.uuid4()), "code": code}))
                await ws.recv()
            await ws.send(json.dumps({"type": "finish", "id": str(uuid.uuid4())}))
            await ws.recv()

    await asyncio.gather(*(one(d, t, c) for (d, t), c in zip(devices, chunks, strict=False)))


async def drive(
    label: str,
    url: str,
    handhelds: int,
    devices: list[tuple[str, str]],
    codes: list[str],
    seconds: float,
    server_pid: int,
    client: Client,
) -> Result:
    result = Result(label)
    pids = process_tree(server_pid)
    cpu_before, client_before, idle_before = cpu_seconds(pids), time.process_time(), idle_seconds()
    per = len(devices) // handhelds
    start = time.monotonic()
    stop = start + seconds
    await asyncio.gather(
        *(
            handheld(
                url, devices[i * per : (i + 1) * per], codes, stop, result, random.Random(i), client
            )
            for i in range(handhelds)
        )
    )
    result.seconds = time.monotonic() - start
    result.server_cpu = cpu_seconds(pids) - cpu_before
    result.client_cpu = time.process_time() - client_before
    result.idle_cores = (idle_seconds() - idle_before) / result.seconds
    return result


# (writes per scan, processes, whether it prices the basket as Caddie does)
FLOORS = ((3, 1, False), (3, 2, False), (1, 1, False), (1, 2, False), (1, 2, True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handhelds", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="caddie serve processes")
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="lean",
        help="how the handhelds speak WebSocket (default: the benchmarks' own lean client)",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the floor servers")
    args = parser.parse_args()
    client = CLIENTS[args.client]

    from store_server.db import make_engine, migrate, session_scope
    from store_server.devices.service import enroll

    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="caddie-bench-"))
    url = f"sqlite:///{work / 'bench.db'}"
    migrate(url)
    codes = catalog_csv(work / "catalog.csv", args.products, rng)
    env = {
        **os.environ,
        "CADDIE_ENVIRONMENT": "test",
        "CADDIE_RATE_LIMIT_PER_SECOND": "1000",
        "CADDIE_RATE_LIMIT_BURST": "1000",
        "CADDIE_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "store_server.cli",
            "catalog",
            "import",
            str(work / "catalog.csv"),
            "--database-url",
            url,
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    # Enough devices for every basket the run can fill.
    needed = args.handhelds * max(4, int(args.seconds * 60 / FEWEST_SCANS))
    engine = make_engine(url)
    with session_scope(engine) as session:
        devices = enroll(session, [f"B-{i}" for i in range(needed)], store_id="bench")
        warm_devices = enroll(
            session, [f"W-{i}" for i in range(len(codes) // SCANS_PER_BASKET + 1)], store_id="bench"
        )
    engine.dispose()

    def launch(command: list[str]) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        proc = subprocess.Popen([*command, "--port", str(port)], env=env, cwd=REPO / "benchmarks")
        return f"127.0.0.1:{port}", proc

    benchmarks = REPO / "benchmarks"
    echo_at, echo = launch([sys.executable, str(benchmarks / "echo_server.py")])

    def plural(n: int, what: str) -> str:
        return f"{n} {what}{'s' if n > 1 else ''}"

    floors = {
        f"floor: {plural(writes, 'write')}, {plural(procs, 'proc')}{', priced' * priced}": launch(
            [
                sys.executable,
                str(benchmarks / "floor_server.py"),
                "--database",
                str(work / f"floor-{writes}-{procs}-{priced}.db"),
                "--writes",
                str(writes),
                "--workers",
                str(procs),
                *(["--priced"] if priced else []),
            ]
        )
        for writes, procs, priced in (() if args.no_floor else FLOORS)
    }
    caddie_at, server = launch(
        [
            sys.executable,
            "-m",
            "store_server.cli",
            "serve",
            "--database-url",
            url,
            "--workers",
            str(args.workers),
        ]
    )
    results: list[Result] = []
    try:
        # Every server up before the first measured second: one still starting would
        # take CPU from the one being measured.
        for at, proc in [(echo_at, echo), *floors.values()]:
            wait_healthy(f"http://{at}/docs", proc)
        wait_healthy(f"http://{caddie_at}/healthz", server)
        for label, (at, proc) in [("echo baseline", (echo_at, echo)), *floors.items()]:
            results.append(
                asyncio.run(
                    drive(
                        label,
                        f"ws://{at}/ws/handheld",
                        args.handhelds,
                        devices,
                        codes,
                        args.seconds,
                        proc.pid,
                        client,
                    )
                )
            )
            if proc is not echo:
                proc.terminate()  # leave the machine to the next server
        asyncio.run(warm_up(f"ws://{caddie_at}/ws/handheld", warm_devices, codes, client))
        print(f"timed run against caddie serve (pid {server.pid})", flush=True)
        caddie = asyncio.run(
            drive(
                f"caddie serve{f' ({args.workers} procs)' if args.workers > 1 else ''}",
                f"ws://{caddie_at}/ws/handheld",
                args.handhelds,
                devices,
                codes,
                args.seconds,
                server.pid,
                client,
            )
        )
    finally:
        for proc in (echo, server, *(proc for _, proc in floors.values())):
            proc.terminate()
            proc.wait(15)
    baseline = results[0]

    from sqlalchemy import func
    from sqlmodel import Session, col, select

    from store_server.baskets.models import Basket, BasketLine

    engine = make_engine(url)
    with Session(engine) as session:
        timed = col(Basket.device_id).like("B-%")  # not the warm-up baskets
        stored = session.exec(
            select(func.coalesce(func.sum(BasketLine.qty), 0))
            .join(Basket, col(Basket.id) == col(BasketLine.basket_id))
            .where(timed)
        ).one()
        baskets = session.exec(select(func.count()).select_from(Basket).where(timed)).one()
    engine.dispose()

    print()
    print(
        f"{args.handhelds} handhelds ({args.client} client), {args.seconds:.0f} s closed loop, "
        f"{args.products} products, SQLite, {os.cpu_count()} cores"
    )
    header = (
        f"{'server':<26}{'scans/s':>9}{'x echo':>8}{'p50 ms':>8}{'p99 ms':>8}{'x echo':>8}"
        f"{'p99.9 ms':>10}{'errors':>8}{'unacked':>9}{'CPU ms/scan':>13}{'client ms/scan':>16}"
        f"{'idle cores':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in (*results, caddie):
        print(
            f"{r.label:<26}{r.rate:>9.0f}{r.rate / baseline.rate:>8.2f}{r.pct(50):>8.1f}"
            f"{r.pct(99):>8.1f}{r.pct(99) / baseline.pct(99):>8.2f}{r.pct(99.9):>10.1f}"
            f"{r.errors:>8}{r.unacked:>9}{r.cpu_ms_per_scan:>13.3f}"
            f"{r.client_ms_per_scan:>16.3f}{r.idle_cores:>12.2f}"
        )
    print("-" * len(header))
    print(
        f"caddie: acknowledged scans {caddie.scans}, units stored in {baskets} baskets: {stored} "
        f"({'exact' if stored == caddie.scans else 'MISMATCH'}); "
        f"CPU per scan {caddie.cpu_ms_per_scan / baseline.cpu_ms_per_scan:.2f}x echo's"
    )
    # What the CPU allows: every core busy with the server and the handhelds, at the
    # cost per scan each was measured at (the server's processes perfectly parallel).
    ceiling = (os.cpu_count() or 1) * 1000 / (caddie.cpu_ms_per_scan + caddie.client_ms_per_scan)
    print(
        f"CPU ceiling for caddie on {os.cpu_count()} cores at these costs per scan: "
        f"{ceiling:.0f} scans/s ({ceiling / baseline.rate:.2f}x echo)"
    )
    for r in (*results[1:], caddie):
        throughput = r.rate >= 0.6 * baseline.rate
        p99 = r.pct(99) <= 2 * baseline.pct(99)
        print(
            f"targets for {r.label}: throughput >= 0.6x echo: {'met' if throughput else 'NOT met'};"
            f" p99 <= 2x echo: {'met' if p99 else 'NOT met'};"
            f" unacknowledged 0: {'met' if r.unacked == 0 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
