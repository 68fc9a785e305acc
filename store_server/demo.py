"""``caddie demo``: the whole system on embedded SQLite with the fixtures.

It starts the store server with the signage app, loads the fixture catalog, promotions,
screens and campaigns, enrols handhelds and screens, creates demo accounts, then runs
real ``caddie handheld`` processes that decode the fixture frames (an image folder per
shopper and a short video) and stream them over the WebSocket. Each shopper's trip is
14-40 items, then finishes and waits at the exit; a simulated cashier audits, releases
and pays it a minute later through the real APIs, and a new shopper takes the handheld.
Simulated screens follow the loop API and post proof of play as the browser player does.
A live panel shows what happens, with the URLs to open.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import Progress
from rich.table import Table

from store_server.config import Settings, load_settings
from store_server.pricing.money import format_cents
from store_server.shared.errors import ConfigurationError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEMO_DB = "caddie-demo.db"
DEMO_MEDIA = "caddie-demo-media"
DEMO_TLS = "caddie-demo-tls"
SHOPPERS = (
    # device, source (relative to fixtures/frames), the first shopper's loyalty card
    ("DEMO-1", "shopper-1", "2900000000017"),
    ("DEMO-2", "shopper-2", "2900000000024"),
    ("DEMO-3", "trip.avi", "2900000000031"),
)
PLAYER_SCREENS = ("S-01", "S-02")


@dataclass
class DemoServer:
    settings: Settings
    port: int
    host: str = "127.0.0.1"
    tls: tuple[Path, Path] | None = None  # certificate and key: serve HTTPS
    server: Any = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        import uvicorn

        from store_server.app import create_app

        config = uvicorn.Config(
            create_app(self.settings),
            host=self.host,
            port=self.port,
            ssl_certfile=str(self.tls[0]) if self.tls else None,
            ssl_keyfile=str(self.tls[1]) if self.tls else None,
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


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
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
        role: (f"demo-{role}", secrets.token_urlsafe(9))
        for role in ("staff", "operator", "admin", "manager")
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
                    store_id=settings.store_id if role in ("staff", "manager") else None,
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
        # Three weeks of past trips, so the manager console has something to show.
        from store_server.manager.history import demo_history

        demo_history(engine, settings.store_id)
        engine.dispose()
    return Prepared(
        device_tokens=devices,
        screen_tokens=screens,
        accounts=accounts,
        products=len(records),
        promotions=len(promotions),
        campaigns=getattr(summary, "campaigns", len(plan["campaigns"])),
    )


# A demo trip is one shopper: the handheld plays its fixture trip (7-8 items) this many
# times into one basket, then finishes; the trip is 14-40 items, like a real one.
PASSES_PER_TRIP = (2, 5)


@dataclass
class Trip:
    """Where one handheld is in its current shopper's trip."""

    number: int
    card: str
    passes_left: int
    finished: bool = False


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
    """Real ``caddie handheld`` processes, one per shopper at a time.

    Each trip plays the shopper's fixture source a few times into one basket, then
    finishes; once the basket is paid (the :class:`Cashier` sees to that) a new shopper
    picks the handheld up. So however long the demo runs, the baskets look like real
    trips and the exit queue, the history and the figures stay believable."""

    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    trips: dict[str, Trip] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    base_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    work: Path = Path(".")
    camera: str | None = None
    env: dict[str, str] | None = None

    def start(
        self,
        base_url: str,
        tokens: dict[str, str],
        work: Path,
        camera: str | None,
        ca_file: Path | None = None,
    ) -> None:
        self.base_url, self.tokens, self.work, self.camera = base_url, tokens, work, camera
        # Over HTTPS with a certificate of the demo's own, the handhelds trust it (Python's
        # default TLS context reads SSL_CERT_FILE).
        self.env = {**os.environ, "SSL_CERT_FILE": str(ca_file)} if ca_file else None
        for device, _source, card in SHOPPERS:
            self.logs[device] = work / f"handheld-{device}.log"
            self.logs[device].write_bytes(b"")
            self.trips[device] = self._new_trip(device, card, 1)
            self._launch(device)
        first = self.trips[SHOPPERS[0][0]]
        first.passes_left = min(first.passes_left, PASSES_PER_TRIP[0])  # soon at the exit

    def _new_trip(self, device: str, card: str, number: int) -> Trip:
        if self.camera is not None and device == SHOPPERS[0][0]:
            return Trip(number, card, passes_left=1_000_000)  # a person with a webcam
        return Trip(number, card, passes_left=self.rng.randint(*PASSES_PER_TRIP))

    def _launch(self, device: str) -> None:
        source, trip = dict((d, s) for d, s, *_ in SHOPPERS)[device], self.trips[device]
        spec = str(FIXTURES / "frames" / source)
        if self.camera is not None and device == SHOPPERS[0][0]:
            spec = self.camera
        args = [
            sys.executable,
            "-m",
            "store_server.cli",
            "handheld",
            "--server",
            self.base_url,
            "--device",
            device,
            "--source",
            spec,
            "--loyalty-card",
            trip.card,
            "--outbox",
            str(self.work / f"outbox-{device}.db"),
            "--frame-interval",
            "0.1",
        ]
        if trip.passes_left == 1:
            args.append("--finish")
        # The token goes in the environment, where ps does not show it.
        env = {**(self.env or os.environ), "CADDIE_DEVICE_TOKEN": self.tokens[device]}
        with self.logs[device].open("ab") as out:
            self.procs[device] = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )

    def advance(self, paid: set[str]) -> None:
        """Next pass of a trip whose pass ended; a new shopper on a handheld whose last
        basket was paid (``paid``: devices whose newest basket is paid or abandoned)."""
        for device, trip in self.trips.items():
            proc = self.procs.get(device)
            if proc is None or proc.poll() is None:
                continue
            if not trip.finished:
                if proc.returncode != 0:
                    self._launch(device)  # the server was busy: play the pass again
                    continue
                trip.passes_left -= 1
                trip.finished = trip.passes_left == 0
                if not trip.finished:
                    self._launch(device)
            elif device in paid:
                number = trip.number + 1
                card = f"29{SHOPPERS_INDEX[device]}{number:010d}"
                self.trips[device] = self._new_trip(device, card, number)
                self._launch(device)

    def running(self) -> int:
        return sum(1 for p in self.procs.values() if p.poll() is None)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


