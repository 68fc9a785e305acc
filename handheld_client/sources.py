"""Frame sources: camera, video file, image folder, single image, synthetic.

Every frame carries its frame time in seconds, the clock debouncing runs on
(PROTOCOL.md): capture time for a camera, the stream timestamp for a video,
index x 0.1 s for an image folder. Opening a source validates it eagerly so a bad
``--source`` fails with a :class:`SourceError` message before anything starts.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handheld_client.decoding.evaluation import IMAGE_SUFFIXES
from handheld_client.decoding.files import ImageError, load_image
from handheld_client.decoding.symbols import gtin14_of
from store_server.shared.digits import is_ascii_digits
from store_server.shared.errors import CaddieError

FOLDER_STEP_S = 0.1
SYNTHETIC_SIZE = (1280, 720)
SYNTHETIC_VISIBLE_FRAMES = 5
SYNTHETIC_GAP_FRAMES = 6  # 0.6 s at 10 frames/s: longer than the debounce absence


class SourceError(CaddieError):
    """The frame source cannot be opened or read."""

    code = "source_error"
    http_status = 422


@dataclass(frozen=True)
class Frame:
    """One image and when it was taken (seconds; only differences matter)."""

    time_s: float
    image: np.ndarray
    name: str = ""


_CAMERA = re.compile(r"^([0-9]+|/dev/video[0-9]+)$")


def is_live_source(spec: str) -> bool:
    """Cameras are live (need a screen, never end); files and folders are replayable."""
    return bool(_CAMERA.match(spec.strip()))


def open_source(spec: str) -> Iterator[Frame]:
    """Open the source named by ``spec``; raises :class:`SourceError` if it cannot."""
    spec = spec.strip()
    if spec.startswith("synthetic:"):
        return _synthetic(spec.removeprefix("synthetic:"))
    if is_live_source(spec):
        return _camera(spec)
    path = Path(spec)
    if path.is_dir():
        return _folder(path)
    if not path.exists():
        raise SourceError(f"{spec}: no such file, folder or camera")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _single_image(path)
    return _video(path)


# ---- camera and video -------------------------------------------------------------------


def _camera(spec: str) -> Iterator[Frame]:
    device: int | str = int(spec) if is_ascii_digits(spec) else spec
    capture = cv2.VideoCapture(device)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"camera {spec}: cannot be opened (missing or busy?)")
    return _camera_frames(capture, spec)


def _camera_frames(capture: cv2.VideoCapture, spec: str) -> Iterator[Frame]:
    start = time.monotonic()
    try:
        while True:
            ok, image = capture.read()
            taken = time.monotonic() - start
            if not ok or image is None:
                raise SourceError(f"camera {spec}: stopped delivering frames")
            yield Frame(taken, image, spec)
    finally:
        capture.release()


def _video(path: Path) -> Iterator[Frame]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"{path}: not a readable video or image")
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise SourceError(f"{path}: video has no readable frames")
    return _video_frames(capture, path, first)


def _video_frames(capture: cv2.VideoCapture, path: Path, first: np.ndarray) -> Iterator[Frame]:
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    index = 0
    image: np.ndarray | None = first
    try:
        while image is not None:
            stamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if stamp <= 0 and index > 0 and fps > 0:
                stamp = index / fps  # container without timestamps
            yield Frame(stamp, image, f"{path.name}#{index}")
            index += 1
            ok, image = capture.read()
            if not ok:
                image = None
    finally:
        capture.release()


# ---- still images ------------------------------------------------------------------------


def _load(path: Path) -> np.ndarray:
    try:
        return load_image(path)
    except ImageError as exc:
        raise SourceError(exc.message) from None


def _single_image(path: Path) -> Iterator[Frame]:
    image = _load(path)
    return iter([Frame(0.0, image, path.name)])


def _folder(folder: Path) -> Iterator[Frame]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"{folder}: no images in this folder")
    return (Frame(i * FOLDER_STEP_S, _load(p), p.name) for i, p in enumerate(files))


# ---- synthetic -----------------------------------------------------------------------------

_BARCODE_KIND = {8: "ean8", 12: "upca", 13: "ean13"}


def render_barcode(kind: str, data: str, *, module_width: float = 0.33) -> np.ndarray:
    """A python-barcode label as a BGR image (kind: ean13, ean8, upca, code128...)."""
    import barcode
    from barcode.writer import ImageWriter

    buffer = io.BytesIO()
    symbol = barcode.get(kind, data, writer=ImageWriter())
    symbol.write(
        buffer,
        options={
            "module_width": module_width,
            "module_height": 12.0,
            "quiet_zone": 4.0,
            "dpi": 200,
        },
    )
    image = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    if image is None:  # pragma: no cover - python-barcode always writes PNG
        raise SourceError(f"cannot render {kind} {data}")
    return image


def rotate_label(label: np.ndarray, degrees: float) -> np.ndarray:
    """``label`` turned by ``degrees`` on a white canvas just large enough to hold it."""
    import cv2

    h, w = label.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(label, m, (nw, nh), borderValue=(255, 255, 255))


def place(background: np.ndarray, label: np.ndarray, x: int, y: int) -> np.ndarray:
    """Paste ``label`` onto a copy of ``background`` at (x, y), clipped to the frame."""
    frame = background.copy()
    h = min(label.shape[0], frame.shape[0] - y)
    w = min(label.shape[1], frame.shape[1] - x)
    frame[y : y + h, x : x + w] = label[:h, :w]
    return frame


def synthetic_background(seed: int = 0) -> np.ndarray:
    """A textured, barcode-free shelf-like 1280x720 frame (deterministic)."""
    rng = np.random.default_rng(seed)
    w, h = SYNTHETIC_SIZE
    noise = rng.integers(40, 215, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)


def _synthetic(codes_spec: str) -> Iterator[Frame]:
    codes = [c.strip() for c in codes_spec.split(",") if c.strip()]
    if not codes:
        raise SourceError("synthetic source: give codes, e.g. synthetic:4006381333931")
    labels = []
    for code in codes:
        digits = code[1:] if len(code) == 14 and code.startswith("0") else code
        kind = _BARCODE_KIND.get(len(digits)) if is_ascii_digits(digits) else None
        if kind is None or gtin14_of(digits) is None:
            raise SourceError(f"synthetic source: {code!r} is not a valid GTIN-8/12/13")
        try:
            labels.append((code, render_barcode(kind, digits[:-1] if kind != "ean8" else digits)))
        except Exception as exc:  # python-barcode rejects bad check digits with its own types
            raise SourceError(f"synthetic source: cannot render {code!r}: {exc}") from None
    return _synthetic_frames(labels)


def _synthetic_frames(labels: list[tuple[str, np.ndarray]]) -> Iterator[Frame]:
    background = synthetic_background()
    index = 0
    for code, label in labels:
        for _ in range(SYNTHETIC_VISIBLE_FRAMES):
            yield Frame(index * FOLDER_STEP_S, place(background, label, 300, 200), code)
            index += 1
        for _ in range(SYNTHETIC_GAP_FRAMES):
            yield Frame(index * FOLDER_STEP_S, background, "")
            index += 1
