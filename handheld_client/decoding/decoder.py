"""Frame -> confirmed symbols: zxing-cpp first, zbar as fallback, and a vote.

Why a vote: on the shared real photos both libraries occasionally return a wrong
EAN/UPC that still has a valid check digit (zbar more often). A read is accepted
only with independent evidence:

* both engines read the same code, or
* zxing-cpp read it in two different preprocessing groups (e.g. the raw frame and a
  sharpened crop around where it was found), or
* zbar read it in four groups, or in three with one confident read (>= 20 scan lines).

Then, among accepted EAN/UPC codes sharing their right half (last 7 digits, where
a left-half misdecode lands), only the best supported survives: two real products
in one frame practically never share those digits, while misreads do.

One symbol, one value. A wrong read puts an item the shopper never took into the
basket; a missed read only makes them scan again. So when two different values were
read where one 1-D symbol is (their areas overlap, each read's thin scan-line box
grown across the bars to a third of its length), at most one is reported: the one
both engines read, and only if no rival value was also read by both engines. Rivals
count even when they were not accepted themselves: a blurred or partly hidden
symbol that reads one way in one pass and another way in the next is not evidence
for either, however often one of them repeats (repeats of one degraded image share
its damage). A rival is any zxing-cpp read, or a zbar read seen in two groups: one
lone zbar pass is noise (alone, zbar needs three or four groups to be believed).
This is how a second retail code came out of one printed barcode: a
rescaled or filtered pass re-read a blurred symbol with a left-half digit pair
swapped, a valid check digit kept it alive, and two passes on the same pixels
"agreed". ``benchmarks/misread_bench.py`` counts such reads over the shared photos
under camera degradations.

Short symbols need zbar's word. A scan line that crosses only some bars of a
slanted or partly hidden EAN-13 can spell a valid UPC-E or EAN-8 (51 or 67
modules: a run of the longer symbol's bars, and a one-in-ten chance that the check
digit fits); every pass over those pixels then repeats it. So a UPC-E or EAN-8 is
not accepted on zxing-cpp's word alone (zbar must read it too, or alone in several
groups as above), except on a handheld without libzbar0.

``thorough=False`` (live, the handheld's per-frame mode) bounds the work and stops at
the first confirmed read:

1. one zxing pass on the frame; confirmation only on the small region zxing located;
2. if nothing is accepted, the bar-pattern gate (:func:`engines.bar_patches`, ~2 ms)
   looks for 1-D bar texture at any angle in the aim zone -- the whole frame when it
   is small (<= 640 px), else its central third (the aiming reticle), where a
   handheld user points the code. A patch slanted by 15 degrees or more is cropped
   from the frame, turned upright and read (scan-line readers miss steep slants);
   A small upright patch (a code held far away: modules of about one pixel at 720p)
   is cropped tightly, with any neighbouring patch of the same bars, and enlarged
   to ~400 px before reading, for about a millisecond;
3. a few passes on the regions the axis-aligned gradient detector flags (none when
   it flags nothing);
4. if still nothing and the gate found bars, the *rescue*: a fixed, ordered list of
   extra passes (:data:`RESCUE_PASSES`) on the aim zone. When the gate found nothing
   the frame ends here, which is what keeps frames without a barcode cheap: the
   rescue is most of the cost of a frame that reads nothing.

The rescue list was chosen by measured yield on the shared photos (greedy: each step
adds the pass that newly confirms most photos) and uses generic steps only: scales,
CLAHE, zbar vs zxing binarizers. Each pass has a predictable cost (pixels x engine
weight), and passes are skipped once they would exceed :data:`RESCUE_WORK_BUDGET`:
the order and the budget depend only on image sizes, so with ``time_cap_s=None``
results are reproducible on any machine (the photo tests run that way). On the
handheld, ``time_cap_s`` (default 30 ms from the start of ``decode``) also skips any
pass after the first whose predicted duration no longer fits, so a 1280x720 frame
costs at most about 30 ms of one core; that cap makes which passes run depend on
the device's speed (``capped_frames`` counts how often). It is measured on the
decoding thread's CPU clock (``clock``), not the wall clock, so other work on the
machine delays frames but does not change what is read; pass ``time.perf_counter``
where wall time is what must be bounded. OpenCV must then run single-threaded
(``cv2.setNumThreads(1)``), or work in its pool goes unmeasured.
``thorough=True`` runs every variant on the whole image (for still photos / CLI).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import zxingcpp

from handheld_client.decoding import engines as e
from handheld_client.decoding.symbols import (
    DEFAULT_SYMBOLOGIES,
    RETAIL_SYMBOLOGIES,
    Symbol,
    check_symbologies,
)

ZBAR_CONFIDENT_QUALITY = 20

AIM_WHOLE_MAX_SIDE = 640  # frames up to this size are their own aim zone
RESCUE_WORK_BUDGET = 6_000_000  # pixel-units per frame, see RescuePass.cost
DEFAULT_TIME_CAP_S = 0.030  # 30 frames/s on one core
RESCUE_GATE_MIN_AREA = 1000  # px of bar texture in the aim zone; derivation: the benchmark
SECONDS_PER_UNIT = 6e-9  # conservative: measured 4-5 ns/unit (incl. building) on one idle core
TILTED_PATCHES = 2  # bar patches per frame tried upright
MIN_TILT_DEGREES = 15.0  # below, a row still crosses every bar of a label ~1/4 as tall as wide
SMALL_SYMBOL_SIDE = 250  # px: bars patches smaller than this are enlarged (modules < ~2.5 px)
SMALL_SYMBOL_TARGET = 400  # px: the enlarged symbol's longer side, about 4 px per module
ZBAR_MAX_SIDE = 700  # larger crops are shrunk for zbar (no photo crop is this large)
ENGINE_WEIGHT = {"zbar": 4, "zxing": 1, "zxing-global": 1}  # measured ~20 vs ~5 ns/pixel


def _padded(h: int, w: int) -> tuple[int, int]:
    """Size after :func:`engines.pad` with its default margin."""
    p = max(8, int(0.15 * max(h, w)))
    return h + 2 * p, w + 2 * p


@dataclass(frozen=True)
class RescuePass:
    """One extra live pass: how to derive the image from the aim zone, and which reader.

    ``below``: the pass applies only when the aim zone's longer side is under this
    (upscaling helps small symbols and would be wasted, and costly, on big ones).
    """

    factor: float
    clahe: bool
    pad: bool
    engine: str  # "zbar" | "zxing" (LocalAverage binarizer) | "zxing-global" (histogram)
    below: int = 1 << 30

    def shape(self, h: int, w: int) -> tuple[int, int]:
        """Size of the image this pass reads, predicted without building it."""
        h, w = round(h * self.factor), round(w * self.factor)
        return _padded(h, w) if self.pad else (h, w)

    def cost(self, h: int, w: int) -> int:
        """Work estimate in pixel-units; zbar costs ~4x zxing per pixel (measured)."""
        ph, pw = self.shape(h, w)
        return ph * pw * ENGINE_WEIGHT[self.engine]


# Greedy order by photos newly confirmed on the shared photos (see the benchmark).
RESCUE_PASSES: tuple[RescuePass, ...] = (
    RescuePass(2.0, clahe=True, pad=True, engine="zbar", below=700),
    RescuePass(3.0, clahe=False, pad=True, engine="zxing-global", below=400),
    RescuePass(2.0, clahe=True, pad=True, engine="zxing-global", below=700),
    RescuePass(2.0, clahe=False, pad=False, engine="zbar", below=700),
    RescuePass(2.0, clahe=False, pad=False, engine="zxing-global", below=700),
    RescuePass(0.5, clahe=False, pad=False, engine="zbar"),
    RescuePass(1.0, clahe=False, pad=False, engine="zbar"),
    RescuePass(1.0, clahe=True, pad=True, engine="zbar"),
)


Box = tuple[int, int, int, int]
LINEAR_SYMBOLOGIES = RETAIL_SYMBOLOGIES | {"CODE128", "DATABAR"}
SHORT_SYMBOLOGIES = frozenset({"UPCE", "EAN8"})
BARS_MIN_ASPECT = 3  # a 1-D read's box is grown across its scan line to >= 1/3 of its length


def symbol_area(box: Box) -> Box:
    """Where a 1-D read's symbol lies: engines report a thin box around the scan line
    that crossed it, while the bars extend well above and below (retail symbols are
    at least ~1/3 as tall as long)."""
    x, y, w, h = box
    if w >= h:
        grown = max(h, w // BARS_MIN_ASPECT)
        return x, y - (grown - h) // 2, w, grown
    grown = max(w, h // BARS_MIN_ASPECT)
    return x - (grown - w) // 2, y, grown, h


def overlap(a: Box, b: Box) -> bool:
    """Whether two boxes share pixels."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@dataclass
