"""Checkout at the exit: audit decisions, staff rescans and corrections, age checks,
release to payment, the POS callback and abandoned baskets.

Fairness rules the code keeps (shoppers' main complaints about self-scanning):

- only an item the *shopper* left unscanned is a discrepancy; a staff mistake (a
  wrong correction, an item from another trolley) never touches the shopper's trust;
- rescanning an item twice is not an "extra" item: the second scan is a duplicate;
- a partial audit grows to a full one only once a real discrepancy is confirmed.

Every function takes the session first and only flushes; the caller commits once.
"""

from __future__ import annotations

import functools
import json
import random
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, update
from sqlalchemy import func as sa_func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from store_server.baskets import service as baskets
from store_server.baskets.models import LOCKED_STATUSES, Basket, BasketLine, Shopper
from store_server.baskets.service import LineRecord
from store_server.checkout import wording
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
    ADD_REASONS,
    EXTRA_RESOLUTIONS,
    REMOVE_REASONS,
    AgeApproval,
    CheckoutAudit,
    CheckoutCorrection,
    PaymentHandoff,
    PosTerminal,
    RescanScan,
    StaffAction,
    StoreAuditPolicy,
)
from store_server.devices.service import DEVICE_TABLE
from store_server.pricing.money import format_cents
from store_server.pricing.promotions import Promotion
from store_server.pricing.variable_measure import VariableMeasureLayout, weight_price_cents
from store_server.security import hash_token, new_token
from store_server.shared.errors import (
    BadQuantity,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    NotInBasket,
    Unauthorized,
)
from store_server.timeutil import as_utc, utcnow

MAX_QTY = 999
MAX_NOTE = 500
HANDOFF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the till


@dataclass(frozen=True)
class Actor:
    """Who acts, and which store's baskets they may touch (``None``: every store)."""

    name: str
    store_id: str | None
    user_id: int | None = None
    # How a receipt names a person who acted (a display name or initials, not a login).
    shown_as: str | None = None


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


class BasketRef(Protocol):
    """The basket fields an audit-log entry names."""

    @property
    def id(self) -> str: ...
    @property
    def store_id(self) -> str: ...


ACTION_TABLE = StaffAction.__table__  # type: ignore[attr-defined]
AUDIT_TABLE = CheckoutAudit.__table__  # type: ignore[attr-defined]
_INSERT_ACTION = insert(ACTION_TABLE)
_INSERT_AUDIT = insert(AUDIT_TABLE)
_DEVICE_KIND = sa_select(DEVICE_TABLE.c.kind).where(DEVICE_TABLE.c.id == bindparam("id"))


def log_action(
    session: Session, basket: BasketRef, actor: Actor, action: str, **detail: object
) -> None:
    """Append to the basket's audit log (written at once, in the session's transaction)."""
    session.connection().execute(
        _INSERT_ACTION,
        {
            "basket_id": basket.id,
            "store_id": basket.store_id,
            "actor": actor.name,
            "user_id": actor.user_id,
            "action": action,
            "detail": _dumps(detail),
            "at": utcnow(),
        },
    )


# --- finishing: the audit decision -------------------------------------------------------


POLICY_TABLE = StoreAuditPolicy.__table__  # type: ignore[attr-defined]
_STORE_POLICY = sa_select(POLICY_TABLE.c.policy).where(
    POLICY_TABLE.c.store_id == bindparam("store_id")
)


def policy_for_store(session: Session, store_id: str, default: AuditPolicy) -> AuditPolicy:
    text = session.connection().execute(_STORE_POLICY, {"store_id": store_id}).scalar()
    return default if text is None else _policy_from_text(text)


def policy_for_trip(
    session: Session, basket: baskets.BasketRow, default: AuditPolicy
) -> tuple[AuditPolicy, int | None]:
    """The policy deciding this trip's audit and its version: the store's newest audit
    policy version in force when the trip *started* (``store_server.manager.policies``),
    else the store's policy or the configured one (no version)."""
    from store_server.manager.policies import version_for_trip

    found = version_for_trip(session, basket.store_id, basket.id)
    if found is not None:
        return _policy_from_text(found[1]), found[0]
    return policy_for_store(session, basket.store_id, default), None


