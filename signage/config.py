"""Signage settings (``CADDIE_*`` like the rest; the store's Settings ignores these keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from store_server.config import build_settings


class SignageSettings(BaseSettings):
    """Where media files live and how big they may be.

    Media files are content-addressed (``<sha256>.<ext>``) so several server processes
    can share one directory and a file never changes once written.
    """

    model_config = SettingsConfigDict(env_prefix="CADDIE_", extra="ignore")

    media_dir: Path = Path("caddie-media")
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_plays_per_batch: int = Field(default=1000, gt=0)
    # Plays reported later than this after they started are rejected (a player keeps
    # its proofs while offline; a mall outage should not last longer).
    max_play_age_hours: float = Field(default=72, gt=0)
    default_zone: str = Field(default="unassigned", min_length=1, max_length=200)
    default_slot_seconds: int = Field(default=10, ge=1, le=3600)
    default_slots_per_loop: int = Field(default=12, ge=1, le=1000)
    # screen health: a screen is online while it called in this recently; the console
    # lists screens offline longer than the alert threshold
    online_seconds: int = Field(default=180, ge=10, le=86_400)
    offline_alert_minutes: int = Field(default=15, ge=1, le=10_080)
    # what a player reports about itself: how often, and its screenshot's limit
    status_seconds: float = Field(default=60, ge=0.5, le=3600)
    max_screenshot_bytes: int = Field(default=200_000, ge=1_000, le=5_000_000)


def signage_settings(**overrides: Any) -> SignageSettings:
    """Signage settings from the environment; a bad value is a ``ConfigurationError``
    naming its variable (``caddie serve`` builds these before it starts, so a bad
    value stops the process rather than every signage request)."""
    return build_settings(SignageSettings, **overrides)
