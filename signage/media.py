"""Creative files: what they really are (content sniffing), how long, where they are kept.

A file's type is decided by its first bytes, never by its name or the uploader's
Content-Type: a ``.png`` that is really HTML would otherwise run script on every
screen. Images are also opened with Pillow, so a truncated or fake header is refused.
Files are stored content-addressed (``<sha256>.<ext>``), written to a temporary
name and renamed, so a crash never leaves half a creative under its final name.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from store_server.shared.errors import InvalidInput

EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "text/html": ".html",
}
KINDS = {
    "image/png": "image",
    "image/jpeg": "image",
    "image/webp": "image",
    "video/mp4": "video",
    "text/html": "html",
}
_NAME_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".html": "text/html",
    ".htm": "text/html",
}
_HTML_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]",
    re.IGNORECASE | re.DOTALL,
)
FILE_NAME = re.compile(r"^[0-9a-f]{64}\.(?:png|jpg|webp|mp4|html)$")


@dataclass(frozen=True)
class Sniffed:
    """What a file turned out to be."""

    content_type: str
    kind: str
    extension: str
    duration_s: float | None  # known for videos (from the MP4 header)
    sha256: str
    size: int


def sniff_type(data: bytes) -> str | None:
    """The MIME type the content itself declares, or None if it is none we play."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "video/mp4"
    if _HTML_START.match(data[:4096]):
        return "text/html"
    return None


def mp4_duration(data: bytes) -> float | None:
    """Seconds from the ``moov/mvhd`` box (ISO/IEC 14496-12 §8.2.2), None if unreadable."""

    def boxes(start: int, end: int) -> list[tuple[bytes, int, int]]:
        found = []
        at = start
        while at + 8 <= end:
            size, name = struct.unpack(">I4s", data[at : at + 8])
            header = 8
            if size == 1 and at + 16 <= end:
                size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
                header = 16
            elif size == 0:
                size = end - at
            if size < header or at + size > end:
                break
            found.append((name, at + header, at + size))
            at += size
        return found

    for name, body, end in boxes(0, len(data)):
        if name != b"moov":
            continue
        for inner, ibody, iend in boxes(body, end):
            if inner != b"mvhd" or iend - ibody < 20:
                continue
            version = data[ibody]
            if version == 1 and iend - ibody >= 32:
                scale, length = struct.unpack(">IQ", data[ibody + 20 : ibody + 32])
            else:
                scale, length = struct.unpack(">II", data[ibody + 12 : ibody + 20])
            if scale == 0:
                return None
            return float(length) / float(scale)
    return None


def inspect(data: bytes, name: str | None = None, *, max_bytes: int) -> Sniffed:
    """Check a creative file; raise ``InvalidInput`` naming every problem."""
    problems: list[str] = []
    if not data:
        raise InvalidInput("the file is empty", problems=["the file is empty"])
    if len(data) > max_bytes:
        message = f"the file has {len(data)} bytes, more than the limit of {max_bytes}"
        raise InvalidInput(message, problems=[message])
    content_type = sniff_type(data)
    if content_type is None:
        message = "unsupported content: only PNG, JPEG, WebP, MP4 and HTML creatives play"
        raise InvalidInput(message, problems=[message])
    if name:
        suffix = Path(name).suffix.lower()
        claimed = _NAME_TYPES.get(suffix)
        if claimed is None:
            problems.append(
                f"file name {name!r} has an extension we do not play ({suffix or 'none'})"
            )
        elif claimed != content_type:
            problems.append(f"file name {name!r} says {claimed} but the content is {content_type}")
    duration = None
    if KINDS[content_type] == "image":
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        except Exception:  # Pillow raises many types for broken files; all mean "broken"
            problems.append(f"the {content_type} image is damaged or truncated")
    elif content_type == "video/mp4":
        duration = mp4_duration(data)
        if duration is None:
            problems.append("the MP4 has no readable duration (moov/mvhd box)")
    if problems:
        raise InvalidInput("; ".join(problems), problems=problems)
    return Sniffed(
        content_type=content_type,
        kind=KINDS[content_type],
        extension=EXTENSIONS[content_type],
        duration_s=duration,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )


def store(media_dir: Path, data: bytes, sniffed: Sniffed) -> str:
    """Write ``data`` under its content address; returns the file name (idempotent)."""
    media_dir.mkdir(parents=True, exist_ok=True)
    file_name = sniffed.sha256 + sniffed.extension
    final = media_dir / file_name
    if final.exists() and final.stat().st_size == sniffed.size:
        return file_name
    fd, temp = tempfile.mkstemp(dir=media_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return file_name
