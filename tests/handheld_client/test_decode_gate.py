"""The bar-pattern gate, slanted labels and the live time cap, on rendered frames.

The gate decides whether a live frame gets the costly rescue passes, so it must stay
quiet on frames without bars and fire on labels at any size and angle the readers
can cope with; its effect on the real photos is checked in test_decode_photos.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from handheld_client.decoding import Decoder, engines
from handheld_client.decoding.decoder import RESCUE_GATE_MIN_AREA, aim_zone, to_gray
from handheld_client.decoding.engines import bar_patches
from handheld_client.sources import place, render_barcode, rotate_label, synthetic_background


def _centred(label: np.ndarray, seed: int = 4) -> np.ndarray:
    """``label`` in the middle of a 1280x720 frame, where the aiming reticle is."""
    frame = synthetic_background(seed)
    h, w = label.shape[:2]
    return place(frame, label, max(0, 640 - w // 2), max(0, 360 - h // 2))


def _label(scale: float, degrees: float, data: str = "590123412345") -> np.ndarray:
    label = render_barcode("ean13", data)
    if scale != 1.0:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        label = cv2.resize(label, None, fx=scale, fy=scale, interpolation=interp)
    return rotate_label(label, degrees) if degrees else label


def _gate(frame: np.ndarray) -> list[float]:
    """Bar directions of the patches the live decoder's gate finds, largest first."""
    return [p.angle for p in bar_patches(aim_zone(to_gray(frame)).image, RESCUE_GATE_MIN_AREA)]


def _undirected_gap(a: float, b: float) -> float:
    d = abs(a - b) % 180
    return min(d, 180 - d)


@pytest.mark.parametrize("seed", [0, 7, 11, 21])
def test_gate_finds_nothing_in_a_frame_without_bars(seed: int) -> None:
    assert _gate(synthetic_background(seed)) == []


def test_gate_ignores_a_single_edge() -> None:
    # a shelf edge: coherent gradients, but all pointing one way
    sharp = np.full((720, 1280), 60, np.uint8)
    sharp[:, 640:] = 200
    assert _gate(cv2.GaussianBlur(sharp, (0, 0), 1.0)) == []


@pytest.mark.parametrize(
    ("scale", "degrees"),
    list(itertools.product([0.5, 0.75, 1.0, 2.5], [0, 20, -35, 60, 90])),
)
def test_gate_fires_on_labels_at_any_scale_and_angle(scale: float, degrees: float) -> None:
    angles = _gate(_centred(_label(scale, degrees)))
    assert angles, f"no bar patch for a {scale}x label at {degrees} degrees"
    # the direction across the bars turns with the label (image y points down)
    assert _undirected_gap(angles[0], -degrees) < 10


def test_frame_without_barcode_skips_the_rescue() -> None:
    decoder = Decoder(time_cap_s=None)
    assert decoder.decode(synthetic_background(9)) == []
    assert decoder.gated_frames == 1
    ungated = Decoder(time_cap_s=None, gate=False)
    assert ungated.decode(synthetic_background(9)) == []
    assert ungated.gated_frames == 0


@pytest.fixture(params=["with zbar", "zxing-cpp only"])
def zbar(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both decoder set-ups a handheld can have: libzbar0 installed, or missing (then
    zxing-cpp confirms its own reads from a second preprocessing group)."""
    if request.param == "zxing-cpp only":
        monkeypatch.setattr(engines, "_zbar_cache", {"pyzbar": None})
    elif engines.zbar_module() is None:
        pytest.skip("libzbar0 is not installed (.ci/setup installs it)")


@pytest.mark.usefixtures("zbar")
@pytest.mark.parametrize("degrees", [25, -40, 55])
def test_slanted_label_is_read_in_live_mode(degrees: float) -> None:
    frame = _centred(_label(0.8, degrees))
    symbols = Decoder(time_cap_s=None).decode(frame)
    assert [s.text for s in symbols] == ["5901234123457"]
    x, y, w, h = symbols[0].position or (0, 0, 0, 0)
    assert 350 < x + w / 2 < 930 and 200 < y + h / 2 < 520


@pytest.mark.usefixtures("zbar")
def test_time_cap_runs_on_the_given_clock() -> None:
    """A clock that reports the budget spent leaves only the first pass (and its
    confirmation): an upright label is still read, a slanted one is not."""
    ticks = iter(range(0, 10**6))

    def busy_clock() -> float:
        return float(next(ticks))  # one second per look

    upright, slanted = _centred(_label(1.0, 0)), _centred(_label(0.8, 30))
    decoder = Decoder(clock=busy_clock)
    assert [s.text for s in decoder.decode(upright)] == ["5901234123457"]
    assert decoder.decode(slanted) == []
    assert decoder.capped_frames == 1
    assert [s.text for s in Decoder(clock=busy_clock, time_cap_s=None).decode(slanted)] == [
        "5901234123457"
    ]


@pytest.mark.usefixtures("zbar")
@pytest.mark.parametrize(("scale", "seed"), [(0.45, 21), (0.45, 4), (0.5, 9), (0.6, 11)])
def test_small_label_far_from_the_lens_is_read_in_live_mode(scale: float, seed: int) -> None:
    """A code held far away: modules of about one pixel in the middle of a 720p frame
    (decode_bench.py's "small EAN-13 (45%) in the centre" frame and its neighbours; at
    40% the downscale has already erased the bars)."""
    label = cv2.resize(_label(1.0, 0), None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    frame = place(synthetic_background(seed), label, 560, 320)
    symbols = Decoder(time_cap_s=None).decode(frame)
    assert [s.text for s in symbols] == ["5901234123457"]
