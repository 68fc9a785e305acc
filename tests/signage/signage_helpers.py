"""Plain helpers for the signage tests: media files, a plan, logins."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from signage.service import LoadSummary

FOREVER = {"start": "2020-01-01", "end": "2099-12-31"}


def write_png(path: Path, color: str, size: tuple[int, int] = (64, 36)) -> Path:
    from PIL import Image

    Image.new("RGB", size, color).save(path)
    return path


_PLAYS = itertools.count()


def play(**overrides: Any) -> dict[str, Any]:
    """One proof-of-play entry of the plan's K-1 on air (a Saturday 10:30-11:30 in Paris),
    with a fresh play id, in a slot of its own: a screen plays one creative per slot, so
    the server rejects a second play in one slot (signage.proof_check)."""
    slot = next(_PLAYS) % 360
    started = datetime(2026, 11, 7, 9, 30, tzinfo=UTC) + timedelta(seconds=10 * slot)
    body = {
        "play_id": str(uuid.uuid4()),
        "creative_id": "CR-A",
        "campaign_id": "K-1",
        "started_at": started.isoformat().replace("+00:00", "Z"),
        "duration_ms": 10_000,
    }
    body.update(overrides)
    return body


def campaign(**overrides: Any) -> dict[str, Any]:
    """A booking the plan has room for: guaranteed, S-01, Saturdays 10:00-12:00."""
    body = {
        "id": "K-NEW",
        "advertiser": "Brand C",
        "category": "tea",
        "creatives": ["CR-B"],
        "start": "2026-11-01",
        "end": "2026-11-30",
        "days": ["sat"],
        "dayparts": [["10:00", "12:00"]],
        "targets": {"screens": ["S-01"]},
        "priority": "guaranteed",
        "share_of_voice": 0.5,
    }
    body.update(overrides)
    return body


def png_bytes(color: str = "purple") -> bytes:
    """A small PNG image, as an upload carries it."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 18), color).save(buffer, format="PNG")
    return buffer.getvalue()


def plan_dict(*, slot_seconds: int = 10, slots: int = 6) -> dict[str, Any]:
    """Two screens with the same loop length, three file creatives and one URL creative."""
    return {
        "timezone": "Europe/Paris",
        "screens": [
            {
                "id": "S-01",
                "zone": "north",
                "groups": ["food-court"],
                "slot_seconds": slot_seconds,
                "slots_per_loop": slots,
            },
            {"id": "S-02", "zone": "south", "slot_seconds": slot_seconds, "slots_per_loop": slots},
        ],
        "creatives": [
            {"id": "CR-A", "media": "media/a.png", "duration_s": slot_seconds},
            {"id": "CR-B", "media": "media/b.png", "duration_s": slot_seconds},
            {"id": "CR-H", "media": "media/h.png", "duration_s": slot_seconds},
            {"id": "CR-URL", "media": "https://cdn.example.com/ad.png", "duration_s": slot_seconds},
        ],
        "campaigns": [
            {
                "id": "K-1",
                "advertiser": "Brand A",
                "category": "coffee",
                "creatives": ["CR-A", "CR-URL"],
                **FOREVER,
                "days": ["sat", "sun"],
                "dayparts": [["10:00", "12:00"]],
                "targets": {"zones": ["north"]},
                "priority": "guaranteed",
                "share_of_voice": 0.34,
            },
            {
                "id": "K-2",
                "advertiser": "Brand B",
                "category": "shoes",
                "creatives": ["CR-B"],
                **FOREVER,
                "priority": "standard",
                "share_of_voice": 0.34,
                "max_plays_per_hour": 200,
            },
            {
                "id": "H",
                "advertiser": "Mall",
                "creatives": ["CR-H"],
                **FOREVER,
                "priority": "house",
            },
        ],
    }


def write_plan(folder: Path, plan: dict[str, Any] | None = None, **kwargs: Any) -> Path:
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    write_png(media / "a.png", "red")
    write_png(media / "b.png", "green")
    write_png(media / "h.png", "blue")
    path = folder / "plan.json"
    path.write_text(json.dumps(plan or plan_dict(**kwargs)))
    return path


def user_token(engine: Engine, username: str, role: str) -> str:
    """A login session for a new user, written directly (argon2 would cost 0.6 s a login).

    The auth lookups the signage app makes are the real ones; only the password
    check of ``POST /api/auth/login`` is skipped (the browser tests go through it).
    """
    from datetime import timedelta

    from store_server.auth.models import AuthSession, User
    from store_server.db import session_scope
    from store_server.security import hash_token, new_token
    from store_server.timeutil import utcnow

    token = new_token()
    with session_scope(engine) as session:
        user = User(username=username, password_hash="!", role=role)
        session.add(user)
        session.flush()
        now = utcnow()
        session.add(
            AuthSession(
                token_hash=hash_token(token),
                user_id=user.id or 0,
                created_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )
    return token


# One screen, one 10 s creative (``ad.png`` beside the plan), one guaranteed campaign
# taking half its loop: the plan later loads are checked against.
ONE_SCREEN_PLAN: dict[str, Any] = {
    "timezone": "Europe/Paris",
    "screens": [
        {"id": "S-01", "zone": "z1", "groups": [], "slot_seconds": 10, "slots_per_loop": 4}
    ],
    "creatives": [{"id": "CR-1", "media": "ad.png", "duration_s": 10}],
    "campaigns": [
        {
            "id": "K-1",
            "advertiser": "A",
            "category": "coffee",
            "creatives": ["CR-1"],
            "start": "2026-11-01",
            "end": "2026-12-31",
            "priority": "guaranteed",
            "share_of_voice": 0.5,
        }
    ],
}


def load_and_enroll(engine: Engine, path: Path, media: Path, screens: list[str]) -> dict[str, str]:
    """Load the plan file at ``path`` and enroll ``screens``: each screen's token."""
    from signage.config import SignageSettings
    from signage.service import enroll, load_plan
    from store_server.db import session_scope

    settings = SignageSettings(media_dir=media)
    with session_scope(engine) as session:
        load_plan(session, path.read_bytes(), base_dir=path.parent, settings=settings)
        return dict(enroll(session, screens, settings=settings, timezone="Europe/Paris"))


def load_plan_file(url: str, path: Path, media: Path) -> LoadSummary:
    """``caddie signage load`` of ``path`` without the process: committed, or raises."""
    from sqlmodel import Session

    from signage.config import SignageSettings
    from signage.service import load_plan
    from store_server.db import make_engine

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            summary = load_plan(
                session,
                path.read_bytes(),
                base_dir=path.parent,
                settings=SignageSettings(media_dir=media),
            )
            session.commit()
            return summary
    finally:
        engine.dispose()
