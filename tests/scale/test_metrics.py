"""Observability of real server processes: Prometheus metrics (one process, and several
workers adding up), JSON logs with request and connection ids, and no secret in them."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from store_server import metrics
from tests.scale.conftest import CODES, PASSWORD, Store
from tests.scale.test_multiprocess import call, hello, staff_console, wait_ready
from tests.servers import ServerProcess, caddie


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` from the Prometheus text format."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


# Prometheus's credential (CADDIE_METRICS_TOKEN of the servers below).
METRICS_TOKEN = "metrics-token-for-the-scale-tests-0123456789"


def scrape(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = httpx.get(
        server.url + "/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=10,
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return samples(reply.text)


def test_record_plays_counts_accepted_plays() -> None:
    before = samples(metrics.exposition({})[0].decode())[("caddie_signage_plays_total", ())]
    metrics.record_plays(3)
    metrics.record_plays(0)
    after = samples(metrics.exposition({})[0].decode())[("caddie_signage_plays_total", ())]
    assert after - before == 3


@pytest.mark.integration
@pytest.mark.postgres
def test_metrics_follow_scans_baskets_connections_and_audits(
    store: Store, servers: list[ServerProcess]
) -> None:
    server = store.server(CADDIE_METRICS_TOKEN=METRICS_TOKEN)
    servers.append(server)
    server.start()

    async def scenario() -> None:
        shopper = await hello(server, "H-030", store.tokens["H-030"])
        await call(shopper, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "30"})
        leaving = await hello(server, "H-031", store.tokens["H-031"])
        await call(leaving, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "31"})
        for i in range(5):
            await call(shopper, {"type": "scan", "id": f"m-{i}", "code": CODES[i]})
        await call(shopper, {"type": "scan", "id": "m-0", "code": CODES[0]})  # a replay
        await call(shopper, {"type": "scan", "id": "m-bad", "code": "4006381333932"})  # bad check
        await call(leaving, {"type": "scan", "id": "l-0", "code": CODES[0]})
        await call(leaving, {"type": "finish", "id": str(uuid.uuid4())})
        now = scrape(server)
        assert now[("caddie_connected_handhelds", ())] == 2
        assert now[("caddie_scans_total", ())] == 6
        assert (
            now[("caddie_handheld_requests_total", (("outcome", "replayed"), ("type", "scan")))]
            == 1
        )
        assert (
            now[("caddie_handheld_requests_total", (("outcome", "error"), ("type", "scan")))] == 1
        )
        assert now[("caddie_ack_latency_seconds_count", (("type", "scan"),))] == 8
        assert now[("caddie_audit_decisions_total", (("decision", "none"),))] == 1
        assert now[("caddie_open_baskets", ())] == 1
        assert now[("caddie_baskets", (("status", "finishing"),))] == 1
        await shopper.close()
        await leaving.close()

    asyncio.run(scenario())
    for _ in range(100):  # the server notices the closes a moment later
        if scrape(server)[("caddie_connected_handhelds", ())] == 0:
            break
        asyncio.run(asyncio.sleep(0.05))
    assert scrape(server)[("caddie_connected_handhelds", ())] == 0


@pytest.mark.integration
@pytest.mark.postgres
@pytest.mark.slow
def test_workers_add_their_metrics_up(
    store: Store, redis_url: str, servers: list[ServerProcess], tmp_path: Path
) -> None:
    """With --workers 2, whichever worker answers a scrape reports every worker's scans."""
    directory = tmp_path / "prometheus"
    server = store.server(
        redis_url, PROMETHEUS_MULTIPROC_DIR=str(directory), CADDIE_METRICS_TOKEN=METRICS_TOKEN
    )
    server.args = ["--workers", "2"]
    servers.append(server)
    server.start()
    wait_ready(server)

    async def scenario() -> None:
        sockets = []
        for n in range(30):  # new connections land on either worker
            device = f"H-{n + 30:03d}"
            ws = await hello(server, device, store.tokens[device])
            await call(ws, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "5"})
            for i in range(2):
                await call(ws, {"type": "scan", "id": f"{device}-{i}", "code": CODES[i]})
            sockets.append(ws)
        for _ in range(12):
            now = scrape(server)  # a new connection each time: either worker answers
            assert now[("caddie_scans_total", ())] == 60
            assert now[("caddie_connected_handhelds", ())] == 30
            assert now[("caddie_open_baskets", ())] == 30
        for ws in sockets:
            await ws.close()

    asyncio.run(scenario())
    pids = {p.stem.rsplit("_", 1)[-1] for p in directory.glob("counter_*.db")}
    assert len(pids) == 2, pids


