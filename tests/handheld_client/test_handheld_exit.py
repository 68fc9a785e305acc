"""``caddie handheld --wait-paid`` at the exit, against a real store server: staff release
the basket through the checkout API, the till marks it paid through the POS API, and the
handheld, asking ``GET /api/shop/trip`` with its token, prints the hand-off code the
server made and then paid. Also: a token revoked meanwhile, and the server going down."""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.handheld_client.conftest import (
    P1,
    P2,
    PRODUCTS,
    STAFF_PASSWORD,
    HandheldProcess,
    Store,
    _Pool,
    handheld_args,
    next_store,
    start_pool,
)
from tests.servers import caddie

pytestmark = pytest.mark.integration

# No random audits: a finished basket goes straight to the till, so staff can release it.
POLICY = {"base_rate": 0.0, "first_trip_always": False, "max_days_without_audit": None}
FAST_POLL = {"CADDIE_HANDHELD_TRIP_POLL_S": "0.2"}
NEXT = re.compile(r"^next basket (\S+): Go to the till to pay\.$")


@pytest.fixture(scope="module")
def exit_pool(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[_Pool]:
    pool = start_pool(
        tmp_path_factory.mktemp("exit"),
        sqlite_template,
        env={"CADDIE_AUDIT_POLICY": json.dumps(POLICY)},
        users=[("alice", "staff"), ("root", "admin")],
    )
    try:
        yield pool
    finally:
        pool.server.stop()


@pytest.fixture
def store(exit_pool: _Pool) -> Store:
    return next_store(exit_pool)


def login(store: Store, username: str) -> dict[str, str]:
    """A script's login: a bearer token, no cookie jar."""
    reply = httpx.post(
        store.server.url + "/api/auth/login",
        json={"username": username, "password": STAFF_PASSWORD},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def release(store: Store, basket_id: str) -> dict[str, Any]:
    """What staff do at the exit: release the basket to payment (the checkout console's call)."""
    reply = httpx.post(
        f"{store.server.url}/api/checkout/baskets/{basket_id}/release",
        headers=login(store, "alice"),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    handoff: dict[str, Any] = reply.json()["handoff"]
    return handoff


def pay(store: Store, code: str) -> None:
    """What the till does: look the hand-off up, take the money, say so."""
    terminal = httpx.post(
        store.server.url + "/api/checkout/pos-terminals",
        json={"terminal_id": f"POS-{uuid.uuid4().hex[:6]}", "store_id": "store-1"},
        headers=login(store, "root"),
        timeout=10,
    )
    assert terminal.status_code == 201, terminal.text
    till = {"Authorization": f"Bearer {terminal.json()['token']}"}
    handoff = httpx.get(f"{store.server.url}/api/pos/handoffs/{code}", headers=till, timeout=10)
    assert handoff.status_code == 200, handoff.text
    paid = httpx.post(
        f"{store.server.url}/api/pos/handoffs/{code}/paid",
        json={"payment_reference": "R-1", "amount_cents": handoff.json()["total_cents"]},
        headers=till,
        timeout=10,
    )
    assert paid.status_code == 200, paid.text


def at_the_exit(store: Store, tmp_path: Path) -> tuple[HandheldProcess, str]:
    """A handheld that scanned two items, finished, and waits at the exit."""
    args = handheld_args(
        store, f"synthetic:{P1},{P2}", tmp_path / "o.db", "--wait-paid", "--timeout", "90"
    )
    handheld = HandheldProcess(args, FAST_POLL).start()
    handheld.wait_for(lambda lines: any(NEXT.match(line) for line in lines))
    [match] = [m for line in handheld.lines if (m := NEXT.match(line))]
    return handheld, match.group(1)


def test_the_handheld_shows_the_handoff_code_staff_released_then_paid(
    store: Store, tmp_path: Path
) -> None:
    handheld, basket_id = at_the_exit(store, tmp_path)
    try:
        assert any(line.startswith(f"checkout basket {basket_id} ") for line in handheld.lines)
        assert handheld.proc is not None and handheld.proc.poll() is None  # waits for staff
        handoff = release(store, basket_id)
        code = handoff["code"]
        handheld.wait_for(
            lambda lines: f"handoff {code} basket {basket_id}: Show this code at the till" in lines
        )
        assert handheld.proc.poll() is None  # and now for the till
        pay(store, code)
        assert handheld.wait(30) == 0, "\n".join(handheld.lines)
    finally:
        handheld.kill()
    total = PRODUCTS[P1][1] + PRODUCTS[P2][1]
    money = f"{total // 100}.{total % 100:02d} EUR"
    lines = handheld.lines
    assert f"paid basket {basket_id} total={money}: Paid. Thank you!" in lines
    assert lines[-1] == f"done: basket {basket_id} total={money} items=2 errors=0"
    assert sum(1 for line in lines if line.startswith("handoff ")) == 1  # shown once
    assert "Traceback" not in "\n".join(lines)


def test_a_token_revoked_while_waiting_stops_the_handheld_with_exit_3(
    store: Store, tmp_path: Path
) -> None:
    handheld, _ = at_the_exit(store, tmp_path)
    try:
        revoked = caddie("device", "revoke", store.device, "--database-url", store.database_url)
        assert revoked.returncode == 0, revoked.stderr
        assert handheld.wait(30) == 3, "\n".join(handheld.lines)
    finally:
        handheld.kill()
    out = "\n".join(handheld.lines)
    assert (
        f"error: the server refused device '{store.device}' the trip status (HTTP 401: " in out
    ), out
    assert "check --device and --token" in out and "Traceback" not in out


def test_ctrl_c_while_waiting_stops_asking_and_says_the_basket_stays(
    store: Store, tmp_path: Path
) -> None:
    import os
    import signal

    handheld, _ = at_the_exit(store, tmp_path)
    try:
        assert handheld.proc is not None
        os.kill(handheld.proc.pid, signal.SIGINT)
        assert handheld.wait(30) == 1, "\n".join(handheld.lines)
    finally:
        handheld.kill()
    assert "stopped waiting at the exit; the basket stays there" in handheld.lines
    assert "Traceback" not in "\n".join(handheld.lines)


@pytest.mark.slow
def test_a_handheld_restarted_at_the_exit_waits_there_again(store: Store, tmp_path: Path) -> None:
    first, basket_id = at_the_exit(store, tmp_path)
    first.kill()  # a dead battery at the exit
    args = handheld_args(
        store, f"synthetic:{P1},{P2}", tmp_path / "o.db", "--wait-paid", "--timeout", "90"
    )
    again = HandheldProcess(args, FAST_POLL).start()
    try:
        again.wait_for(lambda lines: f"next basket {basket_id}: Go to the till to pay." in lines)
        code = release(store, basket_id)["code"]
        again.wait_for(lambda lines: any(line.startswith(f"handoff {code} ") for line in lines))
        pay(store, code)
        assert again.wait(30) == 0, "\n".join(again.lines)  # no second finish, no error
    finally:
        again.kill()
    assert not any(line.startswith(("error ", "ack ")) for line in again.lines), again.lines


@pytest.mark.slow
def test_the_server_going_down_while_waiting_is_survived(store: Store, tmp_path: Path) -> None:
    handheld, basket_id = at_the_exit(store, tmp_path)
    try:
        store.server.kill()
        handheld.wait_for(
            lambda lines: any(
                line.startswith("trip status: connection refused; asking again in ")
                for line in lines
            )
        )
        assert handheld.proc is not None and handheld.proc.poll() is None
        store.server.start()
        handheld.wait_for(lambda lines: "trip status: the store answers again" in lines)
        code = release(store, basket_id)["code"]
        handheld.wait_for(lambda lines: any(line.startswith(f"handoff {code} ") for line in lines))
        pay(store, code)
        assert handheld.wait(30) == 0, "\n".join(handheld.lines)
    finally:
        handheld.kill()
    assert handheld.count("trip status: connection refused") == 1  # one notice per outage
    assert "Traceback" not in "\n".join(handheld.lines)


def test_not_paid_by_the_timeout_exits_1_and_says_where_the_trip_stands(
    store: Store, tmp_path: Path
) -> None:
    args = handheld_args(
        store, f"synthetic:{P1}", tmp_path / "o.db", "--wait-paid", "--timeout", "4"
    )
    handheld = HandheldProcess(args, FAST_POLL).start()
    try:
        assert handheld.wait(60) == 1, "\n".join(handheld.lines)
    finally:
        handheld.kill()
    assert re.fullmatch(
        r"timeout: basket \S+ not paid yet \(Go to the till to pay\.\)", handheld.lines[-1]
    ), handheld.lines


class Camera:
    """A camera in front of an empty shelf: frames keep coming, nothing to decode."""

    def __init__(self) -> None:
        import numpy as np

        self.image = np.full((120, 160, 3), 255, np.uint8)

    def __iter__(self) -> Iterator[Any]:
        from handheld_client.sources import Frame

        start = time.monotonic()
        while True:
            time.sleep(0.05)
            yield Frame(time.monotonic() - start, self.image)

    def decode(self, image: Any) -> list[Any]:
        return []


def eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_the_terminal_view_follows_the_trip_from_f_to_paid(store: Store, tmp_path: Path) -> None:
    """A camera run in this process (the terminal view on a recording console): after
    f it shows what happens next, the hand-off code once released, paid, and ends."""
    from rich.console import Console

    from handheld_client.core import Backoff
    from handheld_client.link import websocket_url
    from handheld_client.outbox import Outbox
    from handheld_client.runner import HandheldConfig, HandheldRun
    from handheld_client.ui import TerminalScreen

    keys: list[str] = []
    screens: list[TerminalScreen] = []

    def terminal(core: Any) -> TerminalScreen:
        console = Console(file=io.StringIO(), width=100, force_terminal=False)
        screens.append(TerminalScreen(core, console=console, keys=keys))
        return screens[-1]

    def shown() -> str:
        out = Console(file=io.StringIO(), width=100, record=True)
        out.print(screens[0].render())
        return " ".join(out.export_text().replace("│", " ").split())

    config = HandheldConfig(
        url=websocket_url(store.server.url),
        device_id=store.device,
        token=store.token,
        source="0",
        loyalty_card="CARD-42",
        outbox_path=tmp_path / "o.db",
        symbologies=("EAN13",),
        live=True,
        backoff=Backoff(initial=0.05, maximum=0.3),
        trip_poll_s=0.2,
    )
    runs: list[HandheldRun] = []
    ended: list[int] = []

    def handheld() -> None:  # the outbox is used on the thread that opened it
        camera = Camera()
        with contextlib.closing(Outbox(config.outbox_path, store.device)) as box:
            run = HandheldRun(config, box, iter(camera), camera, terminal)
            run.execute(run.core.scan(P1))  # keyed in before the store answers
            runs.append(run)
            ended.append(run.run())

    thread = threading.Thread(target=handheld, daemon=True)
    thread.start()
    try:
        eventually(lambda: bool(runs), "the handheld started")
        run = runs[0]
        eventually(lambda: run.core.welcomed_once and run.core.idle, "the scan was answered")
        keys.append("f")
        eventually(lambda: "Go to the till to pay." in shown(), "what happens next")
        basket = run.core.basket
        assert basket is not None and basket["status"] == "finishing"
        code = release(store, str(basket["basket_id"]))["code"]
        eventually(lambda: f"Show this code at the till: {code}" in shown(), "the code")
        pay(store, code)
        thread.join(30)
        assert ended == [0]
        assert "Paid. Thank you!" in shown() and code not in shown()
    finally:
        if thread.is_alive():
            keys.append("q")
            thread.join(30)
