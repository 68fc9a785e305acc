"""The screen player API and the operator API through the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from signage.models import ProofOfPlay, Screen
from signage.scheduling import build_loop, parse_plan
from tests.accounts import bearer
from tests.signage.signage_helpers import campaign, play, png_bytes

SAT_1030 = "2026-11-07T10:30:00+01:00"  # K-1 (guaranteed, weekends 10-12) is on air
INSTANTS = [
    SAT_1030,
    "2026-11-07T09:00:00+01:00",
    "2026-11-11T11:00:00Z",
    "2026-11-08T11:59:59+01:00",
]


def pop_count(loaded: Any) -> int:
    with Session(loaded.engine) as session:
        return int(session.exec(select(func.count()).select_from(ProofOfPlay)).one())


# --------------------------------------------------------------------------- loops


def test_loop_matches_the_scheduler_for_the_stored_plan(client: Any, loaded: Any) -> None:
    for at in INSTANTS:
        check_loop(client, loaded, at)


def check_loop(client: Any, loaded: Any, at: str) -> None:
    plan = parse_plan(loaded.plan)
    screen = next(s for s in plan.screens if s.id == "S-01")
    instant = datetime.fromisoformat(at)
    expected = build_loop(screen, plan.campaigns, {c.id: c for c in plan.creatives}, instant)

    reply = client.get(
        "/signage/screens/S-01/loop", params={"at": at}, headers=bearer(loaded.tokens["S-01"])
    )

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["screen_id"] == "S-01"
    assert body["slot_seconds"] == 10
    assert datetime.fromisoformat(body["valid_from"]) == expected.valid_from
    assert datetime.fromisoformat(body["valid_until"]) == expected.valid_until
    assert len(body["slots"]) == 6
    got = [
        (s["position"], s["campaign_id"], s["creative_id"], s["duration_s"]) for s in body["slots"]
    ]
    assert got == [(s.position, s.campaign_id, s.creative_id, s.duration_s) for s in expected.slots]
    for slot in body["slots"]:
        if slot["creative_id"] == "CR-URL":
            assert slot["media_url"] == "https://cdn.example.com/ad.png"
        elif slot["creative_id"] is not None:
            assert slot["media_url"] == f"/signage/media/{slot['sha256']}.png"


def test_the_guaranteed_campaign_is_on_air_only_in_its_daypart(client: Any, loaded: Any) -> None:
    headers = bearer(loaded.tokens["S-01"])
    inside = client.get("/signage/screens/S-01/loop", params={"at": SAT_1030}, headers=headers)
    before = client.get(
        "/signage/screens/S-01/loop", params={"at": "2026-11-07T09:00:00+01:00"}, headers=headers
    )
    assert [s["campaign_id"] for s in inside.json()["slots"]].count("K-1") == 2
    assert "K-1" not in [s["campaign_id"] for s in before.json()["slots"]]


def test_two_screens_are_in_step(client: Any, loaded: Any) -> None:
    for at in INSTANTS:
        one = client.get(
            "/signage/screens/S-01/loop", params={"at": at}, headers=bearer(loaded.tokens["S-01"])
        ).json()
        two = client.get(
            "/signage/screens/S-02/loop", params={"at": at}, headers=bearer(loaded.tokens["S-02"])
        ).json()
        assert (one["valid_from"], one["valid_until"]) == (two["valid_from"], two["valid_until"])
        start = datetime.fromisoformat(one["valid_from"]).timestamp()
        assert start % 60 == 0  # 6 slots x 10 s, aligned on the epoch
        assert start <= datetime.fromisoformat(at).timestamp() < start + 60


def test_the_default_instant_is_now(client: Any, loaded: Any) -> None:
    before = datetime.now(UTC)
    body = client.get("/signage/screens/S-01/loop", headers=bearer(loaded.tokens["S-01"])).json()
    assert datetime.fromisoformat(body["valid_from"]) <= datetime.now(UTC)
    assert datetime.fromisoformat(body["valid_until"]) > before


def test_a_bad_instant_is_a_clear_422(client: Any, loaded: Any) -> None:
    for at in ["yesterday", "2026-13-01T00:00:00Z", "2026-11-07T10:00:00", "", "0001-01-01Z"]:
        reply = client.get(
            "/signage/screens/S-01/loop", params={"at": at}, headers=bearer(loaded.tokens["S-01"])
        )
        assert reply.status_code == 422, at
        assert reply.json()["error"]["message"].startswith("at: "), at


def test_loop_access_by_role(client: Any, loaded: Any) -> None:
    url = "/signage/screens/S-01/loop"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer("not-a-token")).status_code == 401
    other = client.get(url, headers=bearer(loaded.tokens["S-02"]))
    assert other.status_code == 403
    assert "another screen" in other.json()["error"]["message"]
    assert client.get(url, headers=bearer(loaded.staff)).status_code == 403
    assert client.get(url, headers=bearer(loaded.operator)).status_code == 200
    assert (
        client.get("/signage/screens/S-99/loop", headers=bearer(loaded.operator)).status_code == 404
    )


def test_an_unpaired_player_page_says_how_to_pair(client: Any, loaded: Any) -> None:
    """The kiosk browser shows the pairing link's shape and where its token comes from
    (caddie screen enroll prints only the id and the token)."""
    page = client.get("/signage/screens/S-01/play")
    assert page.status_code == 401
    assert "/signage/screens/SCREEN_ID/play#token=TOKEN" in page.text
    assert "caddie screen enroll SCREEN_ID" in page.text
    paired = client.get("/signage/screens/S-01/play", params={"token": loaded.tokens["S-01"]})
    assert paired.status_code == 200 and "not paired" not in paired.text


def test_re_enrolling_revokes_the_old_token(client: Any, loaded: Any) -> None:
    from signage.config import SignageSettings
    from signage.service import enroll
    from store_server.db import session_scope

    with session_scope(loaded.engine) as session:
        [(_, fresh)] = enroll(session, ["S-01"], settings=SignageSettings(), timezone="UTC")
    url = "/signage/screens/S-01/loop"
    assert client.get(url, headers=bearer(loaded.tokens["S-01"])).status_code == 401
    assert client.get(url, headers=bearer(fresh)).status_code == 200


# --------------------------------------------------------------------------- proof of play


def test_proof_of_play_is_idempotent_by_play_id(client: Any, loaded: Any) -> None:
    headers = bearer(loaded.tokens["S-01"])
    plays = [play(), play(creative_id="CR-H", campaign_id="H"), play(campaign_id=None)]
    first = client.post("/signage/proof-of-play", json={"plays": plays}, headers=headers)
    assert first.json() == {"accepted": 3, "duplicates": 0, "rejected": 0}
    again = client.post("/signage/proof-of-play", json={"plays": [*plays, play()]}, headers=headers)
    assert again.json() == {"accepted": 1, "duplicates": 3, "rejected": 0}
    same = play()
    twice = client.post("/signage/proof-of-play", json={"plays": [same, same]}, headers=headers)
    assert twice.json() == {"accepted": 1, "duplicates": 1, "rejected": 0}
    assert pop_count(loaded) == 5
    with Session(loaded.engine) as session:
        row = session.get(ProofOfPlay, uuid.UUID(plays[0]["play_id"]))
        assert row is not None and row.screen_id == "S-01" and row.duration_ms == 10_000
        # Reporting plays is calling in: the screen's last contact is noted.
        screens = {s.id: s.last_seen for s in session.exec(select(Screen)).all()}
        assert screens["S-01"] is not None and screens["S-02"] is None


BAD_PLAYS = [
    ({"play_id": "not-a-uuid"}, "plays[1].play_id: must be a UUID"),
    ({"duration_ms": -5}, "plays[1].duration_ms: must be from 0"),
    ({"duration_ms": 1.5}, "plays[1].duration_ms: must be a whole number"),
    ({"creative_id": "CR-NOPE"}, "plays[1].creative_id: unknown creative 'CR-NOPE'"),
    ({"campaign_id": "K-NOPE"}, "plays[1].campaign_id: unknown campaign 'K-NOPE'"),
    ({"started_at": "soon"}, "plays[1].started_at: not an ISO-8601"),
    ({"started_at": "2099-01-01T00:00:00Z"}, "plays[1].started_at: 2099-01-01T00:00:00Z is in"),
]


def test_a_bad_play_rejects_the_whole_batch(client: Any, loaded: Any) -> None:
    for bad, message in BAD_PLAYS:
        reply = client.post(
            "/signage/proof-of-play",
            json={"plays": [play(), play(**bad), play()]},
            headers=bearer(loaded.tokens["S-01"]),
        )
        assert reply.status_code == 422
        problems = reply.json()["error"]["problems"]
        assert any(p.startswith(message) for p in problems), problems
        assert pop_count(loaded) == 0


def test_batch_size_and_shape_limits(client: Any, loaded: Any) -> None:
    headers = bearer(loaded.tokens["S-01"])
    too_many = client.post(
        "/signage/proof-of-play", json={"plays": [play() for _ in range(1001)]}, headers=headers
    )
    assert too_many.status_code == 422
    assert "too many plays" in too_many.json()["error"]["message"]
    assert client.post("/signage/proof-of-play", json=[1], headers=headers).status_code == 422
    assert client.post("/signage/proof-of-play", content=b"{", headers=headers).status_code == 422
    assert client.post("/signage/proof-of-play", json={"plays": []}, headers=headers).json() == {
        "accepted": 0,
        "duplicates": 0,
        "rejected": 0,
    }
    assert pop_count(loaded) == 0


def test_only_screens_report_plays(client: Any, loaded: Any) -> None:
    body = {"plays": [play()]}
    assert client.post("/signage/proof-of-play", json=body).status_code == 401
    assert (
        client.post(
            "/signage/proof-of-play", json=body, headers=bearer(loaded.operator)
        ).status_code
        == 401
    )
    assert pop_count(loaded) == 0


# --------------------------------------------------------------------------- operator API


def test_operator_api_roles(client: Any, loaded: Any) -> None:
    assert client.get("/signage/api/screens").status_code == 401
    assert client.get("/signage/api/screens", headers=bearer(loaded.staff)).status_code == 403
    screen = client.get("/signage/api/screens", headers=bearer(loaded.tokens["S-01"]))
    assert screen.status_code == 403
    assert "screen tokens" in screen.json()["error"]["message"]
    ok = client.get("/signage/api/screens", headers=bearer(loaded.operator))
    assert [s["id"] for s in ok.json()] == ["S-01", "S-02"]
    assert ok.json()[0]["groups"] == ["food-court"]


def upload(client: Any, token: str, name: str, data: bytes, **fields: str) -> Any:
    form = {"id": "CR-NEW", "duration_s": "10", **fields}
    return client.post(
        "/signage/api/creatives",
        headers=bearer(token),
        data=form,
        files={"file": (name, data, "image/png")},
    )


def test_upload_sniffs_content_and_serves_it(client: Any, loaded: Any, media_dir: Any) -> None:
    data = png_bytes()
    reply = upload(client, loaded.operator, "offer.png", data)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["content_type"] == "image/png" and body["kind"] == "image"
    served = client.get(body["media_url"])
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "image/png"
    assert (media_dir / f"{body['sha256']}.png").read_bytes() == data
    assert upload(client, loaded.staff, "offer.png", data).status_code == 403


BAD_UPLOADS: list[tuple[str, bytes | None, dict[str, str], str]] = [
    (
        "offer.png",
        b"<!doctype html><html><script>alert(1)</script></html>",
        {},
        "file name 'offer.png' says image/png but the content is text/html",
    ),
    ("notes.txt", b"just some words", {}, "unsupported content"),
    ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, {}, "damaged or truncated"),
    (
        "offer.png",
        None,
        {"duration_s": "15", "screens": "S-01"},
        "duration_s: 15 s is longer than the 10 s slots of screen S-01",
    ),
    ("offer.png", None, {"id": "bad id!"}, "id: use 1-200 letters"),
    ("empty.png", b"", {}, "the file is empty"),
]


def test_upload_refuses_bad_input(client: Any, loaded: Any, media_dir: Any) -> None:
    for name, data, fields, message in BAD_UPLOADS:
        reply = upload(
            client, loaded.operator, name, png_bytes() if data is None else data, **fields
        )
        assert reply.status_code == 422
        assert any(message in p for p in reply.json()["error"]["problems"]), reply.text
    listed = client.get("/signage/api/creatives", headers=bearer(loaded.operator)).json()
    assert "CR-NEW" not in [c["id"] for c in listed]
    assert not media_dir.exists() or len(list(media_dir.iterdir())) == 3


def test_an_upload_replacing_a_creative_must_fit_its_campaigns(client: Any, loaded: Any) -> None:
    """K-1 (guaranteed, zone north: S-01) plays CR-A, K-2 (standard, everywhere) CR-B:
    replacing either with a 15 s file would leave it too long for 10 s slots, whatever
    targets the upload names for its own check."""
    elsewhere = {"zones": "nowhere", "duration_s": "15"}
    a = upload(client, loaded.operator, "a.png", png_bytes(), id="CR-A", **elsewhere)
    assert a.status_code == 422, a.text
    assert a.json()["error"]["problems"] == [
        "duration_s: stored campaign 'K-1': creative 'CR-A' lasts 15 s, longer than the "
        "slots of screen S-01 (10 s)"
    ]
    b = upload(client, loaded.operator, "b.png", png_bytes(), id="CR-B", **elsewhere)
    assert b.status_code == 422, b.text
    assert b.json()["error"]["problems"] == [
        "duration_s: stored campaign 'K-2': creative 'CR-B' lasts 15 s, longer than the "
        "slots of screen S-01 (10 s), S-02 (10 s)"
    ]
    listed = client.get("/signage/api/creatives", headers=bearer(loaded.operator)).json()
    assert {c["id"]: c["duration_s"] for c in listed}["CR-A"] == 10
    fits = upload(client, loaded.operator, "a.png", png_bytes(), id="CR-A", duration_s="8")
    assert fits.status_code == 201, fits.text


def test_a_cancelled_campaign_does_not_hold_back_its_creative(client: Any, loaded: Any) -> None:
    """Once K-1 is cancelled, CR-A may grow past S-01's slots; a new booking of CR-A on
    S-01 is then refused for that very length, and K-1 itself cannot come back."""
    headers = bearer(loaded.operator)
    k1 = next(c for c in loaded.plan["campaigns"] if c["id"] == "K-1")
    cancelled = client.post("/signage/api/campaigns/K-1/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    longer = upload(
        client, loaded.operator, "a.png", png_bytes(), id="CR-A", zones="nowhere", duration_s="15"
    )
    assert longer.status_code == 201, longer.text
    again = client.post("/signage/api/campaigns", headers=headers, json={**k1, "id": "K-1b"})
    assert again.status_code == 422, again.text
    assert again.json()["error"]["problems"] == [
        "campaigns[0].creatives[0]: creative 'CR-A' lasts 15 s, longer than the slots of "
        "screen S-01 (10 s)"
    ]
    back = client.post("/signage/api/campaigns/K-1/resume", headers=headers)
    assert back.status_code == 409, back.text


def test_the_mounted_signage_app_serves_on_the_store_apps_engine(client: Any) -> None:
    """One engine per process: the signage app builds none of its own."""
    holder = client.app.routes[-1].app.state.signage
    assert holder.get().db is client.app.state.caddie.db


def test_the_standalone_signage_app_serves_on_its_one_engine(db_url: str) -> None:
    from fastapi.testclient import TestClient

    from signage.app import create_standalone_app
    from store_server.config import load_settings

    app = create_standalone_app(load_settings(database_url=db_url, environment="test"))
    with TestClient(app) as standalone:
        holder = standalone.app.routes[-1].app.state.signage  # type: ignore[attr-defined]
        assert holder.get().db is standalone.app.state.caddie.db  # type: ignore[attr-defined]
        assert standalone.get("/signage/api/screens").status_code == 401
    with pytest.raises(RuntimeError, match="mounted"):
        holder.get()  # the engine went with the app that owned it


def test_upload_size_limit(client: Any, loaded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = client.app.routes[-1].app.state.signage  # the mounted signage app's state
    monkeypatch.setattr(holder.get().signage, "max_upload_bytes", 100)
    reply = upload(client, loaded.operator, "big.png", png_bytes() + b"\x00" * 200)
    assert reply.status_code == 422
    assert "limit of 100" in reply.json()["error"]["message"]


def test_availability_then_booking_then_overbooking(client: Any, loaded: Any) -> None:
    headers = bearer(loaded.operator)
    free = client.get(
        "/signage/api/availability",
        headers=headers,
        params={"day": "sat", "start": "10:00", "end": "12:00", "screens": "S-01"},
    )
    assert free.json() == [
        {
            "screen_id": "S-01",
            "zone": "north",
            "slots_per_loop": 6,
            "free": 4,
            "text": "S-01 has 4 guaranteed slots free on Saturdays 10:00–12:00",
        }
    ]
    booked = client.post("/signage/api/campaigns", json=campaign(), headers=headers)
    assert booked.status_code == 201, booked.text
    after = client.get(
        "/signage/api/availability",
        headers=headers,
        params={"day": "sat", "start": "10:00", "end": "12:00"},
    )
    assert {r["screen_id"]: r["free"] for r in after.json()} == {"S-01": 1, "S-02": 6}

    refused = client.post(
        "/signage/api/campaigns", headers=headers, json=campaign(id="K-MORE", share_of_voice=0.34)
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert "overbook" in error["message"]
    assert error["problems"] == [
        "screen S-01: guaranteed bookings need 7 slots of 6 on Saturdays 10:00–12:00 "
        "(K-1 2, K-MORE 2, K-NEW 3) between 2026-11-07 and 2026-11-28"
    ]
    names = [c["id"] for c in client.get("/signage/api/campaigns", headers=headers).json()]
    assert "K-NEW" in names and "K-MORE" not in names

    bad = client.post(
        "/signage/api/campaigns",
        headers=headers,
        json=campaign(id="K-BAD", creatives=["CR-ZZZ"], priority="loud"),
    )
    assert bad.status_code == 422
    assert len(bad.json()["error"]["problems"]) == 2


def test_timeline_explains_each_run(client: Any, loaded: Any) -> None:
    reply = client.get(
        "/signage/api/screens/S-01/timeline",
        params={"day": "2026-11-07"},
        headers=bearer(loaded.operator),
    )
    runs = reply.json()["runs"]
    assert runs[0]["from"] == "00:00:00" and runs[-1]["until"] == "00:00:00"
    assert sum(r["loops"] for r in runs) == 24 * 60
    morning = next(r for r in runs if r["from"] == "10:00:00")
    assert morning["until"] == "12:00:00"
    why = {r["campaign_id"]: r["why"] for r in morning["reasons"]}
    assert why["K-1"] == "included: guaranteed 2 of 6 slots"
    night = next(r for r in runs if r["from"] == "00:00:00")
    assert {r["campaign_id"]: r["why"] for r in night["reasons"]}["K-1"].startswith(
        "outside daypart"
    )


def test_report_counts_booked_and_delivered(client: Any, loaded: Any) -> None:
    paris_morning = datetime(2026, 11, 7, 9, 30, tzinfo=UTC)
    plays = [
        play(started_at=(paris_morning + timedelta(seconds=10 * i)).isoformat()) for i in range(3)
    ]
    after = paris_morning + timedelta(seconds=30)  # the next slot: one play per slot
    plays.append(play(creative_id="CR-H", campaign_id="H", started_at=after.isoformat()))
    client.post(
        "/signage/proof-of-play", json={"plays": plays}, headers=bearer(loaded.tokens["S-01"])
    )
    headers = bearer(loaded.operator)
    rows = client.get(
        "/signage/api/reports", params={"from": "2026-11-07", "screen": "S-01"}, headers=headers
    ).json()
    k1 = next(r for r in rows if r["campaign_id"] == "K-1")
    assert k1["booked_plays"] == 2 * 120  # 2 slots per 1-minute loop for 2 hours
    assert k1["booked_so_far"] == 2 * 120  # a day gone by: all of it
    assert k1["delivered_plays"] == 3
    assert k1["delivery_pct"] == 1.2  # 3 of 240, in percent like every share
    assert k1["delivered_sov_pct"] == 75.0
    assert k1["booked_sov_pct"] == round(100 * 240 / (24 * 60 * 6), 1)
    csv = client.get("/signage/api/reports.csv", params={"from": "2026-11-07"}, headers=headers)
    lines = csv.text.splitlines()
    assert lines[0] == (
        "day,screen_id,campaign_id,advertiser,booked_plays,booked_so_far,delivered_plays,"
        "delivery_pct,booked_sov_pct,delivered_sov_pct"
    )
    assert "2026-11-07,S-01,K-1,Brand A,240,240,3,1.2,2.8,75.0" in csv.text
    for group in ("campaign", "screen"):
        summary = client.get(
            "/signage/api/reports",
            params={"from": "2026-11-01", "to": "2026-11-30", "group": group},
            headers=headers,
        ).json()
        k1_rows = [r for r in summary if r["campaign_id"] == "K-1"]
        assert sum(r["delivered_plays"] for r in k1_rows) == 3, group
        assert sum(r["booked_plays"] for r in k1_rows) == 9 * 240  # 9 weekend days
    assert client.get("/signage/api/reports.csv", headers=bearer(loaded.staff)).status_code == 403


def test_a_booking_whose_commit_fails_is_not_booked(loaded: Any) -> None:
    """The reply waits for the commit (see tests/store_server/test_commit_before_reply.py)."""
    from fastapi.testclient import TestClient

    from store_server.app import create_app
    from store_server.config import load_settings
    from tests.commits import commits_refused, internal_error

    headers = bearer(loaded.operator)
    app = create_app(load_settings(database_url=loaded.url, environment="test"))
    with TestClient(app, raise_server_exceptions=False) as client:
        with commits_refused() as refusals:
            reply = client.post("/signage/api/campaigns", json=campaign(), headers=headers)
        assert refusals, "the booking never tried to commit"
        internal_error(reply)
        names = [c["id"] for c in client.get("/signage/api/campaigns", headers=headers).json()]
        assert "K-NEW" not in names
        again = client.post("/signage/api/campaigns", json=campaign(), headers=headers)
        assert again.status_code == 201, again.text
