"""``caddie shopper …`` and the pairing links of ``caddie device enroll --pair``."""

from __future__ import annotations

import sys
import time
from typing import Annotated, TextIO

import segno
import typer

from store_server.config import Settings
from store_server.shopper import codes

app = typer.Typer(
    help="The shopper app: entrance codes for shoppers' phones.", no_args_is_help=True
)

BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="the address phones reach this server at (default CADDIE_PUBLIC_URL)",
    ),
]


def print_qr(url: str, out: TextIO | None = None) -> None:
    """A QR code of ``url`` drawn with text characters, on stderr by default: standard
    output keeps only the lines a script reads."""
    segno.make(url, error="m").terminal(out=out or sys.stderr, compact=True)


def base_url_of(settings: Settings, given: str | None) -> str:
    """``--base-url``, checked as the setting is, or else ``CADDIE_PUBLIC_URL``."""
    if given is None:
        return settings.public_url
    return Settings._http_base_url(given)


def pairing_url(base_url: str, code: str) -> str:
    """The one-time code travels in the fragment: never sent to a server or proxy log."""
    return f"{base_url}/shop/pair#code={code}"


@app.command("entrance-code")
def entrance_code(
    base_url: BaseUrl = None,
    display: Annotated[
        bool,
        typer.Option(
            "--display",
            help="also print the link of the full-screen entrance page for a screen "
            "without a login (a browser in kiosk mode, or a signage URL creative)",
        ),
    ] = False,
) -> None:
    """Print the entrance URL phones join with (valid CADDIE_ENTRANCE_CODE_MINUTES, renewed
    every minute) and its QR code."""
    from store_server.cli_support import fail, settings_for

    settings = settings_for(None)
    try:
        base = base_url_of(settings, base_url)
    except ValueError as exc:
        raise fail(f"--base-url {exc}") from None
    url = codes.entrance_url(base, settings.secret_key, settings.store_id, time.time())
    typer.echo(url)
    print_qr(url)
    if display:
        key = codes.display_key(settings.secret_key, settings.store_id)
        typer.echo(f"{base}/shop/entrance?key={key}")
