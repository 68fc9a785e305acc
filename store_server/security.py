"""Tokens and passwords. Tokens are random and stored only as SHA-256; passwords use argon2."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pwdlib import PasswordHash

# The cookie that carries a staff, manager, operator or shopper session token.
SESSION_COOKIE = "caddie_session"

_password_hash = PasswordHash.recommended()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """High-entropy tokens need no slow hash; a SHA-256 keeps a stolen table useless."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def tokens_match(token: str, token_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), token_hash)


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _password_hash.verify(password, password_hash)
    except Exception:  # a corrupt hash is a failed login, not a crash
        return False