@functools.lru_cache(maxsize=64)  # a store's policy, parsed once per version
def _policy_from_text(text: str) -> AuditPolicy:
    return AuditPolicy.from_config(json.loads(text))


@functools.lru_cache(maxsize=64)  # stored with every audit; a policy never changes
def _policy_text(policy: AuditPolicy) -> str:
    return _dumps(policy.to_dict())


def set_store_policy(
    session: Session, store_id: str, config: dict[str, Any], *, actor: Actor
) -> AuditPolicy:
    """Validate and store a store's own policy (every problem reported, nothing half-written)."""
    policy = AuditPolicy.from_config(config)
    row = session.get(StoreAuditPolicy, store_id)
    if row is None:
        row = StoreAuditPolicy(store_id=store_id, policy="{}", updated_by=actor.name)
    row.policy = _dumps(config)
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
            "audit": _dumps(decision.to_dict()),
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
            "rescan": _dumps(list(decision.rescan)),
            "reasons": _dumps(list(decision.reasons)),
            "inputs": _dumps(inputs.to_dict()),
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


# --- loading and describing baskets ------------------------------------------------------


def get_basket(
    session: Session, basket_id: object, actor: Actor, *, for_update: bool = False
) -> Basket:
    """The basket, if it exists and belongs to the actor's store."""
    if not isinstance(basket_id, str) or not 1 <= len(basket_id) <= 36:
        raise NotFound("no such basket")
    query = select(Basket).where(Basket.id == basket_id)
    if for_update:
        query = query.with_for_update()
    basket = session.exec(query).first()
    if basket is None:
        raise NotFound(f"no basket {basket_id}")
    if actor.store_id is not None and basket.store_id != actor.store_id:
        raise Forbidden("this basket belongs to another store")
    return basket


def _audit(session: Session, basket_id: str) -> CheckoutAudit | None:
    return session.get(CheckoutAudit, basket_id)


def _handoff(session: Session, basket_id: str) -> PaymentHandoff | None:
    return session.exec(select(PaymentHandoff).where(PaymentHandoff.basket_id == basket_id)).first()


def _rescans(session: Session, basket_id: str) -> list[RescanScan]:
    return list(
        session.exec(
            select(RescanScan).where(RescanScan.basket_id == basket_id).order_by(col(RescanScan.id))
        ).all()
    )


