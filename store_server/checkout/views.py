"""Read models of the exit: a row of the live queue, one basket in full as the console
shows it, what still stands between a basket and payment, and a released basket's
frozen hand-off.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from store_server.baskets import service as baskets
from store_server.baskets.models import LOCKED_STATUSES, Basket, BasketLine
from store_server.baskets.service import LineRecord
from store_server.checkout import wording
from store_server.checkout.models import (
    AgeApproval,
    CheckoutCorrection,
    PaymentHandoff,
    RescanScan,
    StaffAction,
)
from store_server.checkout.records import (
    Actor,
    audit_of,
    corrections_of,
    get_basket,
    handoff_of,
    iso,
    rescans_of,
)
from store_server.pricing.promotions import Promotion
from store_server.shared.errors import (
    NotFound,
)
from store_server.timeutil import utcnow


@dataclass(frozen=True)
class LineState:
    """How far staff got with one GTIN of the basket."""

    gtin: str
    expected: int
    verified: int
    to_rescan: bool

    @property
    def status(self) -> str:
        if self.verified >= self.expected:
            return "verified"
        return "to_rescan" if self.to_rescan else "not_checked"


def line_states(
    lines: Sequence[LineRecord | BasketLine],
    rescan: Sequence[str],
    scans: Sequence[RescanScan],
    corrections: Sequence[CheckoutCorrection],
) -> dict[str, LineState]:
    """Per GTIN: units in the basket, units staff have seen (rescanned or added themselves)."""
    expected: dict[str, int] = defaultdict(int)
    for line in lines:
        expected[line.gtin] += line.qty
    seen: dict[str, int] = defaultdict(int)
    for scan in scans:
        if scan.outcome == "verified":
            seen[scan.gtin] += 1
    for c in corrections:
        if c.kind == "add" and not c.voided:
            seen[c.gtin] += c.qty
    wanted = set(rescan)
    return {
        gtin: LineState(gtin, qty, seen[gtin], gtin in wanted) for gtin, qty in expected.items()
    }


def open_problems(session: Session, basket: Basket) -> list[str]:
    """What still stands between this basket and payment (empty: it can be released)."""
    problems: list[str] = []
    lines = baskets.basket_lines(session, basket.id)
    audit = audit_of(session, basket.id)
    rescan = json.loads(audit.rescan) if audit else []
    scans = rescans_of(session, basket.id)
    states = line_states(lines, rescan, scans, corrections_of(session, basket.id))
    names = {line.gtin: line.name for line in lines}
    for gtin, state in states.items():
        if state.status == "to_rescan":
            problems.append(
                f"rescan {names[gtin]} ({state.verified} of {state.expected} seen) "
                "or correct the line"
            )
    extras = [s for s in scans if s.outcome == "extra" and s.resolution is None]
    for scan in extras:
        problems.append(f"{scan.name} was rescanned but is not in the basket: resolve it")
    if any(line.age_restricted for line in lines) and session.get(AgeApproval, basket.id) is None:
        problems.append("age-restricted items: check the shopper's age and approve")
    return problems


def summary(session: Session, basket: Basket) -> dict[str, Any]:
    """One row of the live queue."""
    audit = audit_of(session, basket.id)
    handoff = handoff_of(session, basket.id)
    age_items = session.exec(
        select(func.count())
        .select_from(BasketLine)
        .where(BasketLine.basket_id == basket.id, col(BasketLine.age_restricted).is_(True))
    ).one()
    approval = session.get(AgeApproval, basket.id)
    return {
        "basket_id": basket.id,
        "store_id": basket.store_id,
        "device_id": basket.device_id,
        "status": basket.status,
        "decision": audit.decision if audit else "none",
        "initial_decision": audit.initial_decision if audit else "none",
        "reasons": json.loads(audit.reasons) if audit else [],
        "rescan_count": len(json.loads(audit.rescan)) if audit else 0,
        "trust_score": round(audit.trust_score, 3) if audit else None,
        "total_cents": basket.total_cents,
        "tax_cents": basket.tax_cents,
        "currency": basket.currency,
        "item_count": basket.item_count,
        "finished_at": iso(basket.finished_at),
        "age_check": "approved" if approval else ("needed" if age_items else "none"),
        "released": handoff is not None,
        "handoff_code": handoff.code if handoff else None,
        "handoff_status": handoff.status if handoff else None,
    }


def queue(session: Session, store_id: str | None) -> list[dict[str, Any]]:
    """Baskets waiting at the exit, oldest first (the next one staff should take)."""
    query = select(Basket).where(col(Basket.status).in_(LOCKED_STATUSES))
    if store_id is not None:
        query = query.where(Basket.store_id == store_id)
    query = query.order_by(col(Basket.finished_at), col(Basket.id))
    return [summary(session, b) for b in session.exec(query).all()]


def detail(
    session: Session, basket: Basket, promotions: Sequence[Promotion], *, at: datetime | None = None
) -> dict[str, Any]:
    """Everything the console shows for one basket."""
    at = at or utcnow()
    lines = baskets.basket_lines(session, basket.id)
    audit = audit_of(session, basket.id)
    rescan = json.loads(audit.rescan) if audit else []
    scans = rescans_of(session, basket.id)
    corrections = corrections_of(session, basket.id)
    states = line_states(lines, rescan, scans, corrections)
    priced = baskets.price_basket(lines, promotions, at=at, loyalty=bool(basket.loyalty_card))
    approval = session.get(AgeApproval, basket.id)
    handoff = handoff_of(session, basket.id)
    actions = session.exec(
        select(StaffAction)
        .where(StaffAction.basket_id == basket.id)
        .order_by(col(StaffAction.at), col(StaffAction.id))
    ).all()
    out = summary(session, basket)
    out.update(
        {
            "loyalty_card": basket.loyalty_card,
            "lines": [
                {
                    **baskets.line_view(line),
                    "line_id": line.id,
                    "category": line.category,
                    "age_restricted": line.age_restricted,
                    "status": states[line.gtin].status,
                    "verified": states[line.gtin].verified,
                    "expected": states[line.gtin].expected,
                    "to_rescan": line.gtin in rescan,
                }
                for line in lines
            ],
            "rescan": rescan,
            "audit": None
            if audit is None
            else {
                "decision": audit.decision,
                "initial_decision": audit.initial_decision,
                "reasons": json.loads(audit.reasons),
                "probability": audit.probability,
                "trust_score": audit.trust_score,
                "inputs": json.loads(audit.inputs),
                "decided_at": iso(audit.decided_at),
                "escalated_at": iso(audit.escalated_at),
                "policy_version": audit.policy_version,
                "outcome": audit.outcome,
            },
            "extras": [
                {
                    "scan_id": s.id,
                    "gtin": s.gtin,
                    "name": s.name,
                    "at": iso(s.at),
                    "actor": s.actor,
                    "resolution": s.resolution,
                }
                for s in scans
                if s.outcome == "extra"
            ],
            "rescans": [
                {
                    "gtin": s.gtin,
                    "name": s.name,
                    "outcome": s.outcome,
                    "actor": s.actor,
                    "at": iso(s.at),
                }
                for s in scans
            ],
            "corrections": [
                {
                    "kind": c.kind,
                    "gtin": c.gtin,
                    "name": c.name,
                    "qty": c.qty,
                    "reason": c.reason,
                    "note": c.note,
                    "shopper_fault": c.shopper_fault and not c.voided,
                    "voided": c.voided,
                    "actor": c.actor,
                    "at": iso(c.at),
                }
                for c in corrections
            ],
            "discounts": [
                {"label": d.label, "amount_cents": d.amount_cents} for d in priced.discounts
            ],
            "taxes": [
                {"rate": str(t.rate), "gross_cents": t.gross_cents, "tax_cents": t.tax_cents}
                for t in priced.taxes
            ],
            "subtotal_cents": priced.subtotal_cents,
            "age_approval": None
            if approval is None
            else {
                "approved_by": approval.approved_by,
                "approved_at": iso(approval.approved_at),
                "note": approval.note,
            },
            "handoff": None if handoff is None else handoff_view(handoff),
            "problems": open_problems(session, basket) if basket.status in LOCKED_STATUSES else [],
            "actions": [
                {
                    "at": iso(a.at),
                    "actor": a.actor,
                    "who": wording.who(a.actor),
                    "action": a.action,
                    "detail": json.loads(a.detail),
                }
                for a in actions
            ],
        }
    )
    names = {**{s.gtin: s.name for s in scans}, **{line.gtin: line.name for line in lines}}
    for entry in out["actions"]:
        entry["text"] = wording.describe(
            entry["action"], entry["detail"], currency=basket.currency, names=names
        )
    added: dict[str, int] = defaultdict(int)
    removed: dict[str, int] = defaultdict(int)
    for c in corrections:
        if c.kind == "add" and not c.voided:
            added[c.gtin] += c.qty
        elif c.kind == "remove":
            removed[c.gtin] += c.qty
    for line_out in out["lines"]:
        line_out["added_at_exit"] = added.get(line_out["gtin"], 0)
        line_out["removed_at_exit"] = removed.get(line_out["gtin"], 0)
    for c_out in out["corrections"]:
        c_out["text"] = wording.describe(
            "line_added" if c_out["kind"] == "add" else "line_removed",
            c_out,
            currency=basket.currency,
            names=names,
        )
    return out


def handoff_view(handoff: PaymentHandoff) -> dict[str, Any]:
    return {
        **json.loads(handoff.record),
        "status": handoff.status,
        "paid_at": iso(handoff.paid_at),
        "payment_reference": handoff.payment_reference,
        "pos_terminal_id": handoff.pos_terminal_id,
    }


def handoff_record(session: Session, basket_id: str, actor: Actor) -> dict[str, Any]:
    """The frozen hand-off of a released basket (what receipts are printed from)."""
    basket = get_basket(session, basket_id, actor)
    handoff = handoff_of(session, basket.id)
    if handoff is None:
        raise NotFound("this basket has not been released to payment; no receipt yet")
    return handoff_view(handoff)
