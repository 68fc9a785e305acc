"""The floor: the least a store server must do per scan, as a bare FastAPI/uvicorn app.

It answers like ``echo_server.py`` (the same basket-sized reply) but first makes each scan
durable the way PROTOCOL.md requires of any server: the reply is stored under the
device's request id together with the basket change, in one SQLite transaction, and is
sent only once that transaction is committed. Requests arriving while a transaction
runs share the next one (group commit) on a database thread, as in Caddie.

``--writes 3`` writes what Caddie writes per scan (the request log row, the basket's
totals, the line); ``--writes 1`` only the request log row, as a server that kept its
baskets as a log of requests might. ``--workers N`` runs N processes on the one file,
taking turns through a file lock.

Nothing else: no token check, no catalog lookup, no pricing, no promotions, no
validation; and JSON through orjson, as in Caddie. A server keeping the protocol's
promise on SQLite does at least this much per scan, so the floor's throughput bounds
what Caddie could reach on the same machine.

``--priced`` adds the least of the store's own work the issue asks for: each connection
keeps its basket in memory as Caddie's line records, adds the scanned item with
Caddie's ``plan_add`` and answers with Caddie's ``basket_view`` (the whole basket priced,
here with no promotions, as in the load benchmark's catalog) and ``line_view``. The
item comes from a table in memory: still no token check, validation, catalog query,
request log lookup, events, signals or metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from echo_server import LINES, basket_view
from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect

from store_server.baskets import service as caddie
from store_server.timeutil import utcnow

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS request (device_id TEXT NOT NULL, request_id TEXT NOT NULL,"
    " reply TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (device_id, request_id))",
    "CREATE TABLE IF NOT EXISTS basket (id TEXT PRIMARY KEY, device_id TEXT NOT NULL,"
    " total_cents INTEGER NOT NULL, item_count INTEGER NOT NULL, updated_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS line (id INTEGER PRIMARY KEY, basket_id TEXT NOT NULL,"
    " gtin TEXT NOT NULL, qty INTEGER NOT NULL, line_total_cents INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS line_basket ON line (basket_id)",
)
INSERT_REQUEST = (
    "INSERT INTO request VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING request_id"
)
UPDATE_BASKET = (
    "UPDATE basket SET total_cents = total_cents + ?, item_count = item_count + 1,"
    " updated_at = ? WHERE id = ?"
)
INSERT_LINE = "INSERT INTO line (basket_id, gtin, qty, line_total_cents) VALUES (?, ?, 1, ?)"

Write = tuple[str, tuple[Any, ...], "asyncio.Future[bool]"]


def open_database(path: str) -> sqlite3.Connection:
    """The floor's SQLite file, its tables made if missing."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # Caddie's settings, checkpoints aside: Caddie copies the log back on a thread of
    # its own; here it is never copied back during a run.
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("PRAGMA wal_autocheckpoint=0")
    for statement in SCHEMA:
        db.execute(statement)
    return db


class Writer:
    """Group commit on one SQLite connection: each ``write`` waits for its transaction."""

    def __init__(self, path: str, writes: int) -> None:
        self.db = open_database(path)
        self.writes = writes
        # Several processes on one file take turns through a file lock: a process waiting
        # for it sleeps in the kernel and wakes as soon as it is free, where SQLite's
        # own busy handler polls with growing sleeps.
        self.lock = os.open(path + ".writer", os.O_CREAT | os.O_RDWR)
        self.executor = ThreadPoolExecutor(1)
        self.pending: list[Write] = []
        self.running = False

    async def write(self, kind: str, params: tuple[Any, ...]) -> bool:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self.pending.append((kind, params, done))
        if not self.running:
            self.running = True
            self._launch(loop)
        return await done

    def _launch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self.pending = self.pending, []
        future = loop.run_in_executor(self.executor, self._commit, batch)
        future.add_done_callback(lambda f: self._done(loop, batch, f.result()))

    def _done(
        self, loop: asyncio.AbstractEventLoop, batch: list[Write], results: list[bool]
    ) -> None:
        for (_, _, done), result in zip(batch, results, strict=True):
            if not done.done():
                done.set_result(result)
        if self.pending:
            self._launch(loop)
        else:
            self.running = False

    def _commit(self, batch: list[Write]) -> list[bool]:
        db = self.db
        results = []
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        try:
            db.execute("BEGIN IMMEDIATE")
            for kind, params, _ in batch:
                if kind == "start":
                    db.execute("INSERT INTO basket VALUES (?, ?, 0, 0, ?)", params)
                elif kind == "finish":
                    db.execute("UPDATE basket SET updated_at = ? WHERE id = ?", params)
                else:
                    device, request_id, reply, basket, gtin, cents = params
                    now = time.time()
                    row = (device, request_id, reply, now)
                    if db.execute(INSERT_REQUEST, row).fetchone() is None:
                        results.append(False)  # a replay: its stored reply stands
                        continue
                    if self.writes > 1:
                        db.execute(UPDATE_BASKET, (cents, now, basket))
                        db.execute(INSERT_LINE, (basket, gtin, cents))
                results.append(True)
            db.execute("COMMIT")
        finally:
            fcntl.flock(self.lock, fcntl.LOCK_UN)
        return results


