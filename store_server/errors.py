"""Moved to :mod:`store_server.shared.errors`, which the handheld shares.

Kept only so code written against the old path still imports; remove once nothing
imports ``store_server.errors`` (nothing in this repository does).
"""

from __future__ import annotations

from store_server.shared.errors import (
    BadMessage,
    BadQuantity,
    BasketLocked,
    CaddieError,
    ConfigurationError,
    Conflict,
    Forbidden,
    InvalidCode,
    InvalidInput,
    NoBasket,
    NotFound,
    NotInBasket,
    RateLimited,
    Unauthorized,
    Unavailable,
    UnknownProduct,
    shown,
)

__all__ = [
    "BadMessage",
    "BadQuantity",
    "BasketLocked",
    "CaddieError",
    "ConfigurationError",
    "Conflict",
    "Forbidden",
    "InvalidCode",
    "InvalidInput",
    "NoBasket",
    "NotFound",
    "NotInBasket",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "UnknownProduct",
    "shown",
]
