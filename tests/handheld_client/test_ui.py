"""What the shopper sees, through the screen abstraction (handheld_client/ui.py).

The core is driven with the replies a real server sends (PROTOCOL.md shapes); the
terminal view renders into a recording Rich console, its keys come from a list.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from handheld_client.core import ExitWatch, HandheldCore, Persist, Show
from handheld_client.outbox import Outbox
from handheld_client.runner import EXIT_ERRORS, EXIT_OK, HandheldConfig, HandheldRun, Outcome
from handheld_client.ui import HeadlessScreen, TerminalScreen, describe

COFFEE, TEA, UNKNOWN = "3012345678902", "5901234123457", "9780201379624"
NAMES = {COFFEE: ("Ground coffee 250 g", 349), TEA: ("Earl Grey x40", 245)}


class FakeStore:
    """Builds the server's replies: lines, a "3 for 2" on coffee, totals in cents."""

    def __init__(self) -> None:
        self.qty: dict[str, int] = {}

    def basket(self, status: str = "open") -> dict[str, Any]:
        lines = [
            {
                "gtin": code.zfill(14),
                "name": NAMES[code][0],
                "qty": n,
                "unit_price_cents": NAMES[code][1],
                "weight_g": None,
                "line_total_cents": n * NAMES[code][1],
            }
            for code, n in self.qty.items()
            if n
        ]
        free = self.qty.get(COFFEE, 0) // 3
        discounts = [{"label": "3 for 2", "amount_cents": free * 349}] if free else []
        total = sum(int(line["line_total_cents"]) for line in lines) - free * 349
        count = sum(self.qty.values())
        return {
            "basket_id": "B-7",
            "status": status,
            "lines": lines,
            "discounts": discounts,
            "total_cents": total,
            "tax_cents": 0,
            "currency": "EUR",
            "item_count": count,
        }

    def reply(self, message: Mapping[str, Any]) -> dict[str, Any]:
        kind, rid, code = message["type"], message["id"], message.get("code")
        if kind == "finish":
            audit = {"decision": "partial", "rescan": [COFFEE.zfill(14)]}
            return {"type": "checkout", "id": rid, "basket": self.basket("audit"), "audit": audit}
        if code not in NAMES:
            gtin = str(code).zfill(14)
            return {
                "type": "error",
                "id": rid,
                "code": "unknown_product",
                "message": f"no product with GTIN {gtin}",
            }
        self.qty[code] = self.qty.get(code, 0) + (1 if kind == "scan" else -1)
        line = {
            "gtin": code.zfill(14),
            "name": NAMES[code][0],
            "qty": self.qty[code],
            "unit_price_cents": NAMES[code][1],
            "weight_g": None,
            "line_total_cents": self.qty[code] * NAMES[code][1],
        }
        return {"type": "ack", "id": rid, "line": line, "basket": self.basket()}


class Session:
    """A core wired to a screen and the fake store, answering each request at once."""

    def __init__(self, screen_factory: Any) -> None:
        self.core = HandheldCore("H-1", "t", loyalty_card="CARD-1")
        self.screen = screen_factory(self.core)
        self.store = FakeStore()
        self.run(self.core.receive({"type": "welcome", "basket": self.store.basket()}, 0.0))

    def run(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Persist):
                self.core.stored(action.entries)
            elif isinstance(action, Show):
                self.screen.show(action.result)
        for message in self.core.pump(0.0):
            self.run(self.core.receive(self.store.reply(message), 0.0))

    def scan(self, code: str) -> None:
        self.run(self.core.scan(code))


def terminal(core: HandheldCore, keys: list[str] | None = None) -> TerminalScreen:
    console = Console(file=io.StringIO(), width=80, force_terminal=False)
    return TerminalScreen(core, console=console, keys=[] if keys is None else keys)


def text(screen: TerminalScreen) -> str:
    out = Console(file=io.StringIO(), width=80, record=True)
    out.print(screen.render())
    return " ".join(out.export_text().replace("│", " ").split())  # lines, not the frame


def test_terminal_view_reads_like_a_receipt() -> None:
    session = Session(terminal)
    try:
        session.scan(COFFEE)
        session.scan(TEA)
        shown = text(session.screen)
        assert "Ground coffee 250 g x1 3.49 EUR" in shown
        assert "Earl Grey x40 x1 2.45 EUR" in shown
        assert "Total 5.94 EUR" in shown
        assert "Added Earl Grey x40 2.45 EUR" in shown
        assert COFFEE not in shown and COFFEE.zfill(14) not in shown  # names, not GTINs
        assert "ack" not in shown
    finally:
        session.screen.close()


