"""Browsers where an account logged in before: its login limit there is their own.

The per-account login limit (``service.reserve_login_attempt``) stops password guessing,
but anyone who knows a username could use it to lock that person out: ten wrong
passwords from anywhere, and the right one is refused everywhere for a minute. So a
successful login leaves a *known device* mark in the browser (the ``caddie_device``
cookie): a random tag and an HMAC of it with the username, under the server's secret
key. A login that carries a valid mark for its username counts its failures under that
browser's own key; the attacker, who has no mark for the account, cannot spend it.

No I/O and no framework: the routes read and write the cookie."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

DEVICE_COOKIE = "caddie_device"
DEVICE_COOKIE_SECONDS = 365 * 24 * 3600
MOST_MARKS = 8  # accounts remembered per browser (a till PC shared by a team)
_MARK = re.compile(r"^([A-Za-z0-9_-]{16})\.([0-9a-f]{32})$")


def _mac(secret: str, username: str, tag: str) -> str:
    message = f"known-device|{username}|{tag}".encode("utf-8", "surrogatepass")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def _marks(cookie: str | None) -> list[tuple[str, str]]:
    found = []
    for part in (cookie or "").split("~")[: MOST_MARKS * 2]:
        match = _MARK.match(part)
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def known_tag(cookie: str | None, username: str, secret: str) -> str | None:
    """The tag of this browser's mark for ``username``, if it carries a valid one."""
    for tag, mac in _marks(cookie):
        if hmac.compare_digest(mac, _mac(secret, username, tag)):
            return tag
    return None


def remember(cookie: str | None, username: str, secret: str) -> str:
    """The cookie value after a successful login of ``username``: its mark first (kept
    if it had one), then the others, at most :data:`MOST_MARKS`."""
    tag = known_tag(cookie, username, secret) or secrets.token_urlsafe(12)
    mine = f"{tag}.{_mac(secret, username, tag)}"
    others = [f"{t}.{m}" for t, m in _marks(cookie) if t != tag]
    return "~".join([mine, *others][:MOST_MARKS])


def attempt_key(username: str, tag: str | None) -> str:
    """The key a login attempt counts under: the account, or the account in this known
    browser (a digest, so that it fits the attempts table's 80 characters)."""
    if tag is None:
        return username[:80]
    return "device:" + hashlib.sha256(f"{username}|{tag}".encode()).hexdigest()
