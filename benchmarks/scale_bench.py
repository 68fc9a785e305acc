"""Scale-out benchmark: 100, 300 and 1,000 concurrent handhelds against 1 and 2 store
server processes on PostgreSQL (a fresh database) with Redis fan-out, side by side with
the bare WebSocket echo baseline (1 and 2 processes) in the same run.

    .venv/bin/python benchmarks/scale_bench.py [--loads 100,300,1000] [--processes 1,2]
        [--seconds 10] [--client-procs 2] [--pace 0]

``--pace S`` makes each handheld wait 0.5-1.5 x S seconds between an ack and its next
scan, as a shopper walks between items (a real one scans every 20-60 s); the default 0 is
the closed loop, where latency is bound to be ``handhelds / throughput`` (Little's law)
for any server, echo included. Paced handhelds connect, say hello and start their basket
before the measured window, and are held open through it.

Each handheld works as in ``load_bench.py``: hello, start, scans of random products of
a 2,000-product catalog with one request in flight, and after 30 scans it finishes and
the next device takes over. Handheld ``i`` talks to server ``i mod N`` (a load balancer
spreading connections). The handhelds are spread over ``--client-procs`` client
processes, because one Python process cannot drive 1,000 sockets at full speed.

Prints scans/s, p50/p99/p99.9 ack latency, the ratio to the echo baseline, the CPU
seconds the server processes and PostgreSQL used (so per-core figures can be read off a
shared machine), and checks that every acknowledged scan is in the database exactly once.
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from load_bench import (  # noqa: E402
    SCANS_PER_BASKET,
    catalog_csv,
    cpu_seconds,
    free_port,
    wait_healthy,
    warm_up,  # once per server process: every process's caches are warm
)

PG_ADMIN_URL = os.environ.get("CADDIE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CADDIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


# --------------------------------------------------------------------------- client side


async def _handheld(
    url: str,
    devices: list[list[str]],
    codes: list[str],
    start_at: float,
    stop_at: float,
    rng: random.Random,
    out: dict[str, Any],
    pace: float = 0.0,
) -> None:
    import websockets

    if not pace:  # closed loop: everyone connects at the start of the window
        await asyncio.sleep(max(0.0, start_at - time.time()))
    for index, (device, token) in enumerate(devices):
        if time.time() >= stop_at:
            return
        try:
            async with websockets.connect(url, max_size=2**20, open_timeout=30) as ws:
                hello = {"type": "hello", "protocol": 1, "device_id": device, "token": token}
                await ws.send(json.dumps(hello))
                await asyncio.wait_for(ws.recv(), 30)
                start = {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": device}
                await ws.send(json.dumps(start))
                await asyncio.wait_for(ws.recv(), 30)
                if pace and index == 0:
                    # Paced: the handhelds are held open before the window (a store's
                    # devices are not all picked up in the same second) and their first
                    # scans are spread over one pace period.
                    await asyncio.sleep(max(0.0, start_at - time.time()) + rng.uniform(0, pace))
                for _ in range(SCANS_PER_BASKET):
                    if pace:  # the shopper walks to the next item: 0.5-1.5 x pace
                        await asyncio.sleep(rng.uniform(0.5, 1.5) * pace)
                    if time.time() >= stop_at:
                        return
                    scan = {"type": "scan", "id": str(uuid.uuid4()), "code": rng.choice(codes)}
                    sent = time.perf_counter()
                    await ws.send(json.dumps(scan))
                    try:
                        reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    except (TimeoutError, websockets.ConnectionClosed):
                        out["unacked"] += 1
                        return
                    out["latencies"].append(time.perf_counter() - sent)
                    if reply.get("type") == "ack":
                        out["scans"] += 1
                        out["acked"][device] = out["acked"].get(device, 0) + 1
                    else:
                        out["errors"] += 1
                finish = {"type": "finish", "id": str(uuid.uuid4())}
                await ws.send(json.dumps(finish))
                await asyncio.wait_for(ws.recv(), 30)
        except (OSError, TimeoutError, websockets.WebSocketException):
            out["connect_errors"] += 1
    if time.time() < stop_at - 0.5:  # every device used up before the end: a capped rate
        out["exhausted"] += 1


def client_main(spec_path: str, out_path: str) -> None:
    """One client process: drives its share of the handhelds, writes results as JSON."""
    spec = json.loads(Path(spec_path).read_text())
    out: dict[str, Any] = {
        "scans": 0,
        "errors": 0,
        "unacked": 0,
        "connect_errors": 0,
        "exhausted": 0,
        "latencies": [],
        "acked": {},
    }

    async def run() -> None:
        await asyncio.gather(
            *(
                _handheld(
                    h["url"],
                    h["devices"],
                    spec["codes"],
                    spec["start_at"],
                    spec["stop_at"],
                    random.Random(h["seed"]),
                    out,
                    spec["pace"],
                )
                for h in spec["handhelds"]
            )
        )

    asyncio.run(run())
    Path(out_path).write_text(json.dumps(out))


# --------------------------------------------------------------------------- orchestration


@dataclass
class Result:
    label: str
    handhelds: int
    processes: int
    scans: int = 0
    errors: int = 0
    unacked: int = 0
    connect_errors: int = 0
    exhausted: int = 0  # handhelds that ran out of devices before the end
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)
    server_cpu: float = 0.0
    postgres_cpu: float = 0.0
    lost: int | None = None
    doubled: int | None = None

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return self.scans / self.seconds if self.seconds else 0.0


def postgres_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def drive(
    label: str,
    urls: list[str],
    handhelds: int,
    devices: list[tuple[str, str]],
    codes: list[str],
    seconds: float,
    client_procs: int,
    server_pids: list[int],
    work: Path,
    pace: float = 0.0,
) -> Result:
    per = len(devices) // handhelds
    plan = [
        {
            "url": urls[i % len(urls)],
            "devices": devices[i * per : (i + 1) * per],
            "seed": i,
        }
        for i in range(handhelds)
    ]
    procs = max(1, min(client_procs, handhelds))
    # Every client ready before the start; paced handhelds also connect before it.
    start_at = time.time() + 2.0 + handhelds / (200 if pace else 1000)
    stop_at = start_at + seconds
    children = []
    for n in range(procs):
        spec = work / f"client-{n}.json"
        out = work / f"client-{n}.out.json"
        spec.write_text(
            json.dumps(
                {
                    "codes": codes,
                    "pace": pace,
                    "start_at": start_at,
                    "stop_at": stop_at,
                    "handhelds": plan[n::procs],
                }
            )
        )
        children.append(
            (
                out,
                subprocess.Popen(
                    [sys.executable, __file__, "--client", str(spec), str(out)],
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                ),
            )
        )
    pg_before = {pid: cpu_seconds([pid]) for pid in postgres_pids()}
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before = cpu_seconds(server_pids)
    time.sleep(max(0.0, stop_at - time.time()))
    cpu_after = cpu_seconds(server_pids)
    pg_after = {pid: cpu_seconds([pid]) for pid in postgres_pids()}
    result = Result(label, handhelds, len(urls))
    for out, child in children:
        child.wait(120)
        data = json.loads(out.read_text())
        result.scans += data["scans"]
        result.errors += data["errors"]
        result.unacked += data["unacked"]
        result.connect_errors += data["connect_errors"]
        result.exhausted += data["exhausted"]
        result.latencies += data["latencies"]
        for device, n in data["acked"].items():
            result.acked[device] = result.acked.get(device, 0) + n
    result.seconds = seconds
    result.server_cpu = cpu_after - cpu_before
    result.postgres_cpu = sum(pg_after[p] - pg_before.get(p, 0.0) for p in pg_after)
    return result


def check_stored(url: str, result: Result) -> None:
    """Compare what each device had acknowledged with the units in its baskets."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        rows = conn.execute(
            "SELECT b.device_id, COALESCE(SUM(l.qty), 0) FROM basket b "
            "LEFT JOIN basket_line l ON l.basket_id = b.id "
            "WHERE b.device_id = ANY(%s) GROUP BY b.device_id",
            (list(result.acked),),
        ).fetchall()
    stored = {device: int(units) for device, units in rows}
    result.lost = sum(max(0, n - stored.get(d, 0)) for d, n in result.acked.items())
    result.doubled = sum(max(0, stored.get(d, 0) - n) for d, n in result.acked.items())


