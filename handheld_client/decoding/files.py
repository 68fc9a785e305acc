"""Loading still images for the decoder, with a clear error instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from handheld_client.decoding.decoder import Decoder
from handheld_client.decoding.symbols import Symbol
from store_server.shared.errors import CaddieError


class ImageError(CaddieError):
    """The image file cannot be read (missing, not an image, corrupt or truncated)."""

    code = "image_error"
    http_status = 422


def load_image(path: Path) -> np.ndarray:
    """BGR (or gray) pixels of ``path``; raises :class:`ImageError` with the reason.

    Pillow opens the file first because it verifies the whole stream and reports
    truncation, where OpenCV silently returns a partial or ``None`` image; it also
    reads the tiny WebP files (1x1) that OpenCV refuses.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as opened:
            opened.load()
            im = opened if opened.mode in ("L", "RGB") else opened.convert("RGB")
            pixels = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from None
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(pixels)


def decode_file(path: Path, decoder: Decoder) -> list[Symbol]:
    """Decode one still image; raises :class:`ImageError` if it cannot be read."""
    return decoder.decode(load_image(path))
