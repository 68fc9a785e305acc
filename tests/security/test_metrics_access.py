"""``/metrics`` answers Prometheus (``CADDIE_METRICS_TOKEN``) and admins, nobody else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from store_server.app import create_app
from store_server.db import make_engine
from tests.accounts import bearer, login, make_user
from tests.security.world import settings_for

METRICS_TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    engine = make_engine(sqlite_url)
    make_user(engine, "root", "admin", None)
    make_user(engine, "alice", "staff", "store-1")
    make_user(engine, "olga", "operator", None)
    engine.dispose()
    app = create_app(settings_for(sqlite_url, metrics_token=METRICS_TOKEN))
    with TestClient(app) as client:
        yield client


def test_prometheus_scrapes_with_the_metrics_token(client: TestClient) -> None:
    reply = client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert reply.status_code == 200
    assert "caddie_connected_handhelds" in reply.text and "caddie_baskets" in reply.text


def test_an_admin_session_reads_the_metrics_too(client: TestClient) -> None:
    assert client.get("/metrics", headers=bearer(login(client, "root"))).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("not-the-metrics-token"),
        bearer(METRICS_TOKEN[:-1]),
        bearer(METRICS_TOKEN + "x"),
        {"Authorization": "Basic " + METRICS_TOKEN},
        {"Cookie": f"caddie_session={METRICS_TOKEN}x"},
        {"Authorization": ("Bearer " + "é" * 40).encode("latin-1")},  # compared, refused
    ],
    ids=["none", "wrong", "prefix", "longer", "basic", "cookie", "non-ascii"],
)
def test_anyone_else_is_refused(client: TestClient, headers: dict[str, str | bytes]) -> None:
    reply = client.get("/metrics", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "unauthorized"
    assert "caddie_" not in reply.text


@pytest.mark.parametrize("username", ["alice", "olga"])
def test_other_roles_are_forbidden(client: TestClient, username: str) -> None:
    reply = client.get("/metrics", headers=bearer(login(client, username)))
    assert reply.status_code == 403
    assert "caddie_" not in reply.text


def test_without_a_metrics_token_only_admins_read_them(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    make_user(engine, "root", "admin", None)
    engine.dispose()
    with TestClient(create_app(settings_for(sqlite_url))) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer("")).status_code == 401
        assert client.get("/metrics", headers=bearer(login(client, "root"))).status_code == 200
