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
    # "store" (a store handheld) or "phone" (the shopper's own phone).
    kind: str = "store"
