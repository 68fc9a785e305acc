"""Plans that try to break the loader: absurd nesting, media paths leading out of the
plan's folder. Each is one clear problem and changes nothing, like any invalid plan."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from signage.models import Campaign, CampaignCreative, Creative, Screen
from store_server.shared.errors import InvalidInput
from tests.dbrows import rows_in
from tests.servers import REPO, caddie
from tests.signage.signage_helpers import load_plan_file, plan_dict, write_plan, write_png

PAGE = b"<!DOCTYPE html><html><body>the server's own page</body></html>"


def problems_of(url: str, path: Path, media: Path) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        load_plan_file(url, path, media)
    return list(caught.value.details["problems"])


def nothing_stored(url: str, media: Path) -> bool:
    counts = rows_in(url, Screen, Creative, Campaign, CampaignCreative)
    return set(counts.values()) == {0} and not (media.exists() and any(media.iterdir()))


# --------------------------------------------------------------------------- nesting


def test_a_deeply_nested_plan_is_one_problem(sqlite_url: str, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 5000)
    media = tmp_path / "media-store"
    assert problems_of(sqlite_url, deep, media) == [
        "not valid JSON: nested too deeply (a plan is a few levels deep)"
    ]
    assert nothing_stored(sqlite_url, media)


@pytest.mark.integration
def test_caddie_signage_load_of_a_deep_plan_prints_one_problem(
    sqlite_url: str, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 5000)
    media = tmp_path / "media-store"
    done = caddie(
        "signage",
        "load",
        str(deep),
        "--database-url",
        sqlite_url,
        env={"CADDIE_MEDIA_DIR": str(media)},
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    assert done.stderr.splitlines() == [
        "error: invalid signage plan: 1 problem",
        "  - not valid JSON: nested too deeply (a plan is a few levels deep)",
    ]
    assert nothing_stored(sqlite_url, media)


LONE_SURROGATE = "a string is not valid Unicode text (it holds a lone surrogate)"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '{"timezone": "\\ud800"}',
            "a string is not valid Unicode text (it holds a lone surrogate)",
        ),
        ('{"\\udc80": 1}', "a string is not valid Unicode text (it holds a lone surrogate)"),
        ('{"a":' * 100 + "1" + "}" * 100, "nested deeper than 64 levels"),
    ],
)
def test_a_plan_json_cannot_store_is_one_problem(
    sqlite_url: str, tmp_path: Path, text: str, problem: str
) -> None:
    """A lone surrogate escape parses, but is no text a database can store: it is one
    problem line, not a failure halfway through the load."""
    path = tmp_path / "plan.json"
    path.write_text(text)
    media = tmp_path / "media-store"
    assert problems_of(sqlite_url, path, media) == [f"not valid JSON: {problem}"]
    assert nothing_stored(sqlite_url, media)


# --------------------------------------------------------------------------- media paths


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """An HTML page and a PNG next to (not inside) the plan's folder."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "page.html").write_bytes(PAGE)
    write_png(folder / "ad.png", "red")
    return folder


def plan_with(tmp_path: Path, media: str, kind: str = "image") -> Path:
    plan = plan_dict()
    plan["creatives"].append({"id": "CR-X", "media": media, "duration_s": 10, "kind": kind})
    return write_plan(tmp_path / "plan", plan)


@pytest.mark.parametrize(
    "ref",
    [
        "../elsewhere/page.html",
        "media/../../elsewhere/ad.png",
        "ABSOLUTE/page.html",
        "../../../../../../../../usr/share/doc/base-passwd/users-and-groups.html",
    ],
)
def test_media_outside_the_plans_folder_is_a_problem(
    sqlite_url: str, tmp_path: Path, outside: Path, ref: str
) -> None:
    ref = ref.replace("ABSOLUTE", str(outside))
    path = plan_with(tmp_path, ref, kind="html" if ref.endswith(".html") else "image")
    media = tmp_path / "media-store"
    assert problems_of(sqlite_url, path, media) == [
        f"creatives[4].media: creative 'CR-X': {ref!r} is outside the plan file's folder "
        "(local media must be inside it; anything else needs an http(s) URL)"
    ]
    assert nothing_stored(sqlite_url, media)


def test_a_symlink_out_of_the_plans_folder_is_a_problem(
    sqlite_url: str, tmp_path: Path, outside: Path
) -> None:
    path = plan_with(tmp_path, "media/linked.png")
    os.symlink(outside / "ad.png", path.parent / "media" / "linked.png")
    os.symlink(outside, path.parent / "media" / "dir")
    media = tmp_path / "media-store"
    assert problems_of(sqlite_url, path, media) == [
        "creatives[4].media: creative 'CR-X': 'media/linked.png' is outside the plan file's "
        "folder (local media must be inside it; anything else needs an http(s) URL)"
    ]
    plan = json.loads(path.read_text())
    plan["creatives"][4]["media"] = "media/dir/ad.png"
    path.write_text(json.dumps(plan))
    assert "is outside the plan file's folder" in problems_of(sqlite_url, path, media)[0]
    assert nothing_stored(sqlite_url, media)


def test_symlinks_and_dot_dots_that_stay_inside_still_load(sqlite_url: str, tmp_path: Path) -> None:
    path = plan_with(tmp_path, "media/../media/./inside.png")
    os.symlink(path.parent / "media" / "a.png", path.parent / "media" / "inside.png")
    media = tmp_path / "media-store"
    summary = load_plan_file(sqlite_url, path, media)
    assert (summary.creatives, summary.files_copied) == (5, 4)  # CR-URL stays a URL


def test_unreadable_paths_are_problems_not_crashes(sqlite_url: str, tmp_path: Path) -> None:
    plan = plan_dict()
    plan["creatives"] += [
        {"id": "CR-NUL", "media": "media/a\u0000.png", "duration_s": 10},
        {"id": "CR-LOOP", "media": "media/loop.png", "duration_s": 10},
        {"id": "CR-DIR", "media": "media", "duration_s": 10},
    ]
    path = write_plan(tmp_path / "plan", plan)
    os.symlink("loop.png", path.parent / "media" / "loop.png")
    media = tmp_path / "media-store"
    found = problems_of(sqlite_url, path, media)
    assert found == [
        "creatives[4].media: creative 'CR-NUL': 'media/a\\x00.png' is not a file path we can read",
        "creatives[5].media: creative 'CR-LOOP': 'media/loop.png' is not a file path we can read",
        "creatives[6].media: cannot read 'media' (not a regular file)",
    ]
    assert nothing_stored(sqlite_url, media)


def test_a_file_that_is_not_media_is_refused_even_inside_the_folder(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = plan_with(tmp_path, "media/notes.png")
    (path.parent / "media" / "notes.png").write_text("root:x:0:0:root:/root:/bin/bash\n")
    media = tmp_path / "media-store"
    assert problems_of(sqlite_url, path, media) == [
        "creatives[4].media: 'media/notes.png': unsupported content: only PNG, JPEG, WebP, "
        "MP4 and HTML creatives play"
    ]
    assert nothing_stored(sqlite_url, media)


def test_the_fixture_mall_plan_still_loads(sqlite_url: str, tmp_path: Path) -> None:
    """As ``caddie demo`` loads it: base_dir is the fixtures folder, given unresolved."""
    plan = REPO / "fixtures" / "mall" / "plan.json"
    relative = Path(os.path.relpath(plan, Path.cwd()))
    media = tmp_path / "media-store"
    summary = load_plan_file(sqlite_url, relative, media)
    assert summary.files_copied == summary.creatives == 10
