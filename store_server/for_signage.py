"""The store data the signage app reads, in one place: what crosses from the store to
the mall side for measured uplift (docs/architecture.md, "Measured uplift").

Signage imports these names from here, not from the store's domain modules, so what
crosses is one short list to review: anonymous promoted-scan counts and offer outcomes
keyed by per-report basket tokens, the default of the fewest baskets a figure may
rest on, a product's price, and (for the demo's history only) the basket tables.
"""

from __future__ import annotations

from store_server.baskets.models import Basket, BasketLine
from store_server.catalog.service import get_product
from store_server.offers.service import offer_outcomes
from store_server.signals.config import DEFAULT_MIN_COUNT
from store_server.signals.service import offer_baskets, promoted_scans, report_key

__all__ = [
    "DEFAULT_MIN_COUNT",
    "Basket",
    "BasketLine",
    "get_product",
    "offer_baskets",
    "offer_outcomes",
    "promoted_scans",
    "report_key",
]
