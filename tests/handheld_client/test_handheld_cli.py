"""``caddie handheld`` against PROTOCOL.md: real server and handheld processes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handheld_client.link import http_url, websocket_url
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

    # COLUMNS: help is checked at the width of a plain terminal
    return caddie("handheld", *args, env={**FAST_BACKOFF, "COLUMNS": "80"}, timeout=timeout)


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


@pytest.mark.parametrize(
    "given, url",
    [
        ("ws://127.0.0.1:8000", "http://127.0.0.1:8000/api/shop/trip"),
        ("http://store.local:8000/", "http://store.local:8000/api/shop/trip"),
        ("https://store.example/ws/handheld", "https://store.example/api/shop/trip"),
        ("wss://proxy.example/store-7/", "https://proxy.example/store-7/api/shop/trip"),
        ("127.0.0.1:9", "http://127.0.0.1:9/api/shop/trip"),
    ],
)
def test_the_trip_status_is_asked_where_the_socket_is(given: str, url: str) -> None:
    assert http_url(websocket_url(given), "/api/shop/trip") == url


@pytest.mark.parametrize("bad", ["ftp://x:1", "http://", "ws://h:port"])
def test_bad_server_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        websocket_url(bad)


def test_headless_run_starts_a_basket_prints_results_and_exits_4_for_a_refused_scan(
    store: Store, tmp_path: Path
) -> None:
    frames = render_plan(tmp_path / "frames", PLAN)
    result = run(*handheld_args(store, frames, tmp_path / "o.db"))
    assert result.returncode == 4, result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert "Traceback" not in result.stderr
    acks = [line for line in out if line.startswith("ack ")]
    assert len(acks) == 3
    assert acks[0].startswith(f"ack {P1.zfill(14)} {PRODUCTS[P1][0]} qty=1 total=3.49 EUR")
    # shown once (final: never retried), with what the shopper should do
    assert [line for line in out if line.startswith("error ")] == [
        f"error unknown_product {UNKNOWN}: no product with GTIN {UNKNOWN.zfill(14)}; "
        "not added: keep it aside and ask a colleague"
    ]
    total = sum(PRODUCTS[c][1] * n for c, n in appearances(PLAN).items() if c in PRODUCTS)
    basket = store.basket()
    assert basket is not None and basket["total_cents"] == total
    assert re.fullmatch(
        rf"done: basket {basket['basket_id']} total={total // 100}\.{total % 100:02d} EUR items=3"
        " errors=1",
        out[-1],
    )
    assert store.basket_counts() == expected_basket(PLAN)


def test_synthetic_source_and_the_ws_url_form(store: Store, tmp_path: Path) -> None:
    args = handheld_args(
        store, f"synthetic:{P2},{P2}", tmp_path / "o.db", server=store.server.ws_url
    )
    result = run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith(" items=2 errors=0")
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
    assert result.returncode == 4, result.stdout + result.stderr  # the unknown product
    basket = store.basket()
    assert basket is not None and basket["status"] in ("finishing", "audit")
    [checkout] = [line for line in result.stdout.splitlines() if line.startswith("checkout ")]
    assert re.fullmatch(
        rf"checkout basket {basket['basket_id']} total=\d+\.\d\d EUR items=3 "
        r"audit=(none|partial|full) rescan=\d+",
        checkout,
    ), checkout
    assert "None" not in result.stdout and "qty=?" not in result.stdout
    assert store.basket_counts() == expected_basket(PLAN)  # the finish came after every scan


def _without_token(args: list[str]) -> list[str]:
    i = args.index("--token")
    return args[:i] + args[i + 2 :]


def test_token_from_a_file_or_the_environment_keeps_it_off_the_command_line(
    store: Store, tmp_path: Path
) -> None:
    from tests.handheld_client.conftest import FAST_BACKOFF
    from tests.servers import caddie

    token_file = tmp_path / "token"
    token_file.write_text(f"  {store.token}\n", encoding="utf-8")
    args = _without_token(handheld_args(store, f"synthetic:{P1}", tmp_path / "a.db"))
    by_file = run(*args, "--token-file", str(token_file))
    assert by_file.returncode == 0, by_file.stdout + by_file.stderr
    env = {**FAST_BACKOFF, "CADDIE_DEVICE_TOKEN": store.token}
    by_env = caddie("handheld", *args, env=env, timeout=60)
    assert by_env.returncode == 0, by_env.stdout + by_env.stderr
    assert store.basket_counts() == {P1.zfill(14): 2}
    assert store.token not in by_file.stdout + by_env.stdout


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "No such file"),
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"\xff\xfe\x00token", "not a text file"),
        (b"x" * 5000, "too large"),
        ("directory", "Is a directory"),
    ],
)
def test_unusable_token_file_exits_2_with_a_message(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    token_file = tmp_path / "token"
    if content == "directory":
        token_file.mkdir()
    elif isinstance(content, bytes):
        token_file.write_bytes(content)
    args = ["--server", "ws://127.0.0.1:9", "--device", "H-1", "--source", f"synthetic:{P1}"]
    result = run(*args, "--token-file", str(token_file), "--outbox", str(tmp_path / "o.db"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: --token-file {token_file}: " in result.stderr and message in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_no_token_at_all_says_how_to_give_one(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.servers import CADDIE, REPO

    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")}
    args = ["--server", "ws://127.0.0.1:9", "--device", "H-1", "--source", f"synthetic:{P1}"]
    result = subprocess.run(
        [*CADDIE, "handheld", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )
    assert result.returncode == 2
    assert "--token-file" in result.stderr and "CADDIE_DEVICE_TOKEN" in result.stderr


def test_help_fits_80_columns_and_says_the_live_views_need_a_camera() -> None:
    result = run("--help", timeout=60)  # caddie() runs with the environment below
    assert result.returncode == 0
    text = result.stdout
    assert "…" not in text, text  # nothing cut
    options = ("--server", "--device", "--source", "--token-file", "--token", "--finish")
    for option in (*options, "--wait-paid"):
        assert option in text
    assert "CADDIE_DEVICE_TOKEN" in text and "real camera" in text
    assert "f finish" in " ".join(text.split())
