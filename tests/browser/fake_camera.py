"""A fake camera for the shopper app's browser tests and benchmark.

Chromium plays a ``.y4m`` file as its camera (``--use-file-for-fake-video-capture``),
looping it. The clips are rendered here from barcodes (python-barcode, as the handheld's
synthetic source draws them): each scene is a label held in view for some frames, or an
empty view. A long empty tail keeps the loop from showing the shopper an item twice while
a test looks at the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handheld_client.sources import place, render_barcode

CHROMIUM_CAMERA_ARGS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
)


@dataclass(frozen=True)
class Scene:
    """``code`` (an EAN-13/EAN-8/UPC-A text, or None for an empty view) for ``frames``."""

    code: str | None
    frames: int


def view(code: str | None, size: tuple[int, int]) -> np.ndarray:
    """One camera frame (BGR): a light grey bench, the label in the middle."""
    width, height = size
    frame = np.full((height, width, 3), 200, np.uint8)
    if code is None:
        return frame
    kind = {8: "ean8", 12: "upca", 13: "ean13"}[len(code)]
    label = render_barcode(kind, code[:-1] if kind != "upca" else code[:-1])
    scale = min(0.7 * width / label.shape[1], 0.7 * height / label.shape[0])
    label = cv2.resize(label, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x = (width - label.shape[1]) // 2
    y = (height - label.shape[0]) // 2
    return place(frame, label, x, y)


def frames(scenes: Sequence[Scene], size: tuple[int, int]) -> Iterator[np.ndarray]:
    cache: dict[str | None, np.ndarray] = {}
    for scene in scenes:
        if scene.code not in cache:
            cache[scene.code] = view(scene.code, size)
        for _ in range(scene.frames):
            yield cache[scene.code]


def write_y4m(
    path: Path, images: Iterable[np.ndarray], size: tuple[int, int], fps: int = 10
) -> Path:
    """Writes BGR frames as a YUV4MPEG2 (4:2:0) file Chromium can play as a camera."""
    width, height = size
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for image in images:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def camera_args(y4m: Path) -> list[str]:
    return [*CHROMIUM_CAMERA_ARGS, f"--use-file-for-fake-video-capture={y4m}"]
