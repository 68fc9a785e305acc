"""``caddie demo``: the whole system on embedded SQLite with the fixtures.

It starts the store server with the signage app, loads the fixture catalog, promotions,
screens and campaigns, enrols handhelds and screens, creates demo accounts, then runs
real ``caddie handheld`` processes that decode the fixture frames (an image folder per
shopper and a short video) and stream them over the WebSocket; one shopper finishes and
waits in the checkout queue. Simulated screens follow the loop API and post proof of
play as the browser player does. A live panel shows what happens, with the URLs to open.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import Progress
from rich.table import Table

from store_server.config import Settings, load_settings
from store_server.errors import ConfigurationError
from store_server.pricing.money import format_cents

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEMO_DB = "caddie-demo.db"
DEMO_MEDIA = "caddie-demo-media"
SHOPPERS = (
    # device, source (relative to fixtures/frames), loyalty card, finishes at the end
    ("DEMO-1", "shopper-1", "2900000000017", True),
    ("DEMO-2", "shopper-2", "2900000000024", False),
    ("DEMO-3", "trip.avi", "2900000000031", False),
)
PLAYER_SCREENS = ("S-01", "S-02")


@dataclass
class DemoServer:
    settings: Settings
    port: int
    server: Any = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        import uvicorn

        from store_server.app import create_app

        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws_max_size=self.settings.max_frame_bytes,
            ws_per_message_deflate=self.settings.ws_compression,
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # Ctrl-C belongs to the demo
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise ConfigurationError(f"the demo server could not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Prepared:
    device_tokens: dict[str, str]
    screen_tokens: dict[str, str]
    accounts: dict[str, tuple[str, str]]  # role -> (username, password)
    products: int
    promotions: int
    campaigns: int


def ensure_fixtures(console: Console) -> None:
    """Regenerate fixtures that a trimmed checkout lacks (deterministic scripts)."""
    needed = [
        (FIXTURES / "catalog.csv", "generate.py"),
        (FIXTURES / "frames" / "trips.json", "generate_media.py"),
        (FIXTURES / "mall" / "plan.json", "generate_media.py"),
    ]
    scripts = list(dict.fromkeys(script for path, script in needed if not path.exists()))
    for script in scripts:
        with console.status(f"generating fixtures ({script})"):
            subprocess.run(
                [sys.executable, str(FIXTURES / script)], check=True, capture_output=True
            )


def prepare(settings: Settings, media_dir: Path, console: Console) -> Prepared:
    """Fresh schema, fixture catalog, promotions and mall plan, devices, screens, accounts."""
    from store_server.auth.service import create_user
    from store_server.catalog.csv_import import parse_catalog_csv
    from store_server.catalog.service import replace_promotions, upsert_products
    from store_server.db import make_engine, migrate, session_scope
    from store_server.devices.service import enroll
    from store_server.pricing.promotion_files import load_promotions

    os.environ["CADDIE_MEDIA_DIR"] = str(media_dir)
    from signage import service as signage_service
    from signage.config import SignageSettings

    signage_settings = SignageSettings(media_dir=media_dir)
    plan_path = FIXTURES / "mall" / "plan.json"
    accounts = {
        role: (f"demo-{role}", secrets.token_urlsafe(9)) for role in ("staff", "operator", "admin")
    }
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("preparing the demo store and mall", total=7)
        migrate(settings.database_url)
        progress.advance(task)
        records = parse_catalog_csv((FIXTURES / "catalog.csv").read_bytes())
        promotions = load_promotions(FIXTURES / "promotions.json")
        engine = make_engine(settings.database_url)
        with session_scope(engine) as session:
            upsert_products(session, records, currency=settings.currency)
            progress.advance(task)
            replace_promotions(session, promotions)
            progress.advance(task)
            devices = dict(enroll(session, [d for d, *_ in SHOPPERS], store_id=settings.store_id))
            progress.advance(task)
            for role, (username, password) in accounts.items():
                create_user(
                    session,
                    username=username,
                    password=password,
                    role=role,
                    store_id=settings.store_id if role == "staff" else None,
                    replace=True,
                )
            progress.advance(task)
            summary = signage_service.load_plan(
                session,
                plan_path.read_bytes(),
                base_dir=plan_path.parent,
                settings=signage_settings,
            )
            progress.advance(task)
            plan = json.loads(plan_path.read_text())
            seed_attribution_history(session, plan, next(iter(devices)), settings)
            screen_ids = [s["id"] for s in plan["screens"]]
            screens = dict(
                signage_service.enroll(
                    session, screen_ids, settings=signage_settings, timezone=plan["timezone"]
                )
            )
            progress.advance(task)
        engine.dispose()
    return Prepared(
        device_tokens=devices,
        screen_tokens=screens,
        accounts=accounts,
        products=len(records),
        promotions=len(promotions),
        campaigns=getattr(summary, "campaigns", len(plan["campaigns"])),
    )


def seed_attribution_history(
    session: Any, plan: dict[str, Any], device_id: str, settings: Settings
) -> None:
    """Five weeks of plays and promoted scans for the campaign with promoted GTINs, so
    the attribution page shows a measured uplift and its interval."""
    from datetime import date

    from signage.attribution.demo_history import seed_history

    promoted = next(c for c in plan["campaigns"] if c.get("promoted_gtins"))
    gtins = promoted["promoted_gtins"]
    seed_history(
        session,
        campaign_id=promoted["id"],
        creative_id=promoted["creatives"][0],
        screen_id=plan["screens"][0]["id"],
        store_id=settings.store_id,
        device_id=device_id,
        gtins=(gtins[0], gtins[1]),
        today=date.today(),
        timezone=plan["timezone"],
    )


@dataclass
class Handhelds:
    """Real ``caddie handheld`` processes, one per shopper."""

    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def start(self, base_url: str, tokens: dict[str, str], work: Path, camera: str | None) -> None:
        for device, source, card, finishes in SHOPPERS:
            spec = str(FIXTURES / "frames" / source)
            if camera is not None and device == SHOPPERS[0][0]:
                spec = camera
            args = [
                sys.executable,
                "-m",
                "store_server.cli",
                "handheld",
                "--server",
                base_url,
                "--device",
                device,
                "--token",
                tokens[device],
                "--source",
                spec,
                "--loyalty-card",
                card,
                "--outbox",
                str(work / f"outbox-{device}.db"),
                "--frame-interval",
                "0.1",
            ]
            if finishes and camera is None:
                args.append("--finish")
            log = work / f"handheld-{device}.log"
            self.logs[device] = log
            with log.open("wb") as out:
                self.procs[device] = subprocess.Popen(
                    args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )

    def restart_finished_trips(self) -> None:
        """Shoppers who have not finished keep shopping: their trip plays again."""
        for device, *_rest, finishes in SHOPPERS:
            proc = self.procs.get(device)
            if proc is not None and proc.poll() == 0 and not finishes:
                self.procs[device] = subprocess.Popen(
                    proc.args,
                    stdout=self.logs[device].open("ab"),
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )

    def running(self) -> int:
        return sum(1 for p in self.procs.values() if p.poll() is None)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


class ScreenSimulator(threading.Thread):
    """Plays every screen's loop in step with the wall clock, as the browser player does,
    and posts proof of play in batches over the real API."""

    def __init__(self, base_url: str, tokens: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.tokens = tokens
        self.stop_event = threading.Event()
        self.posted = 0
        self.errors = 0

    def run(self) -> None:
        import httpx

        played: set[tuple[str, str]] = set()
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            while not self.stop_event.is_set():
                now = datetime.now(UTC)
                for screen_id, token in self.tokens.items():
                    headers = {"Authorization": f"Bearer {token}"}
                    try:
                        loop = client.get(f"/signage/screens/{screen_id}/loop", headers=headers)
                        loop.raise_for_status()
                        body = loop.json()
                        slot_seconds = body["slot_seconds"]
                        start = datetime.fromisoformat(body["valid_from"])
                        position = int((now - start).total_seconds() // slot_seconds)
                        slot = body["slots"][position % len(body["slots"])]
                        key = (screen_id, f"{body['valid_from']}#{position}")
                        if key in played or slot.get("creative_id") is None:
                            continue
                        played.add(key)
                        play = {
                            "play_id": str(uuid.uuid4()),
                            "creative_id": slot["creative_id"],
                            "campaign_id": slot["campaign_id"],
                            "started_at": now.isoformat(),
                            "duration_ms": int(slot["duration_s"] * 1000),
                        }
                        reply = client.post(
                            "/signage/proof-of-play", json={"plays": [play]}, headers=headers
                        )
                        reply.raise_for_status()
                        self.posted += reply.json().get("accepted", 0)
                    except (httpx.HTTPError, KeyError, ValueError):
                        self.errors += 1
                self.stop_event.wait(1.0)


def counts(engine: Any) -> dict[str, int]:
    from sqlalchemy import text

    queries = {
        "open baskets": "SELECT count(*) FROM basket WHERE status = 'open'",
        "baskets": "SELECT count(*) FROM basket",
        "scans": "SELECT count(*) FROM handheld_request WHERE type = 'scan'",
        "waiting at checkout": "SELECT count(*) FROM basket WHERE status IN ('finishing','audit')",
        "audits": "SELECT count(*) FROM basket WHERE status = 'audit'",
        "ads played": "SELECT count(*) FROM proof_of_play",
        "items scanned": "SELECT coalesce(sum(qty), 0) FROM basket_line",
    }
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for name, sql in queries.items():
            try:
                out[name] = int(conn.execute(text(sql)).scalar() or 0)
            except Exception:  # a table from a newer schema: show nothing rather than fail
                out[name] = 0
    return out


@dataclass(frozen=True)
class ShopperBasket:
    """A demo shopper's newest basket as the store server priced it."""

    device: str
    status: str
    items: int
    total_cents: int
    lines_cents: int  # the lines before promotions
    currency: str

    def text(self) -> str:
        saved = self.lines_cents - self.total_cents
        promotions = f" (promotions -{format_cents(saved, self.currency)})" if saved > 0 else ""
        return (
            f"{self.status}, {self.items} item{'s' if self.items != 1 else ''}, "
            f"total {format_cents(self.total_cents, self.currency)}{promotions}"
        )


