"""Request and reply bodies of the manager API."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _written_day(value: object) -> object:
    """A day comes as text, YYYY-MM-DD: a number is not read as a timestamp."""
    if not isinstance(value, str | date):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


WrittenDay = Annotated[date, BeforeValidator(_written_day)]


class PosDailyTotalBody(BaseModel):
    """One day's whole-store sales from the POS (a till's token decides the store)."""

    model_config = ConfigDict(extra="forbid")

    day: WrittenDay = Field(description="local business day, YYYY-MM-DD")
    sales_cents: int = Field(
        strict=True, ge=0, le=10**13, description="all sales of the day, minor units"
    )
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    store_id: str | None = Field(
        default=None, max_length=64, description="only for admin callers; a till's store otherwise"
    )


class PosDailyTotalReply(BaseModel):
    store_id: str
    day: date
    sales_cents: int
    currency: str