def _corrections(session: Session, basket_id: str) -> list[CheckoutCorrection]:
    return list(
        session.exec(
            select(CheckoutCorrection)
            .where(CheckoutCorrection.basket_id == basket_id)
            .order_by(col(CheckoutCorrection.id))
        ).all()
    )


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
    audit = _audit(session, basket.id)
    rescan = json.loads(audit.rescan) if audit else []
    scans = _rescans(session, basket.id)
    states = line_states(lines, rescan, scans, _corrections(session, basket.id))
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
    audit = _audit(session, basket.id)
    handoff = _handoff(session, basket.id)
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
        "finished_at": _iso(basket.finished_at),
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
    audit = _audit(session, basket.id)
    rescan = json.loads(audit.rescan) if audit else []
    scans = _rescans(session, basket.id)
    corrections = _corrections(session, basket.id)
    states = line_states(lines, rescan, scans, corrections)
    priced = baskets.price_basket(lines, promotions, at=at, loyalty=bool(basket.loyalty_card))
    approval = session.get(AgeApproval, basket.id)
    handoff = _handoff(session, basket.id)
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
                "decided_at": _iso(audit.decided_at),
                "escalated_at": _iso(audit.escalated_at),
                "policy_version": audit.policy_version,
                "outcome": audit.outcome,
            },
            "extras": [
                {
                    "scan_id": s.id,
                    "gtin": s.gtin,
                    "name": s.name,
                    "at": _iso(s.at),
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
                    "at": _iso(s.at),
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
                    "at": _iso(c.at),
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
                "approved_at": _iso(approval.approved_at),
                "note": approval.note,
            },
            "handoff": None if handoff is None else handoff_view(handoff),
            "problems": open_problems(session, basket) if basket.status in LOCKED_STATUSES else [],
            "actions": [
                {
                    "at": _iso(a.at),
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


# --- staff work at the exit --------------------------------------------------------------


def _changeable(session: Session, basket: Basket) -> None:
    """Rescans and corrections only while the basket waits at the exit, before release."""
    if basket.status == "paid":
        raise Conflict("the basket is already paid")
    if basket.status == "abandoned":
        raise Conflict("the basket expired (abandoned)")
    if basket.status not in LOCKED_STATUSES:
        raise Conflict("the shopper has not finished this basket yet")
    handoff = _handoff(session, basket.id)
    if handoff is not None:
        raise Conflict(f"the basket was released to payment (code {handoff.code}); it is frozen")


def _code(code: object) -> str:
    if not isinstance(code, str) or not code.strip() or len(code) > 64:
        raise InvalidInput("code must be the scanned digits", problems=["code: 1-64 characters"])
    return code.strip()


def _touch(basket: Basket, at: datetime) -> None:
    basket.updated_at = at


def rescan(
    session: Session,
    basket_id: str,
    code: object,
    *,
    actor: Actor,
    source: str,
    layouts: Sequence[VariableMeasureLayout],
    at: datetime | None = None,
) -> RescanScan:
    """Record one staff rescan: it verifies a unit, repeats one (duplicate) or is extra."""
    at = at or utcnow()
    code = _code(code)
    basket = get_basket(session, basket_id, actor, for_update=True)
    _changeable(session, basket)
    item = baskets.price_code(session, code, qty=1, layouts=layouts, at=at)
    lines = baskets.basket_lines(session, basket.id)
    audit = _audit(session, basket.id)
    states = line_states(
        lines,
        json.loads(audit.rescan) if audit else [],
        _rescans(session, basket.id),
        _corrections(session, basket.id),
    )
    state = states.get(item.gtin)
    if state is None:
        outcome = "extra"
    elif state.verified < state.expected:
        outcome = "verified"
    else:
        outcome = "duplicate"  # scanned twice by staff: not a discrepancy
    scan = RescanScan(
        basket_id=basket.id,
        gtin=item.gtin,
        code=code,
        name=item.name,
        outcome=outcome,
        source=source,
        actor=actor.name,
        at=at,
    )
    session.add(scan)
    _touch(basket, at)
    session.add(basket)
    log_action(
        session, basket, actor, "rescan", code=code, gtin=item.gtin, name=item.name, outcome=outcome
    )
    session.flush()
    return scan


def _qty(qty: object) -> int:
    if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= MAX_QTY:
        raise BadQuantity(f"qty must be a whole number from 1 to {MAX_QTY}")
    return qty


def _note(note: object) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise InvalidInput(f"note must be text of at most {MAX_NOTE} characters")
    return note.strip() or None


def _escalate(session: Session, basket: Basket, reason: str, at: datetime) -> None:
    """A confirmed discrepancy turns a partial (or no) audit into a full rescan."""
    audit = _audit(session, basket.id)
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
    audit.rescan = _dumps(list(full.rescan))
    audit.reasons = _dumps(list(full.reasons))
    audit.escalated_at = at
    session.add(audit)
    basket.status = "audit"
    basket.audit = _dumps(full.to_dict())
    session.add(basket)


def add_line(
    session: Session,
    basket_id: str,
    *,
    code: object,
    qty: object,
    reason: object,
    note: object = None,
    actor: Actor,
    layouts: Sequence[VariableMeasureLayout],
    promotions: Sequence[Promotion],
    at: datetime | None = None,
) -> CheckoutCorrection:
    """Staff add an item; only ``missed_by_shopper`` counts against the shopper."""
    at = at or utcnow()
    if reason not in ADD_REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(ADD_REASONS)}")
    code, qty, note = _code(code), _qty(qty), _note(note)
    basket = get_basket(session, basket_id, actor, for_update=True)
    _changeable(session, basket)
    item = baskets.price_code(session, code, qty=qty, layouts=layouts, at=at)
    correction = _add(session, basket, item, qty, str(reason), note, actor, at)
    baskets.snapshot(session, basket, promotions, at=at)
    session.flush()
    return correction


def _add(
    session: Session,
    basket: Basket,
    item: baskets.PricedItem,
    qty: int,
    reason: str,
    note: str | None,
    actor: Actor,
    at: datetime,
) -> CheckoutCorrection:
    baskets.add_item(session, basket, item, qty=qty)
    correction = CheckoutCorrection(
        basket_id=basket.id,
        kind="add",
        gtin=item.gtin,
        name=item.name,
        qty=qty,
        reason=reason,
        note=note,
        shopper_fault=reason == "missed_by_shopper",
        actor=actor.name,
        at=at,
    )
    session.add(correction)
    log_action(
        session,
        basket,
        actor,
        "line_added",
        gtin=item.gtin,
        name=item.name,
        qty=qty,
        reason=reason,
        note=note,
    )
    if correction.shopper_fault:
        session.flush()
        _escalate(session, basket, f"discrepancy: {item.name} was not scanned; full rescan", at)
    return correction


def remove_line(
    session: Session,
    basket_id: str,
    line_id: object,
    *,
    qty: object,
    reason: object,
    note: object = None,
    actor: Actor,
    promotions: Sequence[Promotion],
    at: datetime | None = None,
) -> CheckoutCorrection:
    """Staff take units off a line. A ``staff_error`` removal of an item staff added as
    missed by the shopper takes that discrepancy back."""
    at = at or utcnow()
    if reason not in REMOVE_REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(REMOVE_REASONS)}")
    qty, note = _qty(qty), _note(note)
    basket = get_basket(session, basket_id, actor, for_update=True)
    _changeable(session, basket)
    line = session.get(BasketLine, line_id) if isinstance(line_id, int) else None
    if line is None or line.basket_id != basket.id:
        raise NotFound(f"no line {line_id} in this basket")
    if qty > line.qty:
        raise NotInBasket(f"the line holds {line.qty} of {line.name}, cannot remove {qty}")
    gtin, name = line.gtin, line.name
    line.qty -= qty
    if line.qty == 0:
        session.delete(line)
    else:
        line.line_total_cents = (
            weight_price_cents(line.weight_g, line.unit_price_cents) * line.qty
            if line.weight_g is not None
            else line.unit_price_cents * line.qty
        )
        session.add(line)
    if reason == "staff_error":
        remaining = qty
        for c in reversed(_corrections(session, basket.id)):
            if remaining <= 0:
                break
            if c.kind == "add" and c.gtin == gtin and not c.voided:
                c.voided = True
                remaining -= c.qty
                session.add(c)
    correction = CheckoutCorrection(
        basket_id=basket.id,
        kind="remove",
        gtin=gtin,
        name=name,
        qty=qty,
        reason=str(reason),
        note=note,
        actor=actor.name,
        at=at,
    )
    session.add(correction)
    log_action(
        session,
        basket,
        actor,
        "line_removed",
        gtin=gtin,
        name=name,
        qty=qty,
        reason=reason,
        note=note,
    )
    session.flush()
    baskets.snapshot(session, basket, promotions, at=at)
    session.flush()
    return correction


def resolve_extra(
    session: Session,
    basket_id: str,
    scan_id: object,
    *,
    resolution: object,
    actor: Actor,
    layouts: Sequence[VariableMeasureLayout],
    promotions: Sequence[Promotion],
    at: datetime | None = None,
) -> RescanScan:
    """An item rescanned but not in the basket: the shopper missed it, or staff erred."""
    at = at or utcnow()
    if resolution not in EXTRA_RESOLUTIONS:
        raise InvalidInput(f"resolution must be one of {', '.join(EXTRA_RESOLUTIONS)}")
    basket = get_basket(session, basket_id, actor, for_update=True)
    _changeable(session, basket)
    scan = session.get(RescanScan, scan_id) if isinstance(scan_id, int) else None
    if scan is None or scan.basket_id != basket.id or scan.outcome != "extra":
        raise NotFound(f"no extra item {scan_id} in this basket")
    if scan.resolution is not None:
        raise Conflict(f"this extra item was already resolved ({scan.resolution})")
    scan.resolution = str(resolution)
    scan.resolved_by = actor.name
    scan.resolved_at = at
    session.add(scan)
    if resolution == "add_to_basket":
        item = baskets.price_code(session, scan.code, qty=1, layouts=layouts, at=at)
        _add(session, basket, item, 1, "missed_by_shopper", None, actor, at)
        baskets.snapshot(session, basket, promotions, at=at)
    else:
        log_action(session, basket, actor, "extra_dismissed", gtin=scan.gtin, name=scan.name)
        _touch(basket, at)
        session.add(basket)
    session.flush()
    return scan


def approve_age(
    session: Session, basket_id: str, *, actor: Actor, note: object = None
) -> AgeApproval:
    """Staff saw proof of age; a second approval keeps the first one's name and time."""
    note = _note(note)
    if actor.user_id is None:
        raise Forbidden("only a logged-in staff member can approve an age check")
    basket = get_basket(session, basket_id, actor, for_update=True)
    _changeable(session, basket)
    existing = session.get(AgeApproval, basket.id)
    if existing is not None:
        return existing
    if not any(line.age_restricted for line in baskets.basket_lines(session, basket.id)):
        raise Conflict("this basket holds no age-restricted item")
    approval = AgeApproval(
        basket_id=basket.id,
        user_id=actor.user_id,
        approved_by=actor.shown_as or actor.name,
        note=note,
    )
    session.add(approval)
    log_action(session, basket, actor, "age_approved", note=note)
    _touch(basket, approval.approved_at)
    session.add(basket)
    session.flush()
    return approval


# --- release to payment and the POS ------------------------------------------------------


def _new_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(HANDOFF_ALPHABET) for _ in range(10))
        if session.exec(select(PaymentHandoff).where(PaymentHandoff.code == code)).first() is None:
            return code


