"""Real stores and real handheld processes for the handheld CLI and crash tests.

A store is a ``caddie serve`` process on a SQLite file, its catalog imported with
``caddie catalog import`` from a CSV written here and its device enrolled with
``caddie device enroll``. Frames are barcodes rendered with python-barcode into an
image folder (10 frames a second of frame time, PROTOCOL.md).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.servers import CADDIE, REPO, ServerProcess, caddie

# (EAN-13, name, price in cents); UNKNOWN is a valid EAN-13 that is not in the catalog
PRODUCTS = {
    "3012345678902": ("Ground coffee 250 g", 349),
    "4006381333931": ("Ballpoint pens x4", 199),
    "5901234123457": ("Butter 250 g", 245),
    "3765432109871": ("Milk 1 L", 115),
}
P1, P2, P3, P4 = PRODUCTS
UNKNOWN = "9780201379624"
FAST_BACKOFF = {"CADDIE_HANDHELD_BACKOFF_INITIAL": "0.05", "CADDIE_HANDHELD_BACKOFF_MAX": "0.3"}

# One shopping round: each frame shows the codes listed (None: nothing). A code is
# held over consecutive frames at most once per appearance and reappears only after
# at least 6 frames (0.6 s) without it, so each appearance is exactly one scan.
ROUND: list[tuple[str, ...]] = [
    (P1,), (P1,), (P2,), (P3,), (P4,), (UNKNOWN,), (), (P1,), (P2,), (P2,), (), (P3,), (),
    (P1,), (P4,), (), (P2,), (), (), (P1,), (P3,), (), (), (), (), (), (),
]  # fmt: skip


def appearances(plan: Sequence[Sequence[str]]) -> Counter[str]:
    """What a shopper sees on the frames: one scan per appearance (and checks the gaps)."""
    counts: Counter[str] = Counter()
    last: dict[str, int] = {}
    for i, codes in enumerate(plan):
        for code in codes:
            if code in last and last[code] == i - 1:
                last[code] = i
                continue  # still in view
            assert code not in last or i - last[code] >= 6, f"{code} back too soon at {i}"
            counts[code] += 1
            last[code] = i
    return counts


def render_plan(folder: Path, plan: Sequence[Sequence[str]]) -> Path:
    """Write one PNG per frame, named in frame order."""
    from handheld_client.sources import place, render_barcode

    folder.mkdir(parents=True, exist_ok=True)
    labels: dict[str, np.ndarray] = {}
    blank = np.full((260, 700, 3), 255, np.uint8)
    for i, codes in enumerate(plan):
        image = blank
        for j, code in enumerate(codes):
            if code not in labels:
                labels[code] = render_barcode("ean13", code[:12], module_width=0.25)
            image = place(image, labels[code], 20 + 340 * j, 40)
        cv2.imwrite(str(folder / f"frame-{i:04d}.png"), image)
    return folder


def finished_code(lines: Sequence[str]) -> int:
    """The exit code of a run that answered every scan: 4 if it printed a refusal."""
    return 4 if any(line.startswith("error ") for line in lines) else 0


def expected_basket(plan: Sequence[Sequence[str]]) -> Counter[str]:
    return Counter({code.zfill(14): n for code, n in appearances(plan).items() if code in PRODUCTS})


@dataclass
class Store:
    """A store server on a SQLite file, with the catalog above and device H-1."""

    database_url: str
    server: ServerProcess
    device: str
    token: str

    def basket(self) -> dict[str, object] | None:
        """Ask the server afresh what the device's open basket holds (a new ``hello``)."""
        import json

        from websockets.sync.client import connect

        with connect(self.server.ws_url, open_timeout=10) as ws:
            ws.send(
                json.dumps(
                    {"type": "hello", "protocol": 1, "device_id": self.device, "token": self.token}
                )
            )
            reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "welcome", reply
        basket: dict[str, object] | None = reply["basket"]
        return basket

    def basket_counts(self) -> Counter[str]:
        basket = self.basket()
        assert basket is not None, "the device has no open basket"
        lines = basket["lines"]
        assert isinstance(lines, list)
        counts: Counter[str] = Counter()
        for line in lines:
            counts[line["gtin"]] += line["qty"]
        return counts


