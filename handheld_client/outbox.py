"""The durable outbox: one SQLite file per handheld.

A handheld's battery can die at any moment, so a scan is committed with
``synchronous=FULL`` (WAL) *before* it is sent; only an answer from the server
deletes it. The file also keeps the sequence counter (so ``seq`` never goes back,
even after every entry is deleted), the last basket snapshot (for the screen after a
restart) and the cursor of a replayable source (so a restarted run does not scan the
same frames twice). The new entries of a frame and the cursor past that frame are
written in one transaction: either both survive a crash or neither does.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from handheld_client.core import Cursor, Entry
from store_server.shared.errors import CaddieError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    type TEXT NOT NULL,
    fields TEXT NOT NULL,
    queued_at REAL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class OutboxError(CaddieError):
    """The outbox file cannot be used (corrupt, another device's, unwritable)."""

    code = "outbox_error"
    http_status = 500


def default_outbox_path(device_id: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in device_id)
    return Path(f"caddie-handheld-{safe}.db")


class Outbox:
    """Pending requests of one device, durable across crashes and power loss."""

    def __init__(self, path: Path | str, device_id: str) -> None:
        self.path = Path(path)
        self.device_id = device_id
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from None
        try:
            self._setup()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise OutboxError(
                f"the outbox {self.path} is unreadable ({exc}); move it aside to start "
                "afresh (its pending scans will be lost)"
            ) from None

    def _setup(self) -> None:
        db = self._db
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.DatabaseError(f"cannot switch to WAL (journal_mode={mode})")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
            if "queued_at" not in columns:  # a file written before entries kept their time
                db.execute("ALTER TABLE entries ADD COLUMN queued_at REAL")
            owner = self._meta("device_id")
            if owner is None:
                self._set_meta("device_id", self.device_id)
                self._set_meta("schema", str(SCHEMA_VERSION))
            elif owner != self.device_id:
                raise OutboxError(
                    f"the outbox {self.path} belongs to device {owner!r}, not "
                    f"{self.device_id!r}; give each device its own --outbox"
                )

    # ---- plumbing ----------------------------------------------------------------------

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type: object, *rest: object) -> None:
            self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")

    def _transaction(self) -> Outbox._Tx:
        return Outbox._Tx(self._db)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- entries -----------------------------------------------------------------------

    def add(self, entries: Iterable[Entry], cursor: Cursor | None = None) -> None:
        """Store new entries (and the cursor past their frame) in one durable commit."""
        entries = list(entries)
        try:
            with self._transaction() as db:
                for entry in entries:
                    db.execute(
                        "INSERT INTO entries (id, seq, type, fields, queued_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (
                            entry.id,
                            entry.seq,
                            entry.type,
                            json.dumps(dict(entry.fields)),
                            entry.queued_at,
                        ),
                    )
                top = max((e.seq for e in entries), default=0)
                if top > int(self._meta("last_seq") or 0):
                    self._set_meta("last_seq", str(top))
                if cursor is not None:
                    self._set_meta("cursor", _dump_cursor(cursor))
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot write the outbox {self.path}: {exc}") from None

    def delete(self, entry_id: str) -> None:
        try:
            with self._transaction() as db:
                db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot write the outbox {self.path}: {exc}") from None

    def pending(self) -> list[Entry]:
        """Unanswered entries in sequence order: what a restarted handheld resends."""
        rows = self._db.execute(
            "SELECT id, seq, type, fields, queued_at FROM entries ORDER BY seq"
        ).fetchall()
        return [Entry(r[0], int(r[1]), r[2], json.loads(r[3]), r[4]) for r in rows]

    def _last_seq_in(self, db: sqlite3.Connection) -> int:
        value = self._meta("last_seq")
        top = db.execute("SELECT MAX(seq) FROM entries").fetchone()[0]
        return max(int(value) if value else 0, int(top or 0))

    def last_seq(self) -> int:
        """Highest sequence number ever given out by this device."""
        return self._last_seq_in(self._db)

    # ---- basket snapshot and source cursor ---------------------------------------------------

    def save_basket(self, basket: Mapping[str, Any] | None) -> None:
        try:
            with self._transaction():
                self._set_meta("basket", json.dumps(basket) if basket is not None else None)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot write the outbox {self.path}: {exc}") from None

    def basket(self) -> dict[str, Any] | None:
        value = self._meta("basket")
        return json.loads(value) if value else None

    def cursor(self) -> Cursor | None:
        value = self._meta("cursor")
        if not value:
            return None
        data = json.loads(value)
        return Cursor(
            data["source"], int(data["frame_index"]), tuple((k, float(t)) for k, t in data["seen"])
        )

    def clear_cursor(self) -> None:
        """A finished run forgets its place, so the next run of that source scans afresh."""
        try:
            with self._transaction():
                self._set_meta("cursor", None)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot write the outbox {self.path}: {exc}") from None


def _dump_cursor(cursor: Cursor) -> str:
    return json.dumps(
        {"source": cursor.source, "frame_index": cursor.frame_index, "seen": list(cursor.seen)}
    )