def pos_payload(code: str) -> str:
    """What the QR code and the Code128 on the console carry: the POS looks the code up."""
    return f"CADDIE-PAY:{code}"


def handoff_view(handoff: PaymentHandoff) -> dict[str, Any]:
    return {
        **json.loads(handoff.record),
        "status": handoff.status,
        "paid_at": _iso(handoff.paid_at),
        "payment_reference": handoff.payment_reference,
        "pos_terminal_id": handoff.pos_terminal_id,
    }


def handoff_record(session: Session, basket_id: str, actor: Actor) -> dict[str, Any]:
    """The frozen hand-off of a released basket (what receipts are printed from)."""
    basket = get_basket(session, basket_id, actor)
    handoff = _handoff(session, basket.id)
    if handoff is None:
        raise NotFound("this basket has not been released to payment; no receipt yet")
    return handoff_view(handoff)


def release(
    session: Session,
    basket_id: str,
    *,
    actor: Actor,
    promotions: Sequence[Promotion],
    at: datetime | None = None,
) -> PaymentHandoff:
    """Close the audit, update the shopper's trust and freeze the basket for the POS.

    Releasing twice returns the first hand-off (a double click at a busy exit).
    """
    at = at or utcnow()
    basket = get_basket(session, basket_id, actor, for_update=True)
    existing = _handoff(session, basket.id)
    if existing is not None and basket.status in LOCKED_STATUSES:
        return existing
    _changeable(session, basket)
    problems = open_problems(session, basket)
    if problems:
        raise Conflict("cannot release to payment yet: " + "; ".join(problems), problems=problems)
    view = baskets.snapshot(session, basket, promotions, at=at)
    audit = _audit(session, basket.id)
    outcome = _close_audit(session, basket, audit, actor, at)
    approval = session.get(AgeApproval, basket.id)
    lines = baskets.basket_lines(session, basket.id)
    handoff_id = str(uuid.uuid4())
    code = _new_code(session)
    record = {
        "handoff_id": handoff_id,
        "code": code,
        "pos_payload": pos_payload(code),
        "basket_id": basket.id,
        "store_id": basket.store_id,
        "device_id": basket.device_id,
        "loyalty_card": basket.loyalty_card,
        "currency": basket.currency,
        "lines": [
            {
                **baskets.line_view(line),
                "tax_rate": line.tax_rate,
                "age_restricted": line.age_restricted,
            }
            for line in lines
        ],
        "discounts": view["discounts"],
        "item_count": view["item_count"],
        "subtotal_cents": sum(line.line_total_cents for line in lines),
        "total_cents": view["total_cents"],
        "tax_cents": view["tax_cents"],
        "taxes": view["taxes"],
        "audit": {"decision": audit.decision if audit else "none", "outcome": outcome},
        "age_check": None
        if approval is None
        else {"approved_by": approval.approved_by, "approved_at": _iso(approval.approved_at)},
        "released_at": as_utc(at).isoformat(),
        "released_by": actor.name,
    }
    handoff = PaymentHandoff(
        id=handoff_id,
        code=code,
        basket_id=basket.id,
        store_id=basket.store_id,
        currency=basket.currency,
        total_cents=view["total_cents"],
        tax_cents=view["tax_cents"],
        record=_dumps(record),
        created_at=at,
        created_by=actor.name,
    )
    session.add(handoff)
    log_action(
        session,
        basket,
        actor,
        "released",
        code=code,
        total_cents=view["total_cents"],
        audit_outcome=outcome,
    )
    session.flush()
    return handoff


