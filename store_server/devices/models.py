"""Handheld devices and their revocable bearer tokens."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from store_server.timeutil import utcnow


class Device(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    store_id: str = Field(max_length=64, index=True)
    token_hash: str = Field(max_length=64, index=True)
    enrolled_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    staff_mode: bool = False
    # "store": a store-owned handheld (kiosk or dedicated); "phone": a shopper's own phone,
    # enrolled for one trip by the shopper app (store_server/shopper).
    kind: str = "store"
