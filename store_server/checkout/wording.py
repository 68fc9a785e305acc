"""The basket's audit log in words staff read at a glance (no I/O, no framework).

Entries are stored as ``action`` plus a JSON ``detail`` (what auditors and scripts read);
these functions say the same as one sentence, naming items rather than GTINs and
amounts as money."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store_server.pricing.money import format_cents

REASONS = {
    "missed_by_shopper": "shopper missed it (discrepancy)",
    "shopper_request": "shopper's request",
    "staff_error": "staff error, not the shopper's fault",
    "not_in_trolley": "not in the trolley",
}
DECISIONS = {"none": "no audit", "partial": "partial rescan", "full": "full rescan"}
OUTCOMES = {
    "passed": "audit passed",
    "discrepancy": "audit found a discrepancy",
    "not_audited": "not audited",
}
METHODS = {"cash": "cash", "card_terminal": "card terminal", "other": "another way"}


def who(actor: str) -> str:
    """``staff:alice`` → ``alice``, ``device:H-7`` → ``handheld H-7``…"""
    kind, _, name = actor.partition(":")
    if not name:
        return "Caddie" if actor == "system" else actor
    return {"device": f"handheld {name}", "pos": f"till {name}"}.get(kind, name)


def _items(n: int) -> str:
    return f"{n} item{'' if n == 1 else 's'}"


def _note(detail: Mapping[str, Any]) -> str:
    note = detail.get("note")
    return f" — “{note}”" if note else ""


def describe(
    action: str, detail: Mapping[str, Any], *, currency: str, names: Mapping[str, str]
) -> str:
    """One audit-log entry as a sentence."""

    def item() -> str:
        gtin = str(detail.get("gtin") or "")
        return str(detail.get("name") or names.get(gtin) or f"item {gtin}")

    def money(key: str) -> str:
        value = detail.get(key)
        return format_cents(value, currency) if isinstance(value, int) else "?"

    qty = detail.get("qty", 1)
    reason = REASONS.get(str(detail.get("reason")), str(detail.get("reason") or ""))
    if action == "finished":
        decision = str(detail.get("decision", "none"))
        rescan = detail.get("rescan") or []
        text = f"Shopper finished: {DECISIONS.get(decision, decision)}"
        if decision != "none" and rescan:
            text += f" of {_items(len(rescan))}"
        return text
    if action == "rescan":
        outcome = detail.get("outcome")
        if outcome == "verified":
            return f"Rescanned {item()}: verified"
        if outcome == "duplicate":
            return f"Rescanned {item()} again: already verified, ignored"
        return f"Rescanned {item()}: not in the basket"
    if action == "line_added":
        return f"Added {qty} × {item()}: {reason}{_note(detail)}"
    if action == "line_removed":
        return f"Removed {qty} × {item()}: {reason}{_note(detail)}"
    if action == "extra_dismissed":
        return f"{item()} rescanned by mistake: not added (staff error)"
    if action == "age_approved":
        return f"Age check approved (ID seen){_note(detail)}"
    if action == "released":
        outcome = OUTCOMES.get(str(detail.get("audit_outcome")), "")
        return f"Released to payment: {money('total_cents')}, code {detail.get('code')}" + (
            f"; {outcome}" if outcome else ""
        )
    if action == "paid":
        ref = detail.get("payment_reference")
        method = detail.get("method")
        if method:
            return (
                f"Paid {money('amount_cents')} by {METHODS.get(str(method), str(method))}, "
                f"recorded by staff, reference {ref}{_note(detail)}"
            )
        return f"Paid {money('amount_cents')} at the till, reference {ref}"
    if action == "abandoned":
        return (
            f"Abandoned: no activity for {detail.get('idle_minutes')} min "
            f"(was {detail.get('previous_status')})"
        )
    shown = ", ".join(f"{k} {v}" for k, v in detail.items() if v is not None)
    return f"{action.replace('_', ' ').capitalize()}" + (f": {shown}" if shown else "")
