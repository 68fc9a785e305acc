"""Signage input that would crash a naive server is a 422 ``invalid_input``, never a 500:
JSON bodies nested deep enough to exhaust the stack or holding lone surrogate escapes
(and they change nothing), and report days at the ends of the calendar, where date
arithmetic overflows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from store_server.client_json import MAX_DEPTH
from tests.accounts import bearer
from tests.signage.conftest import Loaded
from tests.signage.signage_helpers import campaign, play


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


HOSTILE = [nested(5_000), nested(900), nested(MAX_DEPTH + 1), '"\\ud800"']


@pytest.fixture
def lenient(loaded: Loaded) -> Iterator[TestClient]:
    """The store app with signage mounted; a crash is a 500 reply, not an exception."""
    from store_server.app import create_app
    from store_server.config import load_settings

    app = create_app(load_settings(database_url=loaded.url, environment="test"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def hostile(document: dict[str, Any], field: str, raw: str) -> str:
    return json.dumps({**document, field: "@"}).replace('"@"', raw)


def assert_refused(reply: Any) -> None:
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].startswith("the body is not valid JSON"), error


@pytest.mark.parametrize("raw", HOSTILE)
@pytest.mark.parametrize("field", ["id", "advertiser", "targets"])
def test_a_hostile_campaign_is_refused(
    lenient: TestClient, loaded: Loaded, field: str, raw: str
) -> None:
    headers = {**bearer(loaded.operator), "Content-Type": "application/json"}
    body = hostile(campaign(), field, raw) if raw != nested(5_000) else raw
    assert_refused(lenient.post("/signage/api/campaigns", content=body, headers=headers))
    listed = lenient.get("/signage/api/campaigns", headers=bearer(loaded.operator)).json()
    assert "K-NEW" not in [c["id"] for c in listed]


@pytest.mark.parametrize("raw", HOSTILE)
def test_a_hostile_proof_of_play_batch_is_refused(
    lenient: TestClient, loaded: Loaded, raw: str
) -> None:
    body = '{"plays": [' + hostile(play(), "creative_id", raw) + "]}"
    headers = {**bearer(loaded.tokens["S-01"]), "Content-Type": "application/json"}
    assert_refused(lenient.post("/signage/proof-of-play", content=body, headers=headers))
    assert_refused(lenient.post("/signage/proof-of-play", content=nested(5_000), headers=headers))
    fine = lenient.post("/signage/proof-of-play", json={"plays": [play()]}, headers=headers)
    assert fine.json() == {"accepted": 1, "duplicates": 0, "rejected": 0}, fine.text


@pytest.mark.parametrize(
    "params",
    [
        {"to": "0001-01-01"},
        {"to": "0001-01-06"},
        {"to": "9999-12-31"},
        {"from": "0001-01-01", "to": "2026-11-07"},
        {"from": "9999-12-31", "to": "9999-12-31"},
    ],
)
@pytest.mark.parametrize("export", [".json", ".csv", "/series.csv"])
def test_an_attribution_report_for_days_out_of_range_is_a_clear_422(
    lenient: TestClient, loaded: Loaded, export: str, params: dict[str, str]
) -> None:
    reply = lenient.get(
        f"/signage/api/attribution/K-1{export}", params=params, headers=bearer(loaded.operator)
    )
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_input"
    day = params["from"] if params.get("from", "").startswith(("0", "9")) else params["to"]
    assert f"{day} is outside the days plans cover" in error["message"], error
