"""The exit audit of a trip from start to end: decided when the shopper finishes (by the
store's policy in force when the trip started), grown to a full rescan once a real
discrepancy is confirmed, and closed at release, where passed audits raise the shopper's
trust and shopper discrepancies lower it (staff errors never count).

Every function takes the session first and only flushes; the caller commits once.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy import func as sa_func
from sqlalchemy import select as sa_select
from sqlmodel import Session

from store_server.baskets import service as baskets
from store_server.baskets.models import Basket, Shopper
from store_server.checkout.audit_policy import (
    AuditDecision,
    AuditInputs,
    AuditLine,
    AuditPolicy,
    ShopperHistory,
    decide,
    escalate,
)
from store_server.checkout.models import (
    CheckoutAudit,
    StoreAuditPolicy,
)
from store_server.checkout.records import (
    Actor,
    audit_of,
    corrections_of,
    dumps,
    log_action,
)
from store_server.devices.service import DEVICE_TABLE
from store_server.manager.models import AuditPolicyVersion
from store_server.timeutil import as_utc, utcnow

AUDIT_TABLE = CheckoutAudit.__table__  # type: ignore[attr-defined]


_INSERT_AUDIT = insert(AUDIT_TABLE)


_DEVICE_KIND = sa_select(DEVICE_TABLE.c.kind).where(DEVICE_TABLE.c.id == bindparam("id"))


POLICY_TABLE = StoreAuditPolicy.__table__  # type: ignore[attr-defined]


_STORE_POLICY = sa_select(POLICY_TABLE.c.policy).where(
    POLICY_TABLE.c.store_id == bindparam("store_id")
)


# The audit policy versions the manager console writes (store_server.manager.policies).
VERSIONS = AuditPolicyVersion.__table__  # type: ignore[attr-defined]
BASKETS = Basket.__table__  # type: ignore[attr-defined]

_FOR_TRIP = (
    sa_select(VERSIONS.c.version, VERSIONS.c.policy)
    .where(
        VERSIONS.c.store_id == bindparam("store_id"),
        VERSIONS.c.effective_from
        <= sa_select(BASKETS.c.created_at)
        .where(BASKETS.c.id == bindparam("basket_id"))
        .scalar_subquery(),
    )
    .order_by(VERSIONS.c.version.desc())
    .limit(1)
)


def version_for_trip(session: Session, store_id: str, basket_id: str) -> tuple[int, str] | None:
    """(version, policy JSON) in force when the basket was started, or None."""
    row = (
        session.connection()
        .execute(_FOR_TRIP, {"store_id": store_id, "basket_id": basket_id})
        .first()
    )
    return None if row is None else (int(row[0]), str(row[1]))


def policy_for_store(session: Session, store_id: str, default: AuditPolicy) -> AuditPolicy:
    text = session.connection().execute(_STORE_POLICY, {"store_id": store_id}).scalar()
    return default if text is None else _policy_from_text(text)


def policy_for_trip(
    session: Session, basket: baskets.BasketRow, default: AuditPolicy
) -> tuple[AuditPolicy, int | None]:
    """The policy deciding this trip's audit and its version: the store's newest audit
    policy version in force when the trip *started* (versions are written by
    ``store_server.manager.policies``),
    else the store's policy or the configured one (no version)."""
    found = version_for_trip(session, basket.store_id, basket.id)
    if found is not None:
        return _policy_from_text(found[1]), found[0]
    return policy_for_store(session, basket.store_id, default), None


@functools.lru_cache(maxsize=64)  # a store's policy, parsed once per version
def _policy_from_text(text: str) -> AuditPolicy:
    return AuditPolicy.from_config(json.loads(text))


@functools.lru_cache(maxsize=64)  # stored with every audit; a policy never changes
def _policy_text(policy: AuditPolicy) -> str:
    return dumps(policy.to_dict())


def set_store_policy(
    session: Session, store_id: str, config: dict[str, Any], *, actor: Actor
) -> AuditPolicy:
    """Validate and store a store's own policy (every problem reported, nothing half-written)."""
    policy = AuditPolicy.from_config(config)
    row = session.get(StoreAuditPolicy, store_id)
    if row is None:
        row = StoreAuditPolicy(store_id=store_id, policy="{}", updated_by=actor.name)
    row.policy = dumps(config)
    row.updated_at = utcnow()
    row.updated_by = actor.name
    session.add(row)
    session.flush()
    return policy


SHOPPER_TABLE = baskets.SHOPPER_TABLE


_SHOPPER_HISTORY = sa_select(
    SHOPPER_TABLE.c.trips,
    SHOPPER_TABLE.c.audits_passed,
    SHOPPER_TABLE.c.discrepancies,
    SHOPPER_TABLE.c.last_audit_at,
    sa_select(sa_func.max(AUDIT_TABLE.c.closed_at))
    .where(
        AUDIT_TABLE.c.shopper_id == SHOPPER_TABLE.c.id,
        AUDIT_TABLE.c.outcome == "discrepancy",
    )
    .scalar_subquery(),
).where(SHOPPER_TABLE.c.id == bindparam("id"))


_COUNT_TRIP = (
    update(SHOPPER_TABLE)
    .where(SHOPPER_TABLE.c.id == bindparam("p_id"))
    .values(trips=SHOPPER_TABLE.c.trips + 1)
)