SHOPPERS_INDEX = {device: str(i + 1) for i, (device, *_rest) in enumerate(SHOPPERS)}


class Cashier(threading.Thread):
    """The exit staff and the till of the demo, through the real APIs: a basket that has
    waited ``wait_s`` at the exit is rescanned as its audit asks, age-checked and
    released; ``till_s`` later the till reports the payment. Until then it stays in the
    queue for whoever opens the staff console."""

    def __init__(
        self,
        base_url: str,
        staff: tuple[str, str],
        admin: tuple[str, str],
        *,
        wait_s: float,
        ca_file: Path | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.verify: str | bool = str(ca_file) if ca_file else True
        self.staff, self.admin = staff, admin
        self.wait_s = wait_s
        self.till_s = max(5.0, wait_s / 4)
        self.stop_event = threading.Event()
        self.released: dict[str, tuple[float, str, int]] = {}  # basket -> (at, code, total)
        self.paid = 0
        self.errors = 0

    def run(self) -> None:
        import httpx

        with httpx.Client(base_url=self.base_url, timeout=10, verify=self.verify) as client:
            staff = till = None
            while not self.stop_event.wait(1.0):
                try:
                    if staff is None or till is None:
                        staff = self._login(client, *self.staff)
                        admin = self._login(client, *self.admin)
                        till = self._till(client, admin)
                    self._serve(client, staff, till)
                except (httpx.HTTPError, KeyError, ValueError, TypeError):
                    self.errors += 1

    @staticmethod
    def _login(client: Any, username: str, password: str) -> dict[str, str]:
        """A bearer token, as a script logs in: no cookie kept (a cookie would make every
        later request a browser's, which must carry the page's CSRF token)."""
        reply = client.post("/api/auth/login", json={"username": username, "password": password})
        client.cookies.clear()
        reply.raise_for_status()
        return {"Authorization": f"Bearer {reply.json()['token']}"}

    @staticmethod
    def _till(client: Any, admin: dict[str, str]) -> dict[str, str]:
        reply = client.post(
            "/api/checkout/pos-terminals", json={"terminal_id": "DEMO-TILL"}, headers=admin
        )
        reply.raise_for_status()
        return {"Authorization": f"Bearer {reply.json()['token']}"}

    def _serve(self, client: Any, staff: dict[str, str], till: dict[str, str]) -> None:
        now = time.monotonic()
        for basket_id, (at, code, total) in list(self.released.items()):
            if now - at >= self.till_s:
                reference = f"DEMO-TILL-{self.paid + 1:05d}"
                client.post(
                    f"/api/pos/handoffs/{code}/paid",
                    json={"payment_reference": reference, "amount_cents": total},
                    headers=till,
                )
                del self.released[basket_id]
                self.paid += 1
        queue = client.get("/api/checkout/baskets", headers=staff).json()["baskets"]
        for row in queue:
            if row["released"] or row["basket_id"] in self.released:
                continue
            finished = datetime.fromisoformat(row["finished_at"])
            if (datetime.now(UTC) - finished).total_seconds() < self.wait_s:
                continue
            api = f"/api/checkout/baskets/{row['basket_id']}"
            view = client.get(api, headers=staff).json()
            for line in view["lines"]:
                for _ in range(max(0, line["expected"] - line["verified"])):
                    if line["status"] == "to_rescan":
                        client.post(f"{api}/rescan", json={"code": line["gtin"]}, headers=staff)
            if view["age_check"] == "needed":
                client.post(f"{api}/age-approval", json={"note": "ID seen"}, headers=staff)
            out = client.post(f"{api}/release", headers=staff)
            if out.status_code == 200:
                handoff = out.json()["handoff"]
                self.released[row["basket_id"]] = (now, handoff["code"], handoff["total_cents"])


def settled_devices(engine: Any) -> set[str]:
    """Handhelds whose newest basket is paid or abandoned: free for the next shopper."""
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text(_NEWEST_STATUS)).all()
    return {device for device, status in rows if status in ("paid", "abandoned")}


