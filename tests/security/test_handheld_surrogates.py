"""Strings that are not Unicode text on ``/ws/handheld``, against a real server process.

JSON can spell a lone surrogate (``"\\ud800"``), which decodes to a string no reply,
log line or database can encode. PROTOCOL.md: such a frame is a ``bad_message`` error
and the socket stays open; the error does not echo the unusable id, and nothing is
written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select
from websockets.sync.client import ClientConnection, connect

from store_server.baskets.models import Basket, HandheldRequest
from store_server.db import make_engine
from tests.security.world import COFFEE, fresh_database, populate
from tests.servers import ServerProcess

pytestmark = [pytest.mark.integration]

TIMEOUT = 10
LONE = "\\ud800"  # as it appears in the frame: a JSON escape, not a character

# Each frame holds one lone surrogate, in the id, another field, an unknown field or a key.
FRAMES = [
    f'{{"type":"start","id":"{LONE}","loyalty_card":"1234"}}',
    f'{{"type":"scan","id":"{LONE}","code":"{COFFEE}"}}',
    f'{{"type":"finish","id":"{LONE}"}}',
    f'{{"type":"remove","id":"x\\udfffy","code":"{COFFEE}"}}',
    f'{{"type":"start","id":"s-1","loyalty_card":"{LONE}"}}',
    f'{{"type":"scan","id":"s-2","code":"{COFFEE}{LONE}"}}',
    f'{{"type":"scan","id":"s-3","code":"{COFFEE}","note":["ok",{{"deep":"{LONE}"}}]}}',
    f'{{"type":"finish","id":"s-4","{LONE}":1}}',
    f'{{"type":"st{LONE}art","id":"s-5"}}',
    f'{{"type":"hello","protocol":1,"device_id":"H-1{LONE}","token":"x"}}',
    '{"type":"start","id":"\\ude00\\ud83d","loyalty_card":"1234"}',  # a pair reversed
]


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("surrogates")
    url = fresh_database(sqlite_template, folder)
    tokens = populate(url)
    process = ServerProcess(url, log_path=folder / "server.log")
    with process:
        yield process, tokens
    log = (folder / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def counts(database_url: str) -> tuple[int, int]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            baskets = session.exec(select(func.count()).select_from(Basket)).one()
            requests = session.exec(select(func.count()).select_from(HandheldRequest)).one()
            return baskets, requests
    finally:
        engine.dispose()


def receive(ws: ClientConnection) -> dict[str, Any]:
    raw = ws.recv(TIMEOUT)
    assert isinstance(raw, str)
    reply: dict[str, Any] = json.loads(raw)
    return reply


def test_a_lone_surrogate_anywhere_is_a_bad_message_and_the_socket_stays_open(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    process, tokens = server
    with connect(process.ws_url, open_timeout=TIMEOUT, legacy=True) as ws:
        hello = {"type": "hello", "protocol": 1, "device_id": "H-2", "token": tokens["H-2"]}
        ws.send(json.dumps(hello))
        assert receive(ws)["type"] == "welcome"
        before = counts(process.database_url)
        for frame in FRAMES:
            ws.send(frame)
            reply = receive(ws)  # a closed socket (1011) raises here
            assert reply["type"] == "error" and reply["code"] == "bad_message", (frame, reply)
            assert "not valid Unicode text" in reply["message"], (frame, reply)
            assert "id" not in reply, (frame, reply)
        assert counts(process.database_url) == before  # nothing written
        request_id = str(uuid.uuid4())
        ws.send(json.dumps({"type": "start", "id": request_id, "loyalty_card": "1234"}))
        basket = receive(ws)
        assert basket["type"] == "basket", basket
        ws.send(json.dumps({"type": "scan", "id": str(uuid.uuid4()), "code": COFFEE}))
        ack = receive(ws)
        assert ack["type"] == "ack" and ack["basket"]["item_count"] == 1, ack
