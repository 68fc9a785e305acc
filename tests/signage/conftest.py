"""Signage test helpers: media files, a plan, loaded databases, logged-in callers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.signage.signage_helpers import load_and_enroll, plan_dict, user_token, write_plan


@pytest.fixture
def media_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "caddie-media"
    monkeypatch.setenv("CADDIE_MEDIA_DIR", str(path))
    return path


@dataclass
class Loaded:
    url: str
    engine: Engine
    plan: dict[str, Any]
    tokens: dict[str, str]
    operator: str
    staff: str


@pytest.fixture
def loaded(db_url: str, tmp_path: Path, media_dir: Path) -> Iterator[Loaded]:
    """A database holding the plan, both screens enrolled, an operator and a staff login."""
    from store_server.db import make_engine

    plan = plan_dict()
    path = write_plan(tmp_path / "plan", plan)
    engine = make_engine(db_url)
    tokens = load_and_enroll(engine, path, media_dir, ["S-01", "S-02"])
    yield Loaded(
        db_url,
        engine,
        plan,
        tokens,
        user_token(engine, "olga", "operator"),
        user_token(engine, "sam", "staff"),
    )
    engine.dispose()


@pytest.fixture
def client(loaded: Loaded) -> Iterator[Any]:
    """The real store app (signage mounted at /signage) on the loaded database."""
    from fastapi.testclient import TestClient

    from store_server.app import create_app
    from store_server.config import load_settings

    app = create_app(load_settings(database_url=loaded.url, environment="test"))
    with TestClient(app) as test_client:
        yield test_client
