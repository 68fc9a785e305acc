"""``caddie demo``: the store server on embedded SQLite with the fixtures and a shopper."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from store_server.config import Settings, load_settings
from store_server.errors import ConfigurationError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEMO_DB = "caddie-demo.db"
DEMO_CARD = "2900000000017"


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
            access_log=False,
        )
        self.server = uvicorn.Server(config)
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


def prepare_database(settings: Settings, console: Console) -> dict[str, str]:
    """Fresh schema, fixture catalog and promotions, one enrolled handheld."""
    from store_server.catalog.csv_import import parse_catalog_csv
    from store_server.catalog.service import replace_promotions, upsert_products
    from store_server.db import make_engine, migrate, session_scope
    from store_server.devices.service import enroll
    from store_server.pricing.promotion_files import load_promotions

    with console.status("creating the database and importing the fixture catalog"):
        migrate(settings.database_url)
        records = parse_catalog_csv((FIXTURES / "catalog.csv").read_bytes())
        promotions = load_promotions(FIXTURES / "promotions.json")
        engine = make_engine(settings.database_url)
        with session_scope(engine) as session:
            upsert_products(session, records, currency=settings.currency)
            replace_promotions(session, promotions)
            tokens = dict(enroll(session, ["DEMO-1"], store_id=settings.store_id))
        engine.dispose()
    console.print(f"[green]✓[/] {len(records)} products and {len(promotions)} promotions imported")
    return tokens


def shopping_list() -> list[tuple[str, int, str]]:
    """(code as a scanner reads it, qty, what it shows) for the scripted shopper."""
    with (FIXTURES / "catalog.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    promotions = json.loads((FIXTURES / "promotions.json").read_text())
    three_for_two = next(p for p in promotions if p["kind"] == "multi_buy")["gtins"][0]
    by_category: dict[str, dict[str, str]] = {}
    for row in rows:
        by_category.setdefault(row["category"], row)
    apples = next(r for r in rows if r["sold_by"] == "weight")
    weight_label = ean13(apples["gtin"][:7] + "01250")  # 1.250 kg on the scale label
    return [
        (three_for_two[1:], 3, "coffee, 3 for 2"),  # GTIN-14 to the 13 digits on the pack
        (by_category["dairy"]["gtin"], 1, "dairy"),
        (by_category["bakery"]["gtin"], 2, "bread"),
        (weight_label, 1, "apples weighed at 1.250 kg"),
        (by_category["wine"]["gtin"], 1, "wine (age check at the exit)"),
        (by_category["books"]["gtin"], 1, "a book (ISBN)"),
    ]


def ean13(body12: str) -> str:
    """Append the GS1 mod-10 check digit (weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body12)))
    return body12 + str((10 - total % 10) % 10)


def money(cents: int, currency: str) -> str:
    return f"{cents / 100:.2f} {currency}"


async def scripted_shopper(url: str, device: str, token: str, console: Console) -> dict[str, Any]:
    import websockets

    async with websockets.connect(url) as ws:

        async def call(message: dict[str, Any]) -> dict[str, Any]:
            await ws.send(json.dumps(message))
            reply: dict[str, Any] = json.loads(await ws.recv())
            return reply

        await call({"type": "hello", "protocol": 1, "device_id": device, "token": token})
        await call({"type": "start", "id": str(uuid.uuid4()), "loyalty_card": DEMO_CARD})
        table = Table(title="Scripted shopper on handheld DEMO-1", show_lines=False)
        for column in ("scanned", "item", "qty", "line", "running total"):
            table.add_column(
                column, justify="right" if column in ("qty", "line", "running total") else "left"
            )
        basket: dict[str, Any] = {}
        for code, qty, _what in shopping_list():
            reply = await call({"type": "scan", "id": str(uuid.uuid4()), "code": code, "qty": qty})
            if reply["type"] != "ack":
                table.add_row(code, f"[red]{reply['code']}[/]: {reply['message']}", "", "", "")
                continue
            basket, line = reply["basket"], reply["line"]
            weight = f" {line['weight_g']} g" if line["weight_g"] else ""
            table.add_row(
                code,
                f"{line['name']}{weight}",
                str(qty),
                money(line["line_total_cents"], basket["currency"]),
                money(basket["total_cents"], basket["currency"]),
            )
            await asyncio.sleep(0.15)
        console.print(table)
        for discount in basket.get("discounts", []):
            amount = money(discount["amount_cents"], basket["currency"])
            console.print(f"  promotion: {discount['label']}  -{amount}")
        checkout = await call({"type": "finish", "id": str(uuid.uuid4())})
        basket = checkout["basket"]
        currency = basket["currency"]
        console.print(
            f"[bold]Total {money(basket['total_cents'], currency)}[/] "
            f"for {basket['item_count']} items "
            f"(tax included {money(basket['tax_cents'], currency)}); "
            f"audit decision: [bold]{checkout['audit']['decision']}[/]"
        )
        return checkout


def run_demo(*, port: int = 8000, duration: float = 0, database: Path | None = None) -> None:
    console = Console()
    db_path = (database or Path.cwd() / DEMO_DB).resolve()
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(db_path) + suffix).unlink()
    if not port_free(port):
        raise ConfigurationError(f"port {port} is in use; choose another with --port")
    settings = load_settings(database_url=f"sqlite:///{db_path}", environment="development")
    tokens = prepare_database(settings, console)
    server = DemoServer(settings, port)
    server.start()
    base = f"http://127.0.0.1:{port}"
    console.print(f"[green]✓[/] store server on {base} (SQLite {db_path.name})")
    try:
        asyncio.run(
            scripted_shopper(
                f"ws://127.0.0.1:{port}/ws/handheld", "DEMO-1", tokens["DEMO-1"], console
            )
        )
        console.print(f"\nAPI docs: {base}/docs    health: {base}/healthz")
        if duration > 0:
            time.sleep(duration)
        else:
            console.print("The server keeps running; press Ctrl-C to stop.")
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.stop()
