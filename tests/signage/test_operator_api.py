"""The operator API for running the mall, through the real app (SQLite and PostgreSQL):
campaign life cycle and history, creative approval, screen health and screenshots, the
calendar, user accounts, and report periods, each with hostile input."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session

from signage.models import Screen
from tests.accounts import bearer
from tests.signage.signage_helpers import campaign, png_bytes

SAT_1030 = "2026-11-07T10:30:00+01:00"  # K-1 (guaranteed, weekends 10-12) is on air


def loop_campaigns(client: Any, loaded: Any, at: str = SAT_1030) -> list[str | None]:
    reply = client.get(
        "/signage/screens/S-01/loop", params={"at": at}, headers=bearer(loaded.tokens["S-01"])
    )
    assert reply.status_code == 200, reply.text
    return [s["campaign_id"] for s in reply.json()["slots"]]


def jpeg(size: tuple[int, int] = (160, 90), quality: int = 70) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# --------------------------------------------------------------------------- life cycle


def test_booking_an_existing_id_is_a_conflict_not_an_overwrite(client: Any, loaded: Any) -> None:
    headers = bearer(loaded.operator)
    first = client.post("/signage/api/campaigns", json=campaign(), headers=headers)
    assert first.status_code == 201, first.text
    again = client.post(
        "/signage/api/campaigns", json=campaign(advertiser="Someone else"), headers=headers
    )
    assert again.status_code == 409, again.text
    assert "already booked" in again.json()["error"]["message"]
    detail = client.get("/signage/api/campaigns/K-NEW", headers=headers).json()
    assert detail["entry"]["advertiser"] == "Brand C"
    assert [e["action"] for e in detail["history"]] == ["book"]
    assert detail["history"][0]["actor"] == "olga"
    assert detail["history"][0]["changes"]["advertiser"] == [None, "Brand C"]


def test_pause_resume_cancel_change_the_loop_and_are_recorded(client: Any, loaded: Any) -> None:
    headers = bearer(loaded.operator)
    assert "K-1" in loop_campaigns(client, loaded)
    paused = client.post("/signage/api/campaigns/K-1/pause", headers=headers)
    assert paused.status_code == 200, paused.text
    assert paused.json() == {
        "id": "K-1",
        "state": "paused",
        "action": "pause",
        "changes": {"state": ["booked", "paused"]},
    }
    assert "K-1" not in loop_campaigns(client, loaded)
    twice = client.post("/signage/api/campaigns/K-1/pause", headers=headers)
    assert twice.status_code == 409
    assert "is paused" in twice.json()["error"]["message"]
    # a paused campaign keeps its guaranteed inventory: nothing may take it meanwhile
    greedy = campaign(targets={"zones": ["north"]}, share_of_voice=0.8, creatives=["CR-B"])
    refused = client.post("/signage/api/campaigns", json=greedy, headers=headers)
    assert refused.status_code == 422
    assert "overbook" in refused.json()["error"]["message"]
    resumed = client.post("/signage/api/campaigns/K-1/resume", headers=headers)
    assert resumed.status_code == 200 and resumed.json()["state"] == "booked"
    assert "K-1" in loop_campaigns(client, loaded)
    cancelled = client.post("/signage/api/campaigns/K-1/cancel", headers=headers)
    assert cancelled.json()["state"] == "cancelled"
    assert "K-1" not in loop_campaigns(client, loaded)
    for action in ("pause", "resume", "cancel"):
        assert (
            client.post(f"/signage/api/campaigns/K-1/{action}", headers=headers).status_code == 409
        )
    edit = client.patch("/signage/api/campaigns/K-1", json={"advertiser": "X"}, headers=headers)
    assert edit.status_code == 409
    history = client.get("/signage/api/campaigns/K-1/history", headers=headers).json()
    assert [e["action"] for e in history] == ["cancel", "resume", "pause"]
    assert {e["actor"] for e in history} == {"olga"}
    assert history[0]["changes"] == {"state": ["booked", "cancelled"]}


def test_shorten_and_extend_are_checked_against_availability(client: Any, loaded: Any) -> None:
    headers = bearer(loaded.operator)
    booked = client.post(
        "/signage/api/campaigns",
        json=campaign(start="2026-11-01", end="2026-11-15"),
        headers=headers,
    )
    assert booked.status_code == 201, booked.text
    shorter = client.post(
        "/signage/api/campaigns/K-NEW/flight", json={"end": "2026-11-08"}, headers=headers
    )
    assert shorter.status_code == 200, shorter.text
    assert shorter.json()["action"] == "shorten"
    assert shorter.json()["changes"] == {"end": ["2026-11-15", "2026-11-08"]}
    # another guaranteed booking fills S-01's Saturdays from 2026-11-14 on
    other = campaign(id="K-LATER", start="2026-11-14", end="2026-11-30", share_of_voice=0.5)
    assert client.post("/signage/api/campaigns", json=other, headers=headers).status_code == 201
    longer = client.post(
        "/signage/api/campaigns/K-NEW/flight", json={"end": "2026-11-30"}, headers=headers
    )
    assert longer.status_code == 422, longer.text
    assert "overbook" in longer.json()["error"]["message"]
    fits = client.post(
        "/signage/api/campaigns/K-NEW/flight", json={"end": "2026-11-13"}, headers=headers
    )
    assert fits.status_code == 200 and fits.json()["action"] == "extend"
    history = client.get("/signage/api/campaigns/K-NEW/history", headers=headers).json()
    assert [e["action"] for e in history] == ["extend", "shorten", "book"]


def test_edit_changes_only_what_it_names_and_is_rechecked(client: Any, loaded: Any) -> None:
    headers = bearer(loaded.operator)
    edit = client.patch(
        "/signage/api/campaigns/K-2",
        json={"share_of_voice": 0.5, "max_plays_per_hour": None, "category": "boots"},
        headers=headers,
    )
    assert edit.status_code == 200, edit.text
    assert edit.json()["changes"] == {
        "category": ["shoes", "boots"],
        "max_plays_per_hour": [200, None],
        "share_of_voice": [0.34, 0.5],
    }
    entry = client.get("/signage/api/campaigns/K-2", headers=headers).json()["entry"]
    assert entry["share_of_voice"] == 0.5 and "max_plays_per_hour" not in entry
    assert entry["creatives"] == ["CR-B"]  # untouched
    overbooking = client.patch(
        "/signage/api/campaigns/K-1", json={"share_of_voice": 1.0, "days": []}, headers=headers
    )
    assert overbooking.status_code == 200  # K-1 alone may take the whole loop
    with_other = client.post("/signage/api/campaigns", json=campaign(), headers=headers)
    assert with_other.status_code == 422
    assert "overbook" in with_other.json()["error"]["message"]


HOSTILE_EDITS: list[tuple[Any, int, str]] = [
    ({"state": "booked"}, 422, "state: Extra inputs"),
    ({"id": "K-OTHER"}, 422, "Extra inputs"),
    ({"start": "2026-13-40"}, 422, "start"),
    ({"end": "1999-01-01"}, 422, "end"),
    ({"share_of_voice": 7}, 422, "share_of_voice"),
    ({"creatives": ["NOPE"]}, 422, "NOPE"),
    ({"dayparts": [["25:00", "26:00"]]}, 422, "daypart"),
    ({"targets": {"zones": ["nowhere"]}}, 422, "nowhere"),
    ({"priority": "vip"}, 422, "priority"),
    ({"unknown": 1}, 422, "Extra inputs"),
    ([1, 2, 3], 422, ""),
    ("x" * 300, 422, ""),
    ({"advertiser": "\ud800"}, 422, ""),
]


@pytest.mark.parametrize(("body", "status", "message"), HOSTILE_EDITS)
def test_hostile_edits_are_refused_and_change_nothing(
    client: Any, loaded: Any, body: Any, status: int, message: str
) -> None:
    headers = bearer(loaded.operator)
    before = client.get("/signage/api/campaigns/K-1", headers=headers).json()
    if isinstance(body, (dict, list)) and body != {"advertiser": "\ud800"}:
        reply = client.patch("/signage/api/campaigns/K-1", json=body, headers=headers)
    else:
        raw = '{"advertiser": "\\ud800"}' if isinstance(body, dict) else body
        reply = client.patch(
            "/signage/api/campaigns/K-1",
            content=raw.encode("utf-8", "surrogatepass"),
            headers={**headers, "Content-Type": "application/json"},
        )
    assert reply.status_code == status, reply.text
    assert message in reply.text
    assert client.get("/signage/api/campaigns/K-1", headers=headers).json() == before


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/signage/api/campaigns/NOPE/pause", None, 404),
        ("/signage/api/campaigns/NOPE/flight", {"end": "2026-11-30"}, 404),
        ("/signage/api/campaigns/K-1/flight", {}, 422),
        ("/signage/api/campaigns/K-1/flight", {"end": "not a day"}, 422),
        ("/signage/api/campaigns/K-1/flight", {"end": "9999-12-31"}, 422),
        ("/signage/api/campaigns/K-1/flight", {"start": "2100-01-01"}, 422),
        ("/signage/api/campaigns/K-1/flight", {"end": "2019-01-01"}, 422),  # before its start
        ("/signage/api/campaigns/K-1/flight", {"end": "2026-11-30", "x": 1}, 422),
    ],
)
def test_hostile_life_cycle_requests(
    client: Any, loaded: Any, path: str, body: Any, status: int
) -> None:
    headers = bearer(loaded.operator)
    reply = (
        client.post(path, json=body, headers=headers)
        if body is not None
        else client.post(path, headers=headers)
    )
    assert reply.status_code == status, reply.text
    assert "error" in reply.json()
    history = client.get("/signage/api/campaigns/K-1/history", headers=headers).json()
    assert history == []


def test_life_cycle_needs_an_operator(client: Any, loaded: Any) -> None:
    for method, path in [
        ("post", "/signage/api/campaigns/K-1/pause"),
        ("post", "/signage/api/campaigns/K-1/cancel"),
        ("patch", "/signage/api/campaigns/K-1"),
        ("get", "/signage/api/campaigns/K-1/history"),
        ("post", "/signage/api/creatives/CR-A/approve"),
    ]:
        as_staff = getattr(client, method)(path, headers=bearer(loaded.staff))
        as_screen = getattr(client, method)(path, headers=bearer(loaded.tokens["S-01"]))
        anonymous = getattr(client, method)(path)
        assert (as_staff.status_code, as_screen.status_code, anonymous.status_code) == (
            403,
            403,
            401,
        ), path


# --------------------------------------------------------------------------- approval


def upload(client: Any, token: str, creative_id: str, color: str = "orange") -> Any:
    return client.post(
        "/signage/api/creatives",
        files={"file": ("ad.png", png_bytes(color), "image/png")},
        data={"id": creative_id, "duration_s": "10"},
        headers=bearer(token),
    )


def test_an_uploaded_creative_plays_only_once_approved(client: Any, loaded: Any) -> None:
    headers = bearer(loaded.operator)
    # K-2 (standard, everywhere) gets a new creative: it waits for approval
    assert upload(client, loaded.operator, "CR-B", "yellow").status_code == 201
    listed = {c["id"]: c for c in client.get("/signage/api/creatives", headers=headers).json()}
    assert listed["CR-B"]["approval"] == "pending"
    assert listed["CR-A"]["approval"] == "approved"  # loaded with the plan
    assert "K-2" not in loop_campaigns(client, loaded)
    timeline = client.get(
        "/signage/api/screens/S-01/timeline", params={"day": "2026-11-07"}, headers=headers
    ).json()
    why = {r["campaign_id"]: r["why"] for r in timeline["runs"][0]["reasons"]}
    assert "approval" in why["K-2"]

    refused = client.post(
        "/signage/api/creatives/CR-B/refuse", json={"reason": "logo too small"}, headers=headers
    )
    assert refused.status_code == 200, refused.text
    assert refused.json()["approval"] == "refused"
    assert refused.json()["reason"] == "logo too small"
    assert refused.json()["reviewed_by"] == "olga"
    assert "K-2" not in loop_campaigns(client, loaded)

    approved = client.post("/signage/api/creatives/CR-B/approve", headers=headers)
    assert approved.json()["approval"] == "approved" and approved.json()["reason"] is None
    assert "K-2" in loop_campaigns(client, loaded)
    # new media under the same id waits again
    assert upload(client, loaded.operator, "CR-B", "navy").status_code == 201
    assert "K-2" not in loop_campaigns(client, loaded)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/signage/api/creatives/CR-A/refuse", {}, 422),
        ("/signage/api/creatives/CR-A/refuse", {"reason": ""}, 422),
        ("/signage/api/creatives/CR-A/refuse", {"reason": "   "}, 422),
        ("/signage/api/creatives/CR-A/refuse", {"reason": "x" * 501}, 422),
        ("/signage/api/creatives/CR-A/refuse", {"reason": 5}, 422),
        ("/signage/api/creatives/NOPE/refuse", {"reason": "no"}, 404),
        ("/signage/api/creatives/NOPE/approve", None, 404),
    ],
)
def test_hostile_reviews(client: Any, loaded: Any, path: str, body: Any, status: int) -> None:
    headers = bearer(loaded.operator)
    reply = (
        client.post(path, json=body, headers=headers)
        if body is not None
        else client.post(path, headers=headers)
    )
    assert reply.status_code == status, reply.text
    listed = {c["id"]: c for c in client.get("/signage/api/creatives", headers=headers).json()}
    assert listed["CR-A"]["approval"] == "approved"


# --------------------------------------------------------------------------- health


def test_a_player_reports_its_status_and_screenshot(client: Any, loaded: Any) -> None:
    screen = bearer(loaded.tokens["S-01"])
    status = {
        "player_version": "2.1.0",
        "loop_in_step": True,
        "cached_creatives": 3,
        "missing_creatives": 1,
    }
    assert client.post("/signage/screens/S-01/status", json=status, headers=screen).json() == {
        "ok": True
    }
    image = jpeg()
    shot = client.post(
        "/signage/screens/S-01/screenshot",
        content=image,
        headers={**screen, "Content-Type": "image/jpeg"},
    )
    assert shot.status_code == 200, shot.text
    health = {
        h["id"]: h
        for h in client.get("/signage/api/screens/health", headers=bearer(loaded.operator)).json()
    }
    s01 = health["S-01"]
    assert s01["online"] is True and s01["player_version"] == "2.1.0"
    assert s01["loop_in_step"] is True and s01["cache"] == "3 cached, 1 missing"
    assert s01["last_seen_local"].startswith("today ")
    assert s01["screenshot"] is True
    assert health["S-02"]["online"] is False and health["S-02"]["last_seen_local"] == "never"
    got = client.get("/signage/api/screens/S-01/screenshot.jpg", headers=bearer(loaded.operator))
    assert got.status_code == 200 and got.content == image
    # only operators see screenshots; a screen cannot post for another
    assert client.get("/signage/api/screens/S-01/screenshot.jpg", headers=screen).status_code == 403
    other = client.post("/signage/screens/S-02/status", json=status, headers=screen)
    assert other.status_code == 403


def truncated_jpeg() -> bytes:
    return jpeg()[:200]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "image/jpeg", 422),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "image/jpeg", 422),
        (png_bytes(), "image/png", 422),
        (b"\xff\xd8\xff" + b"\x00" * 100, "image/jpeg", 422),
        ("truncated", "image/jpeg", 422),
        ("huge", "image/jpeg", 413),
        ("too wide", "image/jpeg", 422),
    ],
)
def test_hostile_screenshots_are_refused(
    client: Any, loaded: Any, body: Any, content_type: str, status: int
) -> None:
    if body == "truncated":
        body = truncated_jpeg()
    elif body == "huge":
        body = b"\xff\xd8\xff" + b"\x00" * 300_000
    elif body == "too wide":
        body = jpeg(size=(4000, 10))
    screen = bearer(loaded.tokens["S-01"])
    reply = client.post(
        "/signage/screens/S-01/screenshot",
        content=body,
        headers={**screen, "Content-Type": content_type},
    )
    assert reply.status_code == status, reply.text
    with Session(loaded.engine) as session:
        row = session.get(Screen, "S-01")
        assert row is not None and row.screenshot_file is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {
            "player_version": "1",
            "loop_in_step": True,
            "cached_creatives": -1,
            "missing_creatives": 0,
        },
        {
            "player_version": "a b",
            "loop_in_step": True,
            "cached_creatives": 1,
            "missing_creatives": 0,
        },
        {
            "player_version": "x" * 41,
            "loop_in_step": 1,
            "cached_creatives": 1,
            "missing_creatives": 0,
        },
        {
            "player_version": "1",
            "loop_in_step": True,
            "cached_creatives": 1,
            "missing_creatives": 0,
            "token": "x",
        },
        [1],
    ],
)
def test_hostile_status_reports(client: Any, loaded: Any, body: Any) -> None:
    reply = client.post(
        "/signage/screens/S-01/status", json=body, headers=bearer(loaded.tokens["S-01"])
    )
    assert reply.status_code == 422, reply.text
    with Session(loaded.engine) as session:
        row = session.get(Screen, "S-01")
        assert row is not None and row.player_version is None


def test_offline_alerts_and_local_times() -> None:
    from datetime import timedelta

    from signage.health import ago, local_time

    now = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)  # 14:00 in Paris
    assert local_time(now - timedelta(minutes=5), "Europe/Paris", now) == "today 13:55 (5 min ago)"
    assert local_time(now - timedelta(hours=20), "Europe/Paris", now) == (
        "yesterday 18:00 (20 h ago)"
    )
    assert local_time(datetime(2026, 3, 1, 8, 0, tzinfo=UTC), "Europe/Paris", now) == (
        "1 Mar 09:00 (280 days ago)"
    )
    assert local_time(datetime(2025, 3, 1, 8, 0, tzinfo=UTC), "Europe/Paris", now).startswith(
        "1 Mar 2025 09:00"
    )
    assert ago(timedelta(seconds=-5)) == "just now"


def test_the_alert_list_names_screens_offline_too_long(loaded: Any) -> None:
    from datetime import timedelta

    from signage.config import SignageSettings
    from signage.health import offline_alerts, screens_health

    now = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
    with Session(loaded.engine) as session:
        s1, s2 = session.get(Screen, "S-01"), session.get(Screen, "S-02")
        assert s1 is not None and s2 is not None
        s1.last_seen = now - timedelta(minutes=2)
        s2.last_seen = now - timedelta(minutes=40)
        session.commit()
        health = screens_health(session, settings=SignageSettings(), now=now)
    alerts = offline_alerts(health, threshold_minutes=15)
    assert [(a.id, a.offline_minutes) for a in alerts] == [("S-02", 40)]
    assert offline_alerts(health, threshold_minutes=60) == []


# --------------------------------------------------------------------------- calendar


def test_the_calendar_shows_bookings_and_free_slots_per_day(client: Any, loaded: Any) -> None:
    headers = bearer(loaded.operator)
    assert (
        client.post("/signage/api/campaigns", json=campaign(), headers=headers).status_code == 201
    )
    week = client.get(
        "/signage/api/calendar", params={"from": "2026-11-05", "view": "week"}, headers=headers
    ).json()
    assert week["days"][0] == "2026-11-02" and len(week["days"]) == 7  # from Monday
    food = next(g for g in week["groups"] if g["group"] == "food-court")
    assert food["screens"] == ["S-01"]
    # K-1 takes 2 of S-01's 6 guaranteed slots at weekends, K-NEW 3 more on Saturdays
    assert food["free"] == [6, 6, 6, 6, 6, 1, 4]
    bars = {b["campaign_id"]: b["days"] for b in food["bookings"]}
    assert bars["K-NEW"] == ["2026-11-07"]
    assert bars["K-1"] == ["2026-11-07", "2026-11-08"]
    month = client.get(
        "/signage/api/calendar", params={"from": "2026-02-14", "view": "month"}, headers=headers
    ).json()
    assert month["days"][0] == "2026-02-01" and len(month["days"]) == 28


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-02-30"},
        {"from": "9999-12-31"},
        {"from": "0001-01-01"},
        {"view": "year"},
        {"from": "x" * 5000},
    ],
)
def test_hostile_calendar_requests(client: Any, loaded: Any, params: dict[str, str]) -> None:
    reply = client.get("/signage/api/calendar", params=params, headers=bearer(loaded.operator))
    assert reply.status_code == 422, reply.text


# --------------------------------------------------------------------------- users


def test_admins_create_disable_and_enable_accounts(client: Any, loaded: Any) -> None:
    from tests.signage.signage_helpers import user_token

    admin = bearer(user_token(loaded.engine, "ada", "admin"))
    made = client.post(
        "/signage/api/users",
        json={"username": "otto", "password": "long enough", "role": "operator"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    assert made.json() == {
        "username": "otto",
        "role": "operator",
        "disabled": False,
        "store_id": None,
    }
    login = client.post("/api/auth/login", json={"username": "otto", "password": "long enough"})
    assert login.status_code == 200
    otto = bearer(login.json()["token"])
    assert client.get("/signage/api/campaigns", headers=otto).status_code == 200
    off = client.post("/signage/api/users/otto/disable", headers=admin)
    assert off.json()["disabled"] is True
    assert client.get("/signage/api/campaigns", headers=otto).status_code == 401
    on = client.post("/signage/api/users/otto/enable", headers=admin)
    assert on.json()["disabled"] is False
    names = [u["username"] for u in client.get("/signage/api/users", headers=admin).json()]
    assert names == sorted(names) and "otto" in names
    # operators cannot manage accounts; nobody disables themselves
    operator = bearer(loaded.operator)
    assert client.get("/signage/api/users", headers=operator).status_code == 403
    assert client.post("/signage/api/users/otto/disable", headers=operator).status_code == 403
    assert client.post("/signage/api/users/ada/disable", headers=admin).status_code == 409


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "olga", "password": "long enough", "role": "operator"}, 409),
        ({"username": "x y", "password": "long enough", "role": "operator"}, 422),
        ({"username": "new", "password": "short", "role": "operator"}, 422),
        ({"username": "new", "password": "long enough", "role": "root"}, 422),
        ({"username": "new", "password": "long enough"}, 422),
        ({"username": "n" * 81, "password": "long enough", "role": "staff"}, 422),
        ({"username": "new", "password": "p" * 257, "role": "staff"}, 422),
        ({"username": "new", "password": "long enough", "role": "staff", "admin": True}, 422),
    ],
)
def test_hostile_new_accounts(client: Any, loaded: Any, body: Any, status: int) -> None:
    from tests.signage.signage_helpers import user_token

    admin = bearer(user_token(loaded.engine, "ada", "admin"))
    reply = client.post("/signage/api/users", json=body, headers=admin)
    assert reply.status_code == status, reply.text
    names = [u["username"] for u in client.get("/signage/api/users", headers=admin).json()]
    assert "new" not in names and "x y" not in names


def test_unknown_user_actions(client: Any, loaded: Any) -> None:
    from tests.signage.signage_helpers import user_token

    admin = bearer(user_token(loaded.engine, "ada", "admin"))
    assert client.post("/signage/api/users/nobody/disable", headers=admin).status_code == 404
    assert client.post("/signage/api/users/olga/delete", headers=admin).status_code == 422


# --------------------------------------------------------------------------- reports


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-11-08", "to": "2026-11-01"}, "before the first"),
        ({"from": "2025-01-01", "to": "2026-01-02", "group": "campaign"}, "at most 366 days"),
        ({"from": "2026-01-01", "to": "2026-03-01"}, "daily rows cover at most 31 days"),
        ({"from": "2026-01-01", "group": "week"}, ""),
        ({"from": "nonsense"}, "YYYY-MM-DD"),
    ],
)
def test_report_periods_are_checked(
    client: Any, loaded: Any, params: dict[str, str], message: str
) -> None:
    reply = client.get("/signage/api/reports", params=params, headers=bearer(loaded.operator))
    assert reply.status_code == 422, reply.text
    assert message in reply.text


def test_a_reversed_period_is_explained_on_the_report_page(client: Any, loaded: Any) -> None:
    client.cookies.set("caddie_session", loaded.operator)
    try:
        page = client.get(
            "/signage/console/reports", params={"from": "2026-11-08", "to": "2026-11-01"}
        )
    finally:
        client.cookies.clear()
    assert "before the first" in page.text
    assert "Log in as an operator" not in page.text
    assert 'id="logout"' in page.text  # still logged in


def test_a_year_report_per_campaign(client: Any, loaded: Any) -> None:
    rows = client.get(
        "/signage/api/reports",
        params={"from": "2026-01-01", "to": "2026-12-31", "group": "campaign"},
        headers=bearer(loaded.operator),
    ).json()
    k1 = next(r for r in rows if r["campaign_id"] == "K-1")
    weekend_days = sum(
        1
        for d in range(365)
        if (datetime(2026, 1, 1) + __import__("datetime").timedelta(days=d)).weekday() >= 5
    )
    # 2 slots of 6 per 1-minute loop, 10:00-12:00, on weekend days, on S-01 only
    assert k1["booked_plays"] == weekend_days * 120 * 2
    assert set(k1) == {
        "campaign_id",
        "advertiser",
        "booked_plays",
        "booked_so_far",
        "delivered_plays",
        "delivery_pct",
        "booked_sov_pct",
        "delivered_sov_pct",
    }


def test_an_upload_too_long_names_every_screen_once(client: Any, loaded: Any) -> None:
    from signage.config import SignageSettings
    from signage.service import enroll

    with Session(loaded.engine) as session:
        enroll(
            session,
            [f"X-{i:02d}" for i in range(20)],
            settings=SignageSettings(),
            timezone="Europe/Paris",
        )
        session.commit()
    reply = client.post(
        "/signage/api/creatives",
        files={"file": ("long.png", png_bytes(), "image/png")},
        data={"id": "CR-LONG", "duration_s": "15"},
        headers=bearer(loaded.operator),
    )
    assert reply.status_code == 422
    problems = reply.json()["error"]["problems"]
    assert len(problems) == len(set(problems)) == 1
    assert problems[0].startswith("duration_s: 15 s is longer than the 10 s slots of 22 screens:")
    assert all(f"X-{i:02d}" in problems[0] for i in range(20))


def test_today_counts_only_the_loops_that_have_started(loaded: Any) -> None:
    """The chart compares like with like: on the day of the report, plays booked so far."""
    from signage import reports

    day = datetime(2026, 11, 7, tzinfo=UTC).date()  # a Saturday: K-1 plays 10:00-12:00
    at_11 = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)  # 11:00 in Paris: half of K-1's window
    with Session(loaded.engine) as session:
        rows = reports.report(session, first=day, last=day, screen_id="S-01", now=at_11)
        later = reports.report(
            session, first=day, last=day, screen_id="S-01", now=at_11.replace(hour=20)
        )
        before = reports.report(
            session, first=day, last=day, screen_id="S-01", now=at_11.replace(day=6)
        )
    k1 = next(r for r in rows if r["campaign_id"] == "K-1")
    assert (k1["booked_plays"], k1["booked_so_far"]) == (240, 120)
    assert next(r for r in later if r["campaign_id"] == "K-1")["booked_so_far"] == 240
    assert next(r for r in before if r["campaign_id"] == "K-1")["booked_so_far"] == 0
