"""The durable outbox on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from handheld_client.core import Cursor, Entry, HandheldCore
from handheld_client.outbox import Outbox, OutboxError, default_outbox_path

SCAN = Entry("id-1", 1, "scan", {"code": "3012345678902", "qty": 1})
START = Entry("id-2", 2, "start", {"loyalty_card": "CARD-1"})
SCAN2 = Entry("id-3", 3, "scan", {"code": "4006381333931", "qty": 1})


def test_pending_entries_survive_reopening_in_sequence_order(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path, "H-1") as box:
        box.add([SCAN2])
        box.add([SCAN, START])
    with Outbox(path, "H-1") as box:
        assert box.pending() == [SCAN, START, SCAN2]
        box.delete("id-2")
    with Outbox(path, "H-1") as box:
        assert box.pending() == [SCAN, SCAN2]


def test_the_sequence_counter_survives_deleting_everything(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path, "H-1") as box:
        box.add([SCAN, START, SCAN2])
        for entry in (SCAN, START, SCAN2):
            box.delete(entry.id)
    with Outbox(path, "H-1") as box:
        assert box.pending() == [] and box.last_seq() == 3
        core = HandheldCore("H-1", "t", loyalty_card="C", last_seq=box.last_seq())
        assert core.scan("3012345678902")[0].entries[0].seq == 4  # type: ignore[union-attr]


def test_it_is_wal_with_full_sync(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path, "H-1") as box:
        assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_basket_snapshot_and_cursor_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    basket = {"basket_id": "b", "total_cents": 349, "currency": "EUR", "lines": []}
    cursor = Cursor("/frames", 12, (("03012345678902", 1.1), ("04006381333931", 1.2)))
    with Outbox(path, "H-1") as box:
        assert box.basket() is None and box.cursor() is None
        box.save_basket(basket)
        box.add([SCAN], cursor)
    with Outbox(path, "H-1") as box:
        assert box.basket() == basket
        assert box.cursor() == cursor
        box.clear_cursor()
        box.save_basket(None)
    with Outbox(path, "H-1") as box:
        assert box.cursor() is None and box.basket() is None


def test_a_failed_write_stores_neither_entries_nor_cursor(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", "H-1") as box:
        box.add([SCAN])
        with pytest.raises(OutboxError):
            box.add([SCAN2, Entry("id-1", 9, "scan", {})], Cursor("/f", 3))  # duplicate id
        assert box.pending() == [SCAN] and box.cursor() is None and box.last_seq() == 1


def test_a_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    with pytest.raises(OutboxError, match="unreadable"):
        Outbox(path, "H-1")


def test_a_damaged_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path, "H-1") as box:
        box.add([Entry(f"id-{i}", i, "scan", {"code": "x" * 500}) for i in range(1, 200)])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    data[4096 + 100 : 4096 * 3] = b"\xff" * (4096 * 2 - 100)  # scribble over b-tree pages
    path.write_bytes(bytes(data))
    with pytest.raises(OutboxError, match="unreadable"):
        Outbox(path, "H-1")


def test_an_outbox_belongs_to_one_device(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    Outbox(path, "H-1").close()
    with pytest.raises(OutboxError, match="belongs to device 'H-1'"):
        Outbox(path, "H-2")


def test_default_path_is_per_device_in_the_working_directory() -> None:
    assert default_outbox_path("H-1") == Path("caddie-handheld-H-1.db")
    assert default_outbox_path("../x y") == Path("caddie-handheld-.._x_y.db")


def test_an_entry_keeps_the_time_it_was_written(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    timed = Entry("id-9", 9, "scan", {"code": "3012345678902", "qty": 1}, queued_at=1_234.5)
    with Outbox(path, "H-1") as box:
        box.add([timed])
    with Outbox(path, "H-1") as box:
        assert box.pending() == [timed]


def test_an_outbox_written_before_entries_kept_their_time_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE entries (id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE,"
        " type TEXT NOT NULL, fields TEXT NOT NULL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('device_id', 'H-1'), ('schema', '1'), ('last_seq', '1');"
        "INSERT INTO entries VALUES"
        " ('id-1', 1, 'scan', '{\"code\": \"3012345678902\", \"qty\": 1}');"
    )
    db.close()
    with Outbox(path, "H-1") as box:
        assert box.pending() == [SCAN]
        box.add([SCAN2])
        assert box.pending() == [SCAN, SCAN2]
