"""``caddie report daily`` (the morning meeting's printable page) and ``caddie manager …``
(rebuild the rollup from the raw rows; write synthetic history for a trial store)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from store_server.shared.errors import InvalidInput

if TYPE_CHECKING:
    from store_server.unit_of_work import Database

report_app = typer.Typer(help="Printable reports of the manager console.", no_args_is_help=True)
manager_app = typer.Typer(
    help="Manager console data: rollups and synthetic history.", no_args_is_help=True
)

DatabaseUrl = Annotated[str | None, typer.Option(help="database URL (default: the setting)")]


@report_app.callback()
def _report() -> None:
    """Printable reports."""


@manager_app.callback()
def _manager() -> None:
    """Manager console data."""


def render_daily(
    db: Database, *, day: date, store_id: str, timezone: str, currency: str, min_count: int
) -> str:
    """The daily report as one self-contained HTML page (its CSS inline: it is printed or
    mailed, never served with the console's policy)."""
    from store_server.manager import rollup
    from store_server.manager.figures import Period
    from store_server.manager.routes import STATIC_DIR, templates
    from store_server.manager.service import build_report

    with db.unit_of_work() as session:
        rollup.refresh(session)
        report = build_report(
            session,
            store_id,
            Period("day", day, day),
            timezone=timezone,
            currency=currency,
            min_count=min_count,
        )
    template = templates.env.get_template("manager/daily.html")
    return template.render(
        r=report,
        css=(STATIC_DIR / "manager.css").read_text(encoding="utf-8"),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


@report_app.command("daily")
def daily(
    day: Annotated[str, typer.Option("--date", help="the local day, YYYY-MM-DD")],
    store: Annotated[str | None, typer.Option(help="store id (default: the setting)")] = None,
    output: Annotated[
        Path | None, typer.Option(help="HTML file to write (default: caddie-daily-STORE-DATE.html)")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the day's figures, compared with the day before, as a printable HTML page."""
    from store_server.cli_support import prepared_database, run_guarded, settings_for

    try:
        when = date.fromisoformat(day.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{day[:40]!r} is not a date (YYYY-MM-DD)", param_hint="--date"
        ) from None
    settings = settings_for(database_url)
    store_id = store or settings.store_id
    db = prepared_database(settings)
    html = run_guarded(
        lambda: render_daily(
            db,
            day=when,
            store_id=store_id,
            timezone=settings.timezone,
            currency=settings.currency,
            min_count=settings.signals.min_count,
        )
    )
    path = output or Path(f"caddie-daily-{store_id}-{when.isoformat()}.html")
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {path}: {exc.strerror}", param_hint="--output"
        ) from exc
    typer.echo(str(path))


@manager_app.command("rebuild")
def rebuild_command(database_url: DatabaseUrl = None) -> None:
    """Recompute the hourly rollup from the raw trip rows."""
    from store_server.cli_support import prepared_database, run_guarded, settings_for
    from store_server.manager import rollup

    db = prepared_database(settings_for(database_url))

    def work() -> int:
        with db.unit_of_work() as session:
            return rollup.rebuild(session)

    typer.echo(f"{run_guarded(work)} rollup rows")


@manager_app.command("history")
def history_command(
    days: Annotated[
        int, typer.Option(min=1, max=731, help="days of history, ending yesterday")
    ] = 28,
    trips_per_day: Annotated[int, typer.Option(min=0, max=20_000)] = 300,
    lines_per_trip: Annotated[float, typer.Option(min=1, max=200)] = 12.0,
    store: Annotated[str | None, typer.Option(help="store id (default: the setting)")] = None,
    seed: Annotated[int, typer.Option()] = 1,
    database_url: DatabaseUrl = None,
) -> None:
    """Write synthetic trips (for a trial store or a benchmark), then refresh the rollup."""
    from store_server.cli_support import prepared_database, run_guarded, settings_for
    from store_server.manager.history import HistorySpec, write_history

    settings = settings_for(database_url)
    db = prepared_database(settings)
    start = datetime.combine(date.today() - timedelta(days=days), datetime.min.time(), UTC)
    spec = HistorySpec(
        store_id=store or settings.store_id,
        start=start,
        days=days,
        trips_per_day=trips_per_day,
        lines_per_trip=lines_per_trip,
        seed=seed,
    )
    try:
        counts = run_guarded(lambda: write_history(db.engine, spec))
    except InvalidInput as exc:  # pragma: no cover - the option ranges prevent it
        raise typer.BadParameter(exc.message) from exc
    typer.echo(f"{counts.trips} trips, {counts.lines} lines, {counts.audits} audits")