def _close_audit(
    session: Session, basket: Basket, audit: CheckoutAudit | None, actor: Actor, at: datetime
) -> str:
    """Passed audits raise trust, shopper discrepancies lower it; staff errors never count."""
    if audit is None:
        return "not_audited"
    if audit.decision == "none":
        outcome = "not_audited"
    else:
        faults = [c for c in _corrections(session, basket.id) if c.shopper_fault and not c.voided]
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


def enroll_pos_terminal(session: Session, terminal_id: str, *, store_id: str) -> str:
    """Register a till (re-enrolling revokes its old token); returns the token, shown once."""
    from store_server.devices.service import DEVICE_ID

    if not isinstance(terminal_id, str) or not DEVICE_ID.match(terminal_id):
        raise InvalidInput("terminal id must be 1-64 letters, digits or . _ : -")
    token = new_token()
    row = session.get(PosTerminal, terminal_id)
    if row is None:
        row = PosTerminal(id=terminal_id, store_id=store_id, token_hash=hash_token(token))
    row.token_hash = hash_token(token)
    row.store_id = store_id
    row.revoked_at = None
    session.add(row)
    session.flush()
    return token


def pos_terminal(session: Session, token: str) -> PosTerminal:
    if not token or len(token) > 256:
        raise Unauthorized("POS token required (Authorization: Bearer <token>)")
    row = session.exec(
        select(PosTerminal).where(PosTerminal.token_hash == hash_token(token))
    ).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked POS token")
    return row