@pytest.mark.integration
@pytest.mark.postgres
def test_json_logs_carry_ids_and_never_a_secret(store: Store, servers: list[ServerProcess]) -> None:
    server = store.server(CADDIE_LOG_LEVEL="DEBUG")
    servers.append(server)
    server.start()
    env = {**server.env, "CADDIE_LOG_FORMAT": "json", "CADDIE_LOG_LEVEL": "DEBUG"}
    enrolled = caddie("device", "enroll", "LOG-1", "--database-url", store.url, env=env)
    assert enrolled.returncode == 0, enrolled.stderr
    device, token = enrolled.stdout.split()
    secrets = [token, PASSWORD, "wrong-password-9f3", *store.tokens.values()]

    login = httpx.post(
        server.url + "/api/auth/login",
        json={"username": store.staff, "password": PASSWORD},
        headers={"X-Request-ID": "probe-42"},
        timeout=10,
    )
    assert login.status_code == 200 and login.headers["x-request-id"] == "probe-42"
    staff_token = login.json()["token"]
    secrets.append(staff_token)
    refused = httpx.post(
        server.url + "/api/auth/login",
        json={"username": store.staff, "password": "wrong-password-9f3"},
        timeout=10,
    )
    assert refused.status_code == 401
    me = httpx.get(
        server.url + "/api/auth/me", headers={"Authorization": f"Bearer {staff_token}"}, timeout=10
    )
    assert me.status_code == 200

    async def sockets() -> None:
        ws = await hello(server, device, token)
        await call(ws, {"type": "start", "id": str(uuid.uuid4()), "loyalty_card": "9"})
        await ws.close()
        bad = await hello_refused(server, device, "not-" + token)
        assert bad == 4401
        console = await staff_console(server, staff_token)
        await console.close()

    asyncio.run(sockets())
    server.stop()
    assert server.log_path is not None
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line]
    client_lines = [json.loads(line) for line in enrolled.stderr.splitlines() if line.strip()]
    everything = json.dumps(lines + client_lines)
    for secret in secrets:
        assert secret not in everything
    # every HTTP line carries its request id; every socket line its connection id
    assert any(
        line.get("request_id") == "probe-42" and "/api/auth/login" in line["message"]
        for line in lines
    )
    hello_lines = [line for line in lines if "said hello" in line["message"]]
    assert hello_lines and all(line.get("connection_id") for line in hello_lines)
    access = [line for line in lines if line["logger"] == "caddie.access"]
    assert access and all(line.get("request_id") or line.get("connection_id") for line in access)


async def hello_refused(server: ServerProcess, device: str, token: str) -> int | None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    ws = await connect(server.ws_url)
    await ws.send(json.dumps({"type": "hello", "protocol": 1, "device_id": device, "token": token}))
    try:
        async with asyncio.timeout(10):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    return ws.close_code


def test_secrets_in_free_text_are_masked() -> None:
    from store_server.logging_setup import scrub

    text = scrub('login {"password": "hunter2"} Authorization: Bearer abc.def token=xyz')
    assert "hunter2" not in text and "abc.def" not in text and "xyz" not in text
