"""What every ``caddie`` command group shares: the ``--database-url`` option, checked
settings, one-line errors instead of tracebacks, and a migrated engine.

Command groups (the store's, the signage app's, the manager's) import this module;
only the composition root, :mod:`store_server.cli`, imports the groups, so no group
depends on the root.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from store_server.config import Settings, load_settings, problems_in
from store_server.shared.errors import CaddieError

T = TypeVar("T")

err = Console(stderr=True, soft_wrap=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///F.db or postgresql://... (default CADDIE_DATABASE_URL, then ./caddie.db)",
    ),
]


def fail(message: str, problems: list[str] | None = None, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    for problem in problems or []:
        if problem != message:  # a lone problem is the message itself: say it once
            err.print(f"  - {problem}", highlight=False, markup=False)
    return typer.Exit(code)


def settings_for(database_url: str | None) -> Settings:
    """The store's settings, with every setting checked first (the signage app's too:
    the server mounts it), so that a bad value stops the command here with one line per
    problem instead of a traceback, or a server that fails at the first request."""
    from signage.config import signage_settings

    overrides = {"database_url": database_url} if database_url else {}
    store = _checked_settings(lambda: load_settings(**overrides))
    signage = _checked_settings(signage_settings)
    problems = [p for built in (store, signage) if isinstance(built, list) for p in built]
    if problems or not isinstance(store, Settings):
        raise fail("invalid configuration", problems)
    return store


def _checked_settings(build: Callable[[], T]) -> T | list[str]:
    """What ``build`` makes, or the problems it found."""
    try:
        return build()
    except CaddieError as exc:
        return problems_in(exc)


def run_guarded(work: Callable[[], T]) -> T:
    """Turn expected errors into a message and exit code 1, never a traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        return work()
    except CaddieError as exc:
        raise fail(exc.message, problems_in(exc)) from None
    except OperationalError as exc:
        raise fail(f"database unavailable: {str(exc.orig).strip().splitlines()[0]}") from None


def describe_database(url: str) -> str:
    """The database a command wrote to, as a person finds it: the file of a SQLite
    database (absolute), the server and name of another (never its password)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        where = parsed.database or ":memory:"
        if where != ":memory:":
            where = str(Path(where).resolve())
        return f"the SQLite database {where}"
    return f"the database {parsed.render_as_string(hide_password=True)}"


def prepared_database(settings: Settings):  # type: ignore[no-untyped-def]
    """Migrate the schema, then open the database (every command starts this way); its
    writes run in units of work, taking the writer turn as a running server's do."""
    from store_server.db import migrate
    from store_server.unit_of_work import Database

    logging.getLogger("alembic").setLevel(logging.WARNING)
    run_guarded(lambda: migrate(settings.database_url))
    return Database.open(settings.database_url, serving=False)