class _Evidence:
    symbol: Symbol
    position: Box | None
    sources: set[tuple[str, str]] = field(default_factory=set)
    zbar_quality: int = 0
    from_zxing: bool = False
    areas: list[Box] = field(default_factory=list)  # every place it was read, grown

    @property
    def both_engines(self) -> bool:
        """Read by zxing-cpp and zbar: two different algorithms agree on the digits."""
        return len({engine for engine, _ in self.sources}) == 2

    def conflicts_with(self, other: _Evidence) -> bool:
        """Another value read where this one was: one printed symbol, two readings."""
        if other.symbol.key == self.symbol.key:
            return False
        if {self.symbol.symbology, other.symbol.symbology} - LINEAR_SYMBOLOGIES:
            return False  # a 2-D symbol may sit beside or on a 1-D one
        if other.symbol.symbology not in RETAIL_SYMBOLOGIES and not other.from_zxing:
            return False  # zbar's text for Code 128 is not trusted (bytes mangled)
        return any(overlap(a, b) for a in self.areas for b in other.areas)

    def accepted(self) -> bool:
        engines = {engine for engine, _ in self.sources}
        zxing_groups = {g for engine, g in self.sources if engine == "zxing"}
        zbar_groups = {g for engine, g in self.sources if engine == "zbar"}
        if len(engines) == 2:
            return True
        short = self.symbol.symbology in SHORT_SYMBOLOGIES and e.zbar_module() is not None
        if len(zxing_groups) >= 2 and not short:  # see "Short symbols" in the docstring
            return True
        # zbar alone: only for digits (its byte->text handling is unreliable for Code 128/QR)
        if self.symbol.symbology not in RETAIL_SYMBOLOGIES:
            return False
        return len(zbar_groups) >= 4 or (
            len(zbar_groups) >= 3 and self.zbar_quality >= ZBAR_CONFIDENT_QUALITY
        )


