"""The plan file is the source of truth: ``export`` then ``load`` changes nothing (a property
test on random plans), ``load --prune`` cancels what the file omits, ``--dry-run`` prints
the diff and changes nothing, and every change a load makes is in the campaigns' history."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from signage.config import SignageSettings
from signage.lifecycle import export_plan, history, load, plan_document
from store_server.db import make_engine
from tests.signage.signage_helpers import FOREVER, plan_dict, write_plan

ZONES = ("north", "south", "food-court")
GROUPS = ("entrances", "portrait", "kids")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    """A valid plan: 1-4 screens, URL creatives that fit every slot, 0-6 campaigns of
    every state that cannot overbook (standard and house, one small guaranteed)."""
    n_screens = draw(st.integers(1, 4))
    screens = []
    for i in range(n_screens):
        portrait = draw(st.booleans())
        screens.append(
            {
                "id": f"S-{i:02d}",
                "zone": draw(st.sampled_from(ZONES)),
                "groups": sorted(draw(st.sets(st.sampled_from(GROUPS), max_size=2))),
                "slot_seconds": draw(st.integers(10, 15)),
                "slots_per_loop": draw(st.integers(4, 12)),
                "orientation": "portrait" if portrait else "landscape",
                "resolution": "1080x1920" if portrait else "1920x1080",
            }
        )
    zones = sorted({s["zone"] for s in screens})
    groups = sorted({g for s in screens for g in s["groups"]})
    creatives = [
        {
            "id": f"CR-{i}",
            "media": f"https://cdn.example.com/{i}.png",
            "duration_s": draw(st.sampled_from([5.0, 8.0, 10.0])),
            "kind": "image",
        }
        for i in range(draw(st.integers(1, 3)))
    ]
    campaigns = []
    for i in range(draw(st.integers(0, 6))):
        priority = "guaranteed" if i == 0 and draw(st.booleans()) else None
        priority = priority or draw(st.sampled_from(["standard", "house", "interrupt"]))
        start = draw(st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 1)))
        length = draw(st.integers(0, 90))
        entry: dict[str, Any] = {
            "id": draw(st.sampled_from([f"K-{i}", f"Brand {i}: spring ☕", f"k/{i}"])),
            "advertiser": draw(st.sampled_from(["Brand A", "Brand B", "Mall"])),
            "creatives": draw(
                st.lists(
                    st.sampled_from([c["id"] for c in creatives]),
                    min_size=1,
                    max_size=2,
                    unique=True,
                )
            ),
            "start": start.isoformat(),
            "end": (start + timedelta(days=length)).isoformat(),
            "priority": priority,
            "share_of_voice": 0.1
            if priority == "guaranteed"
            else draw(st.sampled_from([0.1, 0.25, 0.5, 1.0])),
            "state": draw(st.sampled_from(["booked", "held", "paused", "cancelled"])),
        }
        if draw(st.booleans()):
            entry["category"] = draw(st.sampled_from(["coffee", "shoes", "tea"]))
        if draw(st.booleans()):
            entry["days"] = sorted(draw(st.sets(st.sampled_from(DAYS), min_size=1)), key=DAYS.index)
        if draw(st.booleans()):
            entry["dayparts"] = [
                draw(
                    st.sampled_from([["08:00", "12:00"], ["17:30", "24:00"], ["10:00", "10:30:30"]])
                )
            ]
        if draw(st.booleans()):
            targets = {
                "zones": sorted(draw(st.sets(st.sampled_from(zones), max_size=2))),
                "groups": sorted(draw(st.sets(st.sampled_from(groups), max_size=2)))
                if groups
                else [],
                "screens": sorted(
                    draw(st.sets(st.sampled_from([s["id"] for s in screens]), max_size=2))
                ),
            }
            if any(targets.values()):
                entry["targets"] = targets
        if draw(st.booleans()):
            entry["max_plays_per_hour"] = draw(st.integers(1, 500))
        if draw(st.booleans()):
            entry["promoted_gtins"] = ["04006381333931"]
        campaigns.append(entry)
    ids = [c["id"] for c in campaigns]
    if len(set(ids)) != len(ids):
        campaigns = [dict(c, id=f"K-{i}") for i, c in enumerate(campaigns)]
    return {
        "timezone": "Europe/Paris",
        "screens": screens,
        "creatives": creatives,
        "campaigns": campaigns,
    }


def _fresh(template: Path, folder: Path) -> str:
    path = folder / f"rt-{uuid.uuid4().hex[:8]}.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


def _load(url: str, text: bytes, folder: Path, media: Path, **options: Any) -> Any:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            result = load(
                session,
                text,
                base_dir=folder,
                settings=SignageSettings(media_dir=media),
                timezone="Europe/Paris",
                **options,
            )
            if options.get("dry_run"):
                session.rollback()
            else:
                session.commit()
            return result
    finally:
        engine.dispose()


def _document(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return plan_document(session, timezone="Europe/Paris")
    finally:
        engine.dispose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans())
def test_export_then_load_is_the_identity(
    plan: dict[str, Any], sqlite_template: Path, tmp_path: Path
) -> None:
    folder = tmp_path / uuid.uuid4().hex[:8]
    folder.mkdir()
    first = _fresh(sqlite_template, folder)
    _load(first, json.dumps(plan).encode(), folder, folder / "media")
    exported = _document(first)
    # loading the export into an empty database gives the same plan back
    second = _fresh(sqlite_template, folder)
    _load(second, json.dumps(exported).encode(), folder, folder / "media")
    assert _document(second) == exported
    # and loading it (pruning) over the database it came from changes nothing at all
    again = _load(first, json.dumps(exported).encode(), folder, folder / "media", prune=True)
    assert again.diff == [] and again.cancelled == []
    assert _document(first) == exported
    # every campaign of the file, as the file says it
    assert [c["id"] for c in exported["campaigns"]] == sorted(c["id"] for c in plan["campaigns"])


def test_export_writes_files_and_media_that_load_back(
    sqlite_template: Path, tmp_path: Path
) -> None:
    source = write_plan(tmp_path / "source")
    first = _fresh(sqlite_template, tmp_path)
    media = tmp_path / "media-store"
    _load(first, source.read_bytes(), source.parent, media)
    out = tmp_path / "export" / "plan.json"
    out.parent.mkdir()
    engine = make_engine(first)
    with Session(engine) as session:
        copied = export_plan(session, out, media_dir=media, timezone="Europe/Paris")
    engine.dispose()
    assert copied == 3  # three local files; the URL creative stays a URL
    document = json.loads(out.read_text())
    local = {c["id"]: c["media"] for c in document["creatives"]}
    assert local["CR-URL"] == "https://cdn.example.com/ad.png"
    assert local["CR-A"].startswith("media/") and (out.parent / local["CR-A"]).is_file()
    second = _fresh(sqlite_template, tmp_path)
    _load(second, out.read_bytes(), out.parent, tmp_path / "other-media")
    assert _document(second) == _document(first)


def test_prune_cancels_what_the_file_omits_and_dry_run_changes_nothing(
    sqlite_template: Path, tmp_path: Path
) -> None:
    plan = plan_dict()
    source = write_plan(tmp_path / "p", plan)
    url = _fresh(sqlite_template, tmp_path)
    media = tmp_path / "media-store"
    _load(url, source.read_bytes(), source.parent, media)
    smaller = dict(plan, campaigns=[c for c in plan["campaigns"] if c["id"] != "K-2"])
    smaller["campaigns"][0] = dict(smaller["campaigns"][0], end="2030-12-31")
    smaller["campaigns"].append(
        {
            "id": "K-9",
            "advertiser": "Brand Z",
            "creatives": ["CR-B"],
            **FOREVER,
            "priority": "house",
        }
    )
    text = json.dumps(smaller).encode()
    before = _document(url)
    dry = _load(url, text, source.parent, media, prune=True, dry_run=True)
    assert dry.diff == [
        "~ campaign K-1: end 2099-12-31 → 2030-12-31",
        "~ campaign K-2: state booked → cancelled",
        "+ campaign K-9 (Brand Z, house, 2020-01-01 → 2099-12-31, booked)",
    ]
    assert _document(url) == before  # a dry run changes nothing
    # without --prune, a campaign the file omits stays as it was
    kept = _load(url, text, source.parent, media, dry_run=True)
    assert "~ campaign K-2: state booked → cancelled" not in kept.diff
    done = _load(url, text, source.parent, media, prune=True)
    assert done.cancelled == ["K-2"]
    states = {c["id"]: c["state"] for c in _document(url)["campaigns"]}
    assert states == {"H": "booked", "K-1": "booked", "K-2": "cancelled", "K-9": "booked"}
    engine = make_engine(url)
    with Session(engine) as session:
        k2 = history(session, "K-2")
        k1 = history(session, "K-1")
        k9 = history(session, "K-9")
    engine.dispose()
    # newest first; the first load booked them
    assert [(e.action, e.actor) for e in k2] == [
        ("cancel", "caddie signage load"),
        ("book", "caddie signage load"),
    ]
    assert k2[0].changes["reason"] == [None, "not in the plan file"]
    assert (k1[0].action, k1[0].changes) == ("load", {"end": ["2099-12-31", "2030-12-31"]})
    assert [e.action for e in k1] == ["load", "book"]
    assert [e.action for e in k9] == ["book"]


@pytest.mark.parametrize("prune", [False, True])
def test_a_refused_load_prunes_nothing(sqlite_template: Path, tmp_path: Path, prune: bool) -> None:
    from store_server.shared.errors import InvalidInput

    source = write_plan(tmp_path / "p")
    url = _fresh(sqlite_template, tmp_path)
    _load(url, source.read_bytes(), source.parent, tmp_path / "m")
    before = _document(url)
    broken = json.dumps({"timezone": "Europe/Paris", "screens": [], "campaigns": [{"id": 5}]})
    engine = make_engine(url)
    with Session(engine) as session, pytest.raises(InvalidInput):
        load(
            session,
            broken.encode(),
            base_dir=source.parent,
            settings=SignageSettings(media_dir=tmp_path / "m"),
            timezone="Europe/Paris",
            prune=prune,
        )
    engine.dispose()
    assert _document(url) == before
