"""Counting what a test's database holds, by URL (each call opens and disposes its own
engine, so it works beside a server process using the same database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from store_server.db import make_engine


def rows_in(url: str, *models: Any) -> dict[str, int]:
    """How many rows each model's table holds, by model name."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return {
                model.__name__: int(session.exec(select(func.count()).select_from(model)).one())
                for model in models
            }
    finally:
        engine.dispose()


def row_count(url: str, model: Any) -> int:
    """How many rows ``model``'s table holds."""
    return rows_in(url, model)[model.__name__]
