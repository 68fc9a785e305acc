"""What a handheld camera does to a label, as deterministic image functions.

Used by the misread benchmark (``benchmarks/misread_bench.py``) and its test slice:
every shared photo goes through each degradation and any read that is not the
printed code is a *wrong read*, the failure that puts an item the shopper never
took into the basket. Each degradation has a mild and a harsh level; random parts
(noise, where the glare or the occluding finger falls) come from a generator seeded
by the photo's name and the degradation, so a run is the same on every machine.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Degradation:
    """One named way to spoil a photo, at one level."""

    kind: str  # blur, downscale, jpeg, rotation, perspective, noise, glare, occlusion
    level: str  # "mild" | "harsh"
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.level}"

    def __call__(self, image: np.ndarray, seed_text: str) -> np.ndarray:
        seed = zlib.crc32(f"{seed_text}/{self.name}".encode())
        return self.apply(image, np.random.default_rng(seed))


def _blur(sigma: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), sigma)

    return apply


def _downscale(factor: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    return apply


def _jpeg(quality: int) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if ok else None
        if decoded is None:
            raise ValueError("JPEG round trip failed")
        return np.asarray(decoded)

    return apply


def _rotation(degrees: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        angle = degrees if rng.random() < 0.5 else -degrees
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        c, s = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(h * s + w * c), int(h * c + w * s)
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        return cv2.warpAffine(image, m, (nw, nh), borderMode=cv2.BORDER_REPLICATE)

    return apply


def _perspective(amount: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """The label seen from the side: one edge shrunk by ``amount`` of the image size."""

    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        dx, dy = amount * w, amount * h / 2
        if rng.random() < 0.5:  # left edge farther away
            dst = np.array([[dx, dy], [w, 0], [w, h], [dx, h - dy]], np.float32)
        else:
            dst = np.array([[0, 0], [w - dx, dy], [w - dx, h - dy], [0, h]], np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        return cv2.warpPerspective(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)

    return apply


def _noise(sigma: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noisy = image.astype(np.float32) + rng.normal(0, sigma, image.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8)

    return apply


def _glare(strength: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """A bright specular spot (a shop light on a glossy wrapper) somewhere central."""

    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        radius = 0.18 * max(h, w)
        yy, xx = np.mgrid[0:h, 0:w]
        spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2)) * strength
        if image.ndim == 3:
            spot = spot[:, :, None]
        bright: np.ndarray = np.clip(image.astype(np.float32) + 255 * spot, 0, 255)
        return bright.astype(np.uint8)

    return apply


def _occlusion(fraction: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """A finger across the label: a dark band covering ``fraction`` of the width."""

    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        band = max(1, round(fraction * w))
        x0 = int(rng.integers(round(0.2 * w), max(round(0.2 * w) + 1, round(0.8 * w) - band)))
        out = image.copy()
        out[:, x0 : x0 + band] = 70
        return out

    return apply


DEGRADATIONS: tuple[Degradation, ...] = (
    Degradation("blur", "mild", _blur(1.5)),
    Degradation("blur", "harsh", _blur(3.0)),
    Degradation("downscale", "mild", _downscale(0.5)),
    Degradation("downscale", "harsh", _downscale(0.3)),
    Degradation("jpeg", "mild", _jpeg(30)),
    Degradation("jpeg", "harsh", _jpeg(8)),
    Degradation("rotation", "mild", _rotation(10)),
    Degradation("rotation", "harsh", _rotation(35)),
    Degradation("perspective", "mild", _perspective(0.15)),
    Degradation("perspective", "harsh", _perspective(0.35)),
    Degradation("noise", "mild", _noise(12)),
    Degradation("noise", "harsh", _noise(30)),
    Degradation("glare", "mild", _glare(0.6)),
    Degradation("glare", "harsh", _glare(1.0)),
    Degradation("occlusion", "mild", _occlusion(0.04)),
    Degradation("occlusion", "harsh", _occlusion(0.12)),
)
KINDS: tuple[str, ...] = tuple(dict.fromkeys(d.kind for d in DEGRADATIONS))
