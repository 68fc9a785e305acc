"""Locking a finished basket and recording its audit decision."""

from __future__ import annotations

import json
import random
from typing import Any

from sqlmodel import Session

from store_server.baskets.models import Basket, Shopper
from store_server.baskets.service import basket_lines
from store_server.checkout.audit_policy import (
    AuditInputs,
    AuditLine,
    AuditPolicy,
    ShopperHistory,
    decide,
)
from store_server.timeutil import as_utc, utcnow


def finish_basket(
    session: Session,
    basket: Basket,
    view: dict[str, Any],
    *,
    policy: AuditPolicy,
    rng: random.Random,
) -> dict[str, Any]:
    """Lock the basket and decide its audit; returns the protocol's ``audit`` object."""
    now = utcnow()
    shopper = session.get(Shopper, basket.shopper_id) if basket.shopper_id else None
    history = ShopperHistory(
        trips=shopper.trips if shopper else 0,
        audits_passed=shopper.audits_passed if shopper else 0,
        discrepancies=shopper.discrepancies if shopper else 0,
        last_audit_at=as_utc(shopper.last_audit_at) if shopper and shopper.last_audit_at else None,
    )
    lines = basket_lines(session, basket.id)
    inputs = AuditInputs(
        lines=tuple(
            AuditLine(
                gtin=line.gtin,
                category=line.category,
                qty=line.qty,
                line_total_cents=line.line_total_cents,
                age_restricted=line.age_restricted,
            )
            for line in lines
        ),
        total_cents=int(view["total_cents"]),
        history=history,
        now=now,
        currency=basket.currency,
    )
    decision = decide(inputs, policy, rng)
    basket.status = "finishing" if decision.decision == "none" else "audit"
    basket.finished_at = now
    basket.audit = json.dumps(decision.to_dict(), sort_keys=True, default=str)
    session.add(basket)
    if shopper is not None:
        shopper.trips += 1
        session.add(shopper)
    session.flush()
    return {"decision": decision.decision, "rescan": list(decision.rescan)}
