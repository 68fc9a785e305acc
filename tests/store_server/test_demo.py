"""``caddie demo`` as a new user runs it: a real process, embedded SQLite, the fixtures."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import caddie, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_runs_the_whole_system(tmp_path: Path) -> None:
    port = free_port()
    # long enough for the first shopper's trip (two passes of its frames) to finish
    result = caddie("demo", "--duration", "60", "--port", str(port), cwd=tmp_path, timeout=360)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    for name in (
        "staff console",
        "operator console",
        "screen player S-01",
        "screen player S-02",
        "API docs",
        "metrics",
        "shopper app",
        "entrance QR code",
    ):
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
    # Each shopper's running total, promotions applied, as the store server priced it.
    printed = {
        m["device"]: (m["status"], int(m["items"]), m["total"], m["saved"])
        for m in re.finditer(
            r"basket of (?P<device>DEMO-\d): (?P<status>\w+), (?P<items>\d+) items?, "
            r"total (?P<total>\d+\.\d\d) EUR(?: \(promotions -(?P<saved>\d+\.\d\d) EUR\))?\n",
            out.split("demo summary:")[-1],
        )
    }
    stored = {
        device: (
            status,
            items,
            f"{total / 100:.2f}",
            f"{(gross - total) / 100:.2f}" if gross > total else None,
        )
        for device, status, items, total, gross in db.execute(
            "SELECT b.device_id, b.status, b.item_count, b.total_cents,"
            " (SELECT coalesce(sum(line_total_cents), 0) FROM basket_line WHERE basket_id = b.id)"
            " FROM basket b WHERE b.created_at ="
            " (SELECT max(created_at) FROM basket WHERE device_id = b.device_id)"
            " AND b.device_id LIKE 'DEMO-%'"  # not the weeks of past trips the demo writes
        )
    }
    assert printed == stored and len(printed) == 3, (printed, stored)
    assert "basket of DEMO-" in out.split("demo summary:")[0]  # the live panel shows them too


def test_demo_trips_look_like_real_ones_however_long_it_runs(tmp_path: Path) -> None:
    """Every trip is 10-40 items, then finishes, waits at the exit and is paid; then a new
    shopper takes the handheld (a short exit wait stands for a long run)."""
    port = free_port()
    result = caddie(
        "demo", "--duration", "75", "--port", str(port), "--exit-wait", "2",
        cwd=tmp_path, timeout=360,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    db = sqlite3.connect(tmp_path / "caddie-demo.db")
    finished = db.execute(
        # the demo's shoppers always have a card; the seeded attribution history has none
        "SELECT device_id, status, item_count, loyalty_card FROM basket"
        " WHERE status != 'open' AND loyalty_card IS NOT NULL"
    ).fetchall()
    assert finished, "no trip finished"
    for device, status, items, _card in finished:
        assert 10 <= items <= 40, (device, status, items)
    paid = [row for row in finished if row[1] == "paid"]
    assert paid, finished
    open_items = db.execute("SELECT max(item_count) FROM basket WHERE status = 'open'")
    assert (open_items.fetchone()[0] or 0) <= 40  # no shopper scans for ever
    per_device = db.execute(
        "SELECT device_id, count(*), count(DISTINCT loyalty_card) FROM basket GROUP BY device_id"
    ).fetchall()
    assert any(trips >= 2 and cards >= 2 for _d, trips, cards in per_device), per_device
    actions = {a for (a,) in db.execute("SELECT DISTINCT action FROM checkout_action")}
    assert {"finished", "released", "paid"} <= actions


def test_demo_refuses_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = caddie("demo", "--duration", "0.1", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"port {port} is in use" in result.stderr
    assert "Traceback" not in result.stderr


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


def test_sigterm_stops_the_demo_and_its_handhelds(tmp_path: Path) -> None:
    """A service manager stops the demo with SIGTERM: the handheld processes it started
    (their outboxes are in the demo's folder) must not outlive it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "store_server.cli", "demo", "--duration", "0", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(_processes_mentioning(str(tmp_path))) < 3:
            assert proc.poll() is None, "the demo exited on its own"
            time.sleep(0.5)
        handhelds = _processes_mentioning(str(tmp_path))
        assert len(handhelds) >= 3, "the demo's handhelds never started"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _processes_mentioning(str(tmp_path)):
            time.sleep(0.5)
        assert _processes_mentioning(str(tmp_path)) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _processes_mentioning(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)


def test_demo_on_the_lan_serves_https_and_prints_the_join_code(tmp_path: Path) -> None:
    """``--lan`` binds every interface (no real network needed: the address found may be
    127.0.0.1), makes its certificate, and its handhelds shop over TLS with it."""
    import ssl

    from cryptography import x509

    port = free_port()
    result = caddie(
        "demo",
        "--lan",
        "--duration",
        "20",
        "--port",
        str(port),
        cwd=tmp_path,
        timeout=240,
        env={"COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    shopper = re.search(rf"shopper app:\s+https://(?P<host>[0-9.]+):{port}/shop\n", out)
    assert shopper, out
    join = re.search(rf"https://{re.escape(shopper['host'])}:{port}/shop/join\?c=\S+", out)
    assert join, out
    assert "▀" in out or "█" in out  # the QR code of the join link
    cert = x509.load_pem_x509_certificate((tmp_path / "caddie-demo-tls" / "cert.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    addresses = [str(a) for a in names.get_values_for_type(x509.IPAddress)]
    assert shopper["host"] in addresses and "127.0.0.1" in addresses
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
        tmp_path / "caddie-demo-tls" / "cert.pem", tmp_path / "caddie-demo-tls" / "key.pem"
    )
    db = sqlite3.connect(tmp_path / "caddie-demo.db")
    priced = db.execute("SELECT count(*) FROM basket WHERE item_count > 0").fetchone()[0]
    assert priced >= 2  # the handhelds scanned over wss with the demo's certificate
