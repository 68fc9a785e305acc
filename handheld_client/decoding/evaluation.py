"""Scoring decoders against the labelled real photos (shared/fixtures/photos).

Used by the benchmark and the tests so both count reads and misreads the same way.
Conventions of that folder (its README): EAN/UPC expected as 13 digits (UPC-A with
a leading 0, UPC-E expanded); ``*-extension-*`` values append the add-on, which we do
not decode, so only the first 13 digits count; ``falsepositives-1`` must yield
nothing; ``ean13-2/23`` has a wrong label and is left out of misread counting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from handheld_client.decoding.symbols import RETAIL_SYMBOLOGIES, Symbol

FALSE_POSITIVES = "falsepositives-1"
KNOWN_BAD_LABELS = frozenset({("ean13-2", "23")})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


@dataclass(frozen=True)
class Photo:
    folder: str
    path: Path
    expected: str | None  # None: no barcode (false-positive folder)

    @property
    def known_bad_label(self) -> bool:
        return (self.folder, self.path.stem) in KNOWN_BAD_LABELS


def photos(root: Path) -> Iterator[Photo]:
    """Every labelled photo under ``root``, folders and files in name order."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            label = path.with_suffix(".txt")
            if folder.name == FALSE_POSITIVES:
                yield Photo(folder.name, path, None)
            elif label.is_file():
                yield Photo(folder.name, path, label.read_text(encoding="utf-8").strip())


def comparable(symbol: Symbol) -> str:
    """The symbol in the label's spelling: 13 digits for EAN/UPC, plain text otherwise."""
    if symbol.symbology in RETAIL_SYMBOLOGIES and symbol.gtin14:
        return symbol.gtin14.lstrip("0") if symbol.symbology == "EAN8" else symbol.gtin14[1:]
    return symbol.text.replace("\r\n", "\n")


def is_correct(photo: Photo, symbol: Symbol) -> bool:
    if photo.expected is None:
        return False
    expected = photo.expected
    if "extension" in photo.folder:
        expected = expected[:13]
    if symbol.symbology == "EAN8":
        expected = expected.lstrip("0")
    return comparable(symbol) == expected


@dataclass
class FolderScore:
    folder: str
    images: int = 0
    read: int = 0
    misread: int = 0  # images with at least one wrong symbol
    misread_files: list[str] = field(default_factory=list)
    missed_files: list[str] = field(default_factory=list)


def score(root: Path, decode: Callable[[Path], list[Symbol]]) -> dict[str, FolderScore]:
    """Per folder: images, images read correctly, images with a wrong read."""
    scores: dict[str, FolderScore] = {}
    for photo in photos(root):
        s = scores.setdefault(photo.folder, FolderScore(photo.folder))
        s.images += 1
        symbols = decode(photo.path)
        if photo.expected is None:
            if symbols:
                s.misread += 1
                s.misread_files.append(photo.path.name)
            continue
        if any(is_correct(photo, sym) for sym in symbols):
            s.read += 1
        else:
            s.missed_files.append(photo.path.name)
        wrong = [sym for sym in symbols if not is_correct(photo, sym)]
        if wrong and not photo.known_bad_label:
            s.misread += 1
            s.misread_files.append(f"{photo.path.name}:{','.join(comparable(w) for w in wrong)}")
    return scores


def totals(scores: dict[str, FolderScore]) -> tuple[int, int, int, int]:
    """(product images, read, misread, false positives) over all folders."""
    product = [s for s in scores.values() if s.folder != FALSE_POSITIVES]
    fp = scores.get(FALSE_POSITIVES)
    return (
        sum(s.images for s in product),
        sum(s.read for s in product),
        sum(s.misread for s in product),
        fp.misread if fp else 0,
    )
