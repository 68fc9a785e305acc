"""Still images from disk and the ``caddie decode`` command (PROTOCOL.md line format)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import typer
from typer.testing import CliRunner

from handheld_client.cli_decode import decode
from handheld_client.decoding import Decoder, ImageError, decode_file
from handheld_client.sources import place, render_barcode, synthetic_background


@pytest.fixture
def label_png(tmp_path: Path) -> Path:
    path = tmp_path / "label.png"
    frame = place(synthetic_background(2), render_barcode("upca", "03600029145"), 200, 100)
    cv2.imwrite(str(path), frame)
    return path


@pytest.fixture
def empty_png(tmp_path: Path) -> Path:
    path = tmp_path / "empty.png"
    cv2.imwrite(str(path), synthetic_background(4))
    return path


def test_decode_file_reads_a_png(label_png: Path) -> None:
    [s] = decode_file(label_png, Decoder(time_cap_s=None))
    assert (s.symbology, s.text, s.gtin14) == ("UPCA", "036000291452", "00036000291452")


def test_truncated_file_is_an_image_error(label_png: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.png"
    cut.write_bytes(label_png.read_bytes()[: label_png.stat().st_size // 2])
    with pytest.raises(ImageError, match="cut.png"):
        decode_file(cut, Decoder(time_cap_s=None))


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n garbage"])
def test_corrupt_file_is_an_image_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    with pytest.raises(ImageError, match="bad.jpg"):
        decode_file(bad, Decoder(time_cap_s=None))


def test_missing_file_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        decode_file(tmp_path / "nope.png", Decoder(time_cap_s=None))


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(decode)
    return app


def test_cli_prints_path_symbology_text(label_png: Path, empty_png: Path) -> None:
    result = CliRunner().invoke(_app(), [str(label_png), str(empty_png)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{label_png}\tUPCA\t036000291452"]


def test_cli_exits_0_when_nothing_found(empty_png: Path) -> None:
    result = CliRunner().invoke(_app(), [str(empty_png)])
    assert (result.exit_code, result.stdout) == (0, "")


def test_cli_unreadable_file_exits_2_and_keeps_going(tmp_path: Path, label_png: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    result = CliRunner().invoke(_app(), [str(bad), str(label_png)])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [f"{label_png}\tUPCA\t036000291452"]
    assert "bad.png" in result.stderr


def test_cli_rejects_unknown_symbology(label_png: Path) -> None:
    result = CliRunner().invoke(_app(), [str(label_png), "--symbologies", "EAN13,PDF417"])
    assert result.exit_code == 2 and "PDF417" in result.stderr


GS1_CONTENT = "(01)09506000134352(3103)001250(10)L7"


@pytest.mark.parametrize(
    ("fmt", "content", "options", "symbology"),
    [
        ("DataBar", "(01)09506000134352", {}, "DATABAR"),
        ("DataBarExpanded", GS1_CONTENT, {}, "DATABAR"),
        ("Code128", GS1_CONTENT, {"gs1": True}, "CODE128"),
        ("DataMatrix", GS1_CONTENT, {"gs1": True}, "DATAMATRIX"),
    ],
)
def test_cli_prints_every_gs1_symbology_in_one_form(
    tmp_path: Path, fmt: str, content: str, options: dict[str, object], symbology: str
) -> None:
    """PROTOCOL.md: "what the symbol encodes" -- for GS1 data, its human-readable
    element strings, the same for DataBar, GS1-128 and GS1 DataMatrix."""
    import numpy as np
    import zxingcpp

    symbol = zxingcpp.create_barcode(content, getattr(zxingcpp.BarcodeFormat, fmt), **options)
    label = np.pad(
        np.array(zxingcpp.write_barcode_to_image(symbol, scale=3)), 30, constant_values=255
    )
    path = tmp_path / f"{fmt}.png"
    cv2.imwrite(
        str(path), place(synthetic_background(3), cv2.cvtColor(label, cv2.COLOR_GRAY2BGR), 150, 120)
    )
    result = CliRunner().invoke(_app(), [str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{path}\t{symbology}\t{content}"]


@pytest.mark.parametrize(
    "engine_text",
    [
        "010950600013435231030012501" + "0L7",  # raw digits, as zbar returns GS1-128
        "0109506000134352\x1d10L7\x1d3103001250",  # with <GS> separators, AIs in another order
    ],
)
def test_raw_gs1_text_is_printed_in_the_same_form(engine_text: str) -> None:
    from handheld_client.decoding.symbols import other_symbol

    s = other_symbol("CODE128", engine_text)
    assert s.text.startswith("(01)09506000134352(") and "\x1d" not in s.text
    assert s.gtin14 == "09506000134352" and s.weight_g == 1250 and s.batch == "L7"
