"""The audit simulation and its `simulate` command, run for real on small populations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from store_server.checkout.audit_policy import AuditPolicy
from store_server.checkout.cli import app
from store_server.checkout.simulation import SimulationResult, simulate, summary_rows
from store_server.shared.errors import InvalidInput

SMALL = {"shoppers": 300, "days": 365}


def test_same_seed_same_year_and_seeds_matter() -> None:
    a = simulate(AuditPolicy(), shoppers=100, days=120, seed=5)
    assert a == simulate(AuditPolicy(), shoppers=100, days=120, seed=5)
    assert a != simulate(AuditPolicy(), shoppers=100, days=120, seed=6)


def test_dishonest_shoppers_are_audited_more_and_some_under_scanning_is_caught() -> None:
    r = simulate(AuditPolicy(), dishonest_share=0.2, underscan_item_rate=0.2, seed=3, **SMALL)
    assert r.dishonest_shoppers > 30
    assert r.trips > 300 * 40  # weekly-ish over a year
    assert r.dishonest_trips > 0 and r.honest_trips > 0
    assert r.dishonest_audit_rate > 1.3 * r.honest_audit_rate
    assert r.underscanned_items > 0
    assert 0 < r.caught_share < 1
    assert r.escalations > 0
    assert r.audits == r.partial_audits + r.full_audits
    assert r.honest_trips + r.dishonest_trips == r.trips


def test_honest_population_has_nothing_to_catch() -> None:
    r = simulate(AuditPolicy(), dishonest_share=0.0, seed=4, shoppers=100, days=90)
    assert r.dishonest_shoppers == 0
    assert r.underscanned_items == r.caught_items == r.cheating_trips == 0
    assert r.caught_share == 0.0
    assert r.audits > 0  # first trips at least


def test_a_policy_that_never_audits_audits_nothing() -> None:
    never = AuditPolicy(base_rate=0.0, first_trip_always=False, max_days_without_audit=None)
    r = simulate(never, dishonest_share=0.2, seed=1, shoppers=100, days=120)
    assert r.audits == 0
    assert r.caught_items == 0
    assert r.underscanned_items > 0


def test_auditing_every_basket_in_full_catches_everything() -> None:
    always = AuditPolicy(
        base_rate=1.0, max_probability=1.0, partial_share=0.0, min_trust_factor=1.0
    )
    r = simulate(always, dishonest_share=0.3, seed=2, shoppers=80, days=120)
    assert r.audit_rate == pytest.approx(1.0, abs=0.001)  # only empty baskets escape
    assert r.full_audits == r.audits
    assert r.underscanned_items > 0
    assert r.caught_share == pytest.approx(1.0, abs=0.01)


def test_first_trip_rule_shows_in_the_audit_rate() -> None:
    policy = AuditPolicy(base_rate=0.0, max_days_without_audit=None)
    r = simulate(policy, dishonest_share=0.0, seed=8, shoppers=200, days=60)
    assert r.audits == r.shoppers  # exactly the first trips


def test_summary_rows_cover_the_figures_staff_ask_about() -> None:
    r = simulate(AuditPolicy(), seed=1, shoppers=50, days=60)
    labels = [label for label, _ in summary_rows(r)]
    for wanted in (
        "trips",
        "audit rate (all trips)",
        "honest shoppers' trips audited",
        "honest shopper-months with an audit",
        "dishonest shoppers' trips audited",
        "under-scanned items caught",
    ):
        assert wanted in labels


@pytest.mark.parametrize(
    "kwargs",
    [{"shoppers": 0}, {"days": 0}, {"dishonest_share": 1.5}, {"underscan_item_rate": -0.1}],
)
def test_bad_simulation_arguments_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        simulate(AuditPolicy(), **kwargs)  # type: ignore[arg-type]


runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "160"})
    return result.exit_code, result.output


def test_simulate_command_prints_a_table() -> None:
    code, out = run("simulate", "--shoppers", "150", "--days", "120", "--seed", "3")
    assert code == 0, out
    assert "audit rate (all trips)" in out
    assert "under-scanned items caught" in out
    assert "base rate 5.0%" in out
    expected = simulate(AuditPolicy(), shoppers=150, days=120, seed=3)
    assert f"{expected.trips:,}" in out


def test_simulate_command_applies_policy_file_and_overrides(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"base_rate": 0.2, "partial_items": 4}), encoding="utf-8")
    code, out = run(
        "simulate", "--shoppers", "50", "--days", "60", "--policy", str(policy),
        "--partial-items", "2", "--no-first-trip-always",
    )  # fmt: skip
    assert code == 0, out
    assert "base rate 20.0%, partial 2 items, first trip by chance" in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--base-rate", "1.5"], "--base-rate"),
        (["--shoppers", "0"], "--shoppers"),
        (["--dishonest-share", "abc"], "--dishonest-share"),
        (["--partial-items", "0"], "--partial-items"),
    ],
)
def test_bad_options_exit_non_zero_with_a_message(args: list[str], fragment: str) -> None:
    code, out = run("simulate", *args)
    assert code == 2
    assert "Invalid value" in out
    assert fragment in out


def test_bad_policy_file_is_explained(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"base_rate": -1}), encoding="utf-8")
    code, out = run("simulate", "--policy", str(bad))
    assert code == 2
    assert "base_rate must be between 0 and 1" in out
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    code, out = run("simulate", "--policy", str(broken))
    assert code == 2
    assert "not valid JSON" in out
    for hostile in ('{"a":' * 5000, '{"base_rate": "\\ud800"}', b"\xff\xfe{"):
        broken.write_bytes(hostile if isinstance(hostile, bytes) else hostile.encode())
        code, out = run("simulate", "--policy", str(broken))
        assert code == 2, out
        assert "not valid JSON" in out and "Traceback" not in out
    code, out = run("simulate", "--policy", str(tmp_path / "missing.json"))
    assert code == 2
    assert "cannot read" in out


def test_result_rates_are_derived_from_counts() -> None:
    r = SimulationResult(
        days=1, shoppers=1, dishonest_shoppers=0, trips=10, audits=2, partial_audits=2,
        full_audits=0, escalations=0, rescanned_items=6, honest_trips=10,
        honest_trips_audited=2, honest_shopper_months=1, honest_shopper_months_audited=1,
        dishonest_trips=0, dishonest_trips_audited=0, cheating_trips=0,
        cheating_trips_caught=0, underscanned_items=0, caught_items=0,
    )  # fmt: skip
    assert (r.audit_rate, r.items_rescanned_per_audit, r.dishonest_audit_rate) == (0.2, 3.0, 0.0)
