"""Request and reply bodies of the shopper app's JSON API (``/api/shop/*``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Generous bounds: a real code or ticket is well under them, and anything longer is
# refused by validation before any work is done.
MAX_CODE_CHARS = 512


class PairBody(BaseModel):
    """The one-time code from the fragment of a pairing link."""

    model_config = ConfigDict(extra="ignore")

    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS)


class JoinBody(BaseModel):
    """The join ticket from ``/shop#join=…`` and the shopper's loyalty card."""

    model_config = ConfigDict(extra="ignore")

    ticket: str = Field(min_length=1, max_length=MAX_CODE_CHARS)
    loyalty_card: str = Field(max_length=MAX_CODE_CHARS)


class DeviceCredentials(BaseModel):
    """What the page keeps in ``localStorage["caddie.device"]`` and sends in ``hello``."""

    device_id: str
    token: str
    kind: Literal["kiosk", "phone"]
    expires_at: datetime | None = Field(
        description="when the token stops working at the latest (null: a store handheld's "
        "token lasts until it is enrolled again)"
    )


class JoinReply(DeviceCredentials):
    resumed: bool = Field(description="the card's open trip on a phone, handed over again")


class TripAudit(BaseModel):
    decision: Literal["none", "partial", "full"]
    rescan_count: int


class TripStatus(BaseModel):
    """Where the device's latest trip stands, for the page to poll after ``finish``."""

    basket: dict[str, Any] | None = Field(description="the protocol's basket object")
    status: Literal["open", "finishing", "audit", "paid", "abandoned"] | None
    audit: TripAudit | None
    handoff_code: str | None = Field(description="the payment hand-off code, once released")
    handoff_payload: str | None = Field(
        description="what the till's scanner reads from the hand-off QR code (CADDIE-PAY:code)"
    )
    receipt_url: str | None = Field(description="the receipt page, once released to payment")
