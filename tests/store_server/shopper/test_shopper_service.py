"""The shopper services on both databases (SQLite and the real PostgreSQL), with an
explicit clock: pairing once within 24 h, joining, resuming, a replayed ticket, and the
phone token's end with its trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from store_server.baskets.models import Basket
from store_server.db import session_scope
from store_server.shared.errors import Unauthorized
from store_server.shopper import codes, service

SECRET = "service-test-secret-0123456789abcdefghij"
NOW = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
GRACE = timedelta(hours=2)


def _join(engine: Engine, card: str, *, at: datetime = NOW) -> service.Joined:
    ticket = codes.join_ticket(SECRET, "store-1", at.timestamp())
    with session_scope(engine) as session:
        return service.join(
            session, ticket, card, secret=SECRET, store_id="store-1", now=at, grace=GRACE
        )


def _check(engine: Engine, device_id: str, at: datetime) -> str:
    with session_scope(engine) as session:
        return service.ensure_phone_trip(session, device_id, now=at, grace=GRACE)


def test_pairing_codes_work_once_and_for_24_hours(engine: Engine) -> None:
    with session_scope(engine) as session:
        issued = service.issue_pairing_codes(session, ["K-1", "K-2"], store_id="store-1", now=NOW)
    (_, first), (_, second) = issued
    with session_scope(engine) as session:
        device_id, token = service.pair(session, first, now=NOW + timedelta(hours=23))
    assert device_id == "K-1" and token
    with pytest.raises(service.PairingUsed), session_scope(engine) as session:
        service.pair(session, first, now=NOW)
    with pytest.raises(service.PairingExpired), session_scope(engine) as session:
        service.pair(session, second, now=NOW + timedelta(hours=24))
    with pytest.raises(service.PairingInvalid), session_scope(engine) as session:
        service.pair(session, "unknown", now=NOW)


def test_join_resume_replay_and_the_end_of_a_phone_trip(engine: Engine) -> None:
    first = _join(engine, "CARD-1")
    assert first.resumed is False and first.expires_at == NOW + timedelta(hours=12)
    assert _check(engine, first.device_id, NOW) == "CARD-1"
    again = _join(engine, "CARD-1", at=NOW + timedelta(minutes=5))
    assert again.resumed is True and again.device_id == first.device_id

    ticket = codes.join_ticket(SECRET, "store-1", NOW.timestamp())
    with session_scope(engine) as session:
        service.join(
            session, ticket, "CARD-2", secret=SECRET, store_id="store-1", now=NOW, grace=GRACE
        )
    with pytest.raises(service.JoinUsed), session_scope(engine) as session:
        service.join(
            session, ticket, "CARD-3", secret=SECRET, store_id="store-1", now=NOW, grace=GRACE
        )

    # The trip's basket is paid: the token works for the grace period, then not.
    paid_at = NOW + timedelta(minutes=30)
    with session_scope(engine) as session:
        session.add(
            Basket(
                id="b-1",
                device_id=first.device_id,
                store_id="store-1",
                loyalty_card="CARD-1",
                status="paid",
                created_at=NOW,
                updated_at=paid_at,
            )
        )
    assert _check(engine, first.device_id, paid_at + GRACE - timedelta(seconds=1)) == "CARD-1"
    with pytest.raises(Unauthorized):
        _check(engine, first.device_id, paid_at + GRACE)
    # A paid trip is not resumed: the card gets a new phone identity.
    fresh = _join(engine, "CARD-1", at=paid_at + timedelta(minutes=1))
    assert fresh.resumed is False and fresh.device_id != first.device_id
    # However long a trip stays open, the token ends 12 hours after the join.
    with pytest.raises(Unauthorized):
        _check(engine, fresh.device_id, paid_at + timedelta(hours=12, minutes=1))
