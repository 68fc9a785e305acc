"""The one way every console builds its Jinja2 templates.

Each page family (staff console, signage, shopper app, manager console...) calls
``make_templates(directory)``; the context processors installed here give every page the
values all pages share. ``csrf_token`` is one of them: every page puts it in
``<meta name="csrf-token">`` and every POST form in a hidden ``csrf_token`` field; scripts
send it back as the ``X-CSRF-Token`` header on every request that changes something.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from store_server.websec import csrf_token


def page_context(request: Request) -> dict[str, Any]:
    """Values every page gets: the CSRF token of the web security layer
    (``store_server.websec``) for the cookies of this request."""
    return {"csrf_token": csrf_token(request)}


def make_templates(directory: str | Path) -> Jinja2Templates:
    return Jinja2Templates(directory=str(directory), context_processors=[page_context])
