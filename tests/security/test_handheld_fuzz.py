"""Bad input on ``/ws/handheld`` against a real server process (PROTOCOL.md).

Whatever a device sends — random JSON, broken JSON, wrong-typed fields for every message
type, deep nesting, floods — the server answers with a documented reply or error code,
closes the socket only for ``unauthorized`` and protocol abuse (over 64 KiB: 1009, binary:
1003), stays healthy, and does not grow its memory without bound.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.hostile import examples, scanner_text
from tests.security.world import COFFEE, fresh_database, populate
from tests.servers import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCUMENTED_CODES = {
    "bad_message",
    "unauthorized",
    "invalid_code",
    "unknown_product",
    "no_basket",
    "basket_locked",
    "not_in_basket",
    "bad_quantity",
    "rate_limited",
}
MAX_FRAME = 64 * 1024
TIMEOUT = 10


class Server:
    def __init__(self, process: ServerProcess, tokens: dict[str, str]) -> None:
        self.process = process
        self.tokens = tokens

    def connect(self, device: str | None = "H-1") -> ClientConnection:
        ws = connect(self.process.ws_url, open_timeout=TIMEOUT, max_size=None, legacy=True)
        if device is not None:
            ws.send(hello(device, self.tokens[device]))
            assert json.loads(ws.recv(TIMEOUT))["type"] == "welcome"
        return ws

    def healthy(self) -> bool:
        assert self.process.proc is not None and self.process.proc.poll() is None
        return httpx.get(self.process.url + "/healthz", timeout=TIMEOUT).status_code == 200

    def rss_kib(self) -> int:
        assert self.process.proc is not None
        status = Path(f"/proc/{self.process.proc.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1])


def hello(device: str, token: str) -> str:
    return json.dumps({"type": "hello", "protocol": 1, "device_id": device, "token": token})


@contextmanager
def running_server(folder: Path, template: Path, env: dict[str, str]) -> Iterator[Server]:
    url = fresh_database(template, folder)
    tokens = populate(url)
    process = ServerProcess(url, log_path=folder / "server.log", env=env)
    with process:
        yield Server(process, tokens)
    log = (folder / "server.log").read_text()
    assert process.proc is not None and process.proc.returncode in (0, -15), log[-3000:]
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Server]:
    """A generous request budget, so each answer is the one the input deserves."""
    generous = {"CADDIE_RATE_LIMIT_PER_SECOND": "100000", "CADDIE_RATE_LIMIT_BURST": "100000"}
    with running_server(tmp_path_factory.mktemp("fuzz"), sqlite_template, generous) as running:
        yield running


@pytest.fixture
def default_server(tmp_path: Path, sqlite_template: Path) -> Iterator[Server]:
    """The default request budget (50/s, bursts of 100), fresh for measuring memory."""
    with running_server(tmp_path, sqlite_template, {}) as running:
        yield running


def closed_code(ws: ClientConnection) -> int | None:
    """The close code once the server closed the socket (draining replies first)."""
    try:
        while True:
            ws.recv(TIMEOUT)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


def check_reply(raw: str | bytes) -> dict[str, Any]:
    assert isinstance(raw, str), "the server sends text frames only"
    reply = json.loads(raw)
    assert isinstance(reply, dict) and isinstance(reply.get("type"), str), reply
    if reply["type"] == "error":
        assert reply["code"] in DOCUMENTED_CODES, reply
        assert isinstance(reply["message"], str)
    return reply


# --- strategies ---------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
codes = (
    st.sampled_from([COFFEE, COFFEE[1:], "4006381333931", "1234567890128", "0", "]"])
    | st.text(alphabet="0123456789", max_size=20)
    | scanner_text()
)
MESSAGE_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "hello": {"protocol": st.just(1) | json_values, "device_id": json_values, "token": json_values},
    "start": {"loyalty_card": json_values},
    "scan": {"code": codes | json_values, "qty": st.integers(-5, 1005) | json_values},
    "remove": {"code": codes | json_values, "qty": st.integers(-5, 1005) | json_values},
    "finish": {},
}


@st.composite
def typed_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A message of a known type whose fields are each right, wrong-typed or missing."""
    kind = draw(st.sampled_from(sorted(MESSAGE_FIELDS)))
    message: dict[str, Any] = {"type": kind}
    if draw(st.booleans()):
        message["id"] = draw(st.just(str(uuid.uuid4())) | json_values)
    for name, values in MESSAGE_FIELDS[kind].items():
        if draw(st.integers(0, 3)):
            message[name] = draw(values)
    if draw(st.booleans()):
        message[draw(st.text(max_size=6))] = draw(json_values)  # unknown fields are ignored
    return message


