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
