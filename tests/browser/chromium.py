"""The system Chromium for browser tests, driven by Playwright (never a downloaded browser).

Usage::

    from tests.browser.chromium import chromium_page

    with chromium_page() as page:
        page.goto(url)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]


def screenshot_dir() -> Path:
    """Where browser tests save their screenshots: ``docs/screenshots`` (the README's
    pictures) only when ``CADDIE_UPDATE_SCREENSHOTS=1``, else a scratch folder, so a test
    run leaves the checkout as it found it."""
    if os.environ.get("CADDIE_UPDATE_SCREENSHOTS") == "1":
        path = REPO / "docs" / "screenshots"
    else:
        path = Path(tempfile.gettempdir()) / "caddie-screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


EXPECT_TIMEOUT_MS = 20_000

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_browser(extra_args: Sequence[str] = (), **launch: Any) -> Iterator[Any]:
    """A headless system Chromium; skips the test when it is not installed. ``extra_args``
    are added to the usual command line (e.g. a fake camera)."""
    if not CHROMIUM.exists():
        pytest.skip(f"no system Chromium at {CHROMIUM}")
    from playwright.sync_api import expect, sync_playwright

    # A busy CI machine can take seconds to push a live update; waiting longer costs
    # nothing when the page is quick and only delays the report of a real failure.
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, *extra_args],
            headless=True,
            **launch,
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_page(viewport: tuple[int, int] = (1280, 900), **context_options: Any) -> Iterator[Any]:
    """One page in a fresh browser context (its own cookies)."""
    with chromium_browser() as browser:
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, **context_options
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def evaluate_settled(page: Any, script: str) -> Any:
    """``page.evaluate(script)``, or None while the page is navigating (a screen pairing
    from its link's fragment reloads itself once)."""
    from playwright.sync_api import Error

    try:
        return page.evaluate(script)
    except Error as exc:
        if "context was destroyed" in str(exc) or "navigat" in str(exc):
            return None
        raise
