"""Decoder benchmark: read rate / misreads on the shared real photos, then live frame rate.

Run: .venv/bin/python benchmarks/decode_bench.py [--quick]

Columns: zxing-cpp alone (all formats, default options), zbar (pyzbar) alone on the
grayscale image, and Caddie's pipeline: live (the handheld's per-frame mode, default
30 ms cap), live with the cap off (reproducible; what the tests assert) and thorough.
"read" = images whose expected code was among the results; "bad" = images
with a wrong result (ean13-2/23 has a wrong label and is not counted; see
handheld_client/decoding/evaluation.py). Then frames/s on synthetic 1280x720 frames
on one core: cv2.setNumThreads(1); zxing-cpp's Python reader runs on the calling
thread (no internal pool), zbar is single-threaded; the process is pinned to one CPU
where the OS allows it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import zxingcpp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handheld_client.decoding import Decoder, Symbol, load_image  # noqa: E402
from handheld_client.decoding.engines import _zbar_name, _zxing_name, zbar_module  # noqa: E402
from handheld_client.decoding.evaluation import FolderScore, score, totals  # noqa: E402
from handheld_client.decoding.symbols import other_symbol, retail_symbol  # noqa: E402
from handheld_client.sources import place, render_barcode, synthetic_background  # noqa: E402

PHOTOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "photos"
SYMBOLOGIES = ("EAN13", "EAN8", "UPCA", "UPCE", "CODE128", "QR")


def _as_symbol(name: str | None, text: str) -> Symbol | None:
    """Raw engine output in comparable form (no vote, but the same UPC spelling rules)."""
    if name in ("EAN13", "EAN8", "UPCA", "UPCE"):
        return retail_symbol(name, text) or Symbol(name, text, None)
    return other_symbol(name or "?", text)


def zxing_alone(path: Path) -> list[Symbol]:
    out = []
    for b in zxingcpp.read_barcodes(load_image(path)):
        s = _as_symbol(_zxing_name(b.format), b.text)
        if s:
            out.append(s)
    return out


ZBAR_KINDS = ("EAN13", "EAN8", "UPCA", "UPCE", "CODE128", "QRCODE")


def zbar_alone(path: Path) -> list[Symbol]:
    pyzbar = zbar_module()
    if pyzbar is None:
        return []
    image = load_image(path)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    out = []
    for r in pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol[k] for k in ZBAR_KINDS]):
        s = _as_symbol(_zbar_name(r.type), r.data.decode("utf-8", "replace"))
        if s:
            out.append(s)
    return out


def photo_table() -> None:
    live, thorough = Decoder(SYMBOLOGIES), Decoder(SYMBOLOGIES, thorough=True)
    uncapped = Decoder(SYMBOLOGIES, time_cap_s=None)
    runs: dict[str, dict[str, FolderScore]] = {}
    seconds: dict[str, float] = {}
    for name, fn in (
        ("zxing-cpp", zxing_alone),
        ("zbar", zbar_alone),
        ("caddie live", lambda p: live.decode(load_image(p))),
        ("live, no cap", lambda p: uncapped.decode(load_image(p))),
        ("caddie thorough", lambda p: thorough.decode(load_image(p))),
    ):
        start = time.perf_counter()
        runs[name] = score(PHOTOS, fn)
        seconds[name] = time.perf_counter() - start
    names = list(runs)
    print(f"{'folder':20}{'n':>4} " + "".join(f"{n:>18}" for n in names))
    print(f"{'':25}" + "".join(f"{'read  bad':>18}" for _ in names))
    for folder, first in runs[names[0]].items():
        cells = "".join(f"{runs[n][folder].read:>12}{runs[n][folder].misread:>6}" for n in names)
        print(f"{folder:20}{first.images:>4} {cells}")
    print("-" * (25 + 18 * len(names)))
    cells = ""
    for n in names:
        images, read, bad, fp = totals(runs[n])
        cells += f"{f'{read}/{images} {100 * read / images:.1f}%':>14}{bad + fp:>4}"
    print(f"{'total (product)':24} {cells}")
    print(f"{'seconds for all':24} " + "".join(f"{seconds[n]:>18.1f}" for n in names))
    print(f"  live: wall-clock cap skipped passes on {live.capped_frames} photos")
    for n in names:
        wrong = {f: s.misread_files for f, s in runs[n].items() if s.misread_files}
        if wrong:
            print(f"  {n} misreads: {wrong}")


def _photo_frame(name: str, fallback: np.ndarray) -> np.ndarray:
    """A real barcode-free photo stretched to 1280x720 (a shelf-like frame)."""
    found = sorted(PHOTOS.glob(f"falsepositives-1/{name}.*")) if PHOTOS.is_dir() else []
    return cv2.resize(load_image(found[0]), (1280, 720)) if found else fallback


def fps_table(seconds_each: float) -> None:
    background = synthetic_background(21)
    with_code = place(background, render_barcode("ean13", "590123412345"), 420, 260)
    small_code = place(
        background,
        cv2.resize(render_barcode("ean13", "590123412345"), None, fx=0.45, fy=0.45),
        560,
        320,
    )
    frames = {
        "EAN-13": with_code,
        "EAN-13, blurred": cv2.GaussianBlur(with_code, (0, 0), 1.5),
        "small EAN-13 in the centre": small_code,
        "no barcode (noise)": background,
        "no barcode, photo 01": _photo_frame("01", background),
        "no barcode, photo 13 (detector fires)": _photo_frame("13", background),
        "no barcode, photo 19": _photo_frame("19", background),
    }
    print("\n1280x720 frames, one core: frames/s (mean) and worst frame ms")
    print(f"{'frame':40}{'live fps':>9}{'worst ms':>9}{'thorough fps':>13}  live result")
    for label, frame in frames.items():
        cells = []
        for decoder in (Decoder(), Decoder(thorough=True)):
            n, worst, start = 0, 0.0, time.perf_counter()
            while time.perf_counter() - start < seconds_each or n < 3:
                t = time.perf_counter()
                decoder.decode(frame)
                worst = max(worst, time.perf_counter() - t)
                n += 1
            cells.append((n / (time.perf_counter() - start), 1000 * worst))
        found = ",".join(s.text for s in Decoder().decode(frame)) or "-"
        print(f"{label:40}{cells[0][0]:>9.1f}{cells[0][1]:>9.1f}{cells[1][0]:>13.1f}  {found}")


def main() -> None:
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(f"load average {os.getloadavg()[0]:.1f} (timings are only meaningful near 0)")
    print(
        f"zxing-cpp {zxingcpp.__version__ if hasattr(zxingcpp, '__version__') else '3.x'}, "
        f"OpenCV {cv2.__version__}, numpy {np.__version__}; one core\n"
    )
    if PHOTOS.is_dir():
        photo_table()
    else:
        print(f"(no photos at {PHOTOS})")
    fps_table(0.5 if "--quick" in sys.argv else 2.0)


if __name__ == "__main__":
    main()
