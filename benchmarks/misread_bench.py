"""Misread benchmark: every shared photo through camera degradations, counting wrong reads.

Run: .venv/bin/python benchmarks/misread_bench.py             (every 4th photo)
     .venv/bin/python benchmarks/misread_bench.py --sample 1  (every photo, the full run)
     .venv/bin/python benchmarks/misread_bench.py --mode live (live mode only: much faster)

The default run is 1,056 decodes; it took 19 minutes on this project's 2-core
machine while it was shared at a load average of 12 (on an idle machine, a few).

A wrong read puts an item the shopper never took into the basket, so the target is
zero WRONG in both modes; the read rate is printed beside it. Per degradation
(handheld_client/decoding/degradations.py, a mild and a harsh level each) and per
mode -- live (the handheld's per-frame mode, time cap off so the run is the same on
any machine) and thorough (what ``caddie decode`` runs) -- the table shows:

* photos: degraded images decoded (labelled photos plus the barcode-free ones);
* reads: images where the decoder returned anything;
* correct: images whose printed code was among the results;
* WRONG: images with a result that is not the printed code (on a barcode-free
  photo, any result). ``ean13-2/23`` has a wrong label and is left out (its README).

Photos are split across worker processes (``--jobs``, default 2), each with OpenCV
single-threaded. Exit status 1 if any wrong read was found, so it can gate a change.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handheld_client.decoding import ALL_SYMBOLOGIES, Decoder, load_image  # noqa: E402
from handheld_client.decoding.degradations import DEGRADATIONS, Degradation  # noqa: E402
from handheld_client.decoding.evaluation import (  # noqa: E402
    Photo,
    comparable,
    is_correct,
    photos,
)

PHOTOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "photos"
LIVE_SYMBOLOGIES = ("EAN13", "EAN8", "UPCA", "UPCE", "CODE128", "QR")
MODES = ("live", "decode")

# (mode, degradation name) -> [photos, reads, correct, wrong]
Counts = dict[tuple[str, str], list[int]]


def _decoders() -> dict[str, Decoder]:
    return {
        "live": Decoder(LIVE_SYMBOLOGIES, time_cap_s=None),
        "decode": Decoder(ALL_SYMBOLOGIES, thorough=True),
    }


def _one_photo(
    args: tuple[Photo, tuple[str, ...], tuple[str, ...]],
) -> tuple[Counts, list[str]]:
    """Worker: every selected degradation of one photo, in every selected mode."""
    import cv2

    cv2.setNumThreads(1)
    photo, modes, names = args
    decoders = _decoders()
    counts: Counts = defaultdict(lambda: [0, 0, 0, 0])
    wrong: list[str] = []
    image = load_image(photo.path)
    seed = f"{photo.folder}/{photo.path.name}"
    for degradation in (d for d in DEGRADATIONS if d.name in names):
        degraded = degradation(image, seed)
        for mode in modes:
            symbols = decoders[mode].decode(degraded)
            row = counts[(mode, degradation.name)]
            row[0] += 1
            row[1] += bool(symbols)
            row[2] += any(is_correct(photo, s) for s in symbols)
            bad = [s for s in symbols if not is_correct(photo, s)]
            if bad and not photo.known_bad_label:
                row[3] += 1
                got = ",".join(f"{s.symbology}:{comparable(s)}" for s in bad)
                wrong.append(f"{mode} {degradation.name} {seed} {photo.expected} read {got}")
    return dict(counts), wrong


def run(
    sample: int, jobs: int, modes: tuple[str, ...], degradations: tuple[Degradation, ...]
) -> tuple[Counts, list[str]]:
    chosen = list(photos(PHOTOS))[::sample]
    names = tuple(d.name for d in degradations)
    totals: Counts = defaultdict(lambda: [0, 0, 0, 0])
    wrong: list[str] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for counts, bad in pool.map(_one_photo, [(p, modes, names) for p in chosen]):
            for key, row in counts.items():
                totals[key] = [a + b for a, b in zip(totals[key], row, strict=True)]
            wrong.extend(bad)
    return dict(totals), wrong


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def print_table(counts: Counts, modes: tuple[str, ...], names: tuple[str, ...]) -> None:
    header = f"{'degradation':<18}" + "".join(
        f"| {mode + ': photos reads correct WRONG':<42}" for mode in modes
    )
    print(header)
    print("-" * len(header))
    sums = {mode: [0, 0, 0, 0] for mode in modes}
    for name in names:
        cells = []
        for mode in modes:
            n, reads, correct, bad = counts.get((mode, name), [0, 0, 0, 0])
            sums[mode] = [a + b for a, b in zip(sums[mode], (n, reads, correct, bad), strict=True)]
            cells.append(f"| {n:>6} {reads:>5} {correct:>4} {_pct(correct, n)} {bad:>5}{'':<13}")
        print(f"{name:<18}" + "".join(cells))
    print("-" * len(header))
    cells = []
    for mode in modes:
        n, reads, correct, bad = sums[mode]
        cells.append(f"| {n:>6} {reads:>5} {correct:>4} {_pct(correct, n)} {bad:>5}{'':<13}")
    print(f"{'all':<18}" + "".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=4, help="every Nth photo (1: all)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--mode", choices=[*MODES, "both"], default="both")
    parser.add_argument("--kind", action="append", help="only these degradation kinds")
    args = parser.parse_args()
    if not PHOTOS.is_dir():
        print(f"no photos at {PHOTOS}", file=sys.stderr)
        return 2
    modes = MODES if args.mode == "both" else (args.mode,)
    chosen = tuple(d for d in DEGRADATIONS if not args.kind or d.kind in args.kind)
    start = time.monotonic()
    counts, wrong = run(max(1, args.sample), max(1, args.jobs), modes, chosen)
    print(f"photos: every {args.sample}th of {PHOTOS.resolve()}; {time.monotonic() - start:.0f} s")
    print_table(counts, modes, tuple(d.name for d in chosen))
    for line in wrong:
        print("WRONG", line)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
