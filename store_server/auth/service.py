"""Users, login sessions and brute-force throttling."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from store_server.auth.models import ROLES, AuthSession, LoginAttempt, User
from store_server.db import run_in_transaction, session_scope
from store_server.errors import Conflict, InvalidInput, NotFound, RateLimited, Unauthorized
from store_server.security import hash_password, hash_token, new_token, verify_password
from store_server.timeutil import as_utc, utcnow

USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,80}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    store_id: str | None = None,
    replace: bool = False,
) -> User:
    """A new account, or with ``replace`` a new password (and role and store) for an
    existing one. A reset ends every session the account had: whoever knew the old
    password must not stay logged in with it. A disabled account stays disabled
    (:func:`set_disabled` is the one way back)."""
    problems = []
    if not USERNAME.match(username):
        problems.append("username must be 1-80 letters, digits or . _ @ -")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        problems.append(f"password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if role not in ROLES:
        problems.append(f"role must be one of {', '.join(ROLES)}")
    if problems:
        raise InvalidInput("; ".join(problems), problems=problems)
    user = session.exec(select(User).where(User.username == username)).first()
    if user is not None and not replace:
        raise Conflict(f"user {username!r} exists")
    if user is None:
        user = User(username=username, password_hash="", role=role)
        session.add(user)
    else:
        revoke_sessions(session, user)
    user.password_hash = hash_password(password)
    user.role = role
    user.store_id = store_id
    session.flush()
    return user


def set_disabled(session: Session, username: str, *, disabled: bool) -> User:
    """Disable (every session revoked with it) or re-enable an account."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user {username!r}")
    user.disabled = disabled
    if disabled:
        revoke_sessions(session, user)
    session.flush()
    return user


def revoke_sessions(session: Session, user: User) -> int:
    """End every live session of ``user``; returns how many there were.

    Open staff sockets of those sessions close at their next re-check
    (``CADDIE_STAFF_SOCKET_RECHECK_SECONDS``), as when a session is logged out
    elsewhere without an announcement."""
    result = session.exec(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user.id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    session.flush()
    return int(result.rowcount or 0)


def login(
    session: Session, *, username: str, password: str, hours: int, attempts_per_minute: int
) -> tuple[str, User]:
    """A new session token; failures are counted per username and throttled."""
    now = utcnow()
    window_start = now - timedelta(minutes=1)
    recent = session.exec(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.username == username[:80], col(LoginAttempt.at) >= window_start)
    ).one()
    if recent >= attempts_per_minute:
        raise RateLimited("too many failed logins for this user; wait a minute", retry_after=60)
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or user.disabled or not verify_password(password, user.password_hash):
        raise Unauthorized("wrong username or password")
    session.exec(delete(LoginAttempt).where(col(LoginAttempt.username) == username))  # type: ignore[call-overload]
    token = new_token()
    session.add(
        AuthSession(
            token_hash=hash_token(token),
            user_id=user.id or 0,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    session.flush()
    return token, user


def log_in(
    engine: Engine,
    *,
    username: str,
    password: str,
    hours: int,
    attempts_per_minute: int,
    admit: Callable[[User], object] = lambda user: None,
) -> tuple[str, User]:
    """:func:`login` as every login route runs it (the API and the consoles' forms): in
    a transaction of its own, with a wrong password counted in another (the login's own
    rolls back), so that no route can be used to guess past the limit. ``admit`` may
    refuse the user (``Forbidden``); the session just opened is then not kept.

    The password check costs about half a second of CPU: call this on a worker thread,
    never on the event loop or the store's database thread."""
    try:
        with session_scope(engine) as session:
            token, user = login(
                session,
                username=username,
                password=password,
                hours=hours,
                attempts_per_minute=attempts_per_minute,
            )
            admit(user)
            return token, user
    except Unauthorized:
        run_in_transaction(engine, lambda session: record_failed_login(session, username))
        raise


def record_failed_login(session: Session, username: str) -> None:
    """Kept in its own transaction by the caller: the failed login itself rolls back."""
    session.add(LoginAttempt(username=username[:80], at=utcnow()))
    session.flush()


def user_for_token(session: Session, token: str) -> User:
    if not token or len(token) > 256:
        raise Unauthorized("missing or bad session token")
    row = session.get(AuthSession, hash_token(token))
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= utcnow():
        raise Unauthorized("session expired or revoked; log in again")
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        raise Unauthorized("user disabled")
    return user


def logout(session: Session, token: str) -> int | None:
    """Revoke the session of ``token``; returns its user's id (None if nothing changed)."""
    row = session.get(AuthSession, hash_token(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
        return row.user_id
    return None
