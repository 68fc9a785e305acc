"""One exception family for the store server and the handheld.

Each error carries the protocol error code of PROTOCOL.md so the same exception
becomes an HTTP problem reply or a WebSocket ``error`` message; services never
raise framework exceptions.
"""

from __future__ import annotations


def shown(value: object, limit: int = 60) -> str:
    """``value`` as an error message quotes it: its repr, cut to ``limit`` characters
    (a hostile value may be megabytes long; the sender only needs to recognise it)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CaddieError(Exception):
    """Base of every error a user may see; ``message`` is safe to show."""

    code = "error"
    http_status = 400

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.details = details


class BadMessage(CaddieError):
    """The message is not valid JSON or misses or mistypes a field."""

    code = "bad_message"
    http_status = 422


class Unauthorized(CaddieError):
    """Missing, unknown or revoked credentials."""

    code = "unauthorized"
    http_status = 401


class Forbidden(CaddieError):
    """These credentials may not do this."""

    code = "forbidden"
    http_status = 403


class InvalidCode(CaddieError):
    """Not a GTIN, or its check digit is wrong."""

    code = "invalid_code"
    http_status = 422


class UnknownProduct(CaddieError):
    """No product in the catalog has this code."""

    code = "unknown_product"
    http_status = 404


class NoBasket(CaddieError):
    """The device has no open basket; send ``start`` first."""

    code = "no_basket"
    http_status = 409


class BasketLocked(CaddieError):
    """The basket is finished and can no longer change."""

    code = "basket_locked"
    http_status = 409


class NotInBasket(CaddieError):
    """The basket does not hold that many of this item."""

    code = "not_in_basket"
    http_status = 409


class BadQuantity(CaddieError):
    """The quantity must be a whole number from 1 to 999."""

    code = "bad_quantity"
    http_status = 422


class RateLimited(CaddieError):
    """Too many requests; slow down."""

    code = "rate_limited"
    http_status = 429


class NotFound(CaddieError):
    """No such resource."""

    code = "not_found"
    http_status = 404


class Conflict(CaddieError):
    """The request conflicts with the current state."""

    code = "conflict"
    http_status = 409


class InvalidInput(CaddieError):
    """The input is malformed; ``details['problems']`` lists each problem."""

    code = "invalid_input"
    http_status = 422


class ConfigurationError(CaddieError):
    """The configuration is unusable (e.g. a default secret outside development)."""

    code = "configuration"
    http_status = 500


class Unavailable(CaddieError):
    """A backing service (database, pub/sub) is unreachable; retry shortly."""

    code = "unavailable"
    http_status = 503
