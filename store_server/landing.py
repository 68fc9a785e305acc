"""The landing page at ``/``: what a visitor can open here, by the role they are logged
in with (every console when nobody is logged in: each asks for its own login)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from store_server.auth import service as auth
from store_server.auth.models import User
from store_server.deps import SESSION_COOKIE, StateDep
from store_server.shared.errors import CaddieError
from store_server.templating import make_templates

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
templates = make_templates(HERE / "templates")
router = APIRouter(include_in_schema=False)

EVERYONE = None


@dataclass(frozen=True)
class Destination:
    name: str
    href: str
    what: str
    roles: tuple[str, ...] | None  # None: anyone


DESTINATIONS = (
    Destination(
        "Shopper app", "/shop", "Scan as you shop on your phone or a store handheld.", EVERYONE
    ),
    Destination(
        "Staff console",
        "/staff",
        "The exit queue: audits, rescans, age checks, release to payment, history.",
        ("staff", "admin"),
    ),
    Destination(
        "Manager console",
        "/manager",
        "How self-scanning is doing: adoption, waits, audits, loss; the audit policy.",
        ("manager", "admin"),
    ),
    Destination(
        "Operator console",
        "/signage/console",
        "Mall screens: creatives, campaigns, loops, proof of play, reports.",
        ("operator", "admin"),
    ),
    Destination(
        "API documentation",
        "/docs",
        "Every endpoint with its fields; Authorize with a login or till token.",
        EVERYONE,
    ),
    Destination("Metrics", "/metrics", "Prometheus metrics of this server.", ("admin",)),
)


def destinations_for(role: str | None) -> list[Destination]:
    """What a visitor may open: by role once logged in, everything (each behind its own
    login) for an anonymous visitor."""
    if role is None:
        return list(DESTINATIONS)
    return [d for d in DESTINATIONS if d.roles is None or role in d.roles]


async def _visitor(request: Request, state: StateDep) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 512:
        return None

    def job(session: Session) -> User:
        user = auth.user_for_token(session, token)
        session.expunge(user)
        return user

    try:
        return await state.db.run(job)
    except CaddieError:
        return None


@router.get("/", response_class=HTMLResponse)
async def landing(request: Request, state: StateDep) -> Response:
    user = await _visitor(request, state)
    return templates.TemplateResponse(
        request,
        "landing.html",
        {
            "user": user,
            "destinations": destinations_for(user.role if user else None),
            "store_id": state.settings.store_id,
        },
    )


def wants_html(request: Request) -> bool:
    """A browser navigating here (it asks for text/html first), not a monitoring client
    or a script asking for JSON."""
    accept = request.headers.get("accept", "")
    first = accept.split(",", 1)[0].strip().lower()
    return first.startswith("text/html")


def metrics_refusal(request: Request, message: str, status: int) -> Response:
    """What a browser gets from /metrics without the right credentials: what the page is
    for and where to log in, instead of a JSON error."""
    return templates.TemplateResponse(
        request, "metrics_refused.html", {"message": message}, status_code=status
    )