def test_the_discount_that_just_applied_is_shown() -> None:
    session = Session(terminal)
    try:
        for _ in range(3):
            session.scan(COFFEE)
        shown = text(session.screen)
        assert "Discount applied: 3 for 2 -3.49 EUR" in shown
        assert "Ground coffee 250 g x3 10.47 EUR" in shown
        assert "Total 6.98 EUR" in shown
        session.scan(TEA)  # no new discount: the message goes, the discount line stays
        shown = text(session.screen)
        assert "Discount applied" not in shown and "3 for 2 -3.49 EUR" in shown
    finally:
        session.screen.close()


def test_a_removal_reads_as_a_removal() -> None:
    session = Session(terminal)
    try:
        session.scan(TEA)
        session.run(session.core.remove_last())
        shown = text(session.screen)
        assert "Removed Earl Grey x40" in shown
        assert "x0" not in shown and "0.00 EUR" in shown  # the total, not a line of nothing
        assert "Earl Grey x40 x" not in shown  # no empty line left in the basket
    finally:
        session.screen.close()


def test_a_refused_scan_says_what_to_do_on_every_screen_kind() -> None:
    stream = io.StringIO()
    headless = Session(lambda core: HeadlessScreen(stream))
    headless.scan(UNKNOWN)
    assert (
        f"error unknown_product {UNKNOWN}: no product with GTIN {UNKNOWN.zfill(14)}; "
        "not added: keep it aside and ask a colleague"
    ) in stream.getvalue().splitlines()
    assert headless.core.errors == 1 and headless.core.idle  # final: nothing to resend

    session = Session(terminal)
    try:
        session.scan(UNKNOWN)
        assert "ask a colleague" in text(session.screen)
        session.scan(TEA)  # the next good scan clears it
        assert "ask a colleague" not in text(session.screen)
    finally:
        session.screen.close()

    from handheld_client.ui import WindowScreen

    window = Session(WindowScreen)
    window.scan(UNKNOWN)
    assert "ask a colleague" in window.screen.view.last_error


def test_finishing_says_what_happens_next_in_the_shopper_apps_words() -> None:
    session = Session(terminal)
    try:
        session.scan(COFFEE)
        session.run(session.core.finish())
        shown = text(session.screen)
        assert "A colleague will check 1 item before you pay." in shown  # en.json exit.partial
        assert "B-7" not in shown  # the basket id is no code for the till
    finally:
        session.screen.close()
    stream = io.StringIO()
    headless = Session(lambda core: HeadlessScreen(stream))
    headless.scan(COFFEE)
    headless.run(headless.core.finish())
    last = stream.getvalue().splitlines()[-1]
    assert last == "checkout basket B-7 total=3.49 EUR items=1 audit=partial rescan=1"


def test_describe_never_prints_python_none() -> None:
    session = Session(lambda core: HeadlessScreen(io.StringIO()))
    session.scan(COFFEE)
    session.run(session.core.finish())
    assert session.core.checkout is not None


@pytest.fixture
def live_run(tmp_path: Path) -> Any:
    keys: list[str] = []
    config = HandheldConfig(
        url="ws://127.0.0.1:9/ws/handheld",
        device_id="H-1",
        token="t",
        source="0",
        loyalty_card="CARD-1",
        outbox_path=tmp_path / "o.db",
        symbologies=("EAN13",),
        live=True,
    )
    box = Outbox(config.outbox_path, "H-1")
    run = HandheldRun(config, box, iter(()), None, lambda core: terminal(core, keys))
    yield run, keys
    run.screen.close()
    box.close()


def test_f_finishes_the_trip_once_and_q_quits(live_run: Any) -> None:
    run, keys = live_run
    keys.extend(["f", "f"])
    run.handle_keys()
    assert [e.type for e in run.core.pending] == ["finish"]  # queued once, sent when online
    keys.append("q")
    with pytest.raises(Outcome) as stopped:
        run.handle_keys()
    assert stopped.value.code == 1  # the finish is still pending


def test_exit_code_says_a_run_had_errors(live_run: Any) -> None:
    run, _ = live_run
    assert run.done_code() == EXIT_OK
    run.core.errors = 1
    assert run.done_code() == EXIT_ERRORS == 4


