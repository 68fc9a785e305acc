"""Camera frames -> confirmed, normalised barcode symbols (zxing-cpp first, zbar fallback)."""

from __future__ import annotations

from handheld_client.decoding.decoder import DEFAULT_TIME_CAP_S, Decoder
from handheld_client.decoding.files import ImageError, decode_file, load_image
from handheld_client.decoding.symbols import (
    ALL_SYMBOLOGIES,
    DEFAULT_SYMBOLOGIES,
    Symbol,
)

__all__ = [
    "ALL_SYMBOLOGIES",
    "DEFAULT_SYMBOLOGIES",
    "DEFAULT_TIME_CAP_S",
    "Decoder",
    "ImageError",
    "Symbol",
    "decode_file",
    "load_image",
]
