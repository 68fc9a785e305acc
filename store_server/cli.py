"""The ``caddie`` command line (PROTOCOL.md, "CLI"): the store's own commands, and the
one place that puts every package's command groups together (signage, handheld,
manager, shopper, audit). The groups share :mod:`store_server.cli_support` and never
import this module."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from store_server.cli_support import (
    DatabaseUrl,
    describe_database,
    err,
    fail,
    prepared_database,
    run_guarded,
    settings_for,
)
from store_server.config import Settings
from store_server.shared.errors import CaddieError

app = typer.Typer(
    help="Caddie: self-scanning for supermarkets and signage for malls.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(help="Products and prices.", no_args_is_help=True)
promotions_app = typer.Typer(help="Promotions.", no_args_is_help=True)
device_app = typer.Typer(help="Handheld devices.", no_args_is_help=True)
user_app = typer.Typer(help="Staff, operator and admin accounts.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(promotions_app, name="promotions")
app.add_typer(device_app, name="device")
app.add_typer(user_app, name="user")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    database_url: DatabaseUrl = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="server processes")] = 1,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(help="serve HTTPS with this certificate (PEM; phones' cameras need it)"),
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="the certificate's key (PEM)")] = None,
) -> None:
    """Run the store server (and the mounted signage app); creates/migrates the schema.

    With --workers N, N processes share the port; give them PostgreSQL and a
    CADDIE_PUBSUB_URL so baskets and live events are shared. SIGTERM drains: requests
    being applied are answered, then handhelds are told to reconnect (close 1012)."""
    import shutil

    import uvicorn

    from store_server.events import make_event_bus
    from store_server.logging_setup import configure_logging

    settings = settings_for(database_url)
    configure_logging(settings.log_format, settings.log_level)
    certfile, keyfile = _tls_files(ssl_certfile, ssl_keyfile)
    run_guarded(lambda: make_event_bus(settings.pubsub_url))  # a bad URL fails here, once
    if workers > 1 and settings.database_url.startswith("sqlite"):
        logging.getLogger(__name__).warning(
            "workers on SQLite take turns writing to one file; use PostgreSQL to scale out"
        )
    prepared_database(settings).close()
    os.environ["CADDIE_DATABASE_URL"] = settings.database_url
    metrics_dir = _prometheus_dir(workers)
    try:
        uvicorn.run(
            "store_server.app:create_served_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            ws_max_size=settings.max_frame_bytes,
            ws_per_message_deflate=settings.ws_compression,
            ws_ping_interval=20,
            ws_ping_timeout=20,
            log_config=None,  # our handlers (JSON or text) in every process
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=10,
            access_log=False,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _tls_files(certfile: Path | None, keyfile: Path | None) -> tuple[str | None, str | None]:
    """uvicorn's TLS options, after checking both files are given and load together, so
    a wrong path or a key of another certificate stops here with one line, not a
    traceback from the server."""
    if certfile is None and keyfile is None:
        return None, None
    if certfile is None or keyfile is None:
        raise fail("--ssl-certfile and --ssl-keyfile go together")
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise fail(f"cannot use {certfile} with {keyfile}: {exc}") from None
    return str(certfile), str(keyfile)


def _prometheus_dir(workers: int) -> str | None:
    """Several workers add their metrics up through files in PROMETHEUS_MULTIPROC_DIR:
    use the operator's directory (emptied, as prometheus_client requires at start) or a
    temporary one (returned, to be removed at exit). Set before any worker imports
    prometheus_client, which reads it at import."""
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return None
    if workers == 1:
        return None
    created = tempfile.mkdtemp(prefix="caddie-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = created
    return created


@catalog_app.command("import")
def catalog_import(path: Path, database_url: DatabaseUrl = None) -> None:
    """Upsert products from a catalog CSV: every row valid, or nothing imported."""
    from store_server.catalog.csv_import import parse_catalog_csv
    from store_server.catalog.service import upsert_products

    settings = settings_for(database_url)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    records = run_guarded(lambda: parse_catalog_csv(data))
    db = prepared_database(settings)

    def work():  # type: ignore[no-untyped-def]
        with db.unit_of_work() as session:
            return upsert_products(session, records, currency=settings.currency)

    counts = run_guarded(work)
    typer.echo(
        f"imported {len(records)} products: {counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.prices_scheduled} price changes scheduled"
    )
    typer.echo(f"into {describe_database(settings.database_url)}")


@promotions_app.command("import")
def promotions_import(path: Path, database_url: DatabaseUrl = None) -> None:
    """Upsert promotions from a CSV or JSON file: all valid, or none imported."""
    from store_server.catalog.service import replace_promotions
    from store_server.pricing.promotion_files import load_promotions

    settings = settings_for(database_url)
    promotions = run_guarded(lambda: load_promotions(path))
    db = prepared_database(settings)

    def work() -> int:
        with db.unit_of_work() as session:
            return replace_promotions(session, promotions)

    typer.echo(f"imported {run_guarded(work)} promotions")


@device_app.command("enroll")
def device_enroll(
    device_ids: Annotated[list[str], typer.Argument(help="device ids")],
    database_url: DatabaseUrl = None,
    store: Annotated[str | None, typer.Option(help="store id (default CADDIE_STORE_ID)")] = None,
    staff: Annotated[bool, typer.Option(help="a staff-mode handheld for exit audits")] = False,
    pair: Annotated[
        bool,
        typer.Option(
            "--pair",
            help="print a one-time pairing link (and QR code) for the shopper app instead "
            "of the token: DEVICE_ID<TAB>URL",
        ),
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option(help="with --pair: the server's address (default CADDIE_PUBLIC_URL)"),
    ] = None,
) -> None:
    """Register handhelds; prints DEVICE_ID<TAB>token per device (re-enrolling revokes).

    With --pair: DEVICE_ID<TAB>pairing URL per device, each followed by its QR code on
    stderr; opening the link in the shopper app pairs the handheld (once, within 24 h)."""
    from store_server.devices.service import enroll

    settings = settings_for(database_url)
    if pair:
        if staff:
            raise fail("--pair is for shopper handhelds; staff-mode handhelds use tokens")
        _enroll_paired(settings, device_ids, store or settings.store_id, base_url)
        return
    db = prepared_database(settings)

    def work() -> list[tuple[str, str]]:
        with db.unit_of_work() as session:
            return enroll(
                session, device_ids, store_id=store or settings.store_id, staff_mode=staff
            )

    for device_id, token in run_guarded(work):
        typer.echo(f"{device_id}\t{token}")


def _enroll_paired(
    settings: Settings, device_ids: list[str], store_id: str, base_url: str | None
) -> None:
    from store_server.shopper.cli import base_url_of, pairing_url, print_qr
    from store_server.shopper.service import issue_pairing_codes
    from store_server.timeutil import utcnow

    try:
        base = base_url_of(settings, base_url)
    except ValueError as exc:
        raise fail(f"--base-url {exc}") from None
    db = prepared_database(settings)

    def work() -> list[tuple[str, str]]:
        with db.unit_of_work() as session:
            return issue_pairing_codes(session, device_ids, store_id=store_id, now=utcnow())

    for device_id, code in run_guarded(work):
        url = pairing_url(base, code)
        typer.echo(f"{device_id}\t{url}")
        print_qr(url)


@device_app.command("revoke")
def device_revoke(device_ids: list[str], database_url: DatabaseUrl = None) -> None:
    """Revoke handhelds' tokens at once."""
    from store_server.devices.service import revoke

    db = prepared_database(settings_for(database_url))

    def work() -> None:
        with db.unit_of_work() as session:
            for device_id in device_ids:
                revoke(session, device_id)

    run_guarded(work)


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[str, typer.Option(help="staff | manager | operator | admin")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, envvar="CADDIE_NEW_PASSWORD")
    ],
    store: Annotated[str | None, typer.Option(help="store id for staff and managers")] = None,
    display_name: Annotated[
        str | None,
        typer.Option(help="how receipts name the person (default: initials of the username)"),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an account, or reset one (new password, role and store; every session it
    had ends). A disabled account stays disabled: see ``caddie user enable``."""
    from store_server.auth.service import create_user
    from store_server.security import hash_password

    settings = settings_for(database_url)
    db = prepared_database(settings)
    password_hash = hash_password(password)  # half a second: not in the writer turn

    def work() -> bool:
        with db.unit_of_work() as session:
            user = create_user(
                session,
                username=username,
                password=password,
                role=role,
                store_id=store or (settings.store_id if role in ("staff", "manager") else None),
                replace=True,
                display_name=display_name,
                password_hash=password_hash,
            )
            return user.disabled

    if run_guarded(work):
        err.print(
            f"{username} is disabled: it cannot log in until `caddie user enable {username}`",
            highlight=False,
            markup=False,
        )
    typer.echo(f"{username}\t{role}")


def _set_disabled(username: str, database_url: str | None, *, disabled: bool) -> None:
    from store_server.auth.service import set_disabled

    db = prepared_database(settings_for(database_url))

    def work() -> None:
        with db.unit_of_work() as session:
            set_disabled(session, username, disabled=disabled)

    run_guarded(work)
    if disabled:
        typer.echo(
            f"disabled {username}: it cannot log in, and its sessions have ended "
            "(open consoles close at their next check)"
        )
    else:
        typer.echo(f"enabled {username}: it can log in again with its current password")


@user_app.command("disable")
def user_disable(username: str, database_url: DatabaseUrl = None) -> None:
    """Disable an account: it cannot log in, and every session it had ends (open staff
    consoles close at their next session re-check)."""
    _set_disabled(username, database_url, disabled=True)


@user_app.command("enable")
def user_enable(username: str, database_url: DatabaseUrl = None) -> None:
    """Let a disabled account log in again (with its current password)."""
    _set_disabled(username, database_url, disabled=False)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="TCP port for the demo server")] = 8000,
    duration: Annotated[
        float, typer.Option(help="stop after this many seconds (0: run until Ctrl-C)")
    ] = 0,
    camera: Annotated[
        str | None,
        typer.Option(help="use this webcam (index such as 0, or /dev/videoN) for one handheld"),
    ] = None,
    lan: Annotated[
        bool,
        typer.Option(
            "--lan",
            help="serve HTTPS on this machine's network (self-signed certificate) and print "
            "a QR code a phone scans to shop",
        ),
    ] = False,
    exit_wait: Annotated[
        float,
        typer.Option(
            min=1,
            max=3600,
            help="seconds a finished basket waits at the exit before the simulated "
            "cashier audits, releases and pays it",
        ),
    ] = 60,
) -> None:
    """The one-command showcase on embedded SQLite with the fixtures."""
    from store_server.demo import run_demo

    run_guarded(
        lambda: run_demo(
            port=port, duration=duration, camera=camera, lan=lan, cashier_wait_s=exit_wait
        )
    )


def _register_decode() -> None:
    from handheld_client.cli_decode import decode

    app.command("decode")(decode)


def _register_handheld() -> None:
    from handheld_client.cli_handheld import handheld

    app.command("handheld")(handheld)


def _register_screen() -> None:
    from signage.cli import screen_app

    app.add_typer(screen_app, name="screen")


def _register_signage() -> None:
    from signage.cli import signage_app

    app.add_typer(signage_app, name="signage")


def _register_shopper() -> None:
    from store_server.shopper.cli import app as shopper_app

    app.add_typer(shopper_app, name="shopper")


def _register_audit() -> None:
    from store_server.checkout.cli import app as audit_app

    app.add_typer(audit_app, name="audit")


def _register_manager() -> None:
    from store_server.manager.cli import manager_app, report_app

    app.add_typer(report_app, name="report")
    app.add_typer(manager_app, name="manager")


# Commands of the other packages, imported only when asked for: OpenCV and the decoders
# take a second to load, which every ``caddie device enroll`` would otherwise pay.
OPTIONAL_COMMANDS: dict[str, Callable[[], None]] = {
    "decode": _register_decode,
    "handheld": _register_handheld,
    "screen": _register_screen,
    "signage": _register_signage,
    "audit": _register_audit,
    "shopper": _register_shopper,
    "report": _register_manager,
    "manager": _register_manager,
}


def register_commands(argv: list[str]) -> None:
    wanted = [a for a in argv[1:2] if a in OPTIONAL_COMMANDS] or (
        list(OPTIONAL_COMMANDS) if not argv[1:2] or argv[1].startswith("-") else []
    )
    for register in dict.fromkeys(OPTIONAL_COMMANDS[name] for name in wanted):
        register()  # once each: one function may register several commands


def main() -> None:
    register_commands(sys.argv)
    try:
        app()
    except CaddieError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