@dataclass
class _Pool:
    database_url: str
    server: ServerProcess
    tokens: dict[str, str]
    used: int = 0


STAFF_PASSWORD = "handheld-tests-staff-pw"


def start_pool(
    folder: Path,
    sqlite_template: Path,
    *,
    env: dict[str, str] | None = None,
    users: Sequence[tuple[str, str]] = (),
) -> _Pool:
    """A running store: the catalog above, devices H-1…H-32, the ``(name, role)`` users
    (password STAFF_PASSWORD) and the server's extra environment ``env``."""
    import shutil

    shutil.copy(sqlite_template, folder / "caddie.db")
    url = f"sqlite:///{folder / 'caddie.db'}"
    csv = folder / "catalog.csv"
    rows = ["gtin,name,category,price_cents,tax_rate,age_restricted,sold_by"]
    rows += [f"{g},{n},grocery,{p},0.055,false,unit" for g, (n, p) in PRODUCTS.items()]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    imported = caddie("catalog", "import", str(csv), "--database-url", url)
    assert imported.returncode == 0, imported.stderr
    devices = [f"H-{i}" for i in range(1, 33)]
    enrolled = caddie("device", "enroll", *devices, "--database-url", url)
    assert enrolled.returncode == 0, enrolled.stderr
    tokens = dict(line.split("\t") for line in enrolled.stdout.strip().splitlines())
    assert list(tokens) == devices
    for name, role in users:
        made = caddie(
            "user", "create", name, "--role", role, "--database-url", url,
            env={"CADDIE_NEW_PASSWORD": STAFF_PASSWORD},
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    server = ServerProcess(url, env=env, log_path=folder / "server.log")
    server.start()
    return _Pool(url, server, tokens)


@pytest.fixture(scope="module")
def store_pool(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[_Pool]:
    """One store per test module (starting one takes seconds); each test gets its own device."""
    pool = start_pool(tmp_path_factory.mktemp("store"), sqlite_template)
    try:
        yield pool
    finally:
        pool.server.stop()


def next_store(pool: _Pool) -> Store:
    """The pool's store, running, with a device no other test has used."""
    if pool.server.proc is None or pool.server.proc.poll() is not None:
        pool.server.start()  # a previous test killed it
    pool.used += 1
    device = f"H-{pool.used}"
    return Store(pool.database_url, pool.server, device, pool.tokens[device])


@pytest.fixture
def store(store_pool: _Pool) -> Store:
    """The module's store, running, with a device no other test has used."""
    return next_store(store_pool)


@dataclass
class HandheldProcess:
    """``caddie handheld`` as a subprocess whose output lines are collected as they come."""

    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def start(self) -> HandheldProcess:
        self.proc = subprocess.Popen(
            [*CADDIE, "handheld", *self.args],
            cwd=REPO,
            env={**os.environ, **FAST_BACKOFF, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(list(self.lines)):
                return
            if self.proc is not None and self.proc.poll() is not None:
                if self._reader is not None:
                    self._reader.join(5)
                if predicate(list(self.lines)):
                    return
                raise AssertionError(
                    f"handheld exited {self.proc.returncode} first:\n" + "\n".join(self.lines)
                )
            time.sleep(0.02)
        raise AssertionError("handheld output never matched:\n" + "\n".join(self.lines))

    def count(self, prefix: str) -> int:
        return sum(1 for line in self.lines if line.startswith(prefix))

    def kill(self) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return code


def handheld_args(
    store: Store, source: Path | str, outbox: Path, *extra: str, server: str | None = None
) -> list[str]:
    return [
        "--server",
        server or store.server.url,
        "--device",
        store.device,
        "--token",
        store.token,
        "--source",
        str(source),
        "--loyalty-card",
        "CARD-42",
        "--outbox",
        str(outbox),
        *extra,
    ]
