"""Decoder benchmark: read rate / misreads on the shared real photos, then live frame rate.

Run: .venv/bin/python benchmarks/decode_bench.py [--quick]

Photo table columns: zxing-cpp alone (all formats, default options), zbar (pyzbar)
alone on the grayscale image, and Caddie's pipeline: live (the handheld's per-frame
mode with its default 30 ms CPU-time cap), live with the cap off (reproducible; what
the tests assert), live with the cap and the bar-pattern gate both off (the gate must
not cost reads), and thorough. "read" = images whose expected code was among the
results; "bad" = images with a wrong result (ean13-2/23 has a wrong label and is not
counted; see handheld_client/decoding/evaluation.py).

Held-out check: the gate's threshold (and, before it, the rescue order) was chosen on
the photos, so the folders are split in two by name order (every other folder) and
the gate's threshold is derived from the first half only; the second half is
reported separately.

Frame rate: real decoding of 1280x720 frames, each frame decoded several times:
synthetic labels on a synthetic shelf texture, real barcode-free photos stretched to
720p, and every labelled product photo fitted into a 720p frame. Both wall time and
thread CPU time per frame are measured, because other work shares this machine (see
the load average printed first); the CPU figures are the per-frame cost. One core:
cv2.setNumThreads(1); zxing-cpp's Python reader runs on the calling thread (no
internal pool), zbar is single-threaded; the process is pinned to one CPU where the
OS allows it. Frames are never skipped.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import zxingcpp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handheld_client.decoding import Decoder, Symbol, load_image  # noqa: E402
from handheld_client.decoding import engines as e  # noqa: E402
from handheld_client.decoding.decoder import RESCUE_GATE_MIN_AREA, aim_zone, to_gray  # noqa: E402
from handheld_client.decoding.engines import _zbar_name, _zxing_name, zbar_module  # noqa: E402
from handheld_client.decoding.evaluation import (  # noqa: E402
    FolderScore,
    Photo,
    is_correct,
    photos,
    score,
    totals,
)
from handheld_client.decoding.symbols import other_symbol, retail_symbol  # noqa: E402
from handheld_client.sources import place, render_barcode, rotate_label, synthetic_background  # noqa: E402

PHOTOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "photos"
SYMBOLOGIES = ("EAN13", "EAN8", "UPCA", "UPCE", "CODE128", "QR")
FRAME_W, FRAME_H = 1280, 720


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


def split_folders() -> tuple[list[str], list[str]]:
    """(tuning half, held-out half): every other folder in name order."""
    folders = sorted(p.name for p in PHOTOS.iterdir() if p.is_dir())
    return folders[0::2], folders[1::2]


def _cell(read: int, images: int) -> str:
    return f"{read}/{images} {100 * read / images:.1f}%" if images else "-"


def photo_table() -> None:
    live, thorough = Decoder(SYMBOLOGIES), Decoder(SYMBOLOGIES, thorough=True)
    uncapped = Decoder(SYMBOLOGIES, time_cap_s=None)
    ungated = Decoder(SYMBOLOGIES, time_cap_s=None, gate=False)
    runs: dict[str, dict[str, FolderScore]] = {}
    seconds: dict[str, float] = {}
    for name, fn in (
        ("zxing-cpp", zxing_alone),
        ("zbar", zbar_alone),
        ("caddie live", lambda p: live.decode(load_image(p))),
        ("live, no cap", lambda p: uncapped.decode(load_image(p))),
        ("no cap, no gate", lambda p: ungated.decode(load_image(p))),
        ("caddie thorough", lambda p: thorough.decode(load_image(p))),
    ):
        start = time.thread_time()
        runs[name] = score(PHOTOS, fn)
        seconds[name] = time.thread_time() - start
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
        cells += f"{_cell(read, images):>14}{bad + fp:>4}"
    print(f"{'total (product)':24} {cells}")
    tuning, held_out = split_folders()
    for label, half in (("tuning half", tuning), ("held-out half", held_out)):
        cells = ""
        for n in names:
            part = {f: s for f, s in runs[n].items() if f in half}
            images, read, bad, fp = totals(part)
            cells += f"{_cell(read, images):>14}{bad + fp:>4}"
        print(f"{label:24} {cells}")
    print(f"{'CPU seconds for all':24} " + "".join(f"{seconds[n]:>18.1f}" for n in names))
    print(f"  held-out folders: {', '.join(held_out)}")
    print(
        f"  live: the CPU-time cap skipped passes on {live.capped_frames} photos; "
        f"the gate skipped the rescue on {live.gated_frames}"
    )
    for n in names:
        wrong = {f: s.misread_files for f, s in runs[n].items() if s.misread_files}
        if wrong:
            print(f"  {n} misreads: {wrong}")


def gate_table() -> None:
    """Where the gate's threshold comes from, and how it fares on the held-out half."""
    tuning, held_out = split_folders()
    no_rescue = Decoder(SYMBOLOGIES, time_cap_s=None, rescue=())
    with_rescue = Decoder(SYMBOLOGIES, time_cap_s=None, gate=False)
    rescued: dict[str, list[bool]] = {"tuning": [], "held-out": []}
    others: dict[str, list[bool]] = {"tuning": [], "held-out": []}
    empty: dict[str, list[bool]] = {"tuning": [], "held-out": []}
    smallest: dict[str, int] = {}
    for photo in photos(PHOTOS):
        image = load_image(photo.path)
        gray = to_gray(image)
        if min(gray.shape[:2]) < 8:
            continue
        zone = aim_zone(gray).image
        largest = e.bar_patches(zone, 1)
        passes = bool(e.bar_patches(zone, RESCUE_GATE_MIN_AREA))
        half = "tuning" if photo.folder in tuning else "held-out"
        if photo.expected is None:
            empty[half].append(passes)
        elif _reads(photo, with_rescue, image) and not _reads(photo, no_rescue, image):
            rescued[half].append(passes)
            smallest[half] = min(smallest.get(half, 1 << 30), largest[0].area if largest else 0)
        else:
            others[half].append(passes)
    print(
        f"\nbar-pattern gate: threshold {RESCUE_GATE_MIN_AREA} px = about half the smallest "
        "largest-patch among the tuning half's photos that only the rescue reads"
    )
    print(
        f"{'':12}{'rescue-read: smallest / pass':>30}{'other product photos pass':>28}"
        f"{'no-barcode photos pass':>25}"
    )
    for half in ("tuning", "held-out"):
        r, o, z = rescued[half], others[half], empty[half]
        cells = f"{smallest.get(half, '-')} px / {sum(r)}/{len(r)}"
        no_code = f"{sum(z)}/{len(z)}" if z else "-"
        print(f"{half:12}{cells:>30}{f'{sum(o)}/{len(o)}':>28}{no_code:>25}")


