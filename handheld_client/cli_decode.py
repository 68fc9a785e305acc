"""``caddie decode PATH...``: the decoder as a diagnostic command (PROTOCOL.md).

Prints ``path<TAB>symbology<TAB>text`` per barcode. UPC-A is reported as ``UPCA``
with 12 digits even when zxing-cpp calls it an EAN-13 with a leading 0 (the two are
the same bars), UPC-E as its 8 printed digits; add-ons are not included; GS1 data
in every symbology as its human-readable element strings, ``(01)...(10)...``. All
symbologies and the thorough (multi-pass) mode are on, since speed does not matter
here. Exit 0 even when nothing is found; 2 if any file was unreadable (reported on
stderr, the other files are still decoded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from handheld_client.decoding import ALL_SYMBOLOGIES, Decoder, ImageError, decode_file


def decode(
    paths: Annotated[list[Path], typer.Argument(help="Image files to decode.")],
    symbologies: Annotated[
        str,
        typer.Option(
            "--symbologies",
            help=f"Comma-separated subset of {','.join(ALL_SYMBOLOGIES)}, or 'all'.",
        ),
    ] = "all",
) -> None:
    """Decode barcodes in image files: one line per barcode, path<TAB>symbology<TAB>text."""
    names = (
        ALL_SYMBOLOGIES
        if symbologies.strip().lower() == "all"
        else tuple(s for s in symbologies.split(",") if s.strip())
    )
    try:
        decoder = Decoder(names, thorough=True)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    failed = False
    for path in paths:
        try:
            symbols = decode_file(path, decoder)
        except ImageError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            failed = True
            continue
        for symbol in symbols:
            # one line per barcode: multi-line payloads (vCards in QR) are flattened
            text = " ".join(symbol.text.replace("\t", " ").splitlines())
            typer.echo(f"{path}\t{symbol.symbology}\t{text}")
    if failed:
        raise typer.Exit(2)
