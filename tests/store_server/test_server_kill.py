"""A store server killed with SIGKILL loses no acknowledged scan (real processes)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.servers import ServerProcess, caddie
from tests.store_server.test_cli import GOOD_ROWS, HEADER

CODES = ["4006381333931", "036000291452", "96385074", "9780306406157", "3263851234568"]

pytestmark = pytest.mark.integration


def call(ws: object, message: dict[str, object]) -> dict[str, object]:
    ws.send(json.dumps(message))  # type: ignore[attr-defined]
    reply: dict[str, object] = json.loads(ws.recv(timeout=20))  # type: ignore[attr-defined]
    return reply


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_sigkill_after_acks_loses_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'kill.db'}"
    else:
        from tests.conftest import _truncate_all

        url = request.getfixturevalue("postgres_database")
        _truncate_all(url)
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(HEADER + GOOD_ROWS)
    assert caddie("catalog", "import", str(catalog), "--database-url", url).returncode == 0
    device, token = caddie("device", "enroll", "K-1", "--database-url", url).stdout.split()
    server = ServerProcess(url, log_path=tmp_path / "server.log").start()
    acked: list[str] = []
    try:
        with connect(server.ws_url) as ws:
            call(ws, {"type": "hello", "protocol": 1, "device_id": device, "token": token})
            call(ws, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "77"})
            for i in range(60):
                reply = call(ws, {"type": "scan", "id": f"s-{i}", "code": CODES[i % len(CODES)]})
                assert reply["type"] == "ack", reply
                acked.append(CODES[i % len(CODES)])
            # fire more scans and kill without reading their replies: those may or may
            # not have been applied, but every one acknowledged above must survive
            for i in range(60, 80):
                ws.send(json.dumps({"type": "scan", "id": f"s-{i}", "code": CODES[0]}))
            server.kill()
    finally:
        server.kill()
    server = ServerProcess(url, port=server.port, log_path=tmp_path / "server.log").start()
    try:
        with connect(server.ws_url) as ws:
            welcome = call(
                ws, {"type": "hello", "protocol": 1, "device_id": device, "token": token}
            )
            basket = welcome["basket"]
            assert isinstance(basket, dict)
            assert basket["item_count"] >= len(acked)
            # replaying the acknowledged ids changes nothing: exactly once
            for i in range(60):
                reply = call(ws, {"type": "scan", "id": f"s-{i}", "code": CODES[i % len(CODES)]})
                assert reply["type"] == "ack"
            # the fired-and-forgotten ones are applied at most once too
            for i in range(60, 80):
                call(ws, {"type": "scan", "id": f"s-{i}", "code": CODES[0]})
            final = call(ws, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "77"})
            assert final["basket"]["item_count"] == 80  # type: ignore[index]
    finally:
        server.stop()
