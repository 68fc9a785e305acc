"""Signed codes of the shopper app: entrance codes, join tickets and receipt tokens.

Each is ``<payload>.<signature>`` in URL-safe base64 without padding: the payload a short
JSON object, the signature an HMAC-SHA256 (truncated to 128 bits) under a key derived
from the server secret and the code's purpose, so a code of one kind is never accepted
as another. Nothing is stored when a code is made; the server checks it from the
secret alone.

Pure: the caller passes the secret and the clock (unix seconds).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Literal

Purpose = Literal["entrance", "display", "join", "receipt"]
MAX_CODE_CHARS = 512
SIGNATURE_BYTES = 16
# The entrance code shown changes at the start of every minute; screens that refresh
# at any moment in the minute show the same code.
ENTRANCE_ROTATION_SECONDS = 60
JOIN_TICKET_SECONDS = 10 * 60
# Codes issued a little in the future (another server's clock) are still taken.
CLOCK_SKEW_SECONDS = 60


class CodeRefused(Exception):
    """A code that is not ours (``forged``) or no longer valid (``expired``)."""

    def __init__(self, reason: Literal["forged", "expired"]) -> None:
        super().__init__(reason)
        self.reason = reason


def _key(secret: str, purpose: Purpose) -> bytes:
    return hmac.new(secret.encode(), b"caddie.shopper." + purpose.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, purpose: Purpose, payload: dict[str, object]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_key(secret, purpose), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac[:SIGNATURE_BYTES])}"


def verify(secret: str, purpose: Purpose, code: object) -> dict[str, object]:
    """The payload of a code this server signed for ``purpose``; ``CodeRefused("forged")``
    for anything else (wrong type, too long, malformed, bad signature)."""
    if not isinstance(code, str) or not code.isascii() or len(code) > MAX_CODE_CHARS:
        raise CodeRefused("forged")
    body, dot, signature = code.partition(".")
    if not dot:
        raise CodeRefused("forged")
    try:
        expected = hmac.new(_key(secret, purpose), body.encode(), hashlib.sha256).digest()
        # The base64 text must be the canonical one too: its last character has spare
        # bits a decoder ignores, which would let one code be written several ways.
        if not hmac.compare_digest(signature, _b64(expected[:SIGNATURE_BYTES])):
            raise CodeRefused("forged")
        payload = json.loads(_unb64(body))
    except (binascii.Error, ValueError):
        raise CodeRefused("forged") from None
    if not isinstance(payload, dict):
        raise CodeRefused("forged")
    return payload


def _text(payload: dict[str, object], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str):
        raise CodeRefused("forged")
    return value


def _issued_at(payload: dict[str, object]) -> int:
    issued = payload.get("t")
    if not isinstance(issued, int) or isinstance(issued, bool):
        raise CodeRefused("forged")
    return issued


def _check_age(issued: int, lifetime: int, now: float) -> None:
    if issued > now + CLOCK_SKEW_SECONDS:
        raise CodeRefused("forged")
    if now >= issued + lifetime:
        raise CodeRefused("expired")


# --- entrance codes ----------------------------------------------------------------------


def entrance_code(secret: str, store_id: str, now: float) -> str:
    """The code shown at the store's entrance at ``now``: issued at the start of the
    current minute, so every screen and printout of this minute shows the same one."""
    issued = int(now) - int(now) % ENTRANCE_ROTATION_SECONDS
    return sign(secret, "entrance", {"s": store_id, "t": issued})


def read_entrance_code(secret: str, code: object, *, now: float, minutes: int) -> str:
    """The store id an entrance code is for, if it is ours and younger than ``minutes``."""
    payload = verify(secret, "entrance", code)
    store_id = _text(payload, "s")
    _check_age(_issued_at(payload), minutes * 60, now)
    return store_id


def entrance_url(base_url: str, secret: str, store_id: str, now: float) -> str:
    """The link the entrance QR code carries (``base_url`` without a trailing slash)."""
    return f"{base_url}/shop/join?c={entrance_code(secret, store_id, now)}"


def display_key(secret: str, store_id: str) -> str:
    """The key with which a screen without a login shows the entrance page: it reveals
    the current entrance code (shown in the store anyway) and nothing else. It works
    until the server secret changes."""
    return sign(secret, "display", {"s": store_id})


def read_display_key(secret: str, key: object) -> str:
    return _text(verify(secret, "display", key), "s")


# --- join tickets ------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinTicket:
    store_id: str
    nonce: str
    issued_at: int


def join_ticket(secret: str, store_id: str, now: float) -> str:
    """A fresh single-use ticket: the server remembers its nonce only once it is spent."""
    return sign(secret, "join", {"s": store_id, "t": int(now), "n": secrets.token_hex(16)})


def read_join_ticket(secret: str, ticket: object, *, now: float) -> JoinTicket:
    payload = verify(secret, "join", ticket)
    store_id, nonce = _text(payload, "s"), _text(payload, "n")
    if len(nonce) != 32:
        raise CodeRefused("forged")
    issued = _issued_at(payload)
    _check_age(issued, JOIN_TICKET_SECONDS, now)
    return JoinTicket(store_id, nonce, issued)


# --- receipt tokens ----------------------------------------------------------------------


def receipt_token(secret: str, basket_id: str) -> str:
    """The capability to read one basket's receipt: it names the basket and is signed,
    so changing the basket id breaks the signature."""
    return sign(secret, "receipt", {"b": basket_id})


def read_receipt_token(secret: str, token: object) -> str:
    return _text(verify(secret, "receipt", token), "b")
