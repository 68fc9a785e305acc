"""Decoder benchmark: read rate / misreads on the shared real photos, then live frame rate.

Run: .venv/bin/python benchmarks/decode_bench.py [--quick]

Columns: zxing-cpp alone (all formats of the folder kinds, default options), zbar
(pyzbar) alone on the grayscale image, and Caddie's pipeline in live and thorough
mode. "read" = images whose expected code was among the results; "bad" = images
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
from pyzbar import pyzbar
from pyzbar.pyzbar import ZBarSymbol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handheld_client.decoding import Decoder, Symbol, load_image  # noqa: E402
from handheld_client.decoding.engines import _zbar_name, _zxing_name  # noqa: E402
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


ZBAR_KINDS = [
    ZBarSymbol.EAN13,
    ZBarSymbol.EAN8,
    ZBarSymbol.UPCA,
    ZBarSymbol.UPCE,
    ZBarSymbol.CODE128,
    ZBarSymbol.QRCODE,
]


def zbar_alone(path: Path) -> list[Symbol]:
    image = load_image(path)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    out = []
    for r in pyzbar.decode(gray, symbols=ZBAR_KINDS):
        s = _as_symbol(_zbar_name(r.type), r.data.decode("utf-8", "replace"))
        if s:
            out.append(s)
    return out


def photo_table() -> None:
    live, thorough = Decoder(SYMBOLOGIES), Decoder(SYMBOLOGIES, thorough=True)
    runs: dict[str, dict[str, FolderScore]] = {}
    seconds: dict[str, float] = {}
    for name, fn in (
        ("zxing-cpp", zxing_alone),
        ("zbar", zbar_alone),
        ("caddie live", lambda p: live.decode(load_image(p))),
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
        cells += f"{f'{read}/{images} {100 * read / images:.1f}%':>13}{bad + fp:>5}"
    print(f"{'total (product)':24} {cells}")
    print(f"{'seconds for all':24} " + "".join(f"{seconds[n]:>18.1f}" for n in names))
    for n in names:
        wrong = {f: s.misread_files for f, s in runs[n].items() if s.misread_files}
        if wrong:
            print(f"  {n} misreads: {wrong}")


def fps_table(seconds_each: float) -> None:
    background = synthetic_background(21)
    with_code = place(background, render_barcode("ean13", "590123412345"), 420, 260)
    texture = (
        cv2.cvtColor(cv2.imread(str(next(PHOTOS.glob("falsepositives-1/01.*")))), cv2.COLOR_BGR2RGB)
        if PHOTOS.is_dir()
        else background
    )
    shelf = cv2.resize(texture, (1280, 720)) if texture is not None else background
    frames = {
        "1280x720 with an EAN-13": with_code,
        "1280x720 no barcode (noise)": background,
        "1280x720 no barcode (photo)": shelf,
        "1280x720 EAN-13, blurred": cv2.GaussianBlur(with_code, (0, 0), 1.5),
    }
    print(f"\n{'frame':32}{'live fps':>10}{'thorough fps':>14}  live result")
    for label, frame in frames.items():
        rates = []
        for decoder in (Decoder(), Decoder(thorough=True)):
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds_each or n < 3:
                result = decoder.decode(frame)
                n += 1
            rates.append(n / (time.perf_counter() - start))
        found = ",".join(s.text for s in Decoder().decode(frame)) or "-"
        print(f"{label:32}{rates[0]:>10.1f}{rates[1]:>14.1f}  {found}")
    del result


def main() -> None:
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
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
