"""Settings of the store-signal publisher (``CADDIE_SIGNALS_*``).

Kept apart from the server's ``Settings`` so this feature can be configured (and turned
off) without touching the core configuration.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The fewest distinct baskets a figure sent to the mall may rest on, unless configured.
DEFAULT_MIN_COUNT = 5


class SignalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CADDIE_SIGNALS_", extra="ignore")

    enabled: bool = True
    # Heartbeat: every scope is published at least this often, changed or not.
    interval_s: float = Field(default=5.0, gt=0)
    # A change is published at once, but no more often than this.
    min_interval_s: float = Field(default=1.0, ge=0)
    active_minutes: int = Field(default=10, gt=0)
    momentum_minutes: int = Field(default=15, gt=0)
    min_count: int = Field(default=DEFAULT_MIN_COUNT, ge=2)
    # Device id -> zone; devices not listed count for their store only.
    device_zones: dict[str, str] = Field(default_factory=dict)