class _Ballot:
    """Collects reads from many variants and decides which symbols are real."""

    def __init__(self, enabled: tuple[str, ...]) -> None:
        self.enabled = frozenset(enabled)
        self.evidence: dict[str, _Evidence] = {}

    def add(self, variant: e.Variant, reads: Iterable[e.Read]) -> list[e.Read]:
        kept = []
        for read in reads:
            if read.symbol.symbology not in self.enabled:
                continue
            kept.append(read)
            ev = self.evidence.get(read.symbol.key)
            box = variant.to_frame(read.corners)
            if ev is None:
                ev = self.evidence[read.symbol.key] = _Evidence(read.symbol, box)
            ev.areas.append(symbol_area(box))
            if read.engine == "zxing" and not ev.from_zxing:
                # zxing's text is the reference (zbar mangles some Code 128 bytes)
                ev.symbol, ev.from_zxing = read.symbol, True
                ev.position = variant.to_frame(read.corners)
            ev.sources.add((read.engine, variant.group))
            ev.zbar_quality = max(ev.zbar_quality, read.quality)
        return kept

    def pending(self) -> list[_Evidence]:
        return [ev for ev in self.evidence.values() if not ev.accepted()]

    def result(self) -> list[Symbol]:
        accepted = [ev for ev in self.evidence.values() if ev.accepted()]
        out = []
        for ev in accepted:
            if self._dominated(ev, accepted) or self._contested(ev):
                continue
            out.append(replace(ev.symbol, position=ev.position))
        out.sort(key=lambda s: (s.position or (0, 0, 0, 0))[:2] + (s.key,))
        return out

    def _contested(self, ev: _Evidence) -> bool:
        """One printed symbol, two values (see the module docstring, "One symbol, one
        value"): the value stands only if both engines read it and no rival was read
        by both; otherwise neither is reported and the shopper scans again."""
        rivals = [
            other
            for other in self.evidence.values()
            if ev.conflicts_with(other) and (other.from_zxing or len(other.sources) >= 2)
        ]
        if not rivals:
            return False
        return not ev.both_engines or any(r.both_engines for r in rivals)

    @staticmethod
    def _dominated(ev: _Evidence, accepted: list[_Evidence]) -> bool:
        if ev.symbol.symbology not in ("EAN13", "UPCA") or ev.symbol.gtin14 is None:
            return False
        mine = (len(ev.sources), ev.zbar_quality)
        for other in accepted:
            if other is ev or other.symbol.symbology not in ("EAN13", "UPCA"):
                continue
            if other.symbol.gtin14 and other.symbol.gtin14[-7:] == ev.symbol.gtin14[-7:]:
                theirs = (len(other.sources), other.zbar_quality)
                if theirs > mine or (theirs == mine and other.symbol.key < ev.symbol.key):
                    return True
        return False


