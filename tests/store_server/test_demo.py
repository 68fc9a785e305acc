"""``caddie demo`` as a new user runs it: a real process, embedded SQLite, the fixtures."""

from __future__ import annotations

import re
import socket
import sqlite3
from pathlib import Path

import pytest

from tests.servers import caddie, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_runs_the_whole_system(tmp_path: Path) -> None:
    port = free_port()
    result = caddie("demo", "--duration", "20", "--port", str(port), cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    for name in ("staff console", "operator console", "screen player S-01", "screen player S-02",
                 "API docs", "metrics"):
        assert re.search(rf"{name}:\s+http://127\.0\.0\.1:{port}/", out), name
    assert re.search(r"login demo-staff / \S+", out)
    assert re.search(r"login demo-operator / \S+", out)

    db = sqlite3.connect(tmp_path / "caddie-demo.db")
    priced = db.execute(
        "SELECT count(*), min(total_cents) FROM basket WHERE item_count > 0"
    ).fetchone()
    assert priced[0] >= 2 and priced[1] > 0  # baskets were priced from decoded frames
    lines = db.execute("SELECT count(*) FROM basket_line WHERE line_total_cents > 0").fetchone()[0]
    assert lines >= 10
    queued = db.execute("SELECT count(*) FROM basket WHERE status IN ('finishing', 'audit')")
    assert queued.fetchone()[0] >= 1  # one shopper finished and waits at checkout
    plays = db.execute("SELECT count(*), count(DISTINCT screen_id) FROM proof_of_play").fetchone()
    assert plays[0] >= 20 and plays[1] >= 10  # loops played on the mall's screens
    summary = re.search(r"demo summary: (\d+) items in (\d+) baskets, (\d+) waiting", out)
    assert summary and int(summary.group(1)) > 0 and int(summary.group(3)) >= 1


def test_demo_refuses_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = caddie("demo", "--duration", "0.1", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"port {port} is in use" in result.stderr
    assert "Traceback" not in result.stderr