writer: Writer | None = None
PRICED = os.environ.get("FLOOR_PRICED") == "1"


def item_for(code: str) -> caddie.PricedItem:
    """The scanned item, from the code alone: a price and a name, as a catalog gives."""
    price = 50 + int(code[-6:-1]) % 1950
    gtin = code.rjust(14, "0")
    return caddie.PricedItem(
        gtin, gtin, f"Product {code[-5:]}", "grocery", price, None, price, "0.055", False, False
    )


class Header:
    """The basket fields Caddie's view shows besides its lines."""

    def __init__(self, basket_id: str) -> None:
        self.id = basket_id
        self.status = "open"
        self.loyalty_card = "LOYALTY"
        self.currency = "EUR"


def priced_ack(request_id: Any, header: Header, lines: list[caddie.LineRecord], code: str) -> str:
    """Caddie's work on a scan minus everything but pricing: ``lines`` gains the item."""
    new_lines, change = caddie.plan_add(lines, header.id, item_for(code), qty=1)
    if change.kind == "insert":
        change.line.set_id(len(new_lines))  # as the database numbers Caddie's lines
    lines[:] = new_lines
    view = caddie.basket_view(header, lines, [], at=utcnow())
    line = caddie.line_view(change.line)
    reply = {"type": "ack", "id": request_id, "line": line, "basket": view}
    return orjson.dumps(reply).decode()


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    global writer
    writer = Writer(os.environ["FLOOR_DATABASE"], int(os.environ["FLOOR_WRITES"]))
    yield


app = FastAPI(lifespan=lifespan)


@app.websocket("/ws/handheld")
async def handheld(websocket: WebSocket) -> None:
    assert writer is not None
    await websocket.accept()
    device, basket_id = "", ""
    header, lines = Header(""), list[caddie.LineRecord]()  # the basket, with --priced
    try:
        while True:
            request = orjson.loads(await websocket.receive_text())
            kind = request.get("type")
            basket = basket_view(basket_id)
            if kind == "hello":
                device = str(request.get("device_id"))
                reply: dict[str, Any] = {"type": "welcome", "device_id": device, "basket": None}
            elif kind == "start":
                basket_id = basket["basket_id"] = str(uuid.uuid4())
                header, lines = Header(basket_id), []
                await writer.write("start", (basket_id, device, time.time()))
                reply = {"type": "basket", "id": request.get("id"), "basket": basket}
            elif kind == "finish":
                await writer.write("finish", (time.time(), basket_id))
                reply = {"type": "checkout", "id": request.get("id"), "basket": basket}
            else:  # a scan: durable before its ack, its reply stored with it
                if PRICED:
                    text = priced_ack(request.get("id"), header, lines, str(request.get("code")))
                else:
                    reply = {"type": "ack", "id": request.get("id"), "line": LINES[0]}
                    reply["basket"] = basket
                    text = orjson.dumps(reply).decode()
                params = (device, str(request.get("id")), text, basket_id, request.get("code"), 199)
                await writer.write("scan", params)
                await websocket.send_text(text)
                continue
            await websocket.send_text(orjson.dumps(reply).decode())
    except WebSocketDisconnect:
        return


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="an SQLite file")
    parser.add_argument("--writes", type=int, choices=(1, 3), default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--priced", action="store_true", help="price the basket as Caddie does")
    args = parser.parse_args()
    os.environ["FLOOR_PRICED"] = "1" if args.priced else "0"
    os.environ["FLOOR_DATABASE"] = args.database
    os.environ["FLOOR_WRITES"] = str(args.writes)
    open_database(args.database).close()  # the tables, once, before the workers start
    uvicorn.run(
        "floor_server:app",
        workers=args.workers,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        ws_max_size=65536,
    )
