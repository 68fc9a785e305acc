"""``caddie screen …`` and ``caddie signage …`` (PROTOCOL.md, "CLI")."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from store_server.cli_support import DatabaseUrl, fail, prepared_database, run_guarded, settings_for

screen_app = typer.Typer(help="Mall screens.", no_args_is_help=True)
signage_app = typer.Typer(help="Mall signage: plans, the signage server.", no_args_is_help=True)


@screen_app.command("enroll")
def screen_enroll(
    screen_ids: Annotated[list[str], typer.Argument(help="screen ids")],
    database_url: DatabaseUrl = None,
) -> None:
    """Register screens; prints SCREEN_ID<TAB>token per screen (re-enrolling revokes)."""
    from signage.config import SignageSettings
    from signage.service import enroll

    settings = settings_for(database_url)
    db = prepared_database(settings)

    def work() -> list[tuple[str, str]]:
        with db.unit_of_work() as session:
            return enroll(
                session, screen_ids, settings=SignageSettings(), timezone=settings.timezone
            )

    try:
        issued = run_guarded(work)
    finally:
        db.close()
    for screen_id, token in issued:
        typer.echo(f"{screen_id}\t{token}")


@signage_app.command("load")
def signage_load(
    path: Annotated[Path, typer.Argument(help="the plan file (JSON)")],
    database_url: DatabaseUrl = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="cancel the stored campaigns the file omits")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would change; change nothing")
    ] = False,
) -> None:
    """Validate and apply a plan in one transaction; on any problem change nothing."""
    from signage.config import SignageSettings
    from signage.lifecycle import LoadResult, load

    settings = settings_for(database_url)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    db = prepared_database(settings)
    signage = SignageSettings()

    def work() -> LoadResult:
        with db.unit_of_work() as session:
            result = load(
                session,
                text,
                base_dir=path.resolve().parent,
                settings=signage,
                timezone=settings.timezone,
                prune=prune,
                dry_run=dry_run,
            )
            if dry_run:
                session.rollback()
            return result

    try:
        result = run_guarded(work)
    finally:
        db.close()
    if dry_run or prune:
        for line in result.diff or ["no changes"]:
            typer.echo(line)
    summary = result.summary
    if dry_run:
        typer.echo(f"dry run: {path.name} was not loaded ({len(result.diff)} changes)")
        return
    pruned = f"; {len(result.cancelled)} campaigns cancelled" if prune else ""
    typer.echo(
        f"loaded {path.name}: {summary.screens} screens, {summary.creatives} creatives, "
        f"{summary.campaigns} campaigns; {summary.files_copied} media files in "
        f"{signage.media_dir}{pruned}"
    )


@signage_app.command("export")
def signage_export(
    path: Annotated[Path, typer.Argument(help="the plan file to write (JSON)")],
    database_url: DatabaseUrl = None,
) -> None:
    """Write the current plan in the load format, its media files in media/ beside it."""
    from signage.config import SignageSettings
    from signage.lifecycle import export_plan

    settings = settings_for(database_url)
    db = prepared_database(settings)
    signage = SignageSettings()

    def work() -> int:
        with db.reading() as session:
            return export_plan(
                session, path, media_dir=signage.media_dir, timezone=settings.timezone
            )

    try:
        copied = run_guarded(work)
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror}") from None
    finally:
        db.close()
    typer.echo(f"exported the plan to {path} ({copied} media files in {path.parent / 'media'})")


@signage_app.command("serve")
def signage_serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8100,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the signage app alone (at /signage, with /api/auth/login); migrates the schema."""
    import uvicorn

    from store_server.logging_setup import configure_logging

    settings = settings_for(database_url)
    configure_logging(settings.log_format, settings.log_level)
    prepared_database(settings).close()
    os.environ["CADDIE_DATABASE_URL"] = settings.database_url
    uvicorn.run(
        "signage.app:create_standalone_app",
        factory=True,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
        access_log=False,
    )
