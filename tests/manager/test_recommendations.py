"""Recommendations fire on a planted under-scanning pattern and stay quiet on noise."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from store_server.checkout.audit_policy import AuditPolicy
from store_server.db import session_scope
from store_server.manager import recommendations, rollup
from store_server.manager.history import HistorySpec, generate
from store_server.timeutil import utcnow
from tests.csrf import csrf_headers
from tests.manager.conftest import log_in


def test_binomial_tail_matches_hand_values() -> None:
    # P(X >= 1) for n=2, p=0.5 is 3/4; P(X >= 2) is 1/4.
    assert abs(recommendations.binomial_tail(1, 2, 0.5) - 0.75) < 1e-12
    assert abs(recommendations.binomial_tail(2, 2, 0.5) - 0.25) < 1e-12


def test_a_planted_category_fires_and_noise_does_not() -> None:
    policy = AuditPolicy()
    # Noise: every category's hits in line with the overall 3% hit rate.
    audits = {c: 200 for c in ("dairy", "produce", "grocery", "bakery", "meat", "coffee")}
    hits = {"dairy": 7, "produce": 5, "grocery": 8, "bakery": 6, "meat": 9, "coffee": 6}
    assert recommendations.find(audits, hits, 1200, 36, policy) == []
    # Planted: 9 of the last 40 audits holding wine found a missed bottle.
    found = recommendations.find({**audits, "wine": 40}, {**hits, "wine": 9}, 1240, 45, policy)
    assert [key for key, *_ in found] == ["category:wine"]
    key, title, evidence, changes = found[0]
    assert "9 of the last 40 audits" in evidence
    assert "wine" in changes["risky_categories"]
    # Too few audits to say anything.
    assert recommendations.find({"wine": 10}, {"wine": 9}, 10, 9, policy) == []


def test_the_effect_is_replayed_through_the_simulator() -> None:
    policy = AuditPolicy(base_rate=0.05)
    effect = recommendations.expected_effect(policy, {"base_rate": 0.10})
    rows = {m: (a, b) for m, a, b in effect}
    before, after = (float(x.rstrip("%")) for x in rows["trips audited"])
    assert after > before  # doubling the base rate audits more trips


def _recent_history(engine: Engine, miss_rates: dict[str, float], seed: int) -> None:
    start = (utcnow() - timedelta(days=21)).replace(hour=0, minute=0, second=0, microsecond=0)
    spec = HistorySpec(
        start=start.astimezone(UTC),
        days=20,
        trips_per_day=150,
        seed=seed,
        base_audit_rate=0.3,
        partial_share=0.0,
        miss_rates=miss_rates,
        default_miss_rate=0.002,
        utc_offset_hours=0,
    )
    with engine.begin() as connection:
        generate(connection, spec)


def test_the_console_recommends_from_planted_history_and_applies_it(
    app_client: TestClient, engine: Engine
) -> None:
    _recent_history(engine, {"dairy": 0.06}, seed=5)
    log_in(app_client, "boss")
    page = app_client.get("/manager/policy").text
    assert "dairy: make it a risky category" in page
    assert "expected effect" in page
    token = re.search(r'name="recommendation" value="([^"]+)"', page)
    assert token is not None and token.group(1) == "category:dairy"
    applied = app_client.post(
        "/manager/policy/apply",
        data={"recommendation": "category:dairy", "reason": "dairy losses"},
        headers=csrf_headers(app_client, "/manager/policy"),
        follow_redirects=False,
    )
    assert applied.status_code == 303
    versions = app_client.get("/manager/policy").text
    assert "dairy losses" in versions and "risky_categories" in versions
    # Settings as JSON; bad JSON and bad values answer clearly.
    for settings, message in (
        ("{not json", "must be a JSON object"),
        ("[1]", "must be a JSON object"),
        ('{"base_rate": 5}', "between 0 and 1"),
    ):
        reply = app_client.post(
            "/manager/policy/apply",
            data={"settings": settings, "reason": "x"},
            headers=csrf_headers(app_client, "/manager/policy"),
        )
        assert reply.status_code == 422 and message in reply.text
    rolled = app_client.post(
        "/manager/policy/rollback",
        data={"version": "1", "reason": "undo"},
        headers=csrf_headers(app_client, "/manager/policy"),
        follow_redirects=False,
    )
    assert rolled.status_code == 303
    assert "rollback to version 1: undo" in app_client.get("/manager/policy").text
    for version in ("", "abc", "99"):
        bad = app_client.post(
            "/manager/policy/rollback",
            data={"version": version, "reason": "x"},
            headers=csrf_headers(app_client, "/manager/policy"),
        )
        assert bad.status_code in (404, 422)


def test_noise_history_recommends_nothing(app_client: TestClient, engine: Engine) -> None:
    _recent_history(engine, {}, seed=6)
    with session_scope(engine) as session:
        rollup.rebuild(session)
    log_in(app_client, "boss")
    page = app_client.get("/manager/policy").text
    assert 'id="no-recs"' in page
