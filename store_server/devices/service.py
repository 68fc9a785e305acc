"""Enrolment and authentication of handheld devices."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session

from store_server.devices.models import Device
from store_server.security import hash_token, new_token, tokens_match
from store_server.shared.errors import InvalidInput, Unauthorized
from store_server.timeutil import utcnow

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
DEVICE_TABLE = Device.__table__  # type: ignore[attr-defined]
REVOKED = "this device's token was revoked; enrol it again"
_DEVICE_BY_ID = sa_select(DEVICE_TABLE).where(DEVICE_TABLE.c.id == bindparam("id"))


def enroll(
    session: Session, device_ids: Sequence[str], *, store_id: str, staff_mode: bool = False
) -> list[tuple[str, str]]:
    """Register devices, returning (device_id, token); re-enrolling revokes the old token."""
    bad = [d for d in device_ids if not DEVICE_ID.match(d)]
    if bad:
        raise InvalidInput(
            "device ids must be 1-64 letters, digits or . _ : - : " + ", ".join(map(repr, bad)),
            problems=[f"bad device id {d!r}" for d in bad],
        )
    issued: list[tuple[str, str]] = []
    for device_id in device_ids:
        token = new_token()
        device = session.get(Device, device_id)
        if device is None:
            device = Device(id=device_id, store_id=store_id, token_hash=hash_token(token))
            session.add(device)
        device.token_hash = hash_token(token)
        device.store_id = store_id
        device.revoked_at = None
        device.enrolled_at = utcnow()
        device.staff_mode = staff_mode
        issued.append((device_id, token))
    session.flush()
    return issued


def revoke(session: Session, device_id: str) -> None:
    device = session.get(Device, device_id)
    if device is not None:
        device.revoked_at = utcnow()
        session.flush()


def ensure_current(session: Session, device: Device) -> None:
    """Unauthorized unless ``device``, as authenticated at hello, still holds its token:
    once revoked or enrolled again, its open connection may do nothing more."""
    row = session.connection().execute(_DEVICE_BY_ID, {"id": device.id}).first()
    if row is None or row.revoked_at is not None or row.token_hash != device.token_hash:
        raise Unauthorized(REVOKED)


def authenticate(session: Session, device_id: object, token: object) -> Device:
    """The device, if this token is its current one and not revoked."""
    if not isinstance(device_id, str) or not isinstance(token, str) or len(token) > 256:
        raise Unauthorized("unknown device or bad token")
    row = (
        session.connection().execute(_DEVICE_BY_ID, {"id": device_id}).first()
        if DEVICE_ID.match(device_id)
        else None
    )
    if row is None or row.revoked_at is not None or not tokens_match(token, row.token_hash):
        raise Unauthorized("unknown device or bad token")
    return Device(**row._mapping)  # detached: a plain value for the connection to keep
