"""Consent records and personal offers.

``consent_event`` is append-only: a shopper's current choice is their newest row, and
the rows before it are the history a regulator may ask for (when, through which
channel, under which wording). ``offer_grant`` is one offer made on one trip; an
accepted grant's promotion is priced into that basket by the promotion engine.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from store_server.timeutil import utcnow


class ConsentEvent(SQLModel, table=True):
    __tablename__ = "consent_event"
    __table_args__ = (Index("ix_consent_event_shopper_at", "shopper_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    shopper_id: int = Field(foreign_key="shopper.id")
    opt_in: bool
    wording_version: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    device_id: str | None = Field(default=None, max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow)


class OfferGrant(SQLModel, table=True):
    __tablename__ = "offer_grant"

    id: str = Field(primary_key=True, max_length=36)
    basket_id: str = Field(foreign_key="basket.id", max_length=36, index=True)
    shopper_id: int = Field(foreign_key="shopper.id", index=True)
    store_id: str = Field(max_length=64, index=True)
    template_id: str = Field(max_length=40)
    label: str = Field(max_length=200)
    reason: str = Field(max_length=200)
    promotion: str = Field(sa_column=Column(Text, nullable=False))
    offered_at: datetime = Field(default_factory=utcnow, index=True)
    accepted_at: datetime | None = None