_NEWEST_STATUS = """
SELECT b.device_id, b.status FROM basket b
WHERE b.created_at = (SELECT max(n.created_at) FROM basket n WHERE n.device_id = b.device_id)
"""


class ScreenSimulator(threading.Thread):
    """Plays every screen's loop in step with the wall clock, as the browser player does,
    and posts proof of play in batches over the real API."""

    def __init__(self, base_url: str, tokens: dict[str, str], ca_file: Path | None = None) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.ca_file = ca_file
        self.tokens = tokens
        self.stop_event = threading.Event()
        self.posted = 0
        self.errors = 0

    def run(self) -> None:
        import httpx

        played: set[tuple[str, str]] = set()
        import ssl

        verify: Any = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True
        with httpx.Client(base_url=self.base_url, timeout=5, verify=verify) as client:
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
                            # when the slot began, as a player reports it: one play per slot
                            "started_at": (
                                start + timedelta(seconds=position * slot_seconds)
                            ).isoformat(),
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


def urls(base: str, prepared: Prepared, display_key: str) -> list[tuple[str, str]]:
    """What to open, and with which account (printed one per line: easy to copy)."""
    staff, operator = prepared.accounts["staff"], prepared.accounts["operator"]
    admin = prepared.accounts["admin"]
    lines = [
        ("start page", f"{base}/   (every console and the docs)"),
        ("shopper app", f"{base}/shop"),
        ("entrance QR code", f"{base}/shop/entrance?key={display_key}"),
        ("staff console", f"{base}/staff   (login {staff[0]} / {staff[1]})"),
        ("operator console", f"{base}/signage/console   (login {operator[0]} / {operator[1]})"),
    ]
    if "manager" in prepared.accounts:
        manager = prepared.accounts["manager"]
        lines.append(("manager console", f"{base}/manager   (login {manager[0]} / {manager[1]})"))
    for screen_id in PLAYER_SCREENS:
        token = prepared.screen_tokens[screen_id]
        lines.append(
            (f"screen player {screen_id}", f"{base}/signage/screens/{screen_id}/play#token={token}")
        )
    lines += [
        ("API docs", f"{base}/docs   (admin {admin[0]} / {admin[1]})"),
        ("metrics", f"{base}/metrics   (admin {admin[0]} / {admin[1]})"),
    ]
    return lines


