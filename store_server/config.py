"""Settings for every Caddie process, read from ``CADDIE_*`` environment variables.

Every value is checked when the settings load, so a process with a bad setting refuses
to start, naming the variable, instead of starting and failing at the first request
that uses it. One object holds the store server's settings: the core ones, and the
sections of personal offers (``settings.offers``, ``CADDIE_OFFERS_*``) and store signals
(``settings.signals``, ``CADDIE_SIGNALS_*``); request code reads them from the server's
state, never from the environment. The signage app keeps its own section
(``signage.config``), read once when its app or command starts."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from store_server import client_json
from store_server.offers.config import OfferSettings
from store_server.shared.errors import CaddieError, ConfigurationError
from store_server.signals.config import SignalSettings

DEFAULT_SECRET = "caddie-development-secret-do-not-use"
DEFAULT_DATABASE_URL = "sqlite:///caddie.db"
CURRENCY = re.compile(r"^[A-Z]{3}$")
# Barcode symbologies, named as ``caddie handheld --symbologies`` names them; the first
# four (EAN/UPC) are the retail codes read by default.
SYMBOLOGIES = ("EAN13", "EAN8", "UPCA", "UPCE", "CODE128", "QR", "DATAMATRIX", "DATABAR")
RETAIL_SYMBOLOGIES = SYMBOLOGIES[:4]

S = TypeVar("S", bound=BaseSettings)


class Settings(BaseSettings):
    """One settings object; processes build engines and clients from it in their lifespan."""

    model_config = SettingsConfigDict(env_prefix="CADDIE_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = DEFAULT_SECRET
    store_id: str = Field(default="store-1", min_length=1, max_length=64)
    currency: str = "EUR"
    timezone: str = "Europe/Paris"
    # Restricted-circulation layouts as JSON (see store_server.pricing.variable_measure);
    # None means the built-in defaults.
    variable_measure_layouts: Annotated[list[dict[str, Any]] | None, NoDecode] = None
    audit_policy: Annotated[dict[str, Any], NoDecode] = Field(default_factory=dict)
    # Per-device request budget on the handheld socket (token bucket).
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, gt=0)
    # Below a kilobyte not even a hello fits.
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    # Handheld requests applied in one transaction at most (group commit; see
    # store_server/group_commit.py). 1 turns batching off.
    group_commit_max: int = Field(default=64, ge=1, le=1000)
    # permessage-deflate on the handheld socket: replies are a few kB on a store LAN, and
    # compressing each one costs the server more CPU than the bytes it saves.
    ws_compression: bool = False
    pubsub_url: str | None = None
    log_format: Literal["json", "text"] = "text"
    # Python's level names that uvicorn takes too, in any case.
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    basket_expiry_minutes: int = Field(default=240, gt=0)
    # The manager console's hourly rollup is refreshed in the background this often, in
    # each server process (0 turns it off; pages still refresh before they read).
    manager_rollup_interval_s: float = Field(default=300.0, ge=0)
    session_hours: int = Field(default=12, gt=0)
    login_attempts_per_minute: int = Field(default=10, gt=0)
    # Failed authentications (a wrong password, an unknown token on any API or socket)
    # one client address may make per minute, in each server process, before whatever it
    # sends with credentials is refused for a while (store_server.websec.AuthFailureLimit).
    auth_failures_per_minute: int = Field(default=20, gt=0)
    # Per-caller request budget (token bucket per login session, device or till token, in
    # each server process) on the staff console and POS APIs.
    api_rate_limit_per_second: float = Field(default=10.0, gt=0)
    api_rate_limit_burst: int = Field(default=50, gt=0)
    # An open /ws/staff socket re-checks its login session at least this often (and at
    # once when a logout is announced on the event bus, or the console sends a message).
    staff_socket_recheck_seconds: float = Field(default=10.0, gt=0)
    # Mark the login and screen cookies Secure on every response, not only on requests
    # that arrived over https (directly, or per a trusted proxy's X-Forwarded-Proto).
    # Unset: on in production, which is served behind TLS.
    secure_cookies: bool | None = None
    # A bearer token for Prometheus: with it (or an admin's session) /metrics answers.
    metrics_token: SecretStr | None = None
    # The address shoppers' phones and paired handhelds reach this server at: the base of
    # pairing links and of the entrance QR code (https for phones: cameras need it).
    public_url: str = "http://127.0.0.1:8000"
    # How long an entrance QR code lets a phone join (codes rotate every minute).
    entrance_code_minutes: int = Field(default=5, ge=1, le=60)
    # After a phone trip is paid or abandoned its token still reads the trip (and the
    # receipt) for this long, then stops working.
    shopper_trip_grace_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60)
    # Joins and kiosk pairings per client address per minute (token bucket, per process).
    shopper_joins_per_minute: int = Field(default=10, ge=1)
    # What the shopper app's camera reads, as ``caddie handheld --symbologies``:
    # comma-separated, or ``all``. Add DATAMATRIX and QR for GS1 DataMatrix and GS1
    # Digital Link codes; whatever the symbology, only a code carrying a GTIN is scanned.
    shopper_symbologies: Annotated[tuple[str, ...], NoDecode] = RETAIL_SYMBOLOGIES
    # Sections with prefixes of their own (CADDIE_OFFERS_*, CADDIE_SIGNALS_*), read when
    # these settings are (see model_post_init); private, so that they are not read as
    # whole JSON objects from CADDIE_OFFERS or CADDIE_SIGNALS as fields would be.
    _offers: OfferSettings = PrivateAttr()
    _signals: SignalSettings = PrivateAttr()

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("database_url must start with sqlite:// or postgresql://")
        return value

    @field_validator("public_url")
    @classmethod
    def _http_base_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"must be an http(s) URL such as https://shop.example.org, got {value!r}"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or a fragment")
        return value.rstrip("/")

    @field_validator("store_id")
    @classmethod
    def _store_id_is_a_name(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("must not start or end with spaces")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        if not CURRENCY.match(value):
            raise ValueError(f"must be an ISO 4217 code of three capital letters, got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"no time zone {value!r}; use an IANA name such as Europe/Paris"
            ) from None
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _long_metrics_token(cls, value: object) -> object:
        if value == "":
            return None  # ``CADDIE_METRICS_TOKEN=`` in an environment file: no token
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(secret, str) and len(secret) < 32:
            raise ValueError("must be a random value of at least 32 characters")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_name_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("shopper_symbologies", mode="before")
    @classmethod
    def _known_symbologies(cls, value: object) -> object:
        if isinstance(value, str):
            value = SYMBOLOGIES if value.strip().lower() == "all" else value.split(",")
        if not isinstance(value, (list, tuple)):
            raise ValueError("expected symbology names separated by commas")
        names = [str(name).strip().upper() for name in value if str(name).strip()]
        unknown = [name for name in names if name not in SYMBOLOGIES]
        if unknown or not names:
            raise ValueError(
                f"unknown symbology {', '.join(unknown) or '(none given)'}; "
                f"choose from {' '.join(SYMBOLOGIES)}, or all"
            )
        return tuple(dict.fromkeys(names))

    @field_validator("variable_measure_layouts", mode="before")
    @classmethod
    def _layouts_parse(cls, value: object) -> object:
        from store_server.pricing.variable_measure import layouts_from_config

        value = _json_value(value)
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError("expected a JSON list of layouts")
        _checked(lambda: layouts_from_config(value))
        return value

    @field_validator("audit_policy", mode="before")
    @classmethod
    def _audit_policy_parse(cls, value: object) -> object:
        from store_server.checkout.audit_policy import AuditPolicy

        value = _json_value(value)
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object of audit policy settings")
        _checked(lambda: AuditPolicy.from_config(value))
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

    def model_post_init(self, context: Any, /) -> None:
        self._offers = build_settings(OfferSettings)
        self._signals = build_settings(SignalSettings)

    @property
    def offers(self) -> OfferSettings:
        """Personal offers (``CADDIE_OFFERS_*``)."""
        return self._offers

    @property
    def signals(self) -> SignalSettings:
        """The store signals and the privacy threshold they share (``CADDIE_SIGNALS_*``)."""
        return self._signals

    @property
    def cookies_always_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.environment == "production"


def _json_value(value: object) -> object:
    """JSON text (from the environment) parsed; values given in code pass as they are."""
    if not isinstance(value, str):
        return value
    try:
        return client_json.loads(value)
    except client_json.ClientJSONError as exc:
        raise ValueError(f"not valid JSON ({exc.reason}, line {exc.line})") from None


def _checked(check: Callable[[], object]) -> None:
    """Run a domain check, turning its ``InvalidInput`` into the ``ValueError`` pydantic
    reports against the setting."""
    try:
        check()
    except CaddieError as exc:
        raise ValueError(exc.message) from None


def problems_of(exc: ValidationError | SettingsError, prefix: str = "CADDIE_") -> list[str]:
    """One line per problem, each naming the ``CADDIE_*`` variable it is about."""
    if isinstance(exc, SettingsError):
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"{prefix}{found.group(1).upper()}" if found else f"{prefix}*"
        return [f"{name}: {exc}"]
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        message = str(err["ctx"]["error"]) if err["type"] == "value_error" else err["msg"]
        where = "".join(f"[{p}]" for p in loc[1:])
        problems.append(f"{prefix}{loc[0].upper()}{where}: {message}" if loc else message)
    return problems


def build_settings(cls: type[S], **overrides: Any) -> S:
    """``cls`` from the environment (and ``overrides``), its validation errors turned into
    one ``ConfigurationError`` whose ``problems`` name each variable."""
    try:
        return cls(**overrides)
    except (ValidationError, SettingsError) as exc:
        problems = problems_of(exc, str(cls.model_config.get("env_prefix") or ""))
        raise ConfigurationError(
            "invalid configuration: " + "; ".join(problems), problems=problems
        ) from None


def problems_in(exc: CaddieError) -> list[str]:
    """The problems a configuration (or other) error lists, else its message."""
    found = exc.details.get("problems")
    return [str(p) for p in found] if isinstance(found, list) else [exc.message]


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable ConfigurationError
    that lists the problems of the core settings and of every section."""
    try:
        return build_settings(Settings, **overrides)
    except ConfigurationError as exc:
        problems = problems_in(exc)
    for section in (OfferSettings, SignalSettings):  # when the core failed, unread yet
        try:
            build_settings(section)
        except ConfigurationError as exc:
            problems += [p for p in problems_in(exc) if p not in problems]
    raise ConfigurationError("invalid configuration: " + "; ".join(problems), problems=problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
