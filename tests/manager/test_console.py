"""The console over HTTP: who may see it, every page, bad ranges, CSV, POS totals, policy forms."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from store_server.manager.history import HistorySpec, generate
from tests.csrf import csrf_headers
from tests.manager.conftest import PASSWORD, bearer, log_in

PAGES = ("/manager", "/manager/loss", "/manager/quality", "/manager/policy")


def _history(engine: Engine, **kw: object) -> None:
    spec = HistorySpec(
        start=datetime(2026, 3, 2, tzinfo=UTC),
        days=14,
        trips_per_day=60,
        seed=11,
        utc_offset_hours=0,
    )
    for key, value in kw.items():
        setattr(spec, key, value)
    with engine.begin() as connection:
        generate(connection, spec)


@pytest.mark.parametrize("username", ["cashier", "mall"])
def test_staff_and_operators_get_nothing(app_client: TestClient, username: str) -> None:
    reply = app_client.post(
        "/manager/login",
        data={"username": username, "password": PASSWORD},
        headers=csrf_headers(app_client, "/manager/login"),
        follow_redirects=False,
    )
    assert reply.status_code == 403
    assert "cannot use the manager console" in reply.text
    assert "caddie_session" not in reply.cookies
    headers = bearer(app_client, username)
    # Even with a valid session cookie of another role, every page refuses.
    app_client.cookies.set("caddie_session", headers["Authorization"].split()[1])
    for page in (*PAGES, "/manager/csv/figures"):
        got = app_client.get(page, follow_redirects=False)
        assert got.status_code == 403, page
        assert "Trips started" not in got.text
    app_client.cookies.clear()
    denied = app_client.post(
        "/api/manager/pos-totals", json={"day": "2026-03-02", "sales_cents": 1}, headers=headers
    )
    assert denied.status_code == 403


def test_shoppers_and_strangers_are_sent_to_the_login(app_client: TestClient) -> None:
    app_client.cookies.clear()
    for page in (*PAGES, "/manager/csv/figures"):
        reply = app_client.get(page, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"] == "/manager/login"
    app_client.cookies.set("caddie_session", "a-device-token-or-junk")
    assert app_client.get("/manager", follow_redirects=False).status_code == 303
    app_client.cookies.clear()
    assert (
        app_client.post(
            "/api/manager/pos-totals", json={"day": "2026-03-02", "sales_cents": 1}
        ).status_code
        == 401
    )


@pytest.mark.parametrize("username", ["boss", "root"])
def test_managers_and_admins_see_every_page(
    app_client: TestClient, engine: Engine, username: str
) -> None:
    _history(engine)
    log_in(app_client, username)
    for page in PAGES:
        reply = app_client.get(page + "?range=week&date=2026-03-11")
        assert reply.status_code == 200, (page, reply.text[:500])
        assert '<meta name="csrf-token"' in reply.text
        assert "<script>" not in reply.text and "style=" not in reply.text
    overview = app_client.get("/manager?range=week&date=2026-03-11").text
    assert (
        "2026-03-09 to 2026-03-15" in overview
        and "compared with 2026-03-02 to 2026-03-08" in overview
    )
    assert "<svg" in overview
    assert "/api/manager/pos-totals" in overview  # how to feed the POS share
    loss = app_client.get("/manager/loss?range=week&date=2026-03-11").text
    assert "Estimated unrecovered loss" in loss and " bp (95%" in loss


def test_bad_reversed_and_huge_ranges_answer_clearly(app_client: TestClient) -> None:
    log_in(app_client, "boss")
    cases = {
        "?range=custom&from=2026-03-10&to=2026-03-01": "is after to",
        "?range=custom&from=2020-01-01&to=2026-03-01": "longer than the 400",
        "?range=day&date=2026-02-31": "is not a date",
        "?range=custom&from=yesterday&to=2026-03-01": "is not a date",
        "?range=fortnight": "range must be one of",
        "?range=custom&from=2026-03-01": "to: give a date",
        "?range=day&date=" + "9" * 5000: "is not a date",
    }
    for query, message in cases.items():
        for page in PAGES:
            reply = app_client.get(page + query)
            assert reply.status_code == 400, (page, query)
            assert message in reply.text
        got = app_client.get("/manager/csv/figures" + query)
        assert got.status_code == 400 and message in got.text


def test_an_empty_store_says_so(app_client: TestClient) -> None:
    log_in(app_client, "boss")
    for page in PAGES:
        reply = app_client.get(page + "?range=month&date=2026-03-01")
        assert reply.status_code == 200
        assert 'id="empty"' in reply.text
    assert "No versions yet" in app_client.get("/manager/policy").text


def test_every_table_downloads_as_csv(app_client: TestClient, engine: Engine) -> None:
    _history(engine)
    log_in(app_client, "boss")
    page = app_client.get("/manager/loss?range=week&date=2026-03-11").text
    links = set(re.findall(r'href="(/manager/csv/[a-z]+\?[^"]*)"', page))
    assert len(links) >= 5
    for link in links:
        reply = app_client.get(link.replace("&amp;", "&"))
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(reply.text)))
        assert len(rows) >= 2
    figures = list(
        csv.reader(
            io.StringIO(app_client.get("/manager/csv/figures?range=week&date=2026-03-11").text)
        )
    )
    assert figures[0][:2] == ["section", "figure"]
    assert any(r[1] == "Trips started" for r in figures)
    assert app_client.get("/manager/csv/nonsense").status_code == 404


def test_pos_totals_by_till_token_and_csv(app_client: TestClient, engine: Engine) -> None:
    _history(engine)
    admin = bearer(app_client, "root")
    till = app_client.post(
        "/api/checkout/pos-terminals", json={"terminal_id": "POS-1"}, headers=admin
    )
    assert till.status_code in (200, 201), till.text
    till_auth = {"Authorization": f"Bearer {till.json()['token']}"}
    for bad in (
        {"day": "2026-03-09", "sales_cents": -1},
        {"day": "2026-13-09", "sales_cents": 1},
        {"day": "2026-03-09", "sales_cents": "lots"},
        {"day": "2026-03-09", "sales_cents": 1, "extra": 1},
        {"day": "2999-03-09", "sales_cents": 1},
    ):
        reply = app_client.post("/api/manager/pos-totals", json=bad, headers=till_auth)
        assert reply.status_code == 422, (bad, reply.text)
    ok = app_client.post(
        "/api/manager/pos-totals",
        json={"day": "2026-03-09", "sales_cents": 10_000_000},
        headers=till_auth,
    )
    assert ok.status_code == 200 and ok.json()["store_id"] == "store-1"
    log_in(app_client, "boss")
    shown = app_client.get("/manager?range=day&date=2026-03-09").text
    share = re.search(r'id="fig-pos_share">.*?<p class="value">([^<]*)<', shown, re.S)
    assert share is not None and share.group(1).endswith("%")
    # CSV import: all or nothing.
    bad = app_client.post(
        "/manager/pos-totals/import",
        files={"file": ("t.csv", b"day,sales_cents\n2026-03-10,5\n2026-03-11,x\n")},
        headers=csrf_headers(app_client, "/manager"),
    )
    assert bad.status_code == 422 and "line 3" in bad.text
    assert (
        "—"
        in app_client.get("/manager?range=day&date=2026-03-10").text.split('id="fig-pos_share"')[1][
            :400
        ]
    )
    good = app_client.post(
        "/manager/pos-totals/import",
        files={"file": ("t.csv", b"day,sales_cents\n2026-03-10,5000000\n")},
        headers=csrf_headers(app_client, "/manager"),
    )
    assert good.status_code == 200 and "1 daily totals imported" in good.text
    for junk in (b"\xff\xfe\x00", b"", b"a,b,c\n"):
        reply = app_client.post(
            "/manager/pos-totals/import",
            files={"file": ("t.csv", junk)},
            headers=csrf_headers(app_client, "/manager"),
        )
        assert reply.status_code == 422


def test_cli_manager_role_and_the_daily_report(tmp_path, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from store_server.auth.models import User
    from store_server.db import make_engine
    from tests.servers import caddie

    made = caddie(
        "user",
        "create",
        "meg",
        "--role",
        "manager",
        "--database-url",
        sqlite_url,
        env={"CADDIE_NEW_PASSWORD": "manager-pw-123"},
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "meg\tmanager"
    engine = make_engine(sqlite_url)
    with engine.connect() as c:
        store = c.execute(
            select(User.__table__.c.store_id).where(User.__table__.c.username == "meg")
        ).scalar()  # type: ignore[attr-defined]
    assert store == "store-1"
    _history(engine)
    engine.dispose()
    out = tmp_path / "daily.html"
    report = caddie(
        "report",
        "daily",
        "--date",
        "2026-03-10",
        "--store",
        "store-1",
        "--output",
        str(out),
        "--database-url",
        sqlite_url,
    )
    assert report.returncode == 0, report.stderr
    html = out.read_text()
    assert "daily report · store-1 · 2026-03-10" in html and "compared with 2026-03-09" in html
    assert "Trips started" in html and "<svg" in html and "<script" not in html
    bad = caddie("report", "daily", "--date", "10/03/2026", "--database-url", sqlite_url)
    assert bad.returncode == 2 and "is not a date" in bad.stderr
    empty = caddie(
        "report",
        "daily",
        "--date",
        "2020-01-01",
        "--store",
        "nowhere",
        "--output",
        str(tmp_path / "e.html"),
        "--database-url",
        sqlite_url,
    )
    assert empty.returncode == 0 and "No trips on this day" in (tmp_path / "e.html").read_text()


def test_refused_scans_and_removals_reach_scan_quality(
    app_client: TestClient, engine: Engine
) -> None:
    from tests.store_server.factories import COFFEE_ITEM, add_products, enroll_devices
    from tests.store_server.wsclient import Handheld

    add_products(engine)
    tokens = enroll_devices(engine, "H-1")
    with app_client.websocket_connect("/ws/handheld") as ws:
        hh = Handheld(ws)
        assert hh.hello("H-1", tokens["H-1"])["type"] == "welcome"
        hh.request("start", loyalty_card="42")
        assert hh.request("scan", code="4006381333931", qty=1)["code"] == "unknown_product"
        assert hh.request("scan", code="4006381333932", qty=1)["code"] == "invalid_code"
        assert hh.request("scan", code=COFFEE_ITEM.gtin[1:], qty=2)["type"] == "ack"
        assert hh.request("remove", code=COFFEE_ITEM.gtin[1:], qty=1)["type"] == "ack"
        # Sent after waiting in the outbox for the network: counted once, replay or not.
        queued = {"code": COFFEE_ITEM.gtin[1:], "qty": 1, "queued_ms": 45_000, "id": "q-1"}
        assert hh.request("scan", **queued)["type"] == "ack"
        assert hh.request("scan", **queued)["type"] == "ack"
        assert hh.request("scan", code=COFFEE_ITEM.gtin[1:], queued_ms=12)["type"] == "ack"
        for hostile in ("45000", True, None, -1, 10**30):
            reply = hh.request("scan", code=COFFEE_ITEM.gtin[1:], queued_ms=hostile)
            assert reply["type"] == "ack"
    log_in(app_client, "boss")

    def figures() -> tuple[str, str]:
        page = app_client.get("/manager/quality?range=day").text
        found = []
        for key in (
            "scan_unknown_product",
            "scan_invalid_code",
            "scan_removal",
            "scan_queued_offline",
        ):
            value = re.search(rf'id="fig-{key}">.*?<p class="value">([^<]*)<', page, re.S)
            found.append(value.group(1) if value else "?")
        return page, ",".join(found)

    # The last issue is written just after its reply went out: wait for it to land.
    deadline = time.monotonic() + 20
    page, seen = figures()
    while seen != "1,1,1,1" and time.monotonic() < deadline:
        time.sleep(0.2)
        page, seen = figures()
    assert seen == "1,1,1,1"
    assert "04006381333931" in page  # the catalog gap, as a GTIN-14, with its fix link


def test_prometheus_gauges_carry_todays_headline_figures(
    app_client: TestClient, engine: Engine
) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spec = HistorySpec(start=today, days=1, trips_per_day=40, seed=21, utc_offset_hours=0)
    with engine.begin() as connection:
        counts = generate(connection, spec)
    body = app_client.get("/metrics", headers=bearer(app_client, "root")).text
    started = re.search(r'^caddie_today_trips_started\{store="store-1"\} (\S+)$', body, re.M)
    assert started is not None
    # Trips drawn before 00:00 local would belong to yesterday: none are (hours 8-20 UTC).
    assert float(started.group(1)) == counts.trips
    for name in ("sales_cents", "audits", "audits_hit", "recovered_cents", "unrecovered_cents"):
        assert f'caddie_today_{name}{{store="store-1"}}' in body
    assert app_client.get("/metrics", headers=bearer(app_client, "boss")).status_code == 403


def test_a_plain_upload_form_carries_its_token_in_a_field(app_client: TestClient) -> None:
    """The POS totals import is a multipart form without script: its hidden csrf_token
    field is the proof it came from the page, as the header is for scripts."""
    log_in(app_client, "boss")
    token = csrf_headers(app_client, "/manager")["X-CSRF-Token"]
    csv = ("t.csv", b"day,sales_cents\n2026-03-10,5000000\n")
    own = {"Origin": "http://testserver"}
    forged = app_client.post(
        "/manager/pos-totals/import",
        data={"csrf_token": "not-the-token"},
        files={"file": csv},
        headers=own,
    )
    assert forged.status_code == 403
    missing = app_client.post("/manager/pos-totals/import", files={"file": csv}, headers=own)
    assert missing.status_code == 403
    sent = app_client.post(
        "/manager/pos-totals/import", data={"csrf_token": token}, files={"file": csv}, headers=own
    )
    assert sent.status_code == 200 and "1 daily totals imported" in sent.text