def start_processes(
    commands: list[list[str]], env: dict[str, str]
) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(c, env=env, start_new_session=True) for c in commands]


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", default="100,300,1000")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--no-redis", action="store_true", help="no CADDIE_PUBSUB_URL")
    parser.add_argument(
        "--pace",
        type=float,
        default=0.0,
        help="seconds a handheld waits between an ack and its next scan (0.5-1.5 x this, "
        "random); 0 (default) is the closed loop, every handheld always waiting for a reply",
    )
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="diagnostic only: synchronous_commit=off for the bench database, to tell the "
        "cost of the WAL flush from the CPU cost (never run a store like this)",
    )
    parser.add_argument("--client", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(*args.client)
        return

    import psycopg

    from store_server.db import make_engine, migrate, session_scope
    from store_server.devices.service import enroll

    loads = [int(n) for n in args.loads.split(",")]
    counts = [int(n) for n in args.processes.split(",")]
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="caddie-scale-bench-"))
    name = f"caddie_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        if args.async_commit:
            conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    env = {
        **os.environ,
        "CADDIE_ENVIRONMENT": "test",
        "CADDIE_RATE_LIMIT_PER_SECOND": "1000",
        "CADDIE_RATE_LIMIT_BURST": "1000",
        "CADDIE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    }
    if not args.no_redis:
        env["CADDIE_PUBSUB_URL"] = REDIS_URL
    results: list[tuple[Result, Result]] = []
    try:
        migrate(url)
        codes = catalog_csv(work / "catalog.csv", args.products, rng)
        caddie = [sys.executable, "-m", "store_server.cli"]
        subprocess.run(
            [*caddie, "catalog", "import", str(work / "catalog.csv"), "--database-url", url],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        # Enough devices for every basket a run can fill (a finished basket locks its device).
        engine = make_engine(url)
        pools: dict[tuple[int, int], list[tuple[str, str]]] = {}
        with session_scope(engine) as session:
            for n in counts:
                for load in loads:
                    # Room for 10,000 scans/s: a pool that runs dry would cap the rate.
                    per = 2 + int(args.seconds * 10_000 / load / SCANS_PER_BASKET)
                    ids = [f"B{n}-{load}-{i}" for i in range(load * per)]
                    pools[(n, load)] = enroll(session, ids, store_id="bench")
            warm = enroll(
                session,
                [f"W-{i}" for i in range(len(codes) // SCANS_PER_BASKET * max(counts) + 2 * 70)],
                store_id="bench",
            )
        engine.dispose()

        for n in counts:
            echo_ports = [free_port() for _ in range(n)]
            caddie_ports = [free_port() for _ in range(n)]
            echo = start_processes(
                [
                    [sys.executable, str(REPO / "benchmarks" / "echo_server.py"), "--port", str(p)]
                    for p in echo_ports
                ],
                env,
            )
            servers = start_processes(
                [[*caddie, "serve", "--port", str(p), "--database-url", url] for p in caddie_ports],
                env,
            )
            try:
                for p, proc in zip(echo_ports, echo, strict=True):
                    wait_healthy(f"http://127.0.0.1:{p}/docs", proc)
                for p, proc in zip(caddie_ports, servers, strict=True):
                    wait_healthy(f"http://127.0.0.1:{p}/healthz", proc)
                per_server = len(codes) // SCANS_PER_BASKET + 1
                for i, p in enumerate(caddie_ports):
                    asyncio.run(
                        warm_up(
                            f"ws://127.0.0.1:{p}/ws/handheld",
                            warm[i * per_server : (i + 1) * per_server],
                            codes,
                        )
                    )
                echo_urls = [f"ws://127.0.0.1:{p}/ws/handheld" for p in echo_ports]
                caddie_urls = [f"ws://127.0.0.1:{p}/ws/handheld" for p in caddie_ports]
                for load in loads:
                    devices = pools[(n, load)]
                    baseline = drive(
                        "echo",
                        echo_urls,
                        load,
                        devices,
                        codes,
                        args.seconds,
                        args.client_procs,
                        [p.pid for p in echo],
                        work,
                        args.pace,
                    )
                    measured = drive(
                        "caddie",
                        caddie_urls,
                        load,
                        devices,
                        codes,
                        args.seconds,
                        args.client_procs,
                        [p.pid for p in servers],
                        work,
                        args.pace,
                    )
                    check_stored(url, measured)
                    results.append((baseline, measured))
                    report_row(baseline, measured)
            finally:
                stop_processes(echo + servers)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print_table(results, args)


def report_row(baseline: Result, measured: Result) -> None:
    print(
        f"  done: {measured.handhelds} handhelds x {measured.processes} process(es): "
        f"caddie {measured.rate:.0f} scans/s, echo {baseline.rate:.0f}/s",
        flush=True,
    )


def print_table(results: list[tuple[Result, Result]], args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print()
    print(
        f"{args.seconds:.0f} s per run, "
        f"{f'one scan per ~{args.pace:g} s per handheld' if args.pace else 'closed loop'}, "
        f"{args.products} products, PostgreSQL "
        f"{'+ Redis fan-out' if not args.no_redis else '(no fan-out)'}"
        f"{', synchronous_commit=off (diagnostic)' if args.async_commit else ''}, "
        f"{os.cpu_count()} cores, "
        f"{args.client_procs} client processes, load average now {load[0]:.1f}"
    )
    header = (
        f"{'handhelds':>9}{'procs':>6}  {'server':<7}{'scans/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'p99.9 ms':>9}{'x echo':>7}{'srv cpu-s':>10}{'pg cpu-s':>9}{'scans/cpu-s':>12}"
        f"{'err':>5}{'unack':>6}{'lost':>5}"
    )
    print(header)
    print("-" * len(header))
    for baseline, measured in results:
        for r in (baseline, measured):
            ratio = r.rate / baseline.rate if baseline.rate else float("nan")
            per_cpu = r.scans / r.server_cpu if r.server_cpu else float("nan")
            lost = "-" if r.lost is None else str(r.lost + (r.doubled or 0))
            print(
                f"{r.handhelds:>9}{r.processes:>6}  {r.label:<7}{r.rate:>9.0f}{r.pct(50):>8.1f}"
                f"{r.pct(99):>8.1f}{r.pct(99.9):>9.1f}{ratio:>7.2f}{r.server_cpu:>10.1f}"
                f"{r.postgres_cpu if r.label == 'caddie' else 0:>9.1f}{per_cpu:>12.0f}"
                f"{r.errors + r.connect_errors:>5}{r.unacked:>6}{lost:>5}"
            )
    total_lost = sum((m.lost or 0) + (m.doubled or 0) for _, m in results)
    total_acked = sum(m.scans for _, m in results)
    print("-" * len(header))
    print(
        f"acknowledged scans {total_acked}; missing or doubled in the database: {total_lost} "
        f"({'exact' if total_lost == 0 else 'MISMATCH'})"
    )
    capped = [r for pair in results for r in pair if r.exhausted]
    for r in capped:
        print(
            f"warning: {r.exhausted} {r.label} handhelds ({r.handhelds} x {r.processes}) ran "
            "out of enrolled devices before the end; that rate is a floor"
        )


if __name__ == "__main__":
    main()
