"""``caddie handheld``: run a handheld scanner (PROTOCOL.md, "CLI").

With a video file, an image folder or ``synthetic:GTIN,...`` it runs headless:
starts a basket with the loyalty card, prints one line per scan result, and exits
0 once every scan it made is acknowledged (1 if ``--timeout`` passes first). With a
camera it shows a live view: an OpenCV window when a display and a GUI-enabled
OpenCV exist, else a Rich terminal view (``r`` removes the last item, ``q`` quits).

Exit codes: 0 done, 1 scans still pending at ``--timeout`` (or an outbox that
cannot be written), 2 unusable input (source, outbox file, options), 3 the server
refused the device token. Never a traceback.
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
    EXIT_PENDING,
    EXIT_REFUSED,
    HandheldConfig,
    HandheldRun,
    backoff_from_env,
)

LOYALTY_CARD = re.compile(r"^[A-Za-z0-9-]{1,32}$")  # what the server accepts in `start`


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
    token: Annotated[
        str,
        typer.Option(
            "--token", envvar="CADDIE_HANDHELD_TOKEN", help="the token from caddie device enroll"
        ),
    ],
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="camera index (0, /dev/video0), video file, image folder or synthetic:GTIN,GTIN",
        ),
    ],
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
        typer.Option("--outbox", help="outbox file (default ./caddie-handheld-<device>.db)"),
    ] = None,
    symbologies: Annotated[
        str,
        typer.Option(
            "--symbologies",
            help="comma-separated: EAN13,EAN8,UPCA,UPCE,CODE128,QR,DATAMATRIX,DATABAR or 'all'",
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
) -> None:
    """Run a handheld: scan from a camera, a video file or an image folder."""
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
    )
    try:
        box = Outbox(config.outbox_path, device)
    except OutboxError as exc:
        raise _fail(exc.message, EXIT_BAD_INPUT) from None
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
        typer.echo("stopped; pending scans stay in the outbox", err=True)
        code = EXIT_PENDING
    finally:
        box.close()
    sys.stdout.flush()
    raise typer.Exit(code)
