"""Checkout tables: audits, staff rescans and corrections, age checks, payment hand-offs.

Every staff action also lands in ``checkout_action`` so a disputed basket can be
explained afterwards: who rescanned what, who added or removed a line and why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from store_server.timeutil import utcnow

RESCAN_OUTCOMES = ("verified", "duplicate", "extra")
ADD_REASONS = ("missed_by_shopper", "shopper_request", "staff_error")
REMOVE_REASONS = ("not_in_trolley", "shopper_request", "staff_error")
EXTRA_RESOLUTIONS = ("add_to_basket", "staff_error")
HANDOFF_STATUSES = ("released", "paid", "expired")


class CheckoutAudit(SQLModel, table=True):
    """The audit decision of one finished basket, with what it was based on.

    ``decision``/``rescan`` are current (a partial audit that found a discrepancy
    becomes full); ``initial_decision`` is what the policy said at finish.
    """

    __tablename__ = "checkout_audit"

    basket_id: str = Field(primary_key=True, foreign_key="basket.id", max_length=36)
    store_id: str = Field(max_length=64, index=True)
    shopper_id: int | None = Field(default=None, foreign_key="shopper.id", index=True)
    decision: str = Field(max_length=8)
    initial_decision: str = Field(max_length=8)
    rescan: str = Field(sa_column=Column(Text, nullable=False))
    reasons: str = Field(sa_column=Column(Text, nullable=False))
    inputs: str = Field(sa_column=Column(Text, nullable=False))
    policy: str = Field(sa_column=Column(Text, nullable=False))
    probability: float = 0.0
    trust_score: float = 0.5
    decided_at: datetime = Field(default_factory=utcnow)
    escalated_at: datetime | None = None
    # Set when the basket is released: "passed", "discrepancy" or "not_audited".
    outcome: str | None = Field(default=None, max_length=16)
    closed_at: datetime | None = None
    closed_by: str | None = Field(default=None, max_length=100)
    # The store's audit policy version that decided (None: configuration, no version).
    policy_version: int | None = None


class RescanScan(SQLModel, table=True):
    """One staff rescan at the exit (console keyboard wedge or staff-mode handheld)."""

    __tablename__ = "checkout_rescan"

    id: int | None = Field(default=None, primary_key=True)
    basket_id: str = Field(foreign_key="basket.id", max_length=36, index=True)
    gtin: str = Field(max_length=14)
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    outcome: str = Field(max_length=12)
    source: str = Field(max_length=100)
    actor: str = Field(max_length=100)
    at: datetime = Field(default_factory=utcnow)
    # Only for extras: what staff decided ("add_to_basket" or "staff_error").
    resolution: str | None = Field(default=None, max_length=16)
    resolved_by: str | None = Field(default=None, max_length=100)
    resolved_at: datetime | None = None


class CheckoutCorrection(SQLModel, table=True):
    """A line staff added or removed at the exit, and whether the shopper was at fault."""

    __tablename__ = "checkout_correction"

    id: int | None = Field(default=None, primary_key=True)
    basket_id: str = Field(foreign_key="basket.id", max_length=36, index=True)
    kind: str = Field(max_length=8)  # add | remove
    gtin: str = Field(max_length=14)
    name: str = Field(max_length=200)
    qty: int
    reason: str = Field(max_length=20)
    note: str | None = Field(default=None, max_length=500)
    # Only an item the shopper left unscanned counts against the shopper; a later
    # "staff_error" removal of it takes the fault back (voided).
    shopper_fault: bool = False
    voided: bool = False
    actor: str = Field(max_length=100)
    at: datetime = Field(default_factory=utcnow)


class AgeApproval(SQLModel, table=True):
    """Staff checked the shopper's age for the basket's restricted items."""

    __tablename__ = "checkout_age_approval"

    basket_id: str = Field(primary_key=True, foreign_key="basket.id", max_length=36)
    user_id: int | None = Field(default=None, foreign_key="app_user.id")
    approved_by: str = Field(max_length=100)
    approved_at: datetime = Field(default_factory=utcnow)
    note: str | None = Field(default=None, max_length=500)


class PaymentHandoff(SQLModel, table=True):
    """What the POS needs to take payment: the frozen basket, its totals and a pick-up code."""

    __tablename__ = "payment_handoff"

    id: str = Field(primary_key=True, max_length=36)
    code: str = Field(max_length=16, unique=True, index=True)
    basket_id: str = Field(foreign_key="basket.id", max_length=36, unique=True)
    store_id: str = Field(max_length=64, index=True)
    status: str = Field(default="released", max_length=10)
    currency: str = Field(max_length=3)
    total_cents: int
    tax_cents: int
    record: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=100)
    paid_at: datetime | None = None
    pos_terminal_id: str | None = Field(default=None, max_length=64)
    payment_reference: str | None = Field(default=None, max_length=100)


class PosTerminal(SQLModel, table=True):
    """A till allowed to pick up hand-offs and report payments (bearer token, SHA-256 stored)."""

    __tablename__ = "pos_terminal"

    id: str = Field(primary_key=True, max_length=64)
    store_id: str = Field(max_length=64, index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class StaffAction(SQLModel, table=True):
    """The audit log: every action on a basket after it was finished."""

    __tablename__ = "checkout_action"

    id: int | None = Field(default=None, primary_key=True)
    basket_id: str = Field(foreign_key="basket.id", max_length=36, index=True)
    store_id: str = Field(max_length=64, index=True)
    actor: str = Field(max_length=100)
    user_id: int | None = Field(default=None, foreign_key="app_user.id")
    action: str = Field(max_length=40)
    detail: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = Field(default_factory=utcnow, index=True)


class PersonalLookup(SQLModel, table=True):
    """A staff member looked baskets up by something that names a shopper (a loyalty
    card): who, when, why, and how many baskets it showed. Kept for the store's data
    protection officer; such searches are never silent."""

    __tablename__ = "checkout_lookup"

    id: int | None = Field(default=None, primary_key=True)
    store_id: str | None = Field(default=None, max_length=64, index=True)
    actor: str = Field(max_length=100)
    user_id: int | None = Field(default=None, foreign_key="app_user.id")
    kind: str = Field(max_length=20)
    value: str = Field(max_length=32)
    reason: str = Field(max_length=200)
    results: int
    at: datetime = Field(default_factory=utcnow, index=True)


class StoreAuditPolicy(SQLModel, table=True):
    """A store's own audit policy, overriding ``settings.audit_policy``."""

    __tablename__ = "store_audit_policy"

    store_id: str = Field(primary_key=True, max_length=64)
    policy: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(max_length=100)
