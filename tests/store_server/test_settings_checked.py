"""Every ``CADDIE_*`` setting is checked when the settings load: ``caddie serve`` (and the
other commands) refuse a bad value at once, one line per problem naming its variable,
never with a traceback, and never by starting a server that fails later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signage.config import signage_settings
from store_server.config import load_settings
from store_server.shared.errors import ConfigurationError
from tests.servers import caddie, free_port

pytestmark = pytest.mark.integration

BAD_LAYOUT = {"prefixes": ["20"], "kind": "price", "item_digits": 50, "value_digits": 5}
BAD_SETTINGS = [
    ("CADDIE_LOG_LEVEL", "BOGUS"),
    ("CADDIE_AUDIT_POLICY", "notjson"),
    ("CADDIE_AUDIT_POLICY", '{"nope": 1}'),
    ("CADDIE_AUDIT_POLICY", '{"base_rate": 5}'),
    ("CADDIE_AUDIT_POLICY", '{"a":' * 5000),  # deep enough to exhaust the parser's stack
    ("CADDIE_VARIABLE_MEASURE_LAYOUTS", '[{"kind": "\\ud800"}]'),  # a lone surrogate
    ("CADDIE_VARIABLE_MEASURE_LAYOUTS", '[{"x": 1}]'),
    ("CADDIE_VARIABLE_MEASURE_LAYOUTS", json.dumps([BAD_LAYOUT])),
    ("CADDIE_MAX_UPLOAD_BYTES", "-5"),
    ("CADDIE_DEFAULT_SLOT_SECONDS", "0"),
    ("CADDIE_TIMEZONE", "Mars/Olympus"),
    ("CADDIE_MAX_FRAME_BYTES", "0"),
    ("CADDIE_MAX_FRAME_BYTES", "-1"),
    ("CADDIE_CURRENCY", ""),
    ("CADDIE_CURRENCY", "euro"),
    ("CADDIE_STORE_ID", ""),
    ("CADDIE_METRICS_TOKEN", "short"),
    ("CADDIE_SHOPPER_SYMBOLOGIES", "EAN13,PDF417"),
]
CASES = [pytest.param(name, value, id=f"{name}={value[:40]}") for name, value in BAD_SETTINGS]


@pytest.mark.parametrize("variable, value", CASES)
def test_serve_refuses_a_bad_setting_before_it_starts(
    variable: str, value: str, tmp_path: Path
) -> None:
    database = tmp_path / "caddie.db"
    done = caddie(
        "serve",
        "--port",
        str(free_port()),
        "--database-url",
        f"sqlite:///{database}",
        env={variable: value},
        timeout=30,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    problems = [line for line in done.stderr.splitlines() if line.startswith("  - ")]
    assert problems and problems[0].startswith(f"  - {variable}"), done.stderr
    assert not database.exists()  # stopped before migrating, let alone serving


def test_every_problem_is_reported_on_a_line_of_its_own(tmp_path: Path) -> None:
    env = {
        "CADDIE_LOG_LEVEL": "loud",
        "CADDIE_TIMEZONE": "Mars/Olympus",
        "CADDIE_MAX_UPLOAD_BYTES": "-5",
    }
    done = caddie(
        "device", "enroll", "H-1", "--database-url", f"sqlite:///{tmp_path}/c.db", env=env
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "error: invalid configuration"
    assert sorted(line.split(":")[0] for line in lines[1:]) == [
        "  - CADDIE_LOG_LEVEL",
        "  - CADDIE_MAX_UPLOAD_BYTES",
        "  - CADDIE_TIMEZONE",
    ]


def test_the_domain_checks_explain_a_bad_policy_or_layout() -> None:
    with pytest.raises(ConfigurationError) as policy:
        load_settings(audit_policy='{"base_rate": 5}')
    assert policy.value.details["problems"] == [
        "CADDIE_AUDIT_POLICY: audit policy: base_rate must be between 0 and 1, not 5.0"
    ]
    with pytest.raises(ConfigurationError) as layouts:
        load_settings(variable_measure_layouts=[BAD_LAYOUT])
    assert "must be 10, got 55" in layouts.value.message


def test_good_values_still_load() -> None:
    settings = load_settings(
        log_level="debug",
        audit_policy='{"base_rate": 0.5}',
        variable_measure_layouts=json.dumps([{**BAD_LAYOUT, "item_digits": 5}]),
        timezone="America/New_York",
        currency="USD",
        metrics_token="m" * 32,
    )
    assert settings.log_level == "DEBUG" and settings.audit_policy == {"base_rate": 0.5}
    assert settings.variable_measure_layouts and settings.variable_measure_layouts[0]["kind"]
    assert signage_settings(max_upload_bytes=1).max_upload_bytes == 1


def test_the_signage_app_reads_its_settings_when_it_is_created(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    """Not at its first request, where a bad value made every signage request fail."""
    from signage.app import create_signage_app
    from store_server.config import Settings

    monkeypatch.setenv("CADDIE_MAX_UPLOAD_BYTES", "-5")
    with pytest.raises(ConfigurationError) as refused:
        create_signage_app(Settings(database_url=sqlite_url, environment="test"))
    assert refused.value.details["problems"] == [
        "CADDIE_MAX_UPLOAD_BYTES: Input should be greater than 0"
    ]


def test_offer_and_signal_settings_are_checked_with_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """They load with the store's settings at start-up (request code reads them from the
    server's state), so a bad value stops the command, named, with every other problem."""
    monkeypatch.setenv("CADDIE_OFFERS_MAX_PER_TRIP", "-1")
    monkeypatch.setenv("CADDIE_SIGNALS_MIN_COUNT", "1")
    monkeypatch.setenv("CADDIE_CURRENCY", "euro")
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert [p.split(":")[0] for p in refused.value.details["problems"]] == [
        "CADDIE_CURRENCY",
        "CADDIE_OFFERS_MAX_PER_TRIP",
        "CADDIE_SIGNALS_MIN_COUNT",
    ]
    monkeypatch.setenv("CADDIE_OFFERS_MAX_PER_TRIP", "3")
    monkeypatch.setenv("CADDIE_SIGNALS_MIN_COUNT", "7")
    monkeypatch.delenv("CADDIE_CURRENCY")
    settings = load_settings()
    assert (settings.offers.max_per_trip, settings.signals.min_count) == (3, 7)