def _rescue_variant(zone: e.Variant, p: RescuePass) -> e.Variant:
    """Build a rescue pass's image; groups keep scaled/filtered reads independent evidence."""
    v = zone
    if p.factor != 1.0:
        v = e.scale(v, p.factor, group="scaled" if p.factor > 1 else "downscaled")
    if p.clahe:
        v = e.Variant(e.clahe(v.image), v.group if p.factor != 1.0 else "filtered", v.to_variant)
    return e.pad(v) if p.pad else v


def to_gray(image: np.ndarray) -> np.ndarray:
    """Both engines work on luminance; BGR(A) camera frames are converted once."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def aim_zone(gray: np.ndarray) -> e.Variant:
    """Where the rescue looks: a small frame whole, else its central third (the reticle)."""
    h, w = gray.shape[:2]
    if max(h, w) <= AIM_WHOLE_MAX_SIDE:
        return e.original(gray)
    return e.crop(gray, (w // 3, h // 3, w // 3, h // 3), margin=0.0)


class _Deadline:
    """A live frame's time cap: a pass runs only if its predicted duration still fits.

    Measured on ``clock`` from the start of ``decode``; by default the thread's CPU
    time, so on a shared or throttled machine the schedule (and so the result) depends
    on how much work a frame is, not on what else the CPU was doing meanwhile.
    """

    def __init__(self, clock: Callable[[], float], cap_s: float | None) -> None:
        self.clock, self.cap_s, self.start = clock, cap_s, clock()
        self.hit = False

    def allows(self, pixels: int, engine: str) -> bool:
        """Whether reading ``pixels`` with ``engine`` is predicted to fit."""
        return self.fits(pixels * ENGINE_WEIGHT[engine])

    def fits(self, units: int) -> bool:
        """Whether ``units`` of work (see :meth:`RescuePass.cost`) are predicted to fit."""
        if self.cap_s is None:
            return True
        left = self.cap_s - (self.clock() - self.start)
        if units * SECONDS_PER_UNIT > left:
            self.hit = True
            return False
        return True


class Decoder:
    """Reads the store's enabled symbologies from frames; see the module docstring."""

    def __init__(
        self,
        symbologies: Iterable[str] = DEFAULT_SYMBOLOGIES,
        *,
        thorough: bool = False,
        rescue: tuple[RescuePass, ...] = RESCUE_PASSES,
        time_cap_s: float | None = DEFAULT_TIME_CAP_S,
        gate: bool = True,
        clock: Callable[[], float] = time.thread_time,
    ) -> None:
        """``gate=False`` runs the rescue even where no bar pattern was found (to
        measure what the gate costs); ``clock`` measures ``time_cap_s``."""
        self.symbologies = check_symbologies(symbologies)
        self.thorough = thorough
        self.rescue = rescue
        self.time_cap_s = time_cap_s
        self.gate = gate
        self.clock = clock
        self.capped_frames = 0  # live frames where the time cap skipped a pass
        self.gated_frames = 0  # live frames whose rescue the bar-pattern gate skipped

    def decode(self, image: np.ndarray) -> list[Symbol]:
        """Confirmed symbols in ``image`` (BGR or gray), top-left first."""
        if image is None or image.size == 0 or min(image.shape[:2]) < 1:
            return []
        deadline = _Deadline(self.clock, self.time_cap_s)
        gray = np.ascontiguousarray(to_gray(image))
        ballot = _Ballot(self.symbologies)
        if self.thorough:
            self._thorough(gray, ballot)
        else:
            self._live(gray, ballot, deadline)
            self.capped_frames += deadline.hit
        return ballot.result()

    # -- passes -----------------------------------------------------------------------

    def _zxing(self, ballot: _Ballot, v: e.Variant, **kw: object) -> list[e.Read]:
        return ballot.add(v, e.read_zxing(v.image, self.symbologies, **kw))  # type: ignore[arg-type]

    def _zbar(self, ballot: _Ballot, v: e.Variant) -> list[e.Read]:
        return ballot.add(v, e.read_zbar(v.image, self.symbologies))

    def _live(self, gray: np.ndarray, ballot: _Ballot, deadline: _Deadline) -> None:
        base = e.original(gray)
        self._zxing(ballot, base)
        for ev in ballot.pending():
            if ev.position is not None:
                self._confirm_region(gray, ev.position, ballot)
        if ballot.result() or min(gray.shape[:2]) < 8:
            return
        zone = aim_zone(gray)
        patches = e.bar_patches(zone.image, RESCUE_GATE_MIN_AREA)
        self._read_tilted(gray, zone, patches, ballot, deadline)
        if ballot.result():
            return
        self._read_small(gray, zone, patches, ballot, deadline)
        if ballot.result():
            return
        for box in e.barcode_regions(gray, max_regions=2):
            self._search_region(gray, box, ballot, deadline)
        if ballot.result():
            return
        if self.gate and not patches:
            self.gated_frames += 1  # nothing bar-like where the user aims
            return
        self._rescue(zone, ballot, deadline)

    def _read_tilted(
        self,
        gray: np.ndarray,
        zone: e.Variant,
        patches: list[e.BarPatch],
        ballot: _Ballot,
        deadline: _Deadline,
    ) -> None:
        """Bars at a slant: crop the patch from the frame, turn it upright, read it.

        zxing-cpp's linear readers scan rows (and, with try_rotate, columns), so a
        symbol slanted by more than its height-to-width ratio allows has no scan line
        crossing all its bars; the gate already measured the bars' direction.
        """
        dx, dy = -int(zone.to_variant[0, 2]), -int(zone.to_variant[1, 2])
        for patch in patches[:TILTED_PATCHES]:
            tilt = patch.angle - 90 * round(patch.angle / 90)
            if abs(tilt) < MIN_TILT_DEGREES:
                continue
            x, y, w, h = patch.box
            region = e.crop(gray, (x + dx, y + dy, w, h), margin=0.3)
            rh, rw = region.image.shape[:2]
            c, s = abs(np.cos(np.radians(tilt))), abs(np.sin(np.radians(tilt)))
            factor = 2.0 if max(rh, rw) < 300 else 1.0
            pixels = round((rh * c + rw * s) * (rw * c + rh * s) * factor**2)
            if not deadline.allows(pixels, "zbar"):
                continue
            upright = e.rotate(region, tilt)
            if factor != 1.0:
                upright = e.scale(upright, factor)
            self._zbar(ballot, upright)
            if deadline.allows(pixels, "zxing"):
                self._zxing(ballot, upright)
            if ballot.pending() and deadline.allows(pixels, "zxing"):
                # zxing's own second opinion, from another group: the only one where
                # zbar is missing or could not read the upright patch
                self._zxing(ballot, e.filtered(upright, e.sharpen))
            if ballot.result():
                return

    def _read_small(
        self,
        gray: np.ndarray,
        zone: e.Variant,
        patches: list[e.BarPatch],
        ballot: _Ballot,
        deadline: _Deadline,
    ) -> None:
        """A small symbol held far from the lens: crop its bars tightly and enlarge them.

        At 720p an EAN-13 a few centimetres wide has modules of about one pixel; the
        readers need ~3, and enlarging the whole aim zone that much would cost more
        than a frame. The gate already found the bars (often as two patches, split at
        the centre guard): their union, cropped and enlarged to ~400 px, costs about
        a millisecond. zxing reads it plain and sharpened (two groups), zbar too.
        """
        if not patches:
            return
        main = patches[0]
        if abs(main.angle - 90 * round(main.angle / 90)) >= MIN_TILT_DEGREES:
            return  # slanted: _read_tilted's job
        x0, y0, w0, h0 = main.box
        reach_x, reach_y = w0 // 2 + 1, h0 // 2 + 1
        x1, y1 = x0 + w0, y0 + h0
        merged = False
        for p in patches[1:]:
            px, py, pw, ph = p.box
            if abs((p.angle - main.angle + 90) % 180 - 90) > 10:
                continue
            if px > x1 + reach_x or px + pw < x0 - reach_x:
                continue
            if py > y1 + reach_y or py + ph < y0 - reach_y:
                continue
            x0, y0, x1, y1 = min(x0, px), min(y0, py), max(x1, px + pw), max(y1, py + ph)
            merged = True
        side = max(x1 - x0, y1 - y0)
        if side >= SMALL_SYMBOL_SIDE:
            return
        if not merged:
            # maybe one half of an EAN/UPC (the other below the gate's size): look as
            # far again on either side along the scan line
            if abs(main.angle) < 45:
                x0, x1 = x0 - w0, x1 + w0
            else:
                y0, y1 = y0 - h0, y1 + h0
        dx, dy = -int(zone.to_variant[0, 2]), -int(zone.to_variant[1, 2])
        region = e.crop(gray, (x0 + dx, y0 + dy, x1 - x0, y1 - y0), margin=0.2)
        factor = min(4.0, max(2.0, round(SMALL_SYMBOL_TARGET / side)))
        rh, rw = region.image.shape[:2]
        pixels = round(rh * rw * factor**2)
        if not deadline.allows(pixels, "zxing"):
            return
        enlarged = e.scale(region, factor, group="scaled")
        self._zxing(ballot, enlarged)
        if ballot.pending() and deadline.allows(pixels, "zxing"):
            self._zxing(ballot, e.filtered(enlarged, e.sharpen))
        if ballot.pending() and deadline.allows(pixels, "zbar"):
            self._zbar(ballot, enlarged)

    def _rescue(self, zone: e.Variant, ballot: _Ballot, deadline: _Deadline) -> None:
        """The fixed extra passes on the aim zone, within the work budget."""
        zh, zw = zone.image.shape[:2]
        budget = RESCUE_WORK_BUDGET
        built: dict[tuple[float, bool, bool], e.Variant] = {}
        for p in self.rescue:
            if max(zh, zw) >= p.below or (p.factor < 1 and min(zh, zw) < 16):
                continue
            cost = p.cost(zh, zw)
            if cost > budget:
                continue
            if not deadline.fits(cost):
                continue  # a cheaper pass further down may still fit
            budget -= cost
            key = (p.factor, p.clahe, p.pad)
            if key not in built:
                built[key] = _rescue_variant(zone, p)
            v = built[key]
            if p.engine == "zbar":
                self._zbar(ballot, v)
            elif p.engine == "zxing-global":
                self._zxing(ballot, v, binarizer=zxingcpp.Binarizer.GlobalHistogram)
            else:
                self._zxing(ballot, v)
            if ballot.result():
                break

    @staticmethod
    def _fitted(v: e.Variant) -> e.Variant:
        """``v`` shrunk for zbar when large: zbar's cost grows with pixels, and a symbol
        that fills a large crop has modules wide enough to survive the shrink."""
        side = max(v.image.shape[:2])
        return e.scale(v, ZBAR_MAX_SIDE / side) if side > ZBAR_MAX_SIDE else v

    def _confirm_region(
        self, gray: np.ndarray, box: tuple[int, int, int, int], ballot: _Ballot
    ) -> None:
        """Second opinion on a zxing read: zbar, then zxing on a sharpened crop.

        Never cut by the time cap: it turns a symbol already found into a read, and
        costs a few ms at most (zbar sees at most ZBAR_MAX_SIDE px a side)."""
        region = e.crop(gray, box)
        if min(region.image.shape[:2]) < 2:
            return
        self._zbar(ballot, self._fitted(region))
        if not ballot.pending():
            return
        if max(region.image.shape[:2]) < 400:
            region = e.scale(region, 2.0)
        self._zxing(ballot, e.filtered(region, e.sharpen))

    def _search_region(
        self,
        gray: np.ndarray,
        box: tuple[int, int, int, int],
        ballot: _Ballot,
        deadline: _Deadline,
    ) -> None:
        """Fallback on a detected barcode-like region, cheapest passes first."""
        region = e.crop(gray, box, margin=0.1)
        if min(region.image.shape[:2]) < 8:
            return
        rh, rw = region.image.shape[:2]
        padded = int(np.prod(_padded(rh, rw)))
        factor = 2.0 if max(rh, rw) < 400 else (0.5 if max(rh, rw) > 900 else 1.0)
        fitted = self._fitted(region)
        if deadline.allows(fitted.image.size, "zbar"):
            self._zbar(ballot, fitted)
        if deadline.allows(padded, "zxing"):
            self._zxing(ballot, e.pad(e.filtered(region, e.sharpen)))
        if not ballot.evidence:
            return  # nothing even half-read: not worth more passes
        if factor != 1.0 and deadline.allows(round(rh * rw * factor**2), "zbar"):
            scaled = e.scale(region, factor, group="scaled")
            self._zbar(ballot, scaled)
            if deadline.allows(scaled.image.size, "zxing"):
                self._zxing(ballot, scaled)
        if ballot.pending() and deadline.allows(padded, "zbar"):
            self._zbar(ballot, e.pad(e.filtered(region, e.clahe)))

    def _thorough(self, gray: np.ndarray, ballot: _Ballot) -> None:
        for v in self._thorough_variants(gray):
            self._zxing(ballot, v)
            self._zxing(ballot, v, binarizer=zxingcpp.Binarizer.GlobalHistogram)
            self._zbar(ballot, v)

    @staticmethod
    def _thorough_variants(gray: np.ndarray) -> Iterable[e.Variant]:
        base = e.original(gray)
        h, w = gray.shape[:2]
        yield base
        if min(h, w) < 8:
            # a scan line or a sliver: give the readers some height to work with
            yield e.Variant(
                cv2.resize(gray, (w, 16), interpolation=cv2.INTER_NEAREST)
                if h < w
                else cv2.resize(gray, (16, h), interpolation=cv2.INTER_NEAREST),
                "scaled",
                np.array([[1.0, 0, 0], [0, 16 / h, 0]] if h < w else [[16 / w, 0, 0], [0, 1.0, 0]]),
            )
            return
        yield e.pad(base)
        if max(h, w) <= 1000:
            up = e.scale(base, 2.0, group="scaled")
            yield up
            yield e.pad(up)
            sharp_up = e.filtered(up, e.sharpen)
            yield e.pad(e.Variant(sharp_up.image, "scaled", sharp_up.to_variant))
        yield e.pad(e.filtered(base, e.clahe))
        yield e.pad(e.filtered(base, e.sharpen))
        yield e.pad(e.filtered(base, e.otsu))
        yield e.pad(e.filtered(base, e.smooth))
        if min(h, w) >= 16:
            yield e.scale(base, 0.5, group="downscaled")
        for degrees in (-8, 8, -15, 15):
            yield e.pad(e.rotate(base, degrees))