_NEWEST_BASKETS = """
SELECT b.device_id, b.status, b.item_count, b.total_cents,
       (SELECT coalesce(sum(l.line_total_cents), 0) FROM basket_line l WHERE l.basket_id = b.id),
       b.currency
FROM basket b
JOIN (SELECT device_id, max(created_at) AS newest FROM basket GROUP BY device_id) n
  ON n.device_id = b.device_id AND b.created_at = n.newest
ORDER BY b.device_id
"""


def shopper_baskets(engine: Any) -> list[ShopperBasket]:
    """Each demo shopper's running total, promotions applied (what the handheld shows)."""
    from sqlalchemy import text

    shoppers = {device for device, *_ in SHOPPERS}
    with engine.connect() as conn:
        rows = conn.execute(text(_NEWEST_BASKETS)).all()
    return [ShopperBasket(*row) for row in rows if row[0] in shoppers]


def panel(
    stats: dict[str, int],
    scans_per_s: float,
    shoppers: int,
    elapsed: float,
    baskets: Sequence[ShopperBasket],
) -> Panel:
    table = Table.grid(padding=(0, 3))
    table.add_column(justify="left")
    table.add_column(justify="right")
    rows = [
        ("active shoppers (handhelds running)", str(shoppers)),
        ("scans/s", f"{scans_per_s:.1f}"),
        ("scans acknowledged", str(stats["scans"])),
        (
            "baskets (open / waiting at checkout)",
            f"{stats['baskets']} ({stats['open baskets']} / {stats['waiting at checkout']})",
        ),
        ("audits", str(stats["audits"])),
        ("ads played (proof of play)", str(stats["ads played"])),
    ]
    rows += [(f"basket of {b.device}", b.text()) for b in baskets]
    for name, value in rows:
        table.add_row(name, value)
    return Panel(table, title=f"Caddie demo — {elapsed:.0f} s", border_style="green")