def _print_join_code(console: Console, settings: Settings) -> None:
    """The entrance join link as a QR code a phone on the LAN scans to start shopping."""
    import io

    from store_server.shopper.cli import print_qr
    from store_server.shopper.codes import entrance_url

    url = entrance_url(settings.public_url, settings.secret_key, settings.store_id, time.time())
    drawn = io.StringIO()
    print_qr(url, drawn)
    console.print(
        "  Shop from a phone on this network: scan this code (valid "
        f"{settings.entrance_code_minutes} minutes; accept the certificate warning once).",
        highlight=False,
    )
    console.print(drawn.getvalue(), highlight=False, markup=False, soft_wrap=True)
    console.print(f"  {url}", highlight=False, soft_wrap=True)


def _stop_like_ctrl_c(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(
    *,
    port: int = 8000,
    duration: float = 0,
    database: Path | None = None,
    camera: str | None = None,
    lan: bool = False,
    cashier_wait_s: float = 60.0,
) -> None:
    """With ``lan``: listen on every interface over HTTPS with a self-signed certificate
    for this machine's LAN address, and print the shopper app's join link as a QR code
    so a phone on the same network can shop."""
    console = Console()
    work = Path.cwd()
    db_path = (database or work / DEMO_DB).resolve()
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(db_path) + suffix).unlink()
    for outbox in work.glob("outbox-DEMO-*.db*"):
        outbox.unlink()
    host = "0.0.0.0" if lan else "127.0.0.1"
    if not port_free(port, host):
        raise ConfigurationError(f"port {port} is in use; choose another with --port")
    ensure_fixtures(console)
    tls = None
    public = f"http://127.0.0.1:{port}"
    if lan:
        from store_server.tls import lan_address, self_signed_certificate

        address = lan_address()
        tls = self_signed_certificate(work / DEMO_TLS, [address, "127.0.0.1", "localhost"])
        public = f"https://{address}:{port}"
    settings = load_settings(
        database_url=f"sqlite:///{db_path}",
        environment="development",
        public_url=public,
        # The QR code printed once must still work when someone gets round to it.
        entrance_code_minutes=60 if lan else 5,
    )
    prepared = prepare(settings, work / DEMO_MEDIA, console)
    console.print(
        f"[green]✓[/] {prepared.products} products, {prepared.promotions} promotions, "
        f"{len(prepared.screen_tokens)} screens and {prepared.campaigns} campaigns loaded"
    )
    server = DemoServer(settings, port, host=host, tls=tls)
    server.start()
    base = f"{'https' if lan else 'http'}://127.0.0.1:{port}"
    console.print(
        f"[green]✓[/] store server with the signage app on {public} (SQLite {db_path.name})"
    )
    from store_server.shopper import codes

    key = codes.display_key(settings.secret_key, settings.store_id)
    for name, url in urls(public, prepared, key):
        console.print(f"  {name + ':':<22}{url}", soft_wrap=True, highlight=False)
    if lan:
        _print_join_code(console, settings)
    handhelds = Handhelds()
    # A service manager stops the demo with SIGTERM: stop like Ctrl-C, so the handheld
    # processes it started go too instead of retrying against a server that is gone.
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    ca_file = tls[0] if tls else None
    handhelds.start(base, prepared.device_tokens, work, camera, ca_file)
    screens = ScreenSimulator(base, prepared.screen_tokens, ca_file)
    screens.start()
    cashier = Cashier(
        base,
        prepared.accounts["staff"],
        prepared.accounts["admin"],
        wait_s=cashier_wait_s,
        ca_file=ca_file,
    )
    cashier.start()

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
                handhelds.advance(settled_devices(engine))
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
        cashier.stop_event.set()
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
