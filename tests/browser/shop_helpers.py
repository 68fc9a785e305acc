"""Shared set-up for the shopper app's browser tests: a real ``caddie serve`` with the
fixture catalog, an enrolled handheld whose credentials the page is given, phone-sized
Chromium contexts (with or without the fake camera), and axe-core."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store_server.db import make_engine, migrate
from tests.scale.proxy import FlakyProxy
from tests.servers import REPO, ServerProcess, caddie

PHONE = {"width": 390, "height": 844}
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
CATALOG = REPO / "fixtures" / "catalog.csv"


def catalog_names() -> dict[str, str]:
    """GTIN-14 → product name, from the fixture catalog."""
    with CATALOG.open(encoding="utf-8") as f:
        return {row["gtin"].zfill(14): row["name"] for row in csv.DictReader(f)}


@dataclass
class Shop:
    server: ServerProcess
    database_url: str
    device_id: str
    token: str

    @property
    def credentials(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "token": self.token,
            "kind": "kiosk",
            "expires_at": None,
        }

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        engine = make_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), params).all()]
        finally:
            engine.dispose()

    def basket_lines(self) -> list[tuple[str, int]]:
        """(gtin, qty) of every line of the device's baskets, straight from the database."""
        rows = self.rows(
            "SELECT l.gtin, l.qty FROM basket_line l JOIN basket b ON b.id = l.basket_id"
            " WHERE b.device_id = :d ORDER BY l.gtin",
            d=self.device_id,
        )
        return [(str(g), int(q)) for g, q in rows]


@contextmanager
def shop_server(
    tmp_path: Path, device_id: str = "K-1", env: dict[str, str] | None = None
) -> Iterator[Shop]:
    url = f"sqlite:///{tmp_path / 'caddie.db'}"
    migrate(url)
    imported = caddie("catalog", "import", str(CATALOG), "--database-url", url)
    assert imported.returncode == 0, imported.stderr
    enrolled = caddie("device", "enroll", device_id, "--database-url", url)
    assert enrolled.returncode == 0, enrolled.stderr
    device, token = enrolled.stdout.strip().split("\t")
    with ServerProcess(url, env=env, log_path=tmp_path / "server.log") as server:
        yield Shop(server, url, device, token)


def open_shop(context: Any, shop: Shop, path: str = "/shop", base: str | None = None) -> Any:
    """A page of the app with the handheld's credentials in localStorage (as pairing
    leaves them); ``base``: where the browser reaches the server, if not directly."""
    page = context.new_page()
    page.goto((base or shop.server.url) + path)
    page.evaluate(
        "creds => localStorage.setItem('caddie.device', JSON.stringify(creds))", shop.credentials
    )
    page.reload()
    return page


@contextmanager
def proxy_to(port: int) -> Iterator[tuple[str, Callable[[], None]]]:
    """A TCP proxy to the server at ``port``, run in a thread of its own: yields its URL
    and a function that silences the connections open through it (``FlakyProxy.silence``:
    they stay open and carry nothing more)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    proxy = FlakyProxy("127.0.0.1", port, seed=0, max_delay_s=0, cut_rate=0, stall_rate=0)
    try:
        listening = asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)

        async def silence_now() -> None:
            proxy.silence()

        def silence() -> None:
            asyncio.run_coroutine_threadsafe(silence_now(), loop).result(10)

        yield f"http://127.0.0.1:{listening}", silence
    finally:
        asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def wait_for_offline_shell(page: Any) -> None:
    """Until the service worker controls the page (the shell is cached)."""
    page.evaluate(  # not wait_for_function: it evaluates a string, which a CSP refuses
        """async () => {
          const end = Date.now() + 60000;
          while (!navigator.serviceWorker.controller) {
            if (Date.now() > end) {
              const r = await navigator.serviceWorker.getRegistration();
              const states = r ? [r.installing, r.waiting, r.active].map(w => w && w.state) : [];
              throw new Error(`no service worker controls the page: ${JSON.stringify(states)}`);
            }
            await new Promise(r => setTimeout(r, 100));
          }
        }"""
    )


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page as it is now."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def dump(value: Any) -> str:
    return json.dumps(value, indent=1)


def access_lines(log: Path) -> list[str]:
    """What the server was asked for, in order, from its access log: ``GET /path 200``
    or ``websocket /ws/handheld open``."""
    return [
        m.group(1)
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
        if (m := re.search(r"((?:GET|POST|HEAD) \S+ \d{3}|websocket \S+ open)", line))
    ]


def expect_wasm_policy(response: Any) -> None:
    """The shopper page is served with the security layer's policy: no inline script or
    style, WebAssembly allowed for the decoder."""
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self' 'wasm-unsafe-eval'" in policy, policy
    assert "unsafe-inline" not in policy, policy
