"""A database that refuses to commit, to test that a failed commit is never a success."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


@contextmanager
def commits_refused() -> Iterator[list[str]]:
    """Every engine refuses to commit while inside; yields the refusals seen."""
    refusals: list[str] = []

    def refuse(conn: Connection) -> None:
        refusals.append(str(conn.engine.url))
        raise RuntimeError("commit refused by the test")

    event.listen(Engine, "commit", refuse)
    try:
        yield refusals
    finally:
        event.remove(Engine, "commit", refuse)


def internal_error(reply: Any) -> None:
    assert reply.status_code == 500, reply.text
    assert reply.json()["error"]["code"] == "internal"
    assert "Traceback" not in reply.text and "refused by the test" not in reply.text
