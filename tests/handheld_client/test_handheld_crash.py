"""Exactly-once scanning whatever crashes: real handheld and server processes, SIGKILL.

The frames are an image folder of rendered barcodes; the final basket (asked afresh
with a ``hello``) must hold exactly what the frames show: no scan lost, none doubled.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handheld_client.outbox import Outbox
from tests.handheld_client.conftest import (
    FAST_BACKOFF,
    ROUND,
    HandheldProcess,
    Store,
    expected_basket,
    finished_code,
    handheld_args,
    render_plan,
)
from tests.servers import caddie

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAN = ROUND * 2  # 54 frames, 24 scans of 4 products and 2 of an unknown one


def acks(n: int):  # type: ignore[no-untyped-def]
    return lambda lines: sum(1 for line in lines if line.startswith("ack ")) >= n


def server_log(store: Store) -> str:
    path = store.server.log_path
    return path.read_text(errors="replace")[-3000:] if path and path.exists() else ""


def test_handheld_killed_mid_stream_and_restarted_scans_exactly_once(
    store: Store, tmp_path: Path
) -> None:
    frames = render_plan(tmp_path / "frames", PLAN)
    outbox = tmp_path / "outbox.db"
    args = handheld_args(store, frames, outbox, "--frame-interval", "0.05", "--timeout", "60")
    first = HandheldProcess(args, {}).start()
    try:
        first.wait_for(acks(3))
    finally:
        first.kill()
    assert first.count("done:") == 0, "the kill came too late to be mid-stream"
    with Outbox(outbox, store.device) as box:  # what the battery-dead handheld kept
        cursor = box.cursor()
    assert cursor is not None and cursor.frame_index < len(PLAN) - 1

    second = caddie(*["handheld", *args], env=FAST_BACKOFF, timeout=90)
    assert second.returncode == finished_code(second.stdout.splitlines()), second.stdout
    assert store.basket_counts() == expected_basket(PLAN), second.stdout


def test_server_killed_mid_stream_and_restarted_scans_exactly_once(
    store: Store, tmp_path: Path
) -> None:
    frames = render_plan(tmp_path / "frames", PLAN)
    args = handheld_args(
        store, frames, tmp_path / "outbox.db", "--frame-interval", "0.05", "--timeout", "60"
    )
    handheld = HandheldProcess(args, {}).start()
    try:
        handheld.wait_for(acks(3))
        store.server.kill()
        handheld.wait_for(lambda lines: any(line.startswith("offline") for line in lines))
        store.server.start()
        code = handheld.wait(90)
    finally:
        handheld.kill()
    output = "\n".join(handheld.lines)
    assert code == finished_code(handheld.lines), output + server_log(store)
    assert store.basket_counts() == expected_basket(PLAN), output


def test_network_down_while_scanning_queues_then_delivers_exactly_once(
    store: Store, tmp_path: Path
) -> None:
    frames = render_plan(tmp_path / "frames", PLAN)
    args = handheld_args(
        store, frames, tmp_path / "outbox.db", "--frame-interval", "0.1", "--timeout", "60"
    )
    handheld = HandheldProcess(args, {}).start()
    try:
        handheld.wait_for(acks(2))
        store.server.stop()
        # the handheld keeps scanning while the store server is unreachable
        handheld.wait_for(lambda lines: any(line.startswith("queued ") for line in lines))
        handheld.wait_for(lambda lines: sum(1 for line in lines if line.startswith("queued ")) >= 2)
        store.server.start()
        code = handheld.wait(90)
    finally:
        handheld.kill()
    output = "\n".join(handheld.lines)
    assert code == finished_code(handheld.lines), output + server_log(store)
    assert any(re.fullmatch(r"offline \(.+\): \d+ queued", line) for line in handheld.lines)
    queued = [
        int(m.group(1))
        for m in map(re.compile(r"queued \d+ \(offline: (\d+) queued\)").fullmatch, handheld.lines)
        if m
    ]
    assert len(queued) >= 2 and queued == sorted(queued), output  # the queue grows offline
    assert any(line.startswith("online: ") for line in handheld.lines)
    assert store.basket_counts() == expected_basket(PLAN), output
