"""The plan the loop endpoint keeps per process, and the revision that says when it changed.

Whatever changes screens, creatives, advertisers or campaigns moves the revision in
the same transaction; a screen calling in or reporting plays does not. The loops a
server serves follow a plan loaded by another process at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from signage.config import SignageSettings
from signage.models import Campaign, Screen
from signage.plan_cache import plan_revision
from signage.scheduling import build_loop, parse_plan
from store_server.db import session_scope
from tests.accounts import bearer
from tests.servers import ServerProcess, caddie
from tests.signage.conftest import Loaded
from tests.signage.signage_helpers import campaign, play, write_plan, write_png

SAT_1030 = "2026-11-07T10:30:00+01:00"  # K-1 (guaranteed, weekends 10-12) is on air


def _revision(loaded: Loaded) -> int:
    with Session(loaded.engine) as session:
        return plan_revision(session)


def _book(session: Session, creatives: tuple[str, ...] = ("CR-B",)) -> None:
    from signage.service import book_campaign

    book_campaign(session, campaign(creatives=list(creatives)), timezone="Europe/Paris")


def _rebook_with_other_creatives(session: Session) -> None:
    _book(session)
    session.flush()
    _book(session, ("CR-A",))


def _enroll_new_screen(session: Session) -> None:
    from signage.service import enroll

    enroll(session, ["S-NEW"], settings=SignageSettings(), timezone="UTC")


def _cancel_by_hand(session: Session) -> None:
    campaign = session.get(Campaign, "K-2")
    assert campaign is not None
    campaign.state = "cancelled"


def _upload(media_dir: Path) -> Callable[[Session], None]:
    def upload(session: Session) -> None:
        from signage.service import save_upload

        path = write_png(media_dir.parent / "new.png", "purple", (32, 18))
        save_upload(
            session,
            creative_id="CR-NEW",
            data=path.read_bytes(),
            file_name="new.png",
            duration_s=10.0,
            targets={},
            settings=SignageSettings(media_dir=media_dir),
        )

    return upload


def _touch(session: Session) -> None:
    from signage.service import touch

    screen = session.get(Screen, "S-01")
    assert screen is not None
    touch(session, screen)


def _report_play(session: Session) -> None:
    from signage.proof_of_play import record_plays

    screen = session.get(Screen, "S-01")  # K-1's zone: the play is accepted
    assert screen is not None
    old_enough = timedelta(days=100 * 365)  # the play is of a fixed day in November 2026
    recorded = record_plays(session, screen, {"plays": [play()]}, max_batch=100, max_age=old_enough)
    assert recorded.accepted == 1
    # A rejected one (K-1 is not S-02's) is counted on the screen: not a plan change either.
    other = session.get(Screen, "S-02")
    assert other is not None
    rejected = record_plays(session, other, {"plays": [play()]}, max_batch=100, max_age=old_enough)
    assert rejected.rejected == 1


PLAN_CHANGES: dict[str, Callable[[Loaded, Path], Callable[[Session], None]]] = {
    "a campaign booked": lambda loaded, media: _book,
    "a campaign's creatives changed": lambda loaded, media: _rebook_with_other_creatives,
    "a new screen enrolled": lambda loaded, media: _enroll_new_screen,
    "a campaign cancelled through the ORM": lambda loaded, media: _cancel_by_hand,
    "a creative uploaded": lambda loaded, media: _upload(media),
}
NOT_PLAN_CHANGES: dict[str, Callable[[Session], None]] = {
    "a screen calling in": _touch,
    "a screen reporting a play": _report_play,
}


@pytest.mark.parametrize("change", PLAN_CHANGES)
def test_a_plan_change_moves_the_revision(loaded: Loaded, media_dir: Path, change: str) -> None:
    before = _revision(loaded)
    with session_scope(loaded.engine) as session:
        PLAN_CHANGES[change](loaded, media_dir)(session)
    assert _revision(loaded) > before


@pytest.mark.parametrize("change", NOT_PLAN_CHANGES)
def test_what_changes_no_loop_leaves_the_revision(loaded: Loaded, change: str) -> None:
    before = _revision(loaded)
    with session_scope(loaded.engine) as session:
        NOT_PLAN_CHANGES[change](session)
    assert _revision(loaded) == before


def test_a_change_rolled_back_leaves_the_revision(loaded: Loaded) -> None:
    before = _revision(loaded)
    with pytest.raises(RuntimeError), session_scope(loaded.engine) as session:
        _book(session)
        session.flush()
        raise RuntimeError("the operator's request failed after the booking")
    assert _revision(loaded) == before


def test_the_loop_endpoint_reads_the_plan_once_until_it_changes(
    client: Any, loaded: Loaded
) -> None:
    mounted = next(r.app for r in client.app.routes if getattr(r, "path", "") == "/signage")
    plans = mounted.state.signage.get().plans
    headers = bearer(loaded.tokens["S-01"])

    def slots() -> list[str | None]:
        reply = client.get("/signage/screens/S-01/loop", params={"at": SAT_1030}, headers=headers)
        assert reply.status_code == 200, reply.text
        return [slot["campaign_id"] for slot in reply.json()["slots"]]

    first = [slots() for _ in range(5)]
    assert plans.loads == 1 and all(s == first[0] for s in first)
    assert "K-1" in first[0]
    with session_scope(loaded.engine) as session:
        campaign = session.get(Campaign, "K-1")
        assert campaign is not None
        campaign.state = "cancelled"
    assert "K-1" not in slots()
    assert plans.loads == 2


def test_a_kept_plan_outlives_a_request_that_rolls_back(loaded: Loaded) -> None:
    from signage.plan_cache import PlanCache
    from signage.service import kept_specs

    plans = PlanCache()
    with pytest.raises(RuntimeError), session_scope(loaded.engine) as session:
        plans.get(session, kept_specs)
        raise RuntimeError("the request failed after reading the plan")  # rolls back
    with session_scope(loaded.engine) as session:
        specs = plans.get(session, kept_specs)
    assert plans.loads == 1
    assert specs.creative_rows["CR-URL"].url == "https://cdn.example.com/ad.png"
    assert all(len(row.sha256 or "") in (0, 64) for row in specs.creative_rows.values())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_loops_follow_a_plan_loaded_by_another_process(loaded: Loaded, tmp_path: Path) -> None:
    """A real server keeps its plan; ``caddie signage load`` run beside it changes the
    loops it serves from the next request on."""
    changed = json.loads(json.dumps(loaded.plan))
    k1 = next(c for c in changed["campaigns"] if c["id"] == "K-1")
    k1["priority"] = "interrupt"  # K-1 now takes every slot on its screens
    path = write_plan(tmp_path / "changed", changed)
    headers = bearer(loaded.tokens["S-01"])
    with ServerProcess(loaded.url) as server:

        def campaigns_on_air() -> list[str | None]:
            reply = httpx.get(
                f"{server.url}/signage/screens/S-01/loop",
                params={"at": SAT_1030},
                headers=headers,
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
            return [slot["campaign_id"] for slot in reply.json()["slots"]]

        before = campaigns_on_air()
        assert set(before) != {"K-1"}
        loaded_cli = caddie("signage", "load", str(path), "--database-url", loaded.url)
        assert loaded_cli.returncode == 0, loaded_cli.stdout + loaded_cli.stderr
        plan = parse_plan(changed)
        screen = next(s for s in plan.screens if s.id == "S-01")
        from datetime import datetime

        expected = build_loop(
            screen,
            plan.campaigns,
            {c.id: c for c in plan.creatives},
            datetime.fromisoformat(SAT_1030),
        )
        assert campaigns_on_air() == [s.campaign_id for s in expected.slots]
        assert set(campaigns_on_air()) == {"K-1"}
    with Session(loaded.engine) as session:
        assert session.exec(select(Campaign.priority).where(Campaign.id == "K-1")).one() == (
            "interrupt"
        )


OPERATOR_VIEWS = {
    "campaign list": ("/signage/api/campaigns", {}),
    "availability": ("/signage/api/availability", {"day": "sat", "start": "10:00", "end": "12:00"}),
    "timeline": ("/signage/api/screens/S-01/timeline", {"day": "2026-11-07"}),
    "report": ("/signage/api/reports", {"from": "2026-11-07"}),
    "report CSV": ("/signage/api/reports.csv", {"from": "2026-11-07"}),
    "campaigns page": ("/signage/console/campaigns", {}),
    "timeline page": ("/signage/console/screens/S-01/timeline", {"day": "2026-11-07"}),
    "reports page": ("/signage/console/reports", {"from": "2026-11-07"}),
}


@pytest.mark.parametrize("view", OPERATOR_VIEWS)
def test_operator_views_read_the_plan_once_until_it_changes(
    client: Any, loaded: Loaded, view: str
) -> None:
    """The operator's pages build on the plan the loops use: a Monday-morning round of
    them in a large mall reads the plan from the database once, and a change shows
    on the next request."""
    mounted = next(r.app for r in client.app.routes if getattr(r, "path", "") == "/signage")
    plans = mounted.state.signage.get().plans
    path, params = OPERATOR_VIEWS[view]
    client.cookies.set("caddie_session", loaded.operator)

    def text() -> str:
        reply = client.get(path, params=params, headers=bearer(loaded.operator))
        assert reply.status_code == 200, reply.text
        return reply.text

    first = [text() for _ in range(3)]
    assert plans.loads == 1 and first[1:] == first[:1] * 2
    assert "K-1" in first[0] or view == "availability"
    with session_scope(loaded.engine) as session:
        row = session.get(Campaign, "K-1")
        assert row is not None
        row.share_of_voice = 0.5 if view == "availability" else row.share_of_voice
        row.state = "cancelled" if view != "availability" else row.state
    assert text() != first[0]
    assert plans.loads == 2
