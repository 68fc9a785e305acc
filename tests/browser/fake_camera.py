"""A fake camera for the shopper app's browser tests and benchmark.

Chromium plays a ``.y4m`` file as its camera (``--use-file-for-fake-video-capture``),
looping it. The clips are rendered here from barcodes (python-barcode, as the handheld's
synthetic source draws them; zxing-cpp for a GS1 DataMatrix or a QR code): each scene is
a label held in view for some frames, or an empty view. A long empty tail keeps the loop
from showing the shopper an item twice while a test looks at the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from handheld_client.sources import place, render_barcode

CHROMIUM_CAMERA_ARGS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
)


Symbology = Literal["retail", "gs1_datamatrix", "qr"]


@dataclass(frozen=True)
class Scene:
    """``code`` for ``frames``: an EAN-13/EAN-8/UPC-A text (``retail``), GS1 element
    strings in their printed form, ``(01)…``, as a GS1 DataMatrix, or any text as a QR
    code; None for an empty view."""

    code: str | None
    frames: int
    symbology: Symbology = "retail"


def label_image(code: str, symbology: Symbology) -> np.ndarray:
    """The printed label (BGR)."""
    if symbology == "retail":
        kind = {8: "ean8", 12: "upca", 13: "ean13"}[len(code)]
        return render_barcode(kind, code[:-1])
    import zxingcpp

    if symbology == "gs1_datamatrix":
        symbol = zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.DataMatrix, gs1=True)
    else:
        symbol = zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.QRCode)
    gray = np.array(zxingcpp.write_barcode_to_image(symbol, scale=8))
    gray = np.pad(gray, 24, constant_values=255)  # the quiet zone
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def view(code: str | None, size: tuple[int, int], symbology: Symbology = "retail") -> np.ndarray:
    """One camera frame (BGR): a light grey bench, the label in the middle."""
    width, height = size
    frame = np.full((height, width, 3), 200, np.uint8)
    if code is None:
        return frame
    label = label_image(code, symbology)
    scale = min(0.7 * width / label.shape[1], 0.7 * height / label.shape[0])
    label = cv2.resize(label, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x = (width - label.shape[1]) // 2
    y = (height - label.shape[0]) // 2
    return place(frame, label, x, y)


def frames(scenes: Sequence[Scene], size: tuple[int, int]) -> Iterator[np.ndarray]:
    cache: dict[tuple[str | None, Symbology], np.ndarray] = {}
    for scene in scenes:
        key = (scene.code, scene.symbology)
        if key not in cache:
            cache[key] = view(scene.code, size, scene.symbology)
        for _ in range(scene.frames):
            yield cache[key]


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