def _reads(photo: Photo, decoder: Decoder, image: np.ndarray) -> bool:
    return any(is_correct(photo, s) for s in decoder.decode(image))


# ---- frame rate ------------------------------------------------------------------------


@dataclass
class Timing:
    wall: list[float]
    cpu: list[float]

    def row(self) -> str:
        w, c = np.array(self.wall) * 1000, np.array(self.cpu) * 1000
        return (
            f"{len(w):>6}{1000 / w.mean():>9.1f}{1000 / c.mean():>8.1f}"
            f"{np.percentile(w, 99):>9.1f}{np.percentile(c, 99):>8.1f}"
            f"{w.max():>9.1f}{c.max():>8.1f}"
        )


def time_frames(decoder: Decoder, frames: list[np.ndarray], repeats: int) -> Timing:
    """Decode every frame ``repeats`` times, in order, timing each decode."""
    timing = Timing([], [])
    for _ in range(repeats):
        for frame in frames:
            w, c = time.perf_counter(), time.thread_time()
            decoder.decode(frame)
            timing.cpu.append(time.thread_time() - c)
            timing.wall.append(time.perf_counter() - w)
    return timing


def fit_720p(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """A photo scaled to fit a 1280x720 frame (aspect kept), centred on shelf texture."""
    h, w = image.shape[:2]
    f = min(FRAME_W / w, FRAME_H / h)
    nw, nh = max(1, round(w * f)), max(1, round(h * f))
    interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
    label = cv2.resize(image, (nw, nh), interpolation=interp)
    if label.ndim == 2:
        label = cv2.cvtColor(label, cv2.COLOR_GRAY2BGR)
    return place(background, label, (FRAME_W - nw) // 2, (FRAME_H - nh) // 2)


def synthetic_frames() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    background = synthetic_background(21)
    label = render_barcode("ean13", "590123412345")
    with_code = place(background, label, 420, 260)
    with_barcode = {
        "EAN-13": with_code,
        "EAN-13, blurred": cv2.GaussianBlur(with_code, (0, 0), 1.5),
        "EAN-13 at 25 degrees": place(background, rotate_label(label, 25), 460, 230),
        "UPC-A, 60% size": place(
            background,
            cv2.resize(render_barcode("upca", "03600029145"), None, fx=0.6, fy=0.6),
            540,
            300,
        ),
        "small EAN-13 (45%) in the centre": place(
            background, cv2.resize(label, None, fx=0.45, fy=0.45), 560, 320
        ),
    }
    without = {
        "noise texture": background,
        "noise texture, other seed": synthetic_background(22),
    }
    return with_barcode, without


def fps_table(repeats: int) -> None:
    cv2.setNumThreads(1)
    decoder = Decoder()  # the handheld's default: EAN/UPC, live, 30 ms CPU-time cap
    with_barcode, without = synthetic_frames()
    background = synthetic_background(21)
    product = [p for p in photos(PHOTOS) if p.expected is not None] if PHOTOS.is_dir() else []
    empty = [p for p in photos(PHOTOS) if p.expected is None] if PHOTOS.is_dir() else []
    photo_frames = [fit_720p(load_image(p.path), background) for p in product]
    empty_frames = [
        cv2.resize(load_image(p.path), (FRAME_W, FRAME_H))
        for p in empty
        if min(load_image(p.path).shape[:2]) >= 200
    ]
    header = (
        f"{'1280x720 frames, live mode':44}{'frames':>6}{'fps':>9}{'fps':>8}"
        f"{'p99 ms':>9}{'p99 ms':>8}{'max ms':>9}{'max ms':>8}"
    )
    print(f"\n{header}\n{'':50}" + "    wall     cpu" * 3)
    groups: dict[str, list[Timing]] = {"with": [], "without": []}

    def run(label: str, frames: list[np.ndarray], group: str, reps: int) -> None:
        t = time_frames(decoder, frames, reps)
        groups[group].append(t)
        print(f"{label:44}{t.row()}")

    print("with a barcode")
    for label, frame in with_barcode.items():
        run(f"  {label}", [frame], "with", repeats * 10)
    if photo_frames:
        run(f"  {len(photo_frames)} product photos fitted to 720p", photo_frames, "with", repeats)
    print("without a barcode")
    for label, frame in without.items():
        run(f"  {label}", [frame], "without", repeats * 10)
    if empty_frames:
        run(
            f"  {len(empty_frames)} barcode-free photos stretched",
            empty_frames,
            "without",
            repeats * 2,
        )
    print("-" * 94)
    for group, label in (("with", "all frames with a barcode"), ("without", "all frames without")):
        merged = Timing(
            [x for t in groups[group] for x in t.wall], [x for t in groups[group] for x in t.cpu]
        )
        print(f"{label:44}{merged.row()}")
    print(
        f"  (CPU-time cap skipped passes {decoder.capped_frames}x; gate ended "
        f"{decoder.gated_frames} frames early)"
    )
    if photo_frames:
        _photo_frames_read_rate(product, photo_frames, empty_frames)
    for label, frame in {**with_barcode, **without}.items():
        found = ",".join(s.text for s in decoder.decode(frame)) or "-"
        print(f"  {label}: {found}")


def _photo_frames_read_rate(
    product: list[Photo], frames: list[np.ndarray], empty_frames: list[np.ndarray]
) -> None:
    decoder = Decoder(SYMBOLOGIES)
    read = bad = 0
    for photo, frame in zip(product, frames, strict=True):
        symbols = decoder.decode(frame)
        read += any(is_correct(photo, s) for s in symbols)
        bad += any(not is_correct(photo, s) for s in symbols) and not photo.known_bad_label
    false = sum(bool(decoder.decode(f)) for f in empty_frames)
    print(
        f"  live on the 720p photo frames (all six symbologies): read {_cell(read, len(frames))}, "
        f"wrong {bad}, anything on barcode-free frames {false}"
    )


def main() -> None:
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    load = os.getloadavg()[0]
    print(
        f"load average {load:.1f} on {os.cpu_count()} CPUs (wall times are inflated when it is "
        "above ~1; CPU times much less so)"
    )
    print(
        f"zxing-cpp {getattr(zxingcpp, '__version__', '3.x')}, OpenCV {cv2.__version__}, "
        f"numpy {np.__version__}; one core, {cv2.getNumThreads()} OpenCV thread\n"
    )
    if PHOTOS.is_dir():
        photo_table()
        gate_table()
    else:
        print(f"(no photos at {PHOTOS})")
    fps_table(1 if "--quick" in sys.argv else 3)


if __name__ == "__main__":
    main()
