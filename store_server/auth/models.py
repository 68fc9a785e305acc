"""People who log in (staff, operators, admins) and their revocable sessions."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Field, SQLModel

from store_server.timeutil import utcnow

ROLES = ("staff", "operator", "admin", "manager")


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    store_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    disabled: bool = False
    # How receipts and the consoles name the person (never the login, which receipts
    # would otherwise hand to anyone guessing passwords); None: their initials.
    display_name: str | None = Field(default=None, max_length=80)

    @property
    def shown_as(self) -> str:
        return self.display_name or initials(self.username)


def initials(username: str) -> str:
    """``alice.martin`` -> ``AM``, ``bob`` -> ``B``: what a receipt shows by default."""
    parts = [p for p in re.split(r"[._@-]+", username.split("@", 1)[0]) if p]
    return "".join(p[0] for p in parts[:3]).upper() or "?"


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class LoginAttempt(SQLModel, table=True):
    """Failed logins, for throttling brute force across processes."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, index=True)
    at: datetime = Field(default_factory=utcnow, index=True)