def test_describe_lines_have_no_placeholders() -> None:
    session = Session(lambda core: HeadlessScreen(io.StringIO()))
    session.scan(COFFEE)
    lines = []
    session.screen.show = lambda result: lines.append(describe(result))  # type: ignore[method-assign]
    session.run(session.core.finish())
    assert lines and all("None" not in line and "?" not in line for line in lines)


# ---- at the exit -------------------------------------------------------------------------


def trip_reply(status: str, code: str | None = None) -> dict[str, Any]:
    basket = {**FakeStore().basket(status), "total_cents": 349, "item_count": 1}
    return {
        "basket": basket,
        "status": status,
        "audit": {"decision": "partial", "rescan_count": 1},
        "handoff_code": code,
        "handoff_payload": None,
        "receipt_url": None,
    }


EXIT_REPLIES = [trip_reply("audit"), trip_reply("audit", "K7QW2MZP9X")]


def follow_exit(session: Session, replies: list[dict[str, Any]]) -> ExitWatch:
    """Finish, then feed the trip status replies to the exit watch (as the poller does)."""
    session.scan(COFFEE)
    session.run(session.core.finish())
    watch = ExitWatch("H-1")
    for i, reply in enumerate(replies):
        session.run(watch.answered(reply, float(i)))
    return watch


def test_the_exit_on_every_screen_kind_next_then_the_handoff_code_then_paid() -> None:
    stream = io.StringIO()
    headless = Session(lambda core: HeadlessScreen(stream))
    watch = follow_exit(headless, [*EXIT_REPLIES, trip_reply("paid", "K7QW2MZP9X")])
    assert watch.done
    assert stream.getvalue().splitlines()[-3:] == [
        "next basket B-7: A colleague will check 1 item before you pay.",
        "handoff K7QW2MZP9X basket B-7: Show this code at the till",
        "paid basket B-7 total=3.49 EUR: Paid. Thank you!",
    ]

    session = Session(terminal)
    try:
        follow_exit(session, EXIT_REPLIES)
        shown = text(session.screen)
        assert "Go to the till to pay. Show this code at the till: K7QW2MZP9X" in shown
        assert "A colleague will check" not in shown  # released: the check is over
        session.run(ExitWatch("H-1").answered(trip_reply("paid", "K7QW2MZP9X"), 9.0))
        shown = text(session.screen)
        assert "Paid. Thank you!" in shown and "K7QW2MZP9X" not in shown
    finally:
        session.screen.close()

    from handheld_client.ui import WindowScreen

    window = Session(WindowScreen)
    follow_exit(window, EXIT_REPLIES)
    assert window.screen.view.finished.splitlines() == [
        "Go to the till to pay.",
        "Show this code at the till: K7QW2MZP9X",
    ]
    window.run(ExitWatch("H-1").answered(trip_reply("abandoned"), 9.0))
    assert window.screen.view.finished == "This trip was closed without payment."


def test_an_unreachable_trip_status_is_shown_until_the_store_answers_again() -> None:
    session = Session(terminal)
    try:
        watch = follow_exit(session, EXIT_REPLIES[:1])
        session.run(watch.failed(1.0, "connection refused"))
        shown = text(session.screen)
        assert "trip status: connection refused; asking again in" in shown
        assert "A colleague will check 1 item before you pay." in shown  # still true
        session.run(watch.answered(EXIT_REPLIES[1], 30.0))
        shown = text(session.screen)
        assert "connection refused" not in shown and "K7QW2MZP9X" in shown
    finally:
        session.screen.close()
    stream = io.StringIO()
    headless = Session(lambda core: HeadlessScreen(stream))
    watch = follow_exit(headless, EXIT_REPLIES[:1])
    headless.run(watch.failed(1.0, "connection refused"))
    headless.run(watch.answered(EXIT_REPLIES[1], 30.0))
    lines = stream.getvalue().splitlines()
    assert lines[-3].startswith("trip status: connection refused; asking again in ")
    assert lines[-2:] == [
        "trip status: the store answers again",
        "handoff K7QW2MZP9X basket B-7: Show this code at the till",
    ]


def test_the_exit_wording_is_the_shopper_apps() -> None:
    import json

    from handheld_client.ui import next_step

    catalogue = Path(__file__).resolve().parents[2] / "store_server/shopper/web/static/i18n"
    en = json.loads((catalogue / "en.json").read_text(encoding="utf-8"))
    assert next_step("none") == en["exit.pay"]
    assert next_step("full") == en["exit.full"]
    assert next_step("partial", 3) == en["exit.partial.other"].replace("{count}", "3")
    assert next_step("partial", 1) == en["exit.partial.one"].replace("{count}", "1")
