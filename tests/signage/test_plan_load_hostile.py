"""Plans that try to break the loader: absurd nesting, media paths leading out of the
plan's folder. Each is one clear problem and changes nothing, like any invalid plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from signage.config import SignageSettings
from signage.models import Campaign, CampaignCreative, Creative, Screen
from signage.service import load_plan
from store_server.db import make_engine
from store_server.errors import InvalidInput
from tests.dbrows import rows_in
from tests.servers import caddie

PAGE = b"<!DOCTYPE html><html><body>the server's own page</body></html>"


def load(url: str, path: Path, media: Path, **kw: Any) -> Any:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            summary = load_plan(
                session,
                path.read_bytes(),
                base_dir=path.parent,
                settings=SignageSettings(media_dir=media),
                **kw,
            )
            session.commit()
            return summary
    finally:
        engine.dispose()


def problems_of(url: str, path: Path, media: Path) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        load(url, path, media)
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
