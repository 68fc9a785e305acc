"""Forged proof of play against a real ``caddie serve`` (issue 19, finding 5): with one
screen's token, plays its schedule could never have played are rejected, counted in the
reply and shown to the operator, and never reach the reports advertisers are billed on.

Pure rules: tests/signage/test_proof_check.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from store_server.db import make_engine, migrate
from tests.accounts import PASSWORD, make_user
from tests.servers import ServerProcess
from tests.signage.signage_helpers import load_and_enroll, plan_dict, write_plan

pytestmark = [pytest.mark.integration]

SLOT = 10


def a_play(campaign: str, creative: str, at: datetime) -> dict[str, Any]:
    return {
        "play_id": str(uuid.uuid4()),
        "creative_id": creative,
        "campaign_id": campaign,
        "started_at": at.isoformat(),
        "duration_ms": SLOT * 1000,
    }


def slot_start(at: datetime) -> datetime:
    return datetime.fromtimestamp(at.timestamp() // SLOT * SLOT, tz=UTC)


def test_plays_a_screen_could_not_have_played_are_rejected_and_shown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'caddie.db'}"
    migrate(url)
    engine = make_engine(url)
    plan = write_plan(tmp_path / "plan", plan_dict(slot_seconds=SLOT))
    tokens = load_and_enroll(engine, plan, tmp_path / "media", ["S-01", "S-02"])
    make_user(engine, "olga", "operator", None)
    engine.dispose()
    env = {"CADDIE_MEDIA_DIR": str(tmp_path / "media"), "CADDIE_MAX_PLAY_AGE_HOURS": "72"}
    with (
        ServerProcess(url, env=env, log_path=tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=60) as api,
    ):
        south = {"Authorization": f"Bearer {tokens['S-02']}"}
        now = slot_start(datetime.now(UTC)) - timedelta(minutes=10)

        def report(plays: list[dict[str, Any]]) -> dict[str, int]:
            reply = api.post("/signage/proof-of-play", json={"plays": plays}, headers=south)
            assert reply.status_code == 200, reply.text
            counts: dict[str, int] = reply.json()
            return counts

        # The audit's forgery: 1,000 plays of a campaign that targets another screen
        # (K-1 books the north zone; S-02 is in the south), back-dated four days.
        four_days_ago = now - timedelta(days=4)
        forged = [
            a_play("K-1", "CR-A", four_days_ago + timedelta(seconds=SLOT * i)) for i in range(1000)
        ]
        assert report(forged) == {"accepted": 0, "duplicates": 0, "rejected": 1000}
        # Recent, but still not this screen's campaign; a creative not of its campaign.
        assert report([a_play("K-1", "CR-A", now)]) == {
            "accepted": 0,
            "duplicates": 0,
            "rejected": 1,
        }
        assert report([a_play("K-2", "CR-A", now)])["rejected"] == 1
        # K-2 plays everywhere, always: its plays are fine, one per slot of the loop.
        honest = [a_play("K-2", "CR-B", now + timedelta(seconds=SLOT * i)) for i in range(5)]
        assert report(honest) == {"accepted": 5, "duplicates": 0, "rejected": 0}
        assert report(honest) == {"accepted": 0, "duplicates": 5, "rejected": 0}  # a retry
        crowded = [
            a_play("K-2", "CR-B", now + timedelta(seconds=60, milliseconds=i)) for i in range(20)
        ]
        assert report(crowded) == {"accepted": 1, "duplicates": 0, "rejected": 19}
        # Older than the limit, though its campaign was on air then.
        assert report([a_play("K-2", "CR-B", now - timedelta(hours=73))])["rejected"] == 1

        operator = api.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {operator.json()['token']}"}
        screens = {s["id"]: s for s in api.get("/signage/api/screens", headers=auth).json()}
        assert screens["S-02"]["rejected_plays"] == 1000 + 1 + 1 + 19 + 1
        assert screens["S-02"]["last_rejection"].startswith("older than 72 hours")
        assert screens["S-01"]["rejected_plays"] == 0
        for day in {four_days_ago.date(), now.date()}:
            rows = api.get(
                "/signage/api/reports",
                params={"from": day.isoformat(), "screen": "S-02"},
                headers=auth,
            ).json()
            delivered = {r["campaign_id"]: r["delivered_plays"] for r in rows}
            assert delivered.get("K-1", 0) == 0, rows  # nothing forged is delivered
        session_cookie = {"Cookie": f"caddie_session={operator.json()['token']}"}
        console = api.get("/signage/console", headers=session_cookie)
        row = console.text.split('data-screen="S-02"')[1].split("</tr>")[0]
        assert ">1022" in row and "older than 72 hours" in row