def handoff_for_pos(
    session: Session, code: object, terminal: PosTerminal, *, for_update: bool = False
) -> PaymentHandoff:
    if isinstance(code, str) and code.startswith("CADDIE-PAY:"):
        code = code[len("CADDIE-PAY:") :]
    if not isinstance(code, str) or not 1 <= len(code) <= 16:
        raise NotFound("no such hand-off")
    query = select(PaymentHandoff).where(PaymentHandoff.code == code.upper())
    if for_update:
        query = query.with_for_update()
    handoff = session.exec(query).first()
    if handoff is None:
        raise NotFound(f"no hand-off {code}")
    if handoff.store_id != terminal.store_id:
        raise Forbidden("this hand-off belongs to another store")
    return handoff


def mark_paid(
    session: Session,
    code: object,
    *,
    terminal: PosTerminal,
    payment_reference: object,
    amount_cents: object,
    at: datetime | None = None,
) -> tuple[PaymentHandoff, bool]:
    """The POS took the money: the basket is paid and the handheld is free again.

    Idempotent by payment reference: the same call again answers the same and changes
    nothing (``replayed`` is True); another reference for a paid basket is a conflict.
    """
    if not isinstance(payment_reference, str) or not 1 <= len(payment_reference) <= 100:
        raise InvalidInput("payment_reference must be 1-100 characters")
    handoff = handoff_for_pos(session, code, terminal, for_update=True)
    return _settle(
        session,
        handoff,
        Actor(f"pos:{terminal.id}", terminal.store_id),
        reference=payment_reference,
        amount_cents=amount_cents,
        terminal_id=terminal.id,
        at=at or utcnow(),
    )


