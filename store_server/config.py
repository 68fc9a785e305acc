"""Settings for every Caddie process, read from ``CADDIE_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from store_server.errors import ConfigurationError

DEFAULT_SECRET = "caddie-development-secret-do-not-use"
DEFAULT_DATABASE_URL = "sqlite:///caddie.db"


class Settings(BaseSettings):
    """One settings object; processes build engines and clients from it in their lifespan."""

    model_config = SettingsConfigDict(env_prefix="CADDIE_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = DEFAULT_SECRET
    store_id: str = "store-1"
    currency: str = "EUR"
    timezone: str = "Europe/Paris"
    # Restricted-circulation layouts as JSON (see store_server.pricing.variable_measure);
    # None means the built-in defaults.
    variable_measure_layouts: list[dict[str, Any]] | None = None
    audit_policy: dict[str, Any] = Field(default_factory=dict)
    # Per-device request budget on the handheld socket (token bucket).
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, gt=0)
    max_frame_bytes: int = 64 * 1024
    # Handheld requests applied in one transaction at most (group commit; see
    # store_server/group_commit.py). 1 turns batching off.
    group_commit_max: int = Field(default=64, ge=1, le=1000)
    # permessage-deflate on the handheld socket: replies are a few kB on a store LAN, and
    # compressing each one costs the server more CPU than the bytes it saves.
    ws_compression: bool = False
    pubsub_url: str | None = None
    log_format: Literal["json", "text"] = "text"
    log_level: str = "INFO"
    basket_expiry_minutes: int = Field(default=240, gt=0)
    session_hours: int = Field(default=12, gt=0)
    login_attempts_per_minute: int = Field(default=10, gt=0)
    # Per-caller request budget (token bucket per login session, device or till token, in
    # each server process) on the staff console and POS APIs.
    api_rate_limit_per_second: float = Field(default=10.0, gt=0)
    api_rate_limit_burst: int = Field(default=50, gt=0)
    # An open /ws/staff socket re-checks its login session at least this often (and at
    # once when a logout is announced on the event bus, or the console sends a message).
    staff_socket_recheck_seconds: float = Field(default=10.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("database_url must start with sqlite:// or postgresql://")
        return value

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> Settings:
        if self.environment == "production" and (
            self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "CADDIE_SECRET_KEY must be set to a random value of at least 32 characters "
                "outside development"
            )
        return self


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable ConfigurationError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [
            f"CADDIE_{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
