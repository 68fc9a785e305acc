"""Settings of personal offers (``CADDIE_OFFERS_*``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from store_server.offers.rules import OfferTemplate


class OfferSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CADDIE_OFFERS_", extra="ignore")

    enabled: bool = True
    # At most this many offers reach one shopper on one trip, whatever they scan.
    max_per_trip: int = Field(default=2, ge=0)
    # Templates as JSON objects (store_server.offers.rules.OfferTemplate.from_dict).
    templates: list[dict[str, Any]] = Field(default_factory=list)
    # Past paid baskets looked at for "usually buys".
    history_baskets: int = Field(default=10, ge=0)

    def parsed_templates(self) -> tuple[OfferTemplate, ...]:
        return tuple(OfferTemplate.from_dict(t) for t in self.templates)