def record_manual_payment(
    session: Session,
    basket_id: str,
    *,
    actor: Actor,
    method: object,
    reference: object,
    amount_cents: object,
    note: object = None,
    at: datetime | None = None,
) -> tuple[PaymentHandoff, bool]:
    """Staff took the money another way (cash at a staffed till, a card terminal with no
    integration): the basket is paid as if a till had reported it, and the audit log says
    who took it, how, and the slip's reference. Idempotent by reference, like a till."""
    from store_server.checkout.schemas import PAYMENT_METHODS

    if method not in PAYMENT_METHODS:
        raise InvalidInput(f"method must be one of {', '.join(PAYMENT_METHODS)}")
    if (
        not isinstance(reference, str)
        or not 1 <= len(reference.strip()) <= 100
        or not reference.isprintable()
    ):
        raise InvalidInput("reference must be 1-100 printable characters")
    note = _note(note)
    if actor.user_id is None:
        raise Forbidden("only a logged-in staff member can record a payment")
    basket = get_basket(session, basket_id, actor)
    handoff = session.exec(
        select(PaymentHandoff).where(PaymentHandoff.basket_id == basket.id).with_for_update()
    ).first()
    if handoff is None:
        raise Conflict("release the basket to payment first")
    return _settle(
        session,
        handoff,
        actor,
        reference=reference.strip(),
        amount_cents=amount_cents,
        terminal_id=None,
        at=at or utcnow(),
        method=str(method),
        note=note,
    )


def _settle(
    session: Session,
    handoff: PaymentHandoff,
    actor: Actor,
    *,
    reference: str,
    amount_cents: object,
    terminal_id: str | None,
    at: datetime,
    **detail: object,
) -> tuple[PaymentHandoff, bool]:
    """Mark a released hand-off and its basket paid, once (see :func:`mark_paid`)."""
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise InvalidInput("amount_cents must be a whole number of cents")
    if handoff.status == "paid":
        if handoff.payment_reference == reference:
            return handoff, True
        raise Conflict("this basket is already paid (another payment reference)")
    if handoff.status == "expired":
        raise Conflict("this hand-off expired with its abandoned basket")
    if amount_cents != handoff.total_cents:
        raise Conflict(
            f"the amount {format_cents(amount_cents, handoff.currency)} does not match "
            f"the total {format_cents(handoff.total_cents, handoff.currency)}"
        )
    basket = session.exec(
        select(Basket).where(Basket.id == handoff.basket_id).with_for_update()
    ).one()
    if basket.status not in LOCKED_STATUSES:
        raise Conflict(f"the basket is {basket.status}")
    handoff.status = "paid"
    handoff.paid_at = at
    handoff.payment_reference = reference
    handoff.pos_terminal_id = terminal_id
    basket.status = "paid"
    basket.updated_at = at
    session.add(handoff)
    session.add(basket)
    log_action(
        session,
        basket,
        actor,
        "paid",
        payment_reference=reference,
        amount_cents=amount_cents,
        **detail,
    )
    session.flush()
    return handoff, False


# --- abandoned baskets -------------------------------------------------------------------


def expire_baskets(
    session: Session, *, minutes: int, now: datetime | None = None
) -> list[tuple[str, str]]:
    """Mark baskets with no activity for ``minutes`` abandoned (open, or finished and unpaid).

    Returns (basket_id, store_id) of each so consoles can drop them from the queue.
    """
    now = now or utcnow()
    cutoff = now - timedelta(minutes=minutes)
    stale = session.exec(
        select(Basket)
        .where(col(Basket.status).in_(("open", *LOCKED_STATUSES)), col(Basket.updated_at) < cutoff)
        .with_for_update()
    ).all()
    expired: list[tuple[str, str]] = []
    system = Actor("system", None)
    for basket in stale:
        previous = basket.status
        basket.status = "abandoned"
        basket.updated_at = now
        session.add(basket)
        handoff = _handoff(session, basket.id)
        if handoff is not None and handoff.status == "released":
            handoff.status = "expired"
            session.add(handoff)
        if previous != "open":
            log_action(
                session, basket, system, "abandoned", previous_status=previous, idle_minutes=minutes
            )
        expired.append((basket.id, basket.store_id))
    session.flush()
    return expired