@st.composite
def truncated(draw: st.DrawFn) -> str:
    text = json.dumps(draw(typed_messages()))
    return text[: draw(st.integers(0, max(0, len(text) - 1)))]


frames = st.one_of(
    typed_messages().map(json.dumps),
    json_values.map(json.dumps),
    truncated(),
    st.text(max_size=200),
    st.dictionaries(st.text(max_size=8), json_values, max_size=5).map(
        lambda d: json.dumps({**d, "type": d.get("type", "scan")})
    ),
)


# --- tests --------------------------------------------------------------------------------


class Link:
    """One authenticated socket shared by the examples, reopened when the server closed it
    for a reason the protocol allows."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ws = server.connect()

    def exchange(self, frame: str) -> None:
        self.ws.send(frame)
        try:
            reply = check_reply(self.ws.recv(TIMEOUT))
        except ConnectionClosed as exc:
            pytest.fail(f"socket closed ({exc.rcvd}) after {frame[:200]!r}")
        if reply["type"] == "error" and reply["code"] == "unauthorized":
            assert closed_code(self.ws) == 4401  # a bad hello: the only error that closes
            self.ws = self.server.connect()


@pytest.fixture(scope="module")
def link(server: Server) -> Iterator[Link]:
    shared = Link(server)
    yield shared
    shared.ws.close()


@settings(
    max_examples=examples(400),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
@given(frame=frames)
def test_random_frames_get_documented_answers_and_keep_the_socket(link: Link, frame: str) -> None:
    link.exchange(frame)


def test_every_field_of_every_message_wrong_typed(server: Server) -> None:
    """Deterministic companion of the property above: each field, each wrong type."""
    wrong: list[Any] = [None, True, 0, -1, 1.5, "", "x" * 600, [], {}, [1], {"a": 1}]
    with server.connect() as ws:
        ws.send(json.dumps({"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "C-1"}))
        assert check_reply(ws.recv(TIMEOUT))["type"] == "basket"
        for kind in ("start", "scan", "remove", "finish"):
            base = {"type": kind, "id": str(uuid.uuid4()), "code": COFFEE, "qty": 1}
            for name in ("id", "code", "qty", "loyalty_card"):
                for value in wrong:
                    ws.send(json.dumps({**base, "id": str(uuid.uuid4()), name: value}))
                    check_reply(ws.recv(TIMEOUT))
        for value in wrong:
            ws.send(json.dumps({"type": value, "id": str(uuid.uuid4())}))
            assert check_reply(ws.recv(TIMEOUT))["code"] == "bad_message"
            ws.send(json.dumps({"type": "hello", "protocol": value, "device_id": "H-1"}))
            assert check_reply(ws.recv(TIMEOUT))["code"] == "bad_message"
        ws.send(json.dumps({"type": "finish", "id": str(uuid.uuid4())}))
        assert check_reply(ws.recv(TIMEOUT))["type"] in ("checkout", "error")


@pytest.mark.parametrize("depth", [100, 1_000, 10_000])
def test_deeply_nested_frames_are_bad_messages(server: Server, depth: int) -> None:
    with server.connect() as ws:
        ws.send("[" * depth + "]" * depth)
        reply = check_reply(ws.recv(TIMEOUT))
        assert reply["code"] == "bad_message"
        nested = '{"a":' * depth + "1" + "}" * depth
        ws.send('{"type":"scan","id":"n-1","qty":' + nested + ',"code":"' + COFFEE + '"}')
        assert check_reply(ws.recv(TIMEOUT))["type"] == "error"
        ws.send(json.dumps({"type": "finish"}))  # still open: answered
        assert check_reply(ws.recv(TIMEOUT))["code"] == "bad_message"


def test_an_oversized_frame_closes_with_1009(server: Server) -> None:
    with server.connect() as ws:
        ws.send(json.dumps({"type": "scan", "id": "big", "code": "1" * (MAX_FRAME + 1)}))
        assert closed_code(ws) == 1009
    assert server.healthy()


def test_a_frame_just_under_the_limit_is_answered(server: Server) -> None:
    with server.connect() as ws:
        frame = json.dumps({"type": "scan", "id": "big", "code": COFFEE, "pad": ""})
        ws.send(frame[:-2] + "x" * (MAX_FRAME - len(frame)) + '"}')
        assert check_reply(ws.recv(TIMEOUT))["type"] in ("ack", "error")


@pytest.mark.parametrize("authenticated", [True, False])
def test_a_binary_frame_closes_with_1003(server: Server, authenticated: bool) -> None:
    with server.connect("H-1" if authenticated else None) as ws:
        ws.send(b'{"type": "finish", "id": "b-1"}')
        assert closed_code(ws) == 1003
    assert server.healthy()


def test_requests_before_hello_are_unauthorized_and_close(server: Server) -> None:
    with server.connect(None) as ws:
        ws.send(json.dumps({"type": "scan", "id": "x-1", "code": COFFEE}))
        reply = check_reply(ws.recv(TIMEOUT))
        assert reply["code"] == "unauthorized" and reply["id"] == "x-1"
        assert closed_code(ws) == 4401


def test_a_flood_is_rate_limited_the_socket_stays_open_and_memory_stays_bounded(
    default_server: Server,
) -> None:
    """20,000 frames over 40 connections from 8 threads at once."""
    server = default_server
    assert server.healthy()
    before = server.rss_kib()
    counts: dict[str, int] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def flood(device: str, connections: int, frames_each: int) -> None:
        try:
            for _ in range(connections):
                with server.connect(device) as ws:
                    for i in range(frames_each):
                        kind = ("scan", "remove", "start", "bogus")[i % 4]
                        ws.send(
                            json.dumps(
                                {
                                    "type": kind,
                                    "id": str(uuid.uuid4()),
                                    "code": "1",
                                    "pad": "p" * 200,
                                }
                            )
                        )
                    seen: dict[str, int] = {}
                    for _ in range(frames_each):
                        reply = check_reply(ws.recv(TIMEOUT))
                        key = reply.get("code", reply["type"])
                        seen[key] = seen.get(key, 0) + 1
                    ws.send(json.dumps({"type": "finish"}))  # still open after the flood
                    assert check_reply(ws.recv(TIMEOUT))["code"] in ("bad_message", "rate_limited")
                    with lock:
                        for key, n in seen.items():
                            counts[key] = counts.get(key, 0) + n
        except Exception as exc:  # reported by the main thread
            with lock:
                failures.append(f"{device}: {exc!r}")

    threads = [
        threading.Thread(target=flood, args=(("H-1", "H-2")[n % 2], 5, 500)) for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    assert sum(counts.values()) == 20_000
    assert counts.get("rate_limited", 0) > 0, counts
    assert set(counts) <= DOCUMENTED_CODES | {"basket"}, counts
    assert server.healthy()
    growth_mib = (server.rss_kib() - before) / 1024
    print(f"flood: {counts}; RSS {before / 1024:.1f} MiB, grew {growth_mib:+.1f} MiB")
    assert growth_mib < 50, f"server RSS grew by {growth_mib:.1f} MiB over the flood"
