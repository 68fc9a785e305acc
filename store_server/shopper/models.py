"""Kiosk pairing codes, used join tickets and the trips of shoppers' own phones."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from store_server.timeutil import utcnow


class PairingCode(SQLModel, table=True):
    """A one-time code that hands a store handheld's token to the shopper app on it.

    Only the code's SHA-256 is kept: the code itself travels once, in the fragment of
    the pairing link, and is never stored or logged."""

    __tablename__ = "shopper_pairing_code"

    code_hash: str = Field(primary_key=True, max_length=64)
    device_id: str = Field(foreign_key="device.id", max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class JoinTicketUse(SQLModel, table=True):
    """A join ticket that was spent: its nonce, so a replay is refused (``join_used``).

    Tickets are signed and carry their own expiry, so nothing is stored when one is
    issued; a row appears only when a phone joins with it."""

    __tablename__ = "shopper_join_ticket"

    nonce: str = Field(primary_key=True, max_length=32)
    device_id: str = Field(max_length=64)
    used_at: datetime = Field(default_factory=utcnow, index=True)


class PhoneTrip(SQLModel, table=True):
    """The trip identity of a shopper's own phone: its device row (``kind="phone"``) and
    the loyalty card it was opened for. The token works while the trip is open and for
    a grace period after its basket is paid or abandoned (to read the receipt), and
    never past ``expires_at``."""

    __tablename__ = "shopper_phone_trip"

    device_id: str = Field(primary_key=True, foreign_key="device.id", max_length=64)
    store_id: str = Field(max_length=64)
    loyalty_card: str = Field(max_length=32, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    resumed_at: datetime | None = None
    expires_at: datetime
