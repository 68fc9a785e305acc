"""Settings: CADDIE_* variables, refusal of default secrets outside development, JSON logs."""

from __future__ import annotations

import json
import logging

import pytest

from handheld_client.decoding.symbols import ALL_SYMBOLOGIES, DEFAULT_SYMBOLOGIES
from store_server.config import DEFAULT_SECRET, RETAIL_SYMBOLOGIES, SYMBOLOGIES, load_settings
from store_server.logging_setup import JsonFormatter
from store_server.shared.errors import ConfigurationError
from tests.servers import caddie


def test_environment_variables_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CADDIE_STORE_ID", "paris-12")
    monkeypatch.setenv("CADDIE_RATE_LIMIT_BURST", "7")
    settings = load_settings()
    assert settings.store_id == "paris-12" and settings.rate_limit_burst == 7


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"environment": "production"}, "CADDIE_SECRET_KEY"),
        ({"environment": "production", "secret_key": "short"}, "CADDIE_SECRET_KEY"),
        ({"database_url": "mysql://x"}, "database_url"),
        ({"rate_limit_per_second": -1}, "RATE_LIMIT_PER_SECOND"),
        ({"environment": "staging"}, "ENVIRONMENT"),
    ],
)
def test_bad_configuration_is_one_clear_error(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**overrides)
    assert fragment in caught.value.message


def test_the_shopper_app_reads_the_symbologies_the_handheld_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CADDIE_SHOPPER_SYMBOLOGIES takes what ``caddie handheld --symbologies`` takes."""
    assert (SYMBOLOGIES, RETAIL_SYMBOLOGIES) == (ALL_SYMBOLOGIES, DEFAULT_SYMBOLOGIES)
    assert load_settings().shopper_symbologies == RETAIL_SYMBOLOGIES
    monkeypatch.setenv("CADDIE_SHOPPER_SYMBOLOGIES", " ean13,DataMatrix, QR,,EAN13")
    assert load_settings().shopper_symbologies == ("EAN13", "DATAMATRIX", "QR")
    monkeypatch.setenv("CADDIE_SHOPPER_SYMBOLOGIES", "All")
    assert load_settings().shopper_symbologies == SYMBOLOGIES
    for bad in ("EAN13,PDF417", " , "):
        monkeypatch.setenv("CADDIE_SHOPPER_SYMBOLOGIES", bad)
        with pytest.raises(ConfigurationError) as caught:
            load_settings()
        assert caught.value.message == (
            "invalid configuration: CADDIE_SHOPPER_SYMBOLOGIES: unknown symbology "
            f"{'PDF417' if 'P' in bad else '(none given)'}; "
            "choose from EAN13 EAN8 UPCA UPCE CODE128 QR DATAMATRIX DATABAR, or all"
        )


def test_production_accepts_a_real_secret() -> None:
    settings = load_settings(environment="production", secret_key="x" * 40)
    assert settings.secret_key != DEFAULT_SECRET


def test_serve_refuses_the_default_secret_in_production() -> None:
    result = caddie("serve", "--port", "1", env={"CADDIE_ENVIRONMENT": "production"})
    assert result.returncode == 1
    assert "CADDIE_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_json_logs_hide_secrets() -> None:
    record = logging.LogRecord("caddie", logging.INFO, __file__, 1, "enrolled %s", ("H-1",), None)
    record.ctx_device = "H-1"
    record.ctx_token = "s3cr3t"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "enrolled H-1" and entry["device"] == "H-1"
    assert entry["token"] == "***"
