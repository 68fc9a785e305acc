"""Thin adapters over the two barcode libraries and the image variants they read.

Each adapter returns :class:`Read` values in the coordinates of the image it was
given; :class:`Variant` carries the affine map back to the original frame, so the
decoder can vote on reads from many preprocessed variants and still report where
the symbol is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import cv2
import numpy as np
import zxingcpp

from handheld_client.decoding.symbols import (
    RETAIL_SYMBOLOGIES,
    Symbol,
    other_symbol,
    retail_symbol,
)

_F = zxingcpp.BarcodeFormat
ZXING_FORMATS: dict[str, tuple[zxingcpp.BarcodeFormat, ...]] = {
    "EAN13": (_F.EAN13,),
    "EAN8": (_F.EAN8,),
    "UPCA": (_F.UPCA,),
    "UPCE": (_F.UPCE,),
    "CODE128": (_F.Code128,),
    "QR": (_F.QRCode,),
    "DATAMATRIX": (_F.DataMatrix,),
    "DATABAR": (_F.DataBar, _F.DataBarExp, _F.DataBarLtd),
}
# names of pyzbar.ZBarSymbol members, resolved only once pyzbar has loaded
ZBAR_SYMBOLS: dict[str, tuple[str, ...]] = {
    "EAN13": ("EAN13",),
    "EAN8": ("EAN8",),
    "UPCA": ("UPCA",),
    "UPCE": ("UPCE",),
    "CODE128": ("CODE128",),
    "QR": ("QRCODE",),
}

log = logging.getLogger(__name__)
_zbar_cache: dict[str, ModuleType | None] = {}


def _import_pyzbar() -> ModuleType:
    """Import pyzbar's reader; fails with OSError when the system libzbar0 is missing."""
    from pyzbar import pyzbar

    reader: ModuleType = pyzbar  # untyped package: name the type once, here
    return reader


def zbar_module() -> ModuleType | None:
    """pyzbar, or ``None`` when it cannot load (then zxing-cpp works alone).

    pyzbar is a ctypes wrapper: ``import`` succeeds only where the system package
    libzbar0 is installed. A handheld without it still scans (zxing-cpp's two-group
    confirmation needs no zbar), so the failure is logged once instead of crashing.
    """
    if "pyzbar" not in _zbar_cache:
        try:
            _zbar_cache["pyzbar"] = _import_pyzbar()
        except (ImportError, OSError) as exc:
            log.warning("zbar unavailable (%s): decoding with zxing-cpp only", exc)
            _zbar_cache["pyzbar"] = None
    return _zbar_cache["pyzbar"]


def _zxing_name(fmt: object) -> str | None:
    name = str(fmt).replace(" ", "").replace("-", "").upper()
    if name.startswith("DATABAR"):
        return "DATABAR"
    return {"QRCODE": "QR", "CODE128": "CODE128"}.get(name, name)


def _zbar_name(kind: str) -> str:
    return {"QRCODE": "QR", "DATABAR_EXP": "DATABAR"}.get(kind, kind)


@dataclass(frozen=True)
class Read:
    """A symbol as one engine saw it in one variant (``quality``: zbar scan-line count)."""

    symbol: Symbol
    engine: str  # "zxing" | "zbar"
    quality: int
    corners: np.ndarray  # 4x2 float, variant coordinates


@dataclass(frozen=True)
class Variant:
    """A preprocessed view of the frame; ``to_variant`` maps frame -> variant pixels."""

    image: np.ndarray
    group: str  # independent evidence comes from different groups
    to_variant: np.ndarray  # 2x3 affine

    def to_frame(self, corners: np.ndarray) -> tuple[int, int, int, int]:
        """Bounding box (x, y, w, h) of ``corners`` in frame coordinates."""
        inverse = cv2.invertAffineTransform(self.to_variant)
        pts = corners @ inverse[:, :2].T + inverse[:, 2]
        x0, y0 = np.floor(pts.min(axis=0)).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
        return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def _symbol(symbology: str, text: str) -> Symbol | None:
    if symbology in RETAIL_SYMBOLOGIES:
        return retail_symbol(symbology, text)
    return other_symbol(symbology, text)


def read_zxing(
    image: np.ndarray,
    symbologies: tuple[str, ...],
    *,
    binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage,
    try_rotate: bool = True,
    try_downscale: bool = True,
) -> list[Read]:
    """zxing-cpp restricted to the enabled symbologies (fewer formats: faster, fewer misreads)."""
    formats = tuple(f for s in symbologies for f in ZXING_FORMATS[s])
    # Retail reads are classified by digits, not by the reported format (see retail_symbol),
    # so UPC-A must stay readable as EAN-13 and vice versa when either is enabled.
    if "UPCA" in symbologies and _F.EAN13 not in formats:
        formats += (_F.EAN13,)
    reads = []
    for b in zxingcpp.read_barcodes(
        image,
        formats=formats,  # type: ignore[arg-type]  # tuples are the non-deprecated form
        try_rotate=try_rotate,
        try_downscale=try_downscale,
        binarizer=binarizer,
    ):
        name = _zxing_name(b.format)
        if name is None or name not in ZXING_FORMATS:
            continue
        symbol = _symbol(name, b.text)
        if symbol is None:
            continue
        p = b.position
        corners = np.array(
            [[q.x, q.y] for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)],
            dtype=np.float64,
        )
        reads.append(Read(symbol, "zxing", 0, corners))
    return reads


