"""Request bodies are limited while they stream, against a real server process.

Each oversized body is sent chunked (no Content-Length, so only counting the bytes as
they arrive can catch it) and several MiB past its route's limit: the server answers 413
in the error body as soon as the limit is passed, and its memory does not grow with the
body. A caller with a wrong token is refused (401) before its body is read, and a body
whose Content-Length is over the limit is refused before it is sent.
"""

from __future__ import annotations

import json
import select
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from store_server.body_limit import JSON_BODY_LIMIT, MULTIPART_OVERHEAD
from tests.accounts import PASSWORD
from tests.security.world import enroll_screens, fresh_database, populate
from tests.servers import ServerProcess
from tests.signage.signage_helpers import play as one_play
from tests.signals.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UPLOAD_LIMIT = 1024 * 1024  # CADDIE_MAX_UPLOAD_BYTES for the server under test
PLAYS_PER_BATCH = 100  # CADDIE_MAX_PLAYS_PER_BATCH: a proof-of-play body of 200,000 bytes
PLAY_LIMIT = PLAYS_PER_BATCH * 2_000
EXCESS = 8 * 1024 * 1024  # what an oversized body sends past its limit
ALLOWED_GROWTH_KIB = 3 * 1024  # far below EXCESS: buffering the body would show
CHUNK = 64 * 1024
TIMEOUT = 30
BOUNDARY = "caddie-test-boundary"


@dataclass
class Reply:
    status: int
    body: dict[str, Any]

    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = self.body["error"]
        return error


