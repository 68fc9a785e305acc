"""What the shopper sees: plain lines (headless), a Rich terminal view, or an OpenCV window.

All three take the same calls from the runner (``show`` a result, ``frame`` after
decoding, keys ``pressed`` since last asked, ``summary`` at the end), so the runner
does not care which one is on. The headless lines are stable enough for scripts
and tests to read: ``ack <gtin> <name> qty=<n> total=<money>``,
``error <code> <scanned code>: <message>``, ``offline (...): <n> queued``,
``done: basket <id> total=<money> items=<n>``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TextIO

from handheld_client.core import HandheldCore, Result, money

KEY_HELP = "r: remove last item   q: quit"


class Screen(Protocol):
    def show(self, result: Result) -> None: ...
    def frame(self, image: Any, symbols: Sequence[Any]) -> None: ...
    def pressed(self) -> list[str]: ...
    def summary(self, text: str) -> None: ...
    def close(self) -> None: ...


def basket_total(basket: Mapping[str, Any] | None) -> str:
    if not basket:
        return "-"
    return money(int(basket.get("total_cents", 0)), str(basket.get("currency", "")))


def describe(result: Result) -> str:
    """One line for a result (the headless output format, also the terminal log)."""
    entry = result.entry
    code = entry.code if entry is not None else None
    if result.kind == "ack":
        line = result.line or {}
        verb = "removed" if entry is not None and entry.type == "remove" else "ack"
        return (
            f"{verb} {line.get('gtin', code)} {line.get('name', '')} qty={line.get('qty', '?')} "
            f"total={basket_total(result.basket)}"
        )
    if result.kind == "basket":
        basket = result.basket or {}
        return f"basket {basket.get('basket_id', '?')} open total={basket_total(basket)}"
    if result.kind in ("error", "retry"):
        what = code or (entry.type if entry is not None else "-")
        return f"{result.kind} {result.code} {what}: {result.message}"
    if result.kind == "queued":
        return f"queued {code} ({result.message})"
    return result.message


def summary_line(basket: Mapping[str, Any] | None) -> str:
    if basket is None:
        return "done: no basket"
    return (
        f"done: basket {basket.get('basket_id')} total={basket_total(basket)} "
        f"items={basket.get('item_count', 0)}"
    )


class HeadlessScreen:
    """One line per event on stdout, flushed at once so a supervisor sees it live."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def show(self, result: Result) -> None:
        print(describe(result), file=self.stream, flush=True)

    def frame(self, image: Any, symbols: Sequence[Any]) -> None:
        return None

    def pressed(self) -> list[str]:
        return []

    def summary(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        return None


class _ShopperView:
    """State the live views render: running total, last item, last error, link state."""

    def __init__(self, core: HandheldCore) -> None:
        self.core = core
        self.last_item = "-"
        self.last_error = ""
        self.log: list[str] = []

    def show(self, result: Result) -> None:
        if result.kind == "ack" and result.line:
            verb = "removed " if result.entry and result.entry.type == "remove" else ""
            self.last_item = (
                f"{verb}{result.line.get('name', '?')} x{result.line.get('qty', '?')}  "
                f"{money(int(result.line.get('line_total_cents', 0)), self._currency())}"
            )
            self.last_error = ""
        elif result.kind == "error":
            label = {
                "unknown_product": "Unknown product",
                "invalid_code": "Invalid code",
            }.get(result.code or "", result.code or "error")
            code = result.entry.code if result.entry else ""
            self.last_error = f"{label} {code or ''}: {result.message}".strip()
        self.log = ([*self.log, describe(result)])[-6:]

    def _currency(self) -> str:
        return str((self.core.basket or {}).get("currency", ""))

    def status(self) -> str:
        state = self.core.state
        return f"{state.upper()}  ({self.core.queued} queued)"


def has_window_display() -> bool:
    """An OpenCV window needs a display and an OpenCV built with a GUI (not -headless)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("NONE", "")
    return False


class TerminalScreen:
    """A Rich live panel for a camera without a window: total, last item, errors, state."""

    def __init__(self, core: HandheldCore) -> None:
        from rich.console import Console
        from rich.live import Live

        self.view = _ShopperView(core)
        self.console = Console()
        self.live = Live(self._render(), console=self.console, refresh_per_second=8)
        self.live.start()
        self._tty_state: Any = None
        self._setup_keys()

    def _setup_keys(self) -> None:
        if not sys.stdin.isatty():
            return
        import termios
        import tty

        fd = sys.stdin.fileno()
        self._tty_state = termios.tcgetattr(fd)
        tty.setcbreak(fd)

    def _render(self) -> Any:
        from rich.panel import Panel
        from rich.table import Table

        view = self.view
        table = Table.grid(padding=(0, 2))
        table.add_row("Total", basket_total(view.core.basket))
        table.add_row("Items", str((view.core.basket or {}).get("item_count", 0)))
        table.add_row("Last item", view.last_item)
        table.add_row("Link", view.status())
        if view.last_error:
            table.add_row("[bold red]Error[/]", f"[red]{view.last_error}[/]")
        for line in view.log:
            table.add_row("", f"[dim]{line}[/]")
        return Panel(table, title="Caddie", subtitle=KEY_HELP)

    def show(self, result: Result) -> None:
        self.view.show(result)
        self.live.update(self._render())

    def frame(self, image: Any, symbols: Sequence[Any]) -> None:
        self.live.update(self._render())

    def pressed(self) -> list[str]:
        if self._tty_state is None:
            return []
        import select

        keys: list[str] = []
        while select.select([sys.stdin], [], [], 0)[0]:
            char = os.read(sys.stdin.fileno(), 1).decode(errors="ignore")
            if not char:
                break
            keys.append(char.lower())
        return keys

    def summary(self, text: str) -> None:
        self.live.update(self._render())
        self.console.print(text)

    def close(self) -> None:
        self.live.stop()
        if self._tty_state is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._tty_state)
            self._tty_state = None


class WindowScreen:
    """An OpenCV window showing the camera with the basket overlaid."""

    NAME = "Caddie handheld"

    def __init__(self, core: HandheldCore) -> None:
        self.view = _ShopperView(core)
        self._keys: list[str] = []

    def show(self, result: Result) -> None:
        self.view.show(result)

    def frame(self, image: Any, symbols: Sequence[Any]) -> None:
        import cv2

        canvas = image.copy()
        for symbol in symbols:
            if symbol.position is not None:
                x, y, w, h = symbol.position
                cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 200, 0), 3)
        lines = [
            f"Total {basket_total(self.view.core.basket)}",
            f"Last: {self.view.last_item}",
            self.view.status(),
            self.view.last_error,
            KEY_HELP,
        ]
        for i, text in enumerate(t for t in lines if t):
            cv2.putText(
                canvas, text, (12, 32 + 30 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 255), 2
            )
        cv2.imshow(self.NAME, canvas)
        key = cv2.waitKey(1) & 0xFF
        if key not in (0xFF, 0):
            self._keys.append(chr(key).lower())

    def pressed(self) -> list[str]:
        keys, self._keys = self._keys, []
        return keys

    def summary(self, text: str) -> None:
        print(text, flush=True)

    def close(self) -> None:
        import cv2

        cv2.destroyAllWindows()
