"""Screen ids a plan accepts are ids the rest of the system accepts: ``caddie screen
enroll`` registers them, and every URL that names a screen reaches it. Creative and
campaign ids stay the operator's own strings (PROTOCOL.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from signage.config import SignageSettings
from signage.scheduling import parse_plan
from signage.scheduling.model import is_valid_id
from signage.service import enroll
from store_server.db import make_engine, session_scope
from store_server.shared.errors import InvalidInput
from tests.signage.signage_helpers import FOREVER, load_and_enroll, user_token, write_plan

SCREEN = "S.1_north:Door-2"
CREATIVE = "CR.1_promo:Nov-2"
CAMPAIGN = "K.1_coffee:Nov-2"


def plan(
    screen: str = SCREEN, creative: str = CREATIVE, campaign: str = CAMPAIGN
) -> dict[str, Any]:
    return {
        "timezone": "Europe/Paris",
        "screens": [{"id": screen, "zone": "z1", "slot_seconds": 10, "slots_per_loop": 4}],
        "creatives": [{"id": creative, "media": "media/a.png", "duration_s": 10}],
        "campaigns": [
            {
                "id": campaign,
                "advertiser": "A",
                "creatives": [creative],
                **FOREVER,
                "targets": {"screens": [screen]},
                "priority": "guaranteed",
                "share_of_voice": 0.5,
            }
        ],
    }


def problems_of(data: object) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_plan(data)
    return list(caught.value.details["problems"])


BAD_IDS = ["Hall A/Screen 1", "S/01", "S-01\n", ".hidden", "..", "K?1", "K#1", "50%", "é-1"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_plan_refuses_the_screen_ids_enroll_refuses(bad: str) -> None:
    problems = problems_of(plan(screen=bad))
    expected = f"screens[0].id: bad screen id {bad!r}: use 1-200 letters, digits or . _ : -"
    assert [p for p in problems if p.startswith(expected)], problems
    # the badly spelt id is still known: references to it are not reported again
    assert len(problems) == 1, problems


@pytest.mark.parametrize("name", ["Hall A/Screen 1", "é-1", "Spring sale 2026", "50%"])
@pytest.mark.parametrize("kind", ["creative", "campaign"])
def test_creative_and_campaign_ids_are_the_operators_own_strings(kind: str, name: str) -> None:
    parsed = parse_plan(plan(**{kind: name}))
    ids = [c.id for c in (parsed.creatives if kind == "creative" else parsed.campaigns)]
    assert ids == [name]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_enroll_refuses_the_same_ids(sqlite_url: str, bad: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with session_scope(engine) as session, pytest.raises(InvalidInput) as caught:
            enroll(session, [bad], settings=SignageSettings(), timezone="Europe/Paris")
    finally:
        engine.dispose()
    [problem] = caught.value.details["problems"]
    assert problem.startswith(f"bad screen id {bad!r}: use 1-200 letters, digits or . _ : -")


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=12))
def test_any_screen_id_a_plan_accepts_is_enrollable_and_url_safe(name: str) -> None:
    try:
        parse_plan(plan(screen=name))
    except InvalidInput:
        return
    assert quote(name, safe=":") == name and name not in (".", "..")
    assert is_valid_id(name)  # what enroll checks


@pytest.fixture
def served(db_url: str, tmp_path: Path, media_dir: Path) -> Iterator[tuple[TestClient, str, str]]:
    """The real app on a database holding ``plan()``, its screen enrolled."""
    from store_server.app import create_app
    from store_server.config import load_settings

    path = write_plan(tmp_path / "plan", plan())
    engine = make_engine(db_url)
    token = load_and_enroll(engine, path, media_dir, [SCREEN])[SCREEN]
    operator = user_token(engine, "olga", "operator")
    app = create_app(load_settings(database_url=db_url, environment="test"))
    try:
        with TestClient(app) as client:
            yield client, token, operator
    finally:
        engine.dispose()


def test_every_url_naming_a_plan_id_reaches_it(served: tuple[TestClient, str, str]) -> None:
    client, token, operator = served
    screen = {"Authorization": f"Bearer {token}"}
    staff = {"Authorization": f"Bearer {operator}"}
    loop = client.get(f"/signage/screens/{SCREEN}/loop?at=2026-11-07T10:00:00Z", headers=screen)
    assert loop.status_code == 200, loop.text
    assert loop.json()["screen_id"] == SCREEN
    assert {s["creative_id"] for s in loop.json()["slots"]} >= {CREATIVE}
    assert client.get(f"/signage/screens/{SCREEN}/play?token={token}").status_code == 200
    timeline = client.get(f"/signage/api/screens/{SCREEN}/timeline?day=2026-11-07", headers=staff)
    assert timeline.status_code == 200, timeline.text
    for suffix in (".json", ".csv", "/series.csv"):
        reply = client.get(f"/signage/api/attribution/{CAMPAIGN}{suffix}", headers=staff)
        assert reply.status_code == 200, (suffix, reply.text)
