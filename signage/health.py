"""Screen health: what players say about themselves, their screenshots, and alerts.

A player posts its status (version, whether its loop is in step with the wall clock,
how many creatives it has cached or is missing) and a small JPEG of what it shows,
with its screen token. The console shows them next to when the screen last called
in, in the store's own time, and lists the screens offline for too long.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from signage.config import SignageSettings
from signage.models import Screen
from store_server.shared.errors import InvalidInput, NotFound
from store_server.timeutil import as_utc, utcnow

SCREENSHOT_FOLDER = "screenshots"
MAX_SCREENSHOT_SIDE = 1920


class PlayerStatus(BaseModel):
    """What a player reports about itself (``POST /signage/screens/{id}/status``)."""

    model_config = ConfigDict(extra="forbid")

    player_version: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._+-]+$")
    loop_in_step: bool
    cached_creatives: int = Field(ge=0, le=100_000)
    missing_creatives: int = Field(ge=0, le=100_000)


def record_status(session: Session, screen: Screen, status: PlayerStatus) -> None:
    now = utcnow()
    screen.player_version = status.player_version
    screen.loop_in_step = status.loop_in_step
    screen.cached_creatives = status.cached_creatives
    screen.missing_creatives = status.missing_creatives
    screen.status_at = screen.last_seen = now
    session.add(screen)
    session.flush()


def screenshot_dir(settings: SignageSettings) -> Path:
    """Beside the public media files, never served with them (operators only)."""
    return settings.media_dir / SCREENSHOT_FOLDER


def check_jpeg(data: bytes, *, max_bytes: int) -> None:
    """``InvalidInput`` unless ``data`` is one whole JPEG within the limits."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InvalidInput("the screenshot is empty", problems=["body: empty"])
    if len(data) > max_bytes:
        message = f"the screenshot is {len(data)} bytes, larger than {max_bytes}"
        raise InvalidInput(message, problems=[message])
    if not data.startswith(b"\xff\xd8\xff"):
        message = "the screenshot must be a JPEG image"
        raise InvalidInput(message, problems=[message])
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                raise InvalidInput("the screenshot must be a JPEG image")
            width, height = image.size
            if not (0 < width <= MAX_SCREENSHOT_SIDE and 0 < height <= MAX_SCREENSHOT_SIDE):
                message = (
                    f"the screenshot is {width}x{height}; at most {MAX_SCREENSHOT_SIDE} a side"
                )
                raise InvalidInput(message, problems=[message])
            image.load()  # decodes it whole: a truncated or corrupt file fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        message = f"the screenshot is not a readable JPEG ({type(exc).__name__})"
        raise InvalidInput(message, problems=[message]) from None
    except Image.DecompressionBombError:
        raise InvalidInput("the screenshot is too large to decode") from None


def save_screenshot(
    session: Session, screen: Screen, data: bytes, *, settings: SignageSettings
) -> None:
    """Keep the newest screenshot of ``screen`` (content-named; the older one removed)."""
    check_jpeg(data, max_bytes=settings.max_screenshot_bytes)
    folder = screenshot_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(data).hexdigest() + ".jpg"
    (folder / name).write_bytes(data)
    old = screen.screenshot_file
    screen.screenshot_file, screen.screenshot_at = name, utcnow()
    screen.last_seen = screen.screenshot_at
    session.add(screen)
    session.flush()
    if old and old != name:
        shared = session.exec(select(Screen.id).where(Screen.screenshot_file == old)).first()
        if shared is None:
            (folder / old).unlink(missing_ok=True)


def screenshot_path(session: Session, screen_id: str, settings: SignageSettings) -> Path:
    screen = session.get(Screen, screen_id)
    if screen is None or not screen.screenshot_file:
        raise NotFound("no screenshot of this screen yet")
    path = screenshot_dir(settings) / screen.screenshot_file
    if not path.is_file():
        raise NotFound("no screenshot of this screen yet")
    return path


# --------------------------------------------------------------------------- the console


def local_time(value: datetime, timezone: str, now: datetime) -> str:
    """``today 14:05``, ``yesterday 09:12``, ``3 Dec 14:05`` or ``3 Dec 2025 14:05``
    in the store's time zone, with how long ago (``5 min ago``)."""
    tz = ZoneInfo(timezone)
    here, today = as_utc(value).astimezone(tz), as_utc(now).astimezone(tz).date()
    clock = here.strftime("%H:%M")
    if here.date() == today:
        day = "today"
    elif here.date() == today - timedelta(days=1):
        day = "yesterday"
    elif here.year == today.year:
        day = f"{here.day} {here:%b}"
    else:
        day = f"{here.day} {here:%b %Y}"
    return f"{day} {clock} ({ago(as_utc(now) - as_utc(value))})"


def ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400 * 2:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86_400} days ago"


@dataclass(frozen=True)
class ScreenHealth:
    id: str
    zone: str
    orientation: str
    resolution: str
    enrolled: bool
    online: bool
    last_seen: str | None  # ISO-8601 UTC
    last_seen_local: str
    offline_minutes: int | None
    player_version: str | None
    loop_in_step: bool | None
    cached_creatives: int | None
    missing_creatives: int | None
    screenshot: bool
    screenshot_local: str | None

    @property
    def cache_label(self) -> str:
        if self.cached_creatives is None:
            return "unknown"
        missing = self.missing_creatives or 0
        text = f"{self.cached_creatives} cached"
        return text + (f", {missing} missing" if missing else ", complete")


def screens_health(
    session: Session, *, settings: SignageSettings, now: datetime | None = None
) -> list[ScreenHealth]:
    now = now or utcnow()
    out = []
    for row in session.exec(select(Screen).order_by(col(Screen.id))).all():
        seen = row.last_seen or None
        online = seen is not None and now - as_utc(seen) <= timedelta(
            seconds=settings.online_seconds
        )
        since = seen or row.enrolled_at
        minutes = None
        if row.token_hash is not None and not online and since is not None:
            minutes = int((now - as_utc(since)).total_seconds() // 60)
        out.append(
            ScreenHealth(
                id=row.id,
                zone=row.zone,
                orientation=row.orientation,
                resolution=row.resolution,
                enrolled=row.token_hash is not None,
                online=online,
                last_seen=as_utc(seen).isoformat().replace("+00:00", "Z") if seen else None,
                last_seen_local=local_time(seen, row.timezone, now) if seen else "never",
                offline_minutes=minutes,
                player_version=row.player_version,
                loop_in_step=row.loop_in_step,
                cached_creatives=row.cached_creatives,
                missing_creatives=row.missing_creatives,
                screenshot=bool(row.screenshot_file),
                screenshot_local=local_time(row.screenshot_at, row.timezone, now)
                if row.screenshot_at
                else None,
            )
        )
    return out


def offline_alerts(health: list[ScreenHealth], *, threshold_minutes: int) -> list[ScreenHealth]:
    """Enrolled screens offline for longer than the threshold, longest first."""
    late = [h for h in health if h.offline_minutes is not None]
    late = [h for h in late if h.offline_minutes > threshold_minutes]  # type: ignore[operator]
    return sorted(late, key=lambda h: -(h.offline_minutes or 0))


def as_dict(health: ScreenHealth) -> dict[str, Any]:
    return {**health.__dict__, "cache": health.cache_label}