# The totals update of every basket change, plus what finishing sets.
_FINISH_BASKET = baskets.UPDATE_TOTALS.values(
    status=bindparam("status"), finished_at=bindparam("finished_at"), audit=bindparam("audit")
)


def shopper_history(session: Session, shopper_id: int | None) -> ShopperHistory:
    """What the audit policy knows of a shopper (a first trip when unknown)."""
    row = (
        None
        if shopper_id is None
        else session.connection().execute(_SHOPPER_HISTORY, {"id": shopper_id}).first()
    )
    if row is None:
        return ShopperHistory.first_trip()
    trips, passed, discrepancies, last_audit, last_discrepancy = row
    return ShopperHistory(
        trips=trips,
        audits_passed=passed,
        discrepancies=discrepancies,
        last_audit_at=as_utc(last_audit) if last_audit else None,
        last_discrepancy_at=as_utc(last_discrepancy) if last_discrepancy else None,
    )


def _device_kind(session: Session, device_id: str) -> str | None:
    return session.connection().execute(_DEVICE_KIND, {"id": device_id}).scalar()


def finish_basket(
    session: Session,
    basket: baskets.BasketRow,
    view: dict[str, Any],
    *,
    policy: AuditPolicy,
    rng: random.Random,
    lines: Sequence[baskets.LineRecord] | None = None,
) -> dict[str, Any]:
    """Lock the basket with the totals of ``view`` and decide its audit; returns the
    protocol's ``audit`` object. ``lines`` are the basket's lines when the caller has them.

    The decision is stored with its inputs, the policy and the reasons so staff can
    tell the shopper why they were picked. ``basket`` is updated to what was written.
    """
    now = utcnow()
    policy, policy_version = policy_for_trip(session, basket, policy)
    if lines is None:
        lines = baskets.basket_lines(session, basket.id)
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
        history=shopper_history(session, basket.shopper_id),
        now=now,
        currency=basket.currency,
        own_phone=_device_kind(session, basket.device_id) == "phone",
    )
    decision = decide(inputs, policy, rng)
    basket.status = "finishing" if decision.decision == "none" else "audit"
    basket.updated_at = now
    connection = session.connection()
    connection.execute(
        _FINISH_BASKET,
        {
            "p_id": basket.id,
            "status": basket.status,
            **baskets.basket_totals(view, now),
            "finished_at": now,
            "audit": dumps(decision.to_dict()),
        },
    )
    connection.execute(
        _INSERT_AUDIT,
        {
            "basket_id": basket.id,
            "store_id": basket.store_id,
            "shopper_id": basket.shopper_id,
            "decision": decision.decision,
            "initial_decision": decision.decision,
            "rescan": dumps(list(decision.rescan)),
            "reasons": dumps(list(decision.reasons)),
            "inputs": dumps(inputs.to_dict()),
            "policy": _policy_text(policy),
            "probability": decision.probability,
            "trust_score": decision.trust_score,
            "decided_at": now,
            "policy_version": policy_version,
        },
    )
    if basket.shopper_id is not None:
        connection.execute(_COUNT_TRIP, {"p_id": basket.shopper_id})
    log_action(
        session,
        basket,
        Actor(f"device:{basket.device_id}", basket.store_id),
        "finished",
        decision=decision.decision,
        rescan=list(decision.rescan),
    )
    return {"decision": decision.decision, "rescan": list(decision.rescan)}


def escalate_to_full(session: Session, basket: Basket, reason: str, at: datetime) -> None:
    """A confirmed discrepancy turns a partial (or no) audit into a full rescan."""
    audit = audit_of(session, basket.id)
    if audit is None or audit.decision == "full":
        return
    current = AuditDecision(
        audit.decision,  # type: ignore[arg-type]
        tuple(json.loads(audit.rescan)),
        audit.probability,
        audit.trust_score,
        tuple(json.loads(audit.reasons)),
    )
    gtins = [line.gtin for line in baskets.basket_lines(session, basket.id)]
    full = escalate(current, gtins, reason)
    audit.decision = full.decision
    audit.rescan = dumps(list(full.rescan))
    audit.reasons = dumps(list(full.reasons))
    audit.escalated_at = at
    session.add(audit)
    basket.status = "audit"
    basket.audit = dumps(full.to_dict())
    session.add(basket)


def close_audit(
    session: Session, basket: Basket, audit: CheckoutAudit | None, actor: Actor, at: datetime
) -> str:
    """Passed audits raise trust, shopper discrepancies lower it; staff errors never count."""
    if audit is None:
        return "not_audited"
    if audit.decision == "none":
        outcome = "not_audited"
    else:
        faults = [c for c in corrections_of(session, basket.id) if c.shopper_fault and not c.voided]
        outcome = "discrepancy" if faults else "passed"
        shopper = session.get(Shopper, basket.shopper_id) if basket.shopper_id else None
        if shopper is not None:
            if faults:
                shopper.discrepancies += 1
            else:
                shopper.audits_passed += 1
            shopper.last_audit_at = at
            session.add(shopper)
    audit.outcome = outcome
    audit.closed_at = at
    audit.closed_by = actor.name
    session.add(audit)
    return outcome
