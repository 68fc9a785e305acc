"""``caddie screen enroll``, ``caddie signage load``, ``caddie signage serve``: real processes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from signage.models import Campaign, CampaignCreative, Creative, Screen
from store_server.db import make_engine
from tests.dbrows import rows_in
from tests.servers import CADDIE, REPO, caddie, free_port
from tests.signage.signage_helpers import ONE_SCREEN_PLAN

pytestmark = pytest.mark.integration


def counts(url: str) -> dict[str, int]:
    return rows_in(url, Screen, Creative, Campaign, CampaignCreative)


def env(media: Path) -> dict[str, str]:
    return {"CADDIE_MEDIA_DIR": str(media)}


def test_enroll_prints_one_line_per_screen_and_revokes_on_re_enrol(
    sqlite_url: str, tmp_path: Path
) -> None:
    from signage.service import screen_for_token

    first = caddie("screen", "enroll", "S-02", "S-01", "--database-url", sqlite_url)
    assert first.returncode == 0, first.stderr
    lines = [line.split("\t") for line in first.stdout.splitlines()]
    assert [line[0] for line in lines] == ["S-02", "S-01"]
    assert all(len(token) >= 32 for _, token in lines)
    again = caddie("screen", "enroll", "S-01", "--database-url", sqlite_url)
    [[screen_id, fresh]] = [line.split("\t") for line in again.stdout.splitlines()]
    assert screen_id == "S-01" and fresh != lines[1][1]
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        assert screen_for_token(session, lines[1][1]) is None
        screen = screen_for_token(session, fresh)
        assert screen is not None and screen.id == "S-01"
        assert (screen.zone, screen.slot_seconds, screen.slots_per_loop) == ("unassigned", 10, 12)
        other = screen_for_token(session, lines[0][1])
        assert other is not None and other.id == "S-02"
    engine.dispose()
    bad = caddie("screen", "enroll", "ok", "no spaces", "--database-url", sqlite_url)
    assert bad.returncode == 1 and "bad screen id 'no spaces'" in bad.stderr
    assert counts(sqlite_url)["Screen"] == 2


def test_load_applies_a_plan_and_copies_media(sqlite_url: str, tmp_path: Path) -> None:
    from tests.signage.signage_helpers import write_plan

    plan = write_plan(tmp_path / "plan")
    media = tmp_path / "media-store"
    done = caddie("signage", "load", str(plan), "--database-url", sqlite_url, env=env(media))
    assert done.returncode == 0, done.stderr
    assert "2 screens, 4 creatives, 3 campaigns; 3 media files" in done.stdout
    assert counts(sqlite_url) == {"Screen": 2, "Creative": 4, "Campaign": 3, "CampaignCreative": 4}
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        creative = session.get(Creative, "CR-A")
        assert creative is not None and creative.file_name is not None
        stored = media / creative.file_name
        assert stored.read_bytes() == (tmp_path / "plan" / "media" / "a.png").read_bytes()
        remote = session.get(Creative, "CR-URL")
        assert remote is not None and remote.url == "https://cdn.example.com/ad.png"
        screen = session.get(Screen, "S-01")
        assert screen is not None and screen.groups == ["food-court"]
        assert screen.timezone == "Europe/Paris"
    engine.dispose()
    # loading again upserts: same counts
    assert (
        caddie(
            "signage", "load", str(plan), "--database-url", sqlite_url, env=env(media)
        ).returncode
        == 0
    )
    assert counts(sqlite_url)["Campaign"] == 3


def test_a_bad_plan_prints_every_problem_and_changes_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    from tests.signage.signage_helpers import plan_dict, write_plan

    media = tmp_path / "media-store"
    good = write_plan(tmp_path / "good")
    assert (
        caddie(
            "signage", "load", str(good), "--database-url", sqlite_url, env=env(media)
        ).returncode
        == 0
    )
    before = counts(sqlite_url)
    files_before = sorted(p.name for p in media.iterdir())

    broken: dict[str, Any] = plan_dict()
    broken["screens"][0]["slot_seconds"] = 5  # shrinks S-01 but creatives last 10 s
    broken["creatives"].append({"id": "CR-X", "media": "media/missing.png", "duration_s": 5})
    broken["creatives"].append({"id": "CR-S", "media": "media/spoof.png", "duration_s": 5})
    broken["campaigns"][1]["creatives"] = ["CR-B", "CR-NOPE"]
    broken["campaigns"].append(
        {
            "id": "K-3",
            "advertiser": "Brand C",
            "creatives": ["CR-S"],
            "start": "2026-11-01",
            "end": "2026-11-30",
            "priority": "guaranteed",
            "share_of_voice": 0.9,
            "targets": {"screens": ["S-02"]},
        }
    )
    broken["campaigns"].append(
        {
            "id": "K-4",
            "advertiser": "Brand D",
            "creatives": ["CR-S"],
            "start": "2026-11-01",
            "end": "2026-11-30",
            "priority": "guaranteed",
            "share_of_voice": 0.5,
            "targets": {"screens": ["S-02"]},
        }
    )
    folder = tmp_path / "broken"
    write_plan(folder, broken)
    (folder / "media" / "spoof.png").write_text("<!doctype html><html><body>hi</body></html>")
    done = caddie(
        "signage", "load", str(folder / "plan.json"), "--database-url", sqlite_url, env=env(media)
    )
    assert done.returncode == 1
    err = done.stderr
    for expected in (
        "campaigns[0].creatives[0]: creative 'CR-A' lasts 10 s, longer than the slots of "
        "screen S-01 (5 s)",
        "campaigns[1].creatives[1]: unknown creative 'CR-NOPE'",
        "creatives[4].media: cannot read 'media/missing.png'",
        "creatives[5].media: 'media/spoof.png': file name 'spoof.png' says image/png but the "
        "content is text/html",
        "screen S-02: guaranteed bookings need 8 slots of 6 on every day all day (K-3 5, K-4 3)",
    ):
        assert expected in " ".join(err.split()), (expected, err)
    assert counts(sqlite_url) == before
    assert sorted(p.name for p in media.iterdir()) == files_before

    (folder / "plan.json").write_text('{"timezone": "Europe/Paris", "screens": [')
    malformed = caddie(
        "signage", "load", str(folder / "plan.json"), "--database-url", sqlite_url, env=env(media)
    )
    assert malformed.returncode == 1 and "not valid JSON" in malformed.stderr
    assert counts(sqlite_url) == before


def test_overbooking_counts_what_is_already_stored(sqlite_url: str, tmp_path: Path) -> None:
    from tests.signage.signage_helpers import FOREVER, plan_dict, write_plan

    media = tmp_path / "media-store"
    assert (
        caddie(
            "signage",
            "load",
            str(write_plan(tmp_path / "a")),
            "--database-url",
            sqlite_url,
            env=env(media),
        ).returncode
        == 0
    )
    before = counts(sqlite_url)
    second = plan_dict()
    second["campaigns"] = [
        {
            "id": "K-9",
            "advertiser": "Brand Z",
            "creatives": ["CR-B"],
            **FOREVER,
            "days": ["sat"],
            "dayparts": [["11:00", "13:00"]],
            "targets": {"zones": ["north"]},
            "priority": "guaranteed",
            "share_of_voice": 0.75,
        }
    ]
    done = caddie(
        "signage",
        "load",
        str(write_plan(tmp_path / "b", second)),
        "--database-url",
        sqlite_url,
        env=env(media),
    )
    assert done.returncode == 1
    expected = (
        "screen S-01: guaranteed bookings need 7 slots of 6 on Saturdays 11:00–12:00 (K-1 2, K-9 5)"
    )
    assert expected in " ".join(done.stderr.split()), done.stderr
    assert counts(sqlite_url) == before
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    alone = caddie(
        "signage",
        "load",
        str(tmp_path / "b" / "plan.json"),
        "--database-url",
        fresh,
        env=env(media),
    )
    assert alone.returncode == 0, alone.stderr  # the same plan fits an empty database


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (
            {"screens": [{"id": "S-01", "zone": "z1", "slot_seconds": 5, "slots_per_loop": 4}]},
            "campaigns: stored campaign 'K-1': creative 'CR-1' lasts 10 s, longer than the "
            "slots of screen S-01 (5 s)",
        ),
        (
            {"creatives": [{"id": "CR-1", "media": "ad.png", "duration_s": 30}]},
            "campaigns: stored campaign 'K-1': creative 'CR-1' lasts 30 s, longer than the "
            "slots of screen S-01 (10 s)",
        ),
    ],
    ids=["shorter-slots", "longer-creative"],
)
def test_a_later_plan_is_held_to_the_slot_lengths_of_what_is_stored(
    sqlite_url: str, tmp_path: Path, second: dict[str, Any], expected: str
) -> None:
    from tests.signage.signage_helpers import write_png

    write_png(tmp_path / "ad.png", "red")
    (tmp_path / "d1_a.json").write_text(json.dumps(ONE_SCREEN_PLAN))
    later = {"timezone": "Europe/Paris", "screens": [], "creatives": [], "campaigns": []}
    (tmp_path / "d1_b.json").write_text(json.dumps({**later, **second}))
    media = tmp_path / "media-store"

    def load(name: str) -> subprocess.CompletedProcess[str]:
        path = str(tmp_path / name)
        return caddie("signage", "load", path, "--database-url", sqlite_url, env=env(media))

    assert load("d1_a.json").returncode == 0
    before = counts(sqlite_url)
    done = load("d1_b.json")
    assert done.returncode == 1
    assert expected in " ".join(done.stderr.split()), done.stderr
    assert counts(sqlite_url) == before


def test_signage_serve_runs_the_signage_app_alone(sqlite_url: str, tmp_path: Path) -> None:
    from tests.signage.signage_helpers import write_plan

    media = tmp_path / "media-store"
    assert (
        caddie(
            "signage",
            "load",
            str(write_plan(tmp_path / "p")),
            "--database-url",
            sqlite_url,
            env=env(media),
        ).returncode
        == 0
    )
    token = caddie("screen", "enroll", "S-01", "--database-url", sqlite_url).stdout.split()[1]
    port = free_port()
    proc = subprocess.Popen(
        [*CADDIE, "signage", "serve", "--port", str(port), "--database-url", sqlite_url],
        cwd=REPO,
        env={**__import__("os").environ, **env(media)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        loop = httpx.get(
            base + "/signage/screens/S-01/loop", headers={"Authorization": f"Bearer {token}"}
        )
        assert loop.status_code == 200 and len(loop.json()["slots"]) == 6
        media_url = next(s["media_url"] for s in loop.json()["slots"] if s["sha256"])
        assert httpx.get(base + media_url).status_code == 200
        login = httpx.post(base + "/api/auth/login", json={"username": "x", "password": "y"})
        assert login.status_code == 401
        assert httpx.get(base + "/signage/console").status_code in (303, 307)
    finally:
        proc.terminate()
        proc.wait(15)


def test_plan_json_in_protocol_is_accepted(sqlite_url: str, tmp_path: Path) -> None:
    """The PROTOCOL.md example (with a URL creative) loads as written."""
    plan = {
        "timezone": "Europe/Paris",
        "screens": [
            {
                "id": "S-01",
                "zone": "north-entrance",
                "groups": ["food-court"],
                "slot_seconds": 10,
                "slots_per_loop": 12,
            }
        ],
        "creatives": [{"id": "CR-1", "media": "https://example.com/a.png", "duration_s": 10}],
        "campaigns": [
            {
                "id": "K-1",
                "advertiser": "Brand A",
                "category": "coffee",
                "creatives": ["CR-1"],
                "start": "2026-11-01",
                "end": "2026-12-31",
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "dayparts": [["08:00", "12:00"]],
                "targets": {"zones": ["north-entrance"], "groups": [], "screens": []},
                "priority": "guaranteed",
                "share_of_voice": 0.25,
                "max_plays_per_hour": None,
            }
        ],
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    done = caddie(
        "signage", "load", str(path), "--database-url", sqlite_url, env=env(tmp_path / "m")
    )
    assert done.returncode == 0, done.stderr
    assert counts(sqlite_url)["Campaign"] == 1


def test_a_plan_with_mistakes_still_hears_that_it_overbooks(
    sqlite_url: str, tmp_path: Path
) -> None:
    plan: dict[str, Any] = json.loads(json.dumps(ONE_SCREEN_PLAN))
    plan["timezone"] = "Mars/Olympus"
    plan["campaigns"][0].update(creatives=["CR-1", "NOPE"], share_of_voice=0.75)
    plan["campaigns"].append(
        {**ONE_SCREEN_PLAN["campaigns"][0], "id": "K-2", "share_of_voice": 0.75}
    )
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    done = caddie(
        "signage", "load", str(path), "--database-url", sqlite_url, env=env(tmp_path / "m")
    )
    assert done.returncode == 1
    err = " ".join(done.stderr.split())
    for expected in (
        "timezone: unknown timezone 'Mars/Olympus'",
        "campaigns[0].creatives[1]: unknown creative 'NOPE'",
        "campaigns: screen S-01: guaranteed bookings need 6 slots of 4 on every day all day "
        "(K-1 3, K-2 3) between 2026-11-01 and 2026-12-31",
    ):
        assert expected in err, (expected, done.stderr)
    assert counts(sqlite_url) == {"Screen": 0, "Creative": 0, "Campaign": 0, "CampaignCreative": 0}


def test_export_then_load_prune_dry_run_then_prune(sqlite_url: str, tmp_path: Path) -> None:
    """The plan as a file: exported, edited, previewed with --dry-run, applied with --prune."""
    from tests.signage.signage_helpers import write_plan

    media = tmp_path / "media-store"
    plan = write_plan(tmp_path / "plan")
    assert (
        caddie(
            "signage", "load", str(plan), "--database-url", sqlite_url, env=env(media)
        ).returncode
        == 0
    )
    out = tmp_path / "export" / "plan.json"
    done = caddie("signage", "export", str(out), "--database-url", sqlite_url, env=env(media))
    assert done.returncode == 0, done.stderr
    assert "3 media files" in done.stdout
    document = json.loads(out.read_text())
    document["campaigns"] = [c for c in document["campaigns"] if c["id"] != "K-2"]
    out.write_text(json.dumps(document))
    before = counts(sqlite_url)
    dry = caddie(
        "signage",
        "load",
        str(out),
        "--prune",
        "--dry-run",
        "--database-url",
        sqlite_url,
        env=env(media),
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "~ campaign K-2: state booked → cancelled",
        "dry run: plan.json was not loaded (1 changes)",
    ]
    assert counts(sqlite_url) == before
    pruned = caddie(
        "signage", "load", str(out), "--prune", "--database-url", sqlite_url, env=env(media)
    )
    assert pruned.returncode == 0, pruned.stderr
    assert "1 campaigns cancelled" in pruned.stdout
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        states = {c.id: c.state for c in session.exec(select(Campaign)).all()}
    engine.dispose()
    assert states["K-2"] == "cancelled" and states["K-1"] == "booked"
    (tmp_path / "a-file").write_text("not a folder")
    unwritable = caddie(
        "signage",
        "export",
        str(tmp_path / "a-file" / "plan.json"),
        "--database-url",
        sqlite_url,
        env=env(media),
    )
    assert unwritable.returncode == 1 and "Traceback" not in unwritable.stderr