@dataclass
class Server:
    process: ServerProcess
    media_dir: Path
    tokens: dict[str, str]

    @property
    def pid(self) -> int:
        assert self.process.proc is not None and self.process.proc.poll() is None
        return self.process.proc.pid

    def memory_kib(self, field: str) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith(field + ":"))
        return int(line.split()[1])

    def reset_peak(self) -> None:
        """Make VmHWM (peak RSS) start again from the current RSS."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("bodies")
    url = fresh_database(sqlite_template, folder)
    populate(url)
    tokens = {"screen": enroll_screens(url, "S-1")["S-1"], "stranger": "not-a-real-token"}
    media_dir = folder / "media"
    env = {
        "CADDIE_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "CADDIE_MAX_PLAYS_PER_BATCH": str(PLAYS_PER_BATCH),
        "CADDIE_MEDIA_DIR": str(media_dir),
        "CADDIE_API_RATE_LIMIT_PER_SECOND": "100000",
        "CADDIE_API_RATE_LIMIT_BURST": "100000",
    }
    process = ServerProcess(url, env=env, log_path=folder / "server.log")
    with process:
        for who, username in (("operator", "olga"), ("admin", "root")):
            reply = httpx.post(
                process.url + "/api/auth/login",
                json={"username": username, "password": PASSWORD},
                timeout=TIMEOUT,
            )
            assert reply.status_code == 200, reply.text
            tokens[who] = reply.json()["token"]
        yield Server(process, media_dir, tokens)
    log = (folder / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def send(
    server: Server,
    path: str,
    *,
    headers: dict[str, str],
    size: int,
    prefix: bytes = b"",
    declared: int | None = None,
) -> Reply:
    """POST ``prefix`` then ``size`` filler bytes, chunked (or only the headers, with
    ``Content-Length: declared``), stopping as soon as the server answers."""
    with socket.create_connection(("127.0.0.1", server.process.port), timeout=TIMEOUT) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.process.port}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if declared is None:
            head.append("Transfer-Encoding: chunked")
        else:
            head.append(f"Content-Length: {declared}")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if declared is None:
            stream(sock, prefix, size)
        return read_reply(sock)


def stream(sock: socket.socket, prefix: bytes, size: int) -> None:
    filler = b" " * CHUNK
    pieces = [prefix] if prefix else []
    sent = 0
    try:
        while True:
            if select.select([sock], [], [], 0)[0]:
                return  # answered: the rest of the body is not needed
            if not pieces:
                if sent >= size:
                    break
                pieces.append(filler[: min(CHUNK, size - sent)])
                sent += len(pieces[-1])
            piece = pieces.pop()
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        return


def read_reply(sock: socket.socket) -> Reply:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"the server closed without a reply: {data!r}"
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(fields["content-length"])
    while len(body) < length:
        more = sock.recv(65536)
        assert more, "the server closed in the middle of its reply"
        body += more
    return Reply(int(lines[0].split()[1]), json.loads(body[:length]))


def oversized(
    server: Server, path: str, *, headers: dict[str, str], limit: int, prefix: bytes = b""
) -> Reply:
    """Send a body EXCESS bytes over ``limit``; the server's peak RSS must not grow with it.

    The same request, a little over, goes first: what its code path loads once (modules,
    caches) is not what is measured."""
    warm = send(server, path, headers=headers, prefix=prefix, size=limit + 256 * 1024)
    before = server.memory_kib("VmRSS")
    server.reset_peak()
    reply = send(server, path, headers=headers, prefix=prefix, size=limit + EXCESS)
    growth = server.memory_kib("VmHWM") - before
    assert growth < ALLOWED_GROWTH_KIB, (
        f"{path}: server RSS grew {growth / 1024:.1f} MiB for a body of "
        f"{(limit + EXCESS) / 2**20:.1f} MiB (limit {limit} bytes)"
    )
    assert warm.status == reply.status, (warm, reply)
    return reply


def multipart_head(creative_id: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="id"\r\n\r\n'
        f"{creative_id}\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()


JSON = {"Content-Type": "application/json"}
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
# (route, path, caller, content headers, limit): every kind of body the server takes.
ROUTES = [
    ("login", "/api/auth/login", None, JSON, JSON_BODY_LIMIT),
    ("campaign", "/signage/api/campaigns", "operator", JSON, JSON_BODY_LIMIT),
    ("proof_of_play", "/signage/proof-of-play", "screen", JSON, PLAY_LIMIT),
    ("catalog", "/api/catalog/import", "admin", {"Content-Type": "text/csv"}, UPLOAD_LIMIT),
    ("promotions", "/api/promotions/import", "admin", JSON, UPLOAD_LIMIT),
    (
        "creative",
        "/signage/api/creatives",
        "operator",
        MULTIPART,
        UPLOAD_LIMIT + MULTIPART_OVERHEAD,
    ),
]


def _headers(server: Server, caller: str | None, content: dict[str, str]) -> dict[str, str]:
    return {**(server.headers(caller) if caller else {}), **content}


@pytest.mark.parametrize(("route", "path", "caller", "content", "limit"), ROUTES)
def test_an_oversized_streamed_body_is_refused_without_buffering_it(
    server: Server, route: str, path: str, caller: str | None, content: dict[str, str], limit: int
) -> None:
    prefix = multipart_head(f"CR-{uuid.uuid4().hex[:8]}") if route == "creative" else b""
    files_before = sorted(server.media_dir.glob("*")) if server.media_dir.exists() else []
    reply = oversized(
        server, path, headers=_headers(server, caller, content), limit=limit, prefix=prefix
    )
    assert reply.status == 413, reply
    assert reply.error()["code"] == "too_large"
    if route == "creative":
        assert reply.error()["message"] == (
            f"the upload is larger than the limit of {UPLOAD_LIMIT} bytes"
        )
        files_after = sorted(server.media_dir.glob("*")) if server.media_dir.exists() else []
        assert files_after == files_before
    elif route == "proof_of_play":
        assert f"the limit for a batch of {PLAYS_PER_BATCH} plays" in reply.error()["message"]
    elif route in ("catalog", "promotions"):
        assert str(UPLOAD_LIMIT) in reply.error()["message"]
    else:
        assert str(limit) in reply.error()["message"]


def test_a_bogus_till_token_with_a_huge_body_costs_no_memory(server: Server) -> None:
    """The POS route looks the till up before it reads the body: a stranger streaming a
    huge body is refused as a stranger, having cost nothing."""
    headers = _headers(server, "stranger", JSON)
    reply = oversized(server, "/api/pos/handoffs/x/paid", headers=headers, limit=JSON_BODY_LIMIT)
    assert reply.status == 401, reply
    assert reply.error()["code"] == "unauthorized"


@pytest.mark.parametrize(("route", "path", "caller", "content", "limit"), ROUTES[1:])
def test_a_stranger_is_refused_before_the_body_is_read(
    server: Server, route: str, path: str, caller: str | None, content: dict[str, str], limit: int
) -> None:
    prefix = multipart_head("CR-STRANGER") if route == "creative" else b""
    headers = _headers(server, "stranger", content)
    reply = oversized(server, path, headers=headers, limit=limit, prefix=prefix)
    assert reply.status == 401, reply
    assert reply.error()["code"] == "unauthorized"
    declared = send(server, path, headers=headers, size=0, declared=limit + EXCESS)
    assert declared.status == 401, declared


@pytest.mark.parametrize(("route", "path", "caller", "content", "limit"), ROUTES)
def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    server: Server, route: str, path: str, caller: str | None, content: dict[str, str], limit: int
) -> None:
    reply = send(
        server, path, headers=_headers(server, caller, content), size=0, declared=limit + 1
    )
    assert reply.status == 413, reply
    assert reply.error()["code"] == "too_large"


def test_bodies_within_their_route_limit_are_served(server: Server) -> None:
    """Over the JSON limit but within the route's own: a proof-of-play batch, an upload."""
    url = server.process.url
    play = one_play(creative_id="CR-NOPE", campaign_id="K-NOPE")
    padded = json.dumps({"plays": [play]}) + " " * (PLAY_LIMIT - 1000)
    assert JSON_BODY_LIMIT < len(padded) < PLAY_LIMIT
    plays = httpx.post(
        url + "/signage/proof-of-play",
        content=padded,
        headers=_headers(server, "screen", JSON),
        timeout=TIMEOUT,
    )
    assert plays.status_code == 422, plays.text  # read and judged: an unknown creative
    assert "CR-NOPE" in plays.text
    promotion = {"id": "P-BIG", "label": "Ten off", "kind": "percent_off", "percent": 10}
    promotion["categories"] = ["tea"]
    body = json.dumps([promotion]) + " " * (UPLOAD_LIMIT - 1000)
    imported = httpx.post(
        url + "/api/promotions/import",
        content=body,
        headers=_headers(server, "admin", JSON),
        timeout=TIMEOUT,
    )
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"imported": 1}
    overhead = UPLOAD_LIMIT + MULTIPART_OVERHEAD
    over = httpx.post(
        url + "/signage/api/creatives",
        files={"file": ("big.png", b"\x89PNG" + b"\x00" * UPLOAD_LIMIT, "image/png")},
        data={"id": "CR-OVER"},
        headers=server.headers("operator"),
        timeout=TIMEOUT,
    )
    assert over.status_code == 422, over.text  # the body fits the limit, the file does not
    assert over.json()["error"]["message"].startswith(f"the file has {UPLOAD_LIMIT + 4} bytes")
    assert overhead > UPLOAD_LIMIT + 4


# The routes that read their own bodies (FastAPI reads the login's, and answers a body
# cut short itself).
@pytest.mark.parametrize(("route", "path", "caller", "content", "limit"), ROUTES[1:])
def test_a_client_hanging_up_mid_body_is_no_server_error(
    server: Server, route: str, path: str, caller: str | None, content: dict[str, str], limit: int
) -> None:
    """A cancelled upload, a till losing its network: the client goes while its body is
    half sent. The server notes it and moves on, with no traceback in its log."""
    log = server.process.log_path
    assert log is not None
    gone = f"client went away during POST {path}"
    before = log.read_text().count(gone)
    prefix = multipart_head("CR-GONE") if route == "creative" else b""
    with socket.create_connection(("127.0.0.1", server.process.port), timeout=TIMEOUT) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.process.port}"]
        head += [f"{name}: {value}" for name, value in _headers(server, caller, content).items()]
        head.append(f"Content-Length: {limit}")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + prefix + b" " * 1024)
    wait_for(lambda: log.read_text().count(gone) > before)
    assert "unexpected error" not in log.read_text()
    assert httpx.get(server.process.url + "/healthz", timeout=TIMEOUT).status_code == 200
