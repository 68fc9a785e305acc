"""Users, login sessions and brute-force throttling."""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, text, update
from sqlmodel import Session, col, select

from store_server.auth.known_devices import attempt_key
from store_server.auth.models import ROLES, AuthSession, LoginAttempt, User, initials
from store_server.ratelimit import RateLimiter
from store_server.security import hash_password, hash_token, new_token, verify_password
from store_server.shared.errors import Conflict, InvalidInput, NotFound, RateLimited, Unauthorized
from store_server.timeutil import as_utc, utcnow

if TYPE_CHECKING:
    from store_server.unit_of_work import Database

USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,80}$")
DISPLAY_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,80}$")
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
    display_name: str | None = None,
    password_hash: str | None = None,
) -> User:
    """A new account, or with ``replace`` a new password (and role and store) for an
    existing one. A reset ends every session the account had: whoever knew the old
    password must not stay logged in with it. A disabled account stays disabled
    (:func:`set_disabled` is the one way back). ``password_hash`` is ``password``'s,
    worked out before the transaction: hashing takes half a second of CPU, too long to
    hold the writer turn."""
    problems = []
    if not USERNAME.match(username):
        problems.append("username must be 1-80 letters, digits or . _ @ -")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        problems.append(f"password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if role not in ROLES:
        problems.append(f"role must be one of {', '.join(ROLES)}")
    if display_name is not None and not DISPLAY_NAME.match(display_name):
        problems.append("display name must be 1-80 printable characters")
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
    user.password_hash = password_hash or hash_password(password)
    user.role = role
    user.store_id = store_id
    if display_name is not None or user.display_name is None:
        user.display_name = display_name or initials(username)
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


@functools.cache
def _unknown_user_hash() -> str:
    """A hash of no one's password, made by the same hasher (and so at the same cost) as
    real ones: a login for a username that does not exist verifies against it, so the
    answer takes as long as for a wrong password and does not tell which names exist."""
    return hash_password(new_token())


# Orders the reservations for one username across transactions (and processes).
_LOGIN_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


def reserve_login_attempt(session: Session, *, username: str, attempts_per_minute: int) -> int:
    """Count this login against the account's limit *before* its password is checked,
    and refuse it (``RateLimited``) if the limit is reached; returns the attempt's id.

    Run in a transaction of its own, committed before the check: however many logins
    for one account arrive at once, in however many processes, at most
    ``attempts_per_minute`` of them get past here in a minute. The insert comes before
    the count so that each reservation sees every one committed before it: on SQLite
    the insert takes the database's one write lock, on PostgreSQL an advisory lock per
    username orders them."""
    name = username[:80]
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        session.exec(_LOGIN_LOCK.bindparams(key="caddie.login:" + name))  # type: ignore[call-overload]
    attempt = LoginAttempt(username=name, at=now)
    session.add(attempt)
    session.flush()
    recent = session.exec(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.username == name, col(LoginAttempt.at) >= now - timedelta(minutes=1))
    ).one()
    if recent > attempts_per_minute:
        raise RateLimited("too many failed logins for this user; wait a minute", retry_after=60)
    return attempt.id or 0


def release_login_attempt(session: Session, attempt_id: int) -> None:
    """A reserved attempt that turned out not to be a wrong password does not count."""
    session.exec(delete(LoginAttempt).where(col(LoginAttempt.id) == attempt_id))


class HashBudget:
    """How many stand-in password checks (for usernames that do not exist) a process
    does: ``burst`` at once, ``per_second`` after. Thread-safe (logins run on worker
    threads).

    Checking a stand-in hash hides which usernames exist, at the cost of a full argon2
    hash per attempt; a flood of made-up names from many addresses (each under the
    per-address limit) would then slow every real login. Past the budget, an unknown
    name is refused without a hash: during a flood the refusal's timing may tell that a
    name does not exist, which is the lesser harm."""

    def __init__(
        self, per_second: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limiter = RateLimiter(per_second, burst, clock=clock)
        self._lock = threading.Lock()

    def spend(self) -> bool:
        with self._lock:
            return self._limiter.check("unknown-user") == 0


UNKNOWN_USER_HASHES = HashBudget(per_second=2.0, burst=16)


def _credentials(session: Session, username: str) -> tuple[int, str, bool] | None:
    user = session.exec(select(User).where(User.username == username)).first()
    return None if user is None else (user.id or 0, user.password_hash, user.disabled)


def check_password(found: tuple[int, str, bool] | None, password: str) -> int:
    """The user id for the right password, else ``Unauthorized``. The password is checked
    whether or not the account exists or is disabled, so that every refusal costs the
    same time (for unknown names, within :data:`UNKNOWN_USER_HASHES`). Runs outside any
    transaction: half a second of hashing holds no database connection."""
    if found is None:
        if UNKNOWN_USER_HASHES.spend():
            verify_password(password, _unknown_user_hash())
        raise Unauthorized("wrong username or password")
    user_id, password_hash, disabled = found
    if not verify_password(password, password_hash) or disabled:
        raise Unauthorized("wrong username or password")
    return user_id


def open_session(
    session: Session, *, user_id: int, hours: int, attempt_keys: list[str]
) -> tuple[str, User]:
    """A new session token for a user whose password was just checked; clears the
    failed attempts counted under ``attempt_keys``."""
    user = session.get(User, user_id)
    if user is None or user.disabled:  # changed while the password was being checked
        raise Unauthorized("wrong username or password")
    session.exec(delete(LoginAttempt).where(col(LoginAttempt.username).in_(attempt_keys)))
    now = utcnow()
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
    db: Database,
    *,
    username: str,
    password: str,
    hours: int,
    attempts_per_minute: int,
    admit: Callable[[User], object] = lambda user: None,
    known_device: str | None = None,
) -> tuple[str, User]:
    """The login every login route runs (the API and the consoles' forms), so
    that no route can be used to guess past the limit: the attempt is reserved first
    (:func:`reserve_login_attempt`, committed at once), then the password checked outside
    any transaction (:func:`check_password`), then the session opened in one of its own.
    A wrong password leaves the reservation counted; anything else (a success, which
    clears the count, or an error) gives it back. ``admit`` may
    refuse the user (``Forbidden``); the session just opened is then not kept.
    ``known_device`` is the tag of the browser's known-device mark for this username
    (``known_devices.known_tag``): its attempts count apart from everyone else's, so
    guesses from elsewhere cannot lock the person out of the browser they use.

    The password check costs about half a second of CPU: call this on a worker thread,
    never on the event loop or the store's database thread."""
    key = attempt_key(username, known_device)
    attempt_id = db.run_here(
        lambda session: reserve_login_attempt(
            session, username=key, attempts_per_minute=attempts_per_minute
        )
    )
    try:
        found = db.run_here(lambda session: _credentials(session, username), read_only=True)
        user_id = check_password(found, password)
        keys = [username] + ([key] if known_device else [])
        with db.unit_of_work() as session:
            token, user = open_session(session, user_id=user_id, hours=hours, attempt_keys=keys)
            admit(user)
            return token, user
    except Unauthorized:
        raise
    except BaseException:
        # The database may be what failed: then the attempt stays counted, which is safe.
        with suppress(Exception):
            db.run_here(lambda session: release_login_attempt(session, attempt_id))
        raise


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
