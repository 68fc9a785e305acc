"""What the shopper sees: plain lines (headless), a Rich terminal view, or an OpenCV window.

All three take the same calls from the runner (``show`` a result, ``frame`` after
decoding, keys ``pressed`` since last asked, ``summary`` at the end), so the runner
does not care which one is on. The headless lines are stable enough for scripts
and tests to read: ``ack <gtin> <name> qty=<n> total=<money>``,
``error <code> <scanned code>: <message>; <what to do>``, ``offline (...): <n> queued``,
``checkout basket <id> total=<money> items=<n> audit=<decision> rescan=<n>``,
then, while waiting at the exit, ``next basket <id>: <what happens next>``,
``handoff <code> basket <id>: Show this code at the till``,
``paid basket <id> total=<money>: Paid. Thank you!`` or
``closed basket <id>: <why>``, and last
``done: basket <id> total=<money> items=<n> errors=<n>``.

What the shopper reads at the exit is the shopper app's own wording (its English
message catalogue), so the handheld and the app say the same thing.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, Protocol, TextIO

from handheld_client.core import TRIP_UNAVAILABLE, ExitStatus, HandheldCore, Result, money

KEY_HELP = "f: finish   r: remove last item   q: quit (the basket stays open)"

# What the shopper can do about a final error: the scan was not added, and retrying
# the same label will not help, so a person has to.
ADVICE = {
    "unknown_product": "not added: keep it aside and ask a colleague",
    "invalid_code": "not added: scan it again, or ask a colleague",
    "not_in_basket": "nothing removed: it is not in your basket",
    "bad_quantity": "not added: ask a colleague",
    "basket_locked": "your trip is finished: ask a colleague to add or remove items",
    "bad_message": "not added: ask a colleague",
    "no_basket": "no basket could be opened: ask a colleague",
}
DEFAULT_ADVICE = "ask a colleague"
# The shopper app's English catalogue: the exit's wording is the app's, not a copy of it.
SHOPPER_CATALOGUE = ("web", "static", "i18n", "en.json")


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


def advice(code: str | None) -> str:
    """What the shopper should do after the server refused a request with ``code``."""
    return ADVICE.get(code or "", DEFAULT_ADVICE)


@functools.cache
def _catalogue() -> dict[str, str]:
    folder = resources.files("store_server.shopper").joinpath(*SHOPPER_CATALOGUE)
    loaded = json.loads(folder.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in loaded.items()}


def shopper_text(key: str, count: int | None = None) -> str:
    """A message of the shopper app (``exit.pay``…); with ``count``, its English plural
    (``.one`` or ``.other``) with ``{count}`` filled in."""
    if count is not None:
        key += ".one" if count == 1 else ".other"
    return _catalogue()[key].replace("{count}", str(count))


def next_step(decision: str | None, rescan_count: int = 0) -> str:
    """What happens at the exit after this audit decision (the shopper app's words)."""
    if decision == "full":
        return shopper_text("exit.full")
    if decision == "partial":
        return shopper_text("exit.partial", rescan_count)
    if decision == "none":
        return shopper_text("exit.pay")
    return shopper_text("exit.waiting")


def exit_text(status: ExitStatus) -> str:
    """What the shopper reads at this stage of the exit (one or two lines)."""
    if status.stage == "handoff":
        code = f"{shopper_text('exit.handoff')}: {status.handoff_code}"
        return f"{shopper_text('exit.pay')}\n{code}"
    if status.stage == "paid":
        return shopper_text("exit.paid")
    if status.stage == "closed":
        return shopper_text("exit.abandoned")
    return next_step(status.decision, status.rescan_count)


def basket_ref(basket: Mapping[str, Any] | None) -> str:
    """The basket's id, as staff see it in the checkout console."""
    return str((basket or {}).get("basket_id") or "-")


def _rescan_count(audit: Mapping[str, Any] | None) -> int:
    rescan = (audit or {}).get("rescan")
    return len(rescan) if isinstance(rescan, list) else 0


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
    if result.kind == "checkout":
        basket = result.basket or {}
        audit = result.audit or {}
        return (
            f"checkout basket {basket_ref(basket)} total={basket_total(basket)} "
            f"items={basket.get('item_count', 0)} audit={audit.get('decision', '?')} "
            f"rescan={_rescan_count(audit)}"
        )
    if result.kind == "exit":
        status = result.exit
        if result.message or status is None:
            return result.message
        basket_id = status.basket_id or "-"
        if status.stage == "handoff":
            told = shopper_text("exit.handoff")
            return f"handoff {status.handoff_code} basket {basket_id}: {told}"
        if status.stage == "paid":
            total = basket_total(status.basket)
            return f"paid basket {basket_id} total={total}: {exit_text(status)}"
        return f"{status.stage} basket {basket_id}: {exit_text(status)}"
    if result.kind == "basket":
        basket = result.basket or {}
        return f"basket {basket.get('basket_id', '?')} open total={basket_total(basket)}"
    if result.kind == "error":
        what = code or (entry.type if entry is not None else "-")
        return f"error {result.code} {what}: {result.message}; {advice(result.code)}"
    if result.kind == "retry":
        what = code or (entry.type if entry is not None else "-")
        return f"retry {result.code} {what}: {result.message}"
    if result.kind == "queued":
        return f"queued {code} ({result.message})"
    return result.message


def summary_line(basket: Mapping[str, Any] | None, errors: int = 0) -> str:
    """The headless run's last line; ``errors`` counts scans the server refused."""
    if basket is None:
        return f"done: no basket errors={errors}"
    return (
        f"done: basket {basket.get('basket_id')} total={basket_total(basket)} "
        f"items={basket.get('item_count', 0)} errors={errors}"
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


def _discounts(basket: Mapping[str, Any] | None) -> dict[str, int]:
    found: dict[str, int] = {}
    for d in (basket or {}).get("discounts") or []:
        if isinstance(d, Mapping):
            label = str(d.get("label", "discount"))
            found[label] = found.get(label, 0) + int(d.get("amount_cents", 0) or 0)
    return found


class _ShopperView:
    """What the live views show, in a shopper's words: the basket's lines with names,
    quantities and money, what just happened (added, removed, a discount that just
    applied, or what went wrong and what to do), the running total and, after
    finishing, what happens next, the payment hand-off code once staff release the
    basket, and paid."""

    def __init__(self, core: HandheldCore) -> None:
        self.core = core
        self.last_event = "Scan an item to start"
        self.last_discount = ""
        self.last_error = ""
        self.finished = ""
        self.exit_note = ""  # the trip status cannot be read just now
        self._discounts = _discounts(core.basket)

    def show(self, result: Result) -> None:
        if result.kind == "ack" and result.line:
            self._ack(result)
        elif result.kind == "error":
            todo = advice(result.code)
            self.last_error = f"{todo[:1].upper()}{todo[1:]} ({result.message})"
        elif result.kind == "checkout":
            self.last_error = ""
            audit = result.audit or {}
            self.finished = next_step(audit.get("decision"), _rescan_count(audit))
        elif result.kind == "exit":
            self.exit_note = result.message if result.code == TRIP_UNAVAILABLE else ""
            if result.exit is not None and not result.message:
                self.finished = exit_text(result.exit)
        elif result.kind == "info" and result.message:
            self.last_event = result.message[:1].upper() + result.message[1:]
        self._discounts = _discounts(self.core.basket)

    def _ack(self, result: Result) -> None:
        line = result.line or {}
        name = str(line.get("name") or line.get("gtin") or "item")
        left = int(line.get("qty", 0) or 0)
        removing = result.entry is not None and result.entry.type == "remove"
        if removing:
            self.last_event = f"Removed {name}" + (f" ({left} left)" if left else "")
        else:
            unit = line.get("unit_price_cents")
            price = f" {self._money(int(unit))}" if isinstance(unit, int) else ""
            self.last_event = f"Added {name}{price}" + (f" ({left} in basket)" if left > 1 else "")
        self.last_error = ""
        now = _discounts(result.basket)
        gained = {k: v - self._discounts.get(k, 0) for k, v in now.items()}
        applied = [f"{k} -{self._money(v)}" for k, v in gained.items() if v > 0]
        self.last_discount = ", ".join(applied)

    def _currency(self) -> str:
        return str((self.core.basket or {}).get("currency", ""))

    def _money(self, cents: int) -> str:
        return money(cents, self._currency())

    def lines(self) -> list[tuple[str, str, str]]:
        """(name, quantity, line total) for each line in the basket, in basket order."""
        rows = []
        for line in (self.core.basket or {}).get("lines") or []:
            if not isinstance(line, Mapping) or not line.get("qty"):
                continue
            weight = line.get("weight_g")
            qty = f"{weight} g" if weight else f"x{line.get('qty')}"
            total = self._money(int(line.get("line_total_cents", 0) or 0))
            rows.append((str(line.get("name") or line.get("gtin")), qty, total))
        return rows

    def discounts(self) -> list[tuple[str, str]]:
        return [(k, f"-{self._money(v)}") for k, v in _discounts(self.core.basket).items() if v]

    def status(self) -> str:
        state = self.core.state
        queued = self.core.queued
        if state == "online":
            return "connected" + (f", sending {queued}" if queued else "")
        return f"{state}: {queued} scan(s) kept, sent when the store answers"


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
    """A Rich live panel for a camera without a window: the basket as a shopper reads it.

    ``console`` and ``keys`` default to the real terminal; tests pass a recording
    Console and a list of key presses instead.
    """

    def __init__(
        self, core: HandheldCore, *, console: Any = None, keys: list[str] | None = None
    ) -> None:
        from rich.console import Console
        from rich.live import Live

        self.view = _ShopperView(core)
        self.console = console or Console()
        self._keys = keys
        self.live = Live(self.render(), console=self.console, refresh_per_second=8)
        self.live.start()
        self._tty_state: Any = None
        self._setup_keys()

    def _setup_keys(self) -> None:
        if self._keys is not None or not sys.stdin.isatty():
            return
        import termios
        import tty

        fd = sys.stdin.fileno()
        self._tty_state = termios.tcgetattr(fd)
        tty.setcbreak(fd)

    def render(self) -> Any:
        """The panel as it stands (what the live display shows)."""
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        view = self.view
        basket = Table(box=None, expand=True, show_header=False, pad_edge=False)
        basket.add_column("item", ratio=1, overflow="fold")
        basket.add_column("qty", justify="right")
        basket.add_column("price", justify="right")
        for name, qty, total in view.lines():
            basket.add_row(name, qty, total)
        for label, amount in view.discounts():
            basket.add_row(Text(label, style="green"), "", Text(amount, style="green"))
        parts: list[Any] = [basket]
        parts.append(Text(f"Total {basket_total(view.core.basket)}", style="bold", justify="right"))
        parts.append(Text(view.last_event))
        if view.last_discount:
            parts.append(Text(f"Discount applied: {view.last_discount}", style="bold green"))
        if view.last_error:
            parts.append(Text(view.last_error, style="bold red"))
        if view.finished:
            parts.append(Text(view.finished, style="bold"))
        if view.exit_note:
            parts.append(Text(view.exit_note, style="yellow"))
        parts.append(Text(view.status(), style="dim"))
        return Panel(Group(*parts), title="Caddie", subtitle=KEY_HELP)

    def show(self, result: Result) -> None:
        self.view.show(result)
        self.live.update(self.render())

    def frame(self, image: Any, symbols: Sequence[Any]) -> None:
        self.live.update(self.render())

    def pressed(self) -> list[str]:
        if self._keys is not None:
            given, self._keys[:] = list(self._keys), []
            return given
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
        self.live.update(self.render())
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
        view = self.view
        lines = [
            f"Total {basket_total(view.core.basket)}",
            view.last_event,
            f"Discount applied: {view.last_discount}" if view.last_discount else "",
            view.last_error,
            view.finished,
            view.exit_note,
            view.status(),
            KEY_HELP,
        ]
        for i, text in enumerate(t for t in "\n".join(lines).splitlines() if t):
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
