from __future__ import annotations

from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from handheld_client.decoding import Decoder
from handheld_client.sources import (
    SourceError,
    is_live_source,
    open_source,
    render_barcode,
    synthetic_background,
)
from store_server.shared.errors import CaddieError


def test_folder_frames_are_a_tenth_of_a_second_apart_in_name_order(tmp_path: Path) -> None:
    for name in ("b.png", "a.png", "c.jpg"):
        cv2.imwrite(str(tmp_path / name), synthetic_background(1)[:50, :50])
    (tmp_path / "notes.txt").write_text("ignored")
    frames = list(open_source(str(tmp_path)))
    assert [f.name for f in frames] == ["a.png", "b.png", "c.jpg"]
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.1, 0.2])


def test_corrupt_image_in_folder_is_a_source_error(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "1.png"), synthetic_background(1)[:50, :50])
    (tmp_path / "2.png").write_bytes(b"broken")
    frames = open_source(str(tmp_path))
    next(frames)
    with pytest.raises(SourceError, match="2.png"):
        next(frames)


def test_video_frames_carry_their_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (320, 240))
    for i in range(6):
        writer.write(np.full((240, 320, 3), 40 * i, np.uint8))
    writer.release()
    frames = list(open_source(str(path)))
    assert len(frames) == 6
    assert [f.time_s for f in frames] == pytest.approx([i / 20 for i in range(6)], abs=1e-3)


def test_unreadable_video_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"this is not a video")
    with pytest.raises(SourceError, match="clip.mp4") as info:
        open_source(str(path))
    assert isinstance(info.value, CaddieError)


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "absent.mp4"))


def test_missing_camera_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="camera"):
        open_source("/dev/video97")


def test_single_image_is_one_frame(tmp_path: Path) -> None:
    path = tmp_path / "one.png"
    cv2.imwrite(str(path), render_barcode("ean8", "9638507"))
    [frame] = list(open_source(str(path)))
    assert frame.time_s == 0.0 and frame.name == "one.png"


def test_live_sources() -> None:
    assert is_live_source("0") and is_live_source("/dev/video2")
    assert not is_live_source("clip.mp4") and not is_live_source("synthetic:96385074")
    assert not is_live_source("\u00b2") and not is_live_source("\u0663")  # "²", Arabic 3


def test_synthetic_frames_show_each_code_then_a_gap() -> None:
    decoder = Decoder(time_cap_s=None)
    frames = list(open_source("synthetic:4006381333931,96385074"))
    seen = [(round(f.time_s, 1), [s.gtin14 for s in decoder.decode(f.image)]) for f in frames]
    shown = [t for t, codes in seen if codes]
    assert [codes for _, codes in seen if codes] == [["04006381333931"]] * 5 + [
        ["00000096385074"]
    ] * 5
    assert shown[5] - shown[4] >= 0.5  # the gap is long enough to rescan


@pytest.mark.parametrize(
    "spec",
    [
        "synthetic:",
        "synthetic:4006381333932",
        "synthetic:abc",
        "synthetic:" + "96385074".translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
        "synthetic:" + "\u00b2" * 8,  # "²" passes str.isdigit()
    ],
)
def test_bad_synthetic_spec(spec: str) -> None:
    with pytest.raises(SourceError):
        list(islice(open_source(spec), 1))
