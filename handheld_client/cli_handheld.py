"""``caddie handheld``: run a handheld scanner (PROTOCOL.md, "CLI").

With a video file, an image folder or ``synthetic:GTIN,...`` it runs headless:
starts a basket with the loyalty card, prints one line per scan result, and exits
once every scan it made is answered (1 if ``--timeout`` passes first). With a
camera it shows a live view: an OpenCV window when a display and a GUI-enabled
OpenCV exist, else a Rich terminal view (``f`` finishes the trip, ``r`` removes the
last item, ``q`` quits and leaves the basket open).

After the trip is finished, a live view follows it to the till: it asks the store for
the trip status (``GET /api/shop/trip`` with the device token, every 3 s, backing off
while the store does not answer) and shows what happens next, the payment hand-off
code once staff release the basket, then paid, and exits. A headless run does this
only with ``--wait-paid`` (which also finishes the trip), so a scripted run never
waits for a person: it prints ``next``, ``handoff <code>`` and ``paid`` lines, and
exits once paid or closed (1 if ``--timeout`` passes first). Restarted while its basket
waits at the exit, either kind picks up waiting there.

The device token is a secret: ``--token`` on the command line shows it to anyone
who can list processes, so it is read from ``--token-file`` or the environment
(``CADDIE_DEVICE_TOKEN``) instead; ``--token`` still works for old scripts.

Exit codes: 0 every scan acknowledged without error, 1 scans still pending at
``--timeout`` (or an outbox that cannot be written), 2 unusable input (source,
outbox file, token file, options), 3 the server refused the device token (on the
socket or for the trip status), 4 every scan answered but the server refused some
(unknown product, ...; each was shown with what to do, and counted as ``errors=N`` on
the last line). With ``--wait-paid``, 1 also when the basket is not paid at
``--timeout``; a trip closed without payment ends like a paid one (0 or 4), after a
``closed`` line. Never a traceback.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from handheld_client.link import LinkFatal, websocket_url
from handheld_client.runner import (
    EXIT_BAD_INPUT,
    EXIT_ERRORS,
    EXIT_PENDING,
    EXIT_REFUSED,
    HandheldConfig,
    HandheldRun,
    backoff_from_env,
    trip_poll_from_env,
)

LOYALTY_CARD = re.compile(r"^[A-Za-z0-9-]{1,32}$")  # what the server accepts in `start`
TOKEN_ENV = "CADDIE_DEVICE_TOKEN"
LEGACY_TOKEN_ENV = "CADDIE_HANDHELD_TOKEN"
MAX_TOKEN_FILE_BYTES = 4096
assert EXIT_ERRORS == 4  # documented in PROTOCOL.md's CLI line


def read_token(token: str | None, token_file: Path | None) -> str:
    """The device token: from ``--token-file``, else ``--token`` or the environment.

    A file is the safe way (``ps`` shows command lines, and files can be mode 600);
    the first line is the token, surrounding whitespace ignored.
    """
    if token_file is not None:
        try:
            with token_file.open("rb") as f:
                raw = f.read(MAX_TOKEN_FILE_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"--token-file {token_file}: {exc.strerror or exc}") from None
        if len(raw) > MAX_TOKEN_FILE_BYTES:
            raise ValueError(f"--token-file {token_file}: too large for a token")
        try:
            lines = raw.decode("utf-8").strip().splitlines()
        except UnicodeDecodeError:
            raise ValueError(f"--token-file {token_file}: not a text file") from None
        value = lines[0].strip() if lines else ""
        if not value:
            raise ValueError(f"--token-file {token_file}: empty")
        return value
    import os

    for candidate in (token, os.environ.get(TOKEN_ENV), os.environ.get(LEGACY_TOKEN_ENV)):
        if candidate and candidate.strip():
            return candidate.strip()
    raise ValueError(f"no device token: pass --token-file FILE or set {TOKEN_ENV}")


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handheld(
    server: Annotated[
        str,
        typer.Option(
            "--server", help="ws://host:port or http://host:port (the /ws/handheld path optional)"
        ),
    ],
    device: Annotated[str, typer.Option("--device", help="this handheld's device id")],
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help=(
                "camera (0 or /dev/video0), video file, image folder, or synthetic: "
                "followed by GTINs. A camera shows a window, or a terminal view when "
                "there is no display; both need a real camera. Files and folders run "
                "headless."
            ),
        ),
    ],
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help=f"file holding the token from caddie device enroll (safest); or set {TOKEN_ENV}",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="the token itself: visible to other users in ps, prefer --token-file",
            show_default=False,
        ),
    ] = None,
    loyalty_card: Annotated[
        str, typer.Option("--loyalty-card", help="the shopper's loyalty card number")
    ] = "guest",
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", min=0, help="give up after S seconds with exit 1 if scans are pending"
        ),
    ] = None,
    outbox: Annotated[
        Path | None,
        typer.Option(
            "--outbox", help="outbox file (default: caddie-handheld- then the device id, .db)"
        ),
    ] = None,
    symbologies: Annotated[
        str,
        typer.Option(
            "--symbologies",
            help=(
                "comma-separated, from EAN13 EAN8 UPCA UPCE CODE128 QR DATAMATRIX DATABAR, "
                "or all (default: the four EAN/UPC)"
            ),
            show_default=False,
        ),
    ] = "EAN13,EAN8,UPCA,UPCE",
    frame_interval: Annotated[
        float,
        typer.Option(
            "--frame-interval",
            min=0,
            help="pace a file or folder source at one frame per S seconds (0: as fast as read)",
        ),
    ] = 0.0,
    window: Annotated[
        int, typer.Option("--window", min=1, max=256, help="requests in flight at once")
    ] = 16,
    finish: Annotated[
        bool,
        typer.Option(
            "--finish/--no-finish",
            help="with a file or folder source, finish the trip (lock the basket for checkout)",
        ),
    ] = False,
    wait_paid: Annotated[
        bool,
        typer.Option(
            "--wait-paid",
            help=(
                "with a file or folder source, finish the trip, then wait at the exit: "
                "print the hand-off code once staff release the basket, and exit once it "
                "is paid (1 at --timeout if not)"
            ),
        ),
    ] = False,
) -> None:
    """Run a handheld: scan from a camera, a video file or an image folder.

    The live views (camera) show the basket with prices and discounts; keys: f
    finish the trip, r remove the last item, q quit (the basket stays open).
    After f they show what happens at the exit, the payment hand-off code once
    staff release the basket, then paid, and exit. A file or folder source does
    that only with --wait-paid. Exit 0: every scan acknowledged; 4: some were
    refused (shown with what to do).
    """
    from handheld_client.decoding import ALL_SYMBOLOGIES, DEFAULT_TIME_CAP_S, Decoder
    from handheld_client.outbox import Outbox, OutboxError, default_outbox_path
    from handheld_client.sources import SourceError, is_live_source, open_source
    from handheld_client.ui import (
        HeadlessScreen,
        Screen,
        TerminalScreen,
        WindowScreen,
        has_window_display,
    )

    try:
        url = websocket_url(server)
    except ValueError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    try:
        token = read_token(token, token_file)
    except ValueError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    if not LOYALTY_CARD.match(loyalty_card):
        raise _fail("--loyalty-card must be 1-32 letters, digits or dashes", EXIT_BAD_INPUT)
    names = (
        ALL_SYMBOLOGIES
        if symbologies.strip().lower() == "all"
        else tuple(s for s in symbologies.split(",") if s.strip())
    )
    # A camera's frames are capped on this thread's CPU clock, so decoding keeps up with
    # the camera: OpenCV must not hand work to its own threads, where the cap would not
    # see it. A file or folder waits for each frame, so it is read without the cap and
    # gives the same items on any machine.
    import cv2

    cv2.setNumThreads(1)
    live = is_live_source(source)
    try:
        decoder = Decoder(names, thorough=False, time_cap_s=DEFAULT_TIME_CAP_S if live else None)
    except ValueError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    try:
        frames = open_source(source)
    except SourceError as exc:
        raise _fail(exc.message, EXIT_BAD_INPUT) from None

    screen_factory: Callable[[Any], Screen]
    if not live:
        screen_factory = lambda core: HeadlessScreen()  # noqa: E731
    elif has_window_display():
        screen_factory = WindowScreen
    else:
        screen_factory = TerminalScreen

    config = HandheldConfig(
        url=url,
        device_id=device,
        token=token,
        source=source,
        loyalty_card=loyalty_card,
        outbox_path=outbox or default_outbox_path(device),
        symbologies=tuple(names),
        live=live,
        timeout=timeout,
        frame_interval=frame_interval,
        window=window,
        backoff=backoff_from_env(),
        finish=finish,
        wait_paid=wait_paid,
        trip_poll_s=trip_poll_from_env(),
    )
    try:
        box = Outbox(config.outbox_path, device)
    except OutboxError as exc:
        raise _fail(exc.message, EXIT_BAD_INPUT) from None
    run: HandheldRun | None = None
    try:
        run = HandheldRun(config, box, frames, decoder, screen_factory)
        code = run.run()
    except SourceError as exc:
        raise _fail(exc.message, EXIT_BAD_INPUT) from None
    except LinkFatal as exc:
        raise _fail(exc.message, EXIT_REFUSED) from None
    except OutboxError as exc:
        raise _fail(exc.message, EXIT_PENDING) from None
    except KeyboardInterrupt:
        if run is not None and run.at_exit and run.core.idle:
            typer.echo("stopped waiting at the exit; the basket stays there", err=True)
        else:
            typer.echo("stopped; pending scans stay in the outbox", err=True)
        code = EXIT_PENDING
    finally:
        box.close()
    sys.stdout.flush()
    raise typer.Exit(code)
