"""Signage request dependencies: its state, the reading session, and who is calling.

The signage app is a separate ASGI app, mounted at ``/signage`` by ``caddie serve``
and by ``caddie signage serve``. A mounted app gets no lifespan of its own: the app it
is mounted in hands it the process's one engine (``ServerState.build``) when it starts.

Callers: a *screen* presents its enrolment token (``Authorization: Bearer`` or the
``caddie_screen`` cookie the player page sets); an *operator* (or admin) presents a
login session token (``Authorization: Bearer`` or the ``caddie_session`` cookie of
``POST /api/auth/login``). Neither can stand in for the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from signage import service
from signage.config import SignageSettings, signage_settings
from signage.models import Screen
from signage.plan_cache import PlanCache
from signage.signals.board import SignalBoard
from signage.signals.subscriber import DEFAULT_BOARD, start_signal_subscriber
from store_server.auth import service as auth
from store_server.auth.models import User
from store_server.config import Settings, get_settings
from store_server.deps import SESSION_COOKIE
from store_server.shared.errors import Forbidden, Unauthorized
from store_server.unit_of_work import Database

SCREEN_COOKIE = "caddie_screen"
OPERATOR_ROLES = ("operator", "admin")


@dataclass
class SignageState:
    settings: Settings
    signage: SignageSettings
    db: Database  # the process's one engine and unit of work
    board: SignalBoard = DEFAULT_BOARD
    plans: PlanCache = field(default_factory=PlanCache)  # the plan the loops are built from


class StateHolder:
    """Holds the state while the app it is mounted in runs (:meth:`attach`, :meth:`detach`).

    It also owns the store-signal subscriber: whoever runs the event loop (the store
    app's lifespan when mounted, the standalone app's otherwise) hands it the event
    bus with :meth:`start_signals`, and loops read ``board``."""

    def __init__(
        self,
        settings: Settings | None,
        signage: SignageSettings | None,
        board: SignalBoard | None = None,
    ) -> None:
        # Settings now: a bad setting stops the app from being created, rather than
        # failing every signage request once it serves.
        self._settings = settings or get_settings()
        self._signage = signage or signage_settings()
        self._state: SignageState | None = None
        self.board = board or DEFAULT_BOARD
        self._signals: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Settings:
        return self._settings

    def start_signals(self, events: object) -> asyncio.Task[None]:
        """Feed the ``signals`` channel of ``events`` into the board (once)."""
        if self._signals is None or self._signals.done():
            self._signals = start_signal_subscriber(events, self.board)  # type: ignore[arg-type]
        return self._signals

    def stop_signals(self) -> None:
        if self._signals is not None:
            self._signals.cancel()
            self._signals = None

    def attach(self, db: Database) -> None:
        """Serve on ``db``, the database of the app this one is mounted in; that app
        opens and closes it."""
        self._state = SignageState(
            settings=self._settings, signage=self._signage, db=db, board=self.board
        )

    def detach(self) -> None:
        self._state = None

    def get(self) -> SignageState:
        if self._state is None:
            raise RuntimeError(
                "the signage app serves mounted in the store app or the standalone app"
            )
        return self._state


def get_state(request: Request) -> SignageState:
    holder: StateHolder = request.app.state.signage
    return holder.get()


StateDep = Annotated[SignageState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.db.reading() as session:
        yield session


# The request's reads, as the store's ``SessionDep``: it refuses writes. A route writes
# in a unit of work: ``await state.db.run(work)`` in an ``async`` route (never on the
# event loop: a SQLite write waiting there for the lock would stall every request of
# the process), ``with state.db.unit_of_work() as session`` in a plain ``def`` one.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def current_screen(request: Request, session: SessionDep) -> Screen:
    """A screen token (header, else the player's cookie); 401 without one."""
    token = bearer(request) or request.cookies.get(SCREEN_COOKIE)
    return service.authenticate_screen(session, token)


def _operator_from(session: Session, token: str | None) -> User:
    if not token:
        raise Unauthorized("log in as an operator first (Authorization: Bearer <token>)")
    if service.screen_for_token(session, token) is not None:
        raise Forbidden("screen tokens cannot use the operator API")
    user = auth.user_for_token(session, token)
    if user.role not in OPERATOR_ROLES:
        raise Forbidden("this needs the operator or admin role")
    return user


def current_operator(request: Request, session: SessionDep) -> User:
    return _operator_from(session, bearer(request) or request.cookies.get(SESSION_COOKIE))


def screen_or_operator(screen_id: str, request: Request, session: Session) -> Screen | User:
    """The loop endpoint: that screen's own token, or an operator's; 403 for another screen."""
    token = bearer(request)
    cookie_screen = request.cookies.get(SCREEN_COOKIE)
    if token is None and cookie_screen:
        token = cookie_screen
    if token is not None:
        screen = service.screen_for_token(session, token)
        if screen is not None:
            if screen.id != screen_id:
                raise Forbidden("this token belongs to another screen")
            return screen
        return _operator_from(session, token)
    return _operator_from(session, request.cookies.get(SESSION_COOKIE))


CurrentScreen = Annotated[Screen, Depends(current_screen)]
CurrentOperator = Annotated[User, Depends(current_operator)]