def urls(base: str, prepared: Prepared) -> list[tuple[str, str]]:
    """What to open, and with which account (printed one per line: easy to copy)."""
    staff, operator = prepared.accounts["staff"], prepared.accounts["operator"]
    admin = prepared.accounts["admin"]
    lines = [
        ("staff console", f"{base}/staff   (login {staff[0]} / {staff[1]})"),
        ("operator console", f"{base}/signage/console   (login {operator[0]} / {operator[1]})"),
    ]
    for screen_id in PLAYER_SCREENS:
        token = prepared.screen_tokens[screen_id]
        lines.append(
            (f"screen player {screen_id}", f"{base}/signage/screens/{screen_id}/play?token={token}")
        )
    lines += [
        ("API docs", f"{base}/docs   (admin {admin[0]} / {admin[1]})"),
        ("metrics", f"{base}/metrics   (admin {admin[0]} / {admin[1]})"),
    ]
    return lines


def _stop_like_ctrl_c(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(
    *,
    port: int = 8000,
    duration: float = 0,
    database: Path | None = None,
    camera: str | None = None,
) -> None:
    console = Console()
    work = Path.cwd()
    db_path = (database or work / DEMO_DB).resolve()
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(db_path) + suffix).unlink()
    for outbox in work.glob("outbox-DEMO-*.db*"):
        outbox.unlink()
    if not port_free(port):
        raise ConfigurationError(f"port {port} is in use; choose another with --port")
    ensure_fixtures(console)
    settings = load_settings(database_url=f"sqlite:///{db_path}", environment="development")
    prepared = prepare(settings, work / DEMO_MEDIA, console)
    console.print(
        f"[green]✓[/] {prepared.products} products, {prepared.promotions} promotions, "
        f"{len(prepared.screen_tokens)} screens and {prepared.campaigns} campaigns loaded"
    )
    server = DemoServer(settings, port)
    server.start()
    base = f"http://127.0.0.1:{port}"
    console.print(
        f"[green]✓[/] store server with the signage app on {base} (SQLite {db_path.name})"
    )
    for name, url in urls(base, prepared):
        console.print(f"  {name + ':':<22}{url}", soft_wrap=True, highlight=False)
    handhelds = Handhelds()
    # A service manager stops the demo with SIGTERM: stop like Ctrl-C, so the handheld
    # processes it started go too instead of retrying against a server that is gone.
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    handhelds.start(base, prepared.device_tokens, work, camera)
    screens = ScreenSimulator(base, prepared.screen_tokens)
    screens.start()

    from store_server.db import make_engine

    engine = make_engine(settings.database_url)
    started = time.monotonic()
    last_scans, last_at, rate = 0, started, 0.0
    live_panel = console.is_terminal
    try:
        with (
            Live(console=console, refresh_per_second=2, transient=False)
            if live_panel
            else contextlib.nullcontext() as live
        ):
            while duration <= 0 or time.monotonic() - started < duration:
                time.sleep(1.0)
                handhelds.restart_finished_trips()
                stats = counts(engine)
                now = time.monotonic()
                rate = (stats["scans"] - last_scans) / max(now - last_at, 1e-6)
                last_scans, last_at = stats["scans"], now
                view = panel(
                    stats, rate, handhelds.running(), now - started, shopper_baskets(engine)
                )
                if live is not None:
                    live.update(Group(view))
                elif int(now - started) % 5 == 0:
                    console.print(view)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        screens.stop_event.set()
        handhelds.stop()
        screens.join(5)
        stats = counts(engine)
        baskets = shopper_baskets(engine)
        engine.dispose()
        server.stop()
    console.print(
        f"demo summary: {stats['items scanned']} items in {stats['baskets']} baskets, "
        f"{stats['waiting at checkout']} waiting at checkout, {stats['audits']} audits, "
        f"{stats['ads played']} ads played"
    )
    for basket in baskets:
        console.print(f"  basket of {basket.device}: {basket.text()}", highlight=False)
