"""The configuration reference names every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from signage.config import SignageSettings
from store_server.config import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    fields = [*Settings.model_fields, *SignageSettings.model_fields]
    missing = [name for name in fields if f"`CADDIE_{name.upper()}`" not in text]
    assert not missing, f"add these to docs/configuration.md: {missing}"
