"""How tests act as a logged-in browser: the page's CSRF token and the server's origin.

A request that changes something with a cookie session must come from the server's own
origin and carry the token the server put in the page (``store_server.websec``)."""

from __future__ import annotations

import re
from typing import Any

META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def page_token(html: str) -> str:
    found = META.search(html)
    assert found, "the page has no csrf-token meta tag"
    return found.group(1)


def origin_of(client: Any) -> str:
    return str(client.base_url).rstrip("/")


def csrf_headers(client: Any, page: str = "/staff/login") -> dict[str, str]:
    """``Origin`` and ``X-CSRF-Token`` for the next unsafe request of ``client`` (an httpx
    or TestClient keeping cookies), read from ``page`` as the browser would have it now."""
    reply = client.get(page)
    return {"Origin": origin_of(client), "X-CSRF-Token": page_token(reply.text)}
