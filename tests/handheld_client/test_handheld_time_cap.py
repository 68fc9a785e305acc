"""Which frames ``caddie handheld`` decodes under the live time cap.

A camera's frames are capped, so decoding keeps up with the camera; a file, folder
or synthetic source is read whole, so it gives the same items on any machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from handheld_client import cli_handheld, sources
from handheld_client.decoding import DEFAULT_TIME_CAP_S, Decoder


class _Recorded:
    decoders: list[Decoder] = []

    def __init__(self, config: Any, box: Any, frames: Any, decoder: Decoder, screen: Any) -> None:
        self.decoders.append(decoder)

    def run(self) -> int:
        return 0


def _decoder_for(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Decoder:
    monkeypatch.setattr(cli_handheld, "HandheldRun", _Recorded)
    monkeypatch.setattr(sources, "open_source", lambda spec: iter(()))  # no camera here
    _Recorded.decoders = []
    app = typer.Typer()
    app.command()(cli_handheld.handheld)
    args = ["--server", "ws://127.0.0.1:9", "--device", "H-1", "--token", "t"]
    args += ["--source", source, "--loyalty-card", "CARD-1", "--outbox", str(tmp_path / "o.db")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [decoder] = _Recorded.decoders
    return decoder


@pytest.mark.parametrize("source", ["synthetic:96385074", "clip.mp4", "frames/"])
def test_file_sources_are_decoded_without_the_cap(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _decoder_for(source, tmp_path, monkeypatch).time_cap_s is None


@pytest.mark.parametrize("source", ["0", "/dev/video2"])
def test_cameras_are_decoded_under_the_cap(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _decoder_for(source, tmp_path, monkeypatch).time_cap_s == DEFAULT_TIME_CAP_S