def read_zbar(image: np.ndarray, symbologies: tuple[str, ...]) -> list[Read]:
    """zbar (pyzbar) on a grayscale image; only for the symbologies zbar knows."""
    pyzbar = zbar_module()
    names = [k for s in symbologies for k in ZBAR_SYMBOLS.get(s, ())]
    if pyzbar is None or not names:
        return []
    kinds = [pyzbar.ZBarSymbol[n] for n in names]
    reads = []
    for r in pyzbar.decode(image, symbols=kinds):
        try:
            text = r.data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        symbol = _symbol(_zbar_name(r.type), text)
        if symbol is None:
            continue
        corners = np.array([[p.x, p.y] for p in r.polygon], dtype=np.float64).reshape(-1, 2)
        if len(corners) == 0:
            x, y, w, h = r.rect
            corners = np.array([[x, y], [x + w, y + h]], dtype=np.float64)
        reads.append(Read(symbol, "zbar", int(r.quality or 0), corners))
    return reads


# ---- preprocessing -------------------------------------------------------------------

_SQUARE3 = np.ones((3, 3), np.uint8)
MIN_ANISOTROPY = 3.0  # barcode regions measured ~15, shelf photos/noise ~1.0-1.3

_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _then(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Compose 2x3 affines: apply ``first`` then ``second``."""
    a = np.vstack([first, [0, 0, 1]])
    b = np.vstack([second, [0, 0, 1]])
    composed: np.ndarray = (b @ a)[:2]
    return composed


def _percentile95(g: np.ndarray) -> int:
    """95th percentile of a uint8 image from its histogram (np.percentile sorts: ~10x slower)."""
    if g.dtype != np.uint8:
        return int(np.percentile(g, 95))
    cumulative = np.cumsum(np.bincount(g.ravel(), minlength=256))
    # numpy's default 'linear' method between the order statistics at floor/ceil of 0.95*(n-1)
    pos = 0.95 * (g.size - 1)
    lo = int(np.searchsorted(cumulative, int(pos) + 1))
    hi = int(np.searchsorted(cumulative, min(int(pos) + 2, g.size)))
    return int(lo + (hi - lo) * (pos - int(pos)))


def pad(v: Variant, frac: float = 0.15) -> Variant:
    """Add a light quiet zone: tightly cropped labels lose the margin EAN/UPC needs."""
    h, w = v.image.shape[:2]
    p = max(8, int(frac * max(h, w)))
    value = _percentile95(v.image)
    img = cv2.copyMakeBorder(v.image, p, p, p, p, cv2.BORDER_CONSTANT, value=value)
    return Variant(img, v.group, _then(v.to_variant, np.array([[1.0, 0, p], [0, 1.0, p]])))


def scale(v: Variant, factor: float, group: str | None = None) -> Variant:
    interp = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    img = cv2.resize(v.image, None, fx=factor, fy=factor, interpolation=interp)
    m = np.array([[factor, 0, 0], [0, factor, 0]])
    return Variant(img, group or v.group, _then(v.to_variant, m))


def rotate(v: Variant, degrees: float) -> Variant:
    h, w = v.image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    img = cv2.warpAffine(
        v.image, m, (nw, nh), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    return Variant(img, "rotated", _then(v.to_variant, m))


def filtered(v: Variant, fn: Callable[[np.ndarray], np.ndarray]) -> Variant:
    return Variant(fn(v.image), "filtered", v.to_variant)


def sharpen(g: np.ndarray) -> np.ndarray:
    """Unsharp mask: restores bar edges softened by focus blur and compression."""
    return cv2.addWeighted(g, 1.8, cv2.GaussianBlur(g, (0, 0), 2), -0.8, 0)


def clahe(g: np.ndarray) -> np.ndarray:
    """Local contrast: glare and shadows across a label defeat one global threshold."""
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(g)


def otsu(g: np.ndarray) -> np.ndarray:
    return cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def smooth(g: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(g, (3, 3), 0)


def original(gray: np.ndarray) -> Variant:
    return Variant(gray, "original", _IDENTITY.copy())


def crop(gray: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.3) -> Variant:
    """Region of interest around ``box`` with a margin, clipped to the frame."""
    x, y, w, h = box
    mx, my = int(w * margin) + 8, int(h * margin) + 8
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(gray.shape[1], x + w + mx), min(gray.shape[0], y + h + my)
    m = np.array([[1.0, 0, -x0], [0, 1.0, -y0]])
    return Variant(gray[y0:y1, x0:x1], "original", m)


def barcode_regions(gray: np.ndarray, max_regions: int = 3) -> list[tuple[int, int, int, int]]:
    """Cheap detector for barcode-like areas: strong gradients in one dominant direction.

    It gates the expensive fallback passes in live mode, so frames without anything
    bar-like cost one zxing pass and this (a few ms on a downscaled frame). A region
    counts only if its gradient energy across the bars is several times that along
    them: bars are anisotropic, shelf texture, text and noise are not.
    """
    h, w = gray.shape[:2]
    f = min(1.0, 480 / max(h, w))
    small = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else gray
    gx = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3))
    gy = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 0, 1, ksize=3))
    boxes: list[tuple[float, tuple[int, int, int, int]]] = []
    for across, along, kernel in ((gx, gy, (15, 5)), (gy, gx, (5, 15))):
        blurred = cv2.blur(cv2.subtract(across, along), (9, 9))
        if int(blurred.max()) < 40:
            continue
        _, mask = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        mask = cv2.morphologyEx(
            mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, kernel)
        )
        mask = cv2.dilate(cv2.erode(mask, _SQUARE3, iterations=2), _SQUARE3, iterations=3)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            x, y, cw, ch = cv2.boundingRect(c)
            area = cw * ch
            if not 0.004 * small.size <= area <= 0.5 * small.size or min(cw, ch) < 8:
                continue
            a = float(across[y : y + ch, x : x + cw].sum())
            b = float(along[y : y + ch, x : x + cw].sum()) + 1.0
            if a / b < MIN_ANISOTROPY:
                continue
            box = (int(x / f), int(y / f), int(cw / f), int(ch / f))
            boxes.append((area * a / b, box))
    boxes.sort(key=lambda t: -t[0])
    return [b for _, b in boxes[:max_regions]]


# ---- bar-pattern gate -----------------------------------------------------------------

BAR_WINDOW = 11  # px: spans a few bars of a small symbol, less than its height
BAR_COHERENCE = 0.75  # gradients share one axis (1.0: perfectly parallel edges)
BAR_CANCELLATION = 0.6  # ...and alternate in sign, unlike a single shelf edge
BAR_MIN_RMS = 40.0  # Sobel units: flat or noise-level areas say nothing


@dataclass(frozen=True)
class BarPatch:
    """A connected area of bar-like texture: its size, bounding box and bar direction.

    ``angle`` is the direction across the bars in degrees, in (-90, 90]; 0 means
    upright bars (the orientation scan-line readers handle best).
    """

    area: int
    box: tuple[int, int, int, int]
    angle: float


def bar_patches(gray: np.ndarray, min_area: int) -> list[BarPatch]:
    """Patches that look like 1-D bars at any angle, largest first.

    Looked for at full resolution first, because the symbols the fallback passes exist
    for are small (modules of 1-2 px) and a downscale erases them; only if none is
    found, again at half resolution, where bars too wide for the window (a label held
    close to the lens) fit it. Areas and boxes are in ``gray``'s pixels.
    """
    patches = _bar_patches_at(gray, min_area)
    if patches or min(gray.shape[:2]) < 2 * BAR_WINDOW:
        return patches
    half = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    return [
        BarPatch(4 * p.area, (2 * p.box[0], 2 * p.box[1], 2 * p.box[2], 2 * p.box[3]), p.angle)
        for p in _bar_patches_at(half, max(1, min_area // 4))
    ]


def _bar_patches_at(gray: np.ndarray, min_area: int) -> list[BarPatch]:
    """:func:`bar_patches` at one scale.

    Per window the structure tensor says how strongly gradients share one axis
    (coherence); the signed gradient sum says whether they alternate, as dark-light-dark
    bars do, or all point one way, as at a shelf edge or a label's border. Only
    connected patches of at least ``min_area`` pixels count. About 2 ms on a 427x240
    aim zone on one core.
    """
    if min(gray.shape[:2]) < 3:
        return []
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    k = (BAR_WINDOW, BAR_WINDOW)
    jxx = cv2.boxFilter(gx * gx, -1, k)
    jyy = cv2.boxFilter(gy * gy, -1, k)
    jxy = cv2.boxFilter(gx * gy, -1, k)
    mean_x = cv2.boxFilter(gx, -1, k)
    mean_y = cv2.boxFilter(gy, -1, k)
    mean_abs = cv2.boxFilter(np.abs(gx) + np.abs(gy), -1, k)
    energy = jxx + jyy
    # squared forms of: coherence > c, |mean gradient| < (1 - k) * mean |gradient|, rms > r
    coherent = (jxx - jyy) ** 2 + 4 * jxy * jxy > (BAR_COHERENCE * energy) ** 2
    alternating = mean_x * mean_x + mean_y * mean_y < ((1 - BAR_CANCELLATION) * mean_abs) ** 2
    strong = energy > BAR_MIN_RMS**2
    mask = (coherent & alternating & strong).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    patches = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_area:
            continue
        inside = labels[y : y + h, x : x + w] == i
        sxx = float(jxx[y : y + h, x : x + w][inside].sum())
        syy = float(jyy[y : y + h, x : x + w][inside].sum())
        sxy = float(jxy[y : y + h, x : x + w][inside].sum())
        angle = float(np.degrees(0.5 * np.arctan2(2 * sxy, sxx - syy)))
        patches.append(BarPatch(area, (x, y, w, h), angle))
    patches.sort(key=lambda p: -p.area)
    return patches
