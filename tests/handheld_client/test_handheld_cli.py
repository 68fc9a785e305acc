"""``caddie handheld`` against PROTOCOL.md: real server and handheld processes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handheld_client.link import websocket_url
from tests.handheld_client.conftest import (
    P1,
    P2,
    PRODUCTS,
    UNKNOWN,
    Store,
    appearances,
    expected_basket,
    handheld_args,
    render_plan,
)
from tests.servers import free_port

pytestmark = pytest.mark.integration

PLAN = [(P1,), (P1,), (), (P2,), (UNKNOWN,), (), (), (), (P1,), (), ()]


def run(*args: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    from tests.handheld_client.conftest import FAST_BACKOFF
    from tests.servers import caddie

    return caddie("handheld", *args, env=FAST_BACKOFF, timeout=timeout)


@pytest.mark.parametrize(
    "given, url",
    [
        ("ws://127.0.0.1:8000", "ws://127.0.0.1:8000/ws/handheld"),
        ("ws://127.0.0.1:8000/ws/handheld", "ws://127.0.0.1:8000/ws/handheld"),
        ("http://store.local:8000/", "ws://store.local:8000/ws/handheld"),
        ("https://store.example/ws/handheld", "wss://store.example/ws/handheld"),
        ("127.0.0.1:9", "ws://127.0.0.1:9/ws/handheld"),
    ],
)
def test_server_url_forms(given: str, url: str) -> None:
    assert websocket_url(given) == url


@pytest.mark.parametrize("bad", ["ftp://x:1", "http://", "ws://h:port"])
def test_bad_server_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        websocket_url(bad)


def test_headless_run_starts_a_basket_prints_results_and_exits_0(
    store: Store, tmp_path: Path
) -> None:
    frames = render_plan(tmp_path / "frames", PLAN)
    result = run(*handheld_args(store, frames, tmp_path / "o.db"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert "Traceback" not in result.stderr
    acks = [line for line in out if line.startswith("ack ")]
    assert len(acks) == 3
    assert acks[0].startswith(f"ack {P1.zfill(14)} {PRODUCTS[P1][0]} qty=1 total=3.49 EUR")
    assert [line for line in out if line.startswith("error ")] == [
        f"error unknown_product {UNKNOWN}: no product with GTIN {UNKNOWN.zfill(14)}"
    ]
    total = sum(PRODUCTS[c][1] * n for c, n in appearances(PLAN).items() if c in PRODUCTS)
    basket = store.basket()
    assert basket is not None and basket["total_cents"] == total
    assert re.fullmatch(
        rf"done: basket {basket['basket_id']} total={total // 100}\.{total % 100:02d} EUR items=3",
        out[-1],
    )
    assert store.basket_counts() == expected_basket(PLAN)


def test_synthetic_source_and_the_ws_url_form(store: Store, tmp_path: Path) -> None:
    args = handheld_args(
        store, f"synthetic:{P2},{P2}", tmp_path / "o.db", server=store.server.ws_url
    )
    result = run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert store.basket_counts() == {P2.zfill(14): 2}


def test_timeout_without_a_server_exits_1_with_the_pending_count(
    store: Store, tmp_path: Path
) -> None:
    frames = render_plan(tmp_path / "frames", PLAN)
    args = handheld_args(
        store, frames, tmp_path / "o.db", "--timeout", "2",
        server=f"http://127.0.0.1:{free_port()}",
    )  # fmt: skip
    result = run(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    scans = sum(appearances(PLAN).values())
    assert f"timeout: {scans} scans still pending" in result.stdout
    assert "offline (connection refused)" in result.stdout


def test_bad_token_is_fatal_with_a_message(store: Store, tmp_path: Path) -> None:
    frames = render_plan(tmp_path / "frames", PLAN)
    args = handheld_args(store, frames, tmp_path / "o.db", "--timeout", "30")
    args[args.index("--token") + 1] = "not-the-token"
    result = run(*args)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"refused device '{store.device}'" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("kind", ["missing", "not a video", "empty folder", "corrupt frame"])
def test_unreadable_source_exits_2_with_a_message(store: Store, tmp_path: Path, kind: str) -> None:
    if kind == "missing":
        source = tmp_path / "nope"
    elif kind == "not a video":
        source = tmp_path / "clip.mp4"
        source.write_text("this is not a video")
    elif kind == "empty folder":
        source = tmp_path / "empty"
        source.mkdir()
    else:
        source = render_plan(tmp_path / "frames", PLAN[:3])
        (source / "frame-0001.png").write_bytes(b"\x89PNG broken")
    result = run(*handheld_args(store, source, tmp_path / "o.db", "--timeout", "30"))
    assert result.returncode == 2, result.stdout + result.stderr
    # (OpenCV's FFmpeg may log its own line first; ours is the one starting with "error:")
    assert any(
        line.startswith("error: ") and source.name in line for line in result.stderr.splitlines()
    ), result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_corrupt_outbox_exits_2_with_a_message(store: Store, tmp_path: Path) -> None:
    outbox = tmp_path / "o.db"
    outbox.write_bytes(b"not sqlite at all" * 300)
    result = run(*handheld_args(store, f"synthetic:{P1}", outbox, "--timeout", "30"))
    assert result.returncode == 2
    assert "outbox" in result.stderr and "unreadable" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_finish_locks_the_basket_once_every_scan_is_answered(store: Store, tmp_path: Path) -> None:
    frames = render_plan(tmp_path / "frames", PLAN)
    result = run(*handheld_args(store, frames, tmp_path / "o.db", "--finish"))
    assert result.returncode == 0, result.stdout + result.stderr
    basket = store.basket()
    assert basket is not None and basket["status"] in ("finishing", "audit")
    assert store.basket_counts() == expected_basket(PLAN)  # the finish came after every scan
