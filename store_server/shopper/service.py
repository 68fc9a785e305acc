"""Joining with a phone, pairing a store handheld, and where a shopper's trip stands.

Two ways into the shopper app:

* **Kiosk pairing**: ``caddie device enroll ID --pair`` enrols a store handheld and
  stores the SHA-256 of a one-time code (24 h). The page on the handheld posts the code
  and gets the device's token, issued afresh: the code works once.
* **Own phone**: the entrance QR code (signed, rotating) leads to ``/shop/join``, which
  hands out a signed join ticket; nothing is stored until the page posts the ticket
  with a loyalty card. Then the phone gets a device of its own (``kind="phone"``) for
  this one trip, or, when the card already has an open trip on a phone, that trip's
  device with a new token (the old one stops working). The token works while the trip
  is open and for a grace period after it is paid or abandoned, to read the receipt.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store_server.baskets.models import LOCKED_STATUSES, Basket
from store_server.baskets.service import LOYALTY_CARD
from store_server.checkout.models import CheckoutAudit, PaymentHandoff
from store_server.checkout.payment import pos_payload
from store_server.checkout.views import handoff_view
from store_server.devices import service as devices
from store_server.devices.models import Device
from store_server.security import hash_token, new_token
from store_server.shared.errors import CaddieError, Forbidden, Unauthorized
from store_server.shopper import codes
from store_server.shopper.models import JoinTicketUse, PairingCode, PhoneTrip
from store_server.timeutil import as_utc

TRIP_ENDED = "this trip has ended; scan the code at the entrance to start a new one"
PAIRING_CODE_HOURS = 24
# However long a phone trip stays open, its token stops working this long after the join.
PHONE_TRIP_MAX_HOURS = 12
# Spent join tickets are remembered a little longer than a ticket lives.
SPENT_TICKETS_KEPT = timedelta(seconds=2 * codes.JOIN_TICKET_SECONDS)


class PairingInvalid(CaddieError):
    """This pairing code is unknown; ask staff for a new pairing link."""

    code = "pairing_invalid"
    http_status = 400


class PairingUsed(CaddieError):
    """This pairing code was already used; ask staff for a new pairing link."""

    code = "pairing_used"
    http_status = 410


class PairingExpired(CaddieError):
    """This pairing code has expired; ask staff for a new pairing link."""

    code = "pairing_expired"
    http_status = 410


class JoinInvalid(CaddieError):
    """This join link is not valid; scan the code at the entrance again."""

    code = "join_invalid"
    http_status = 400


class JoinUsed(CaddieError):
    """This join link was already used; scan the code at the entrance again."""

    code = "join_used"
    http_status = 410


class JoinExpired(CaddieError):
    """This join link has expired; scan the code at the entrance again."""

    code = "join_expired"
    http_status = 410


class InvalidCard(CaddieError):
    """A loyalty card number is 1-32 letters, digits or dashes."""

    code = "invalid_card"
    http_status = 400


# --- kiosk pairing -------------------------------------------------------------------------


def issue_pairing_codes(
    session: Session, device_ids: list[str], *, store_id: str, now: datetime
) -> list[tuple[str, str]]:
    """Enrol (or re-enrol) store handhelds and give each a one-time pairing code; returns
    (device_id, code). Re-enrolling revokes the device's old token, and a code issued
    earlier for the device that was never used stops working."""
    enrolled = devices.enroll(session, device_ids, store_id=store_id)
    issued = []
    for device_id, _token in enrolled:  # the page gets a token of its own when it pairs
        session.exec(
            delete(PairingCode).where(
                col(PairingCode.device_id) == device_id, col(PairingCode.used_at).is_(None)
            )
        )
        code = new_token()
        session.add(
            PairingCode(
                code_hash=hash_token(code),
                device_id=device_id,
                created_at=now,
                expires_at=now + timedelta(hours=PAIRING_CODE_HOURS),
            )
        )
        issued.append((device_id, code))
    session.flush()
    return issued


def pair(session: Session, code: str, *, now: datetime) -> tuple[str, str]:
    """Spend a pairing code: the device's token is issued afresh and returned as
    (device_id, token). Two pages racing with one code: one wins, the other gets
    ``pairing_used``."""
    row = session.get(PairingCode, hash_token(code))
    if row is None:
        raise PairingInvalid()
    if row.used_at is not None:
        raise PairingUsed()
    if as_utc(row.expires_at) <= now:
        raise PairingExpired()
    spent = session.exec(
        update(PairingCode)
        .where(col(PairingCode.code_hash) == row.code_hash, col(PairingCode.used_at).is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:
        raise PairingUsed()
    device = session.get(Device, row.device_id)
    if device is None:  # pragma: no cover - the foreign key keeps it
        raise PairingInvalid()
    token = new_token()
    device.token_hash = hash_token(token)
    device.revoked_at = None
    session.flush()
    return device.id, token


# --- own phone -------------------------------------------------------------------------------


TripState = Literal["open", "ended", "expired"]


@dataclass(frozen=True)
class Joined:
    device_id: str
    token: str
    expires_at: datetime
    resumed: bool


def latest_basket(session: Session, device_id: str) -> Basket | None:
    return session.exec(
        select(Basket)
        .where(Basket.device_id == device_id)
        .order_by(col(Basket.created_at).desc())
        .limit(1)
    ).first()


def trip_state(session: Session, trip: PhoneTrip, *, now: datetime, grace: timedelta) -> TripState:
    """``open`` while the phone's basket is not yet paid or abandoned (or not yet
    started), ``ended`` during the grace period after, ``expired`` once the token must
    no longer work."""
    if as_utc(trip.expires_at) <= now:
        return "expired"
    basket = latest_basket(session, trip.device_id)
    if basket is None or basket.status == "open" or basket.status in LOCKED_STATUSES:
        return "open"
    return "ended" if now < as_utc(basket.updated_at) + grace else "expired"


def phone_trip_state(
    session: Session, device_id: str, *, now: datetime, grace: timedelta
) -> TripState:
    trip = session.get(PhoneTrip, device_id)
    return "expired" if trip is None else trip_state(session, trip, now=now, grace=grace)


def ensure_phone_trip(session: Session, device_id: str, *, now: datetime, grace: timedelta) -> str:
    """The loyalty card of this phone's trip; Unauthorized once the trip is over (paid or
    abandoned, plus the grace period): its token expires with the trip."""
    trip = session.get(PhoneTrip, device_id)
    if trip is None or trip_state(session, trip, now=now, grace=grace) == "expired":
        raise Unauthorized(TRIP_ENDED)
    return trip.loyalty_card


def issue_join_ticket(
    secret: str, entrance_code: object, *, store_id: str, now: float, minutes: int
) -> str:
    """A join ticket for a valid entrance code of this store. Stores nothing."""
    try:
        code_store = codes.read_entrance_code(secret, entrance_code, now=now, minutes=minutes)
    except codes.CodeRefused as refused:
        raise (JoinExpired if refused.reason == "expired" else JoinInvalid)() from None
    if code_store != store_id:
        raise JoinInvalid()
    return codes.join_ticket(secret, store_id, now)


def join(
    session: Session,
    ticket: str,
    loyalty_card: str,
    *,
    secret: str,
    store_id: str,
    now: datetime,
    grace: timedelta,
) -> Joined:
    """Spend a join ticket for ``loyalty_card``: resume the card's open phone trip or
    open a new one. A refused ticket or card changes nothing."""
    try:
        parsed = codes.read_join_ticket(secret, ticket, now=now.timestamp())
    except codes.CodeRefused as refused:
        raise (JoinExpired if refused.reason == "expired" else JoinInvalid)() from None
    if parsed.store_id != store_id:
        raise JoinInvalid()
    if not LOYALTY_CARD.match(loyalty_card):
        raise InvalidCard()
    if session.get(JoinTicketUse, parsed.nonce) is not None:
        raise JoinUsed()
    session.exec(delete(JoinTicketUse).where(col(JoinTicketUse.used_at) < now - SPENT_TICKETS_KEPT))
    token = new_token()
    trip = _open_trip(session, loyalty_card, store_id=store_id, now=now, grace=grace)
    if trip is not None:
        device = session.get(Device, trip.device_id)
        assert device is not None  # the foreign key keeps it
        device.token_hash = hash_token(token)  # the old token stops working
        trip.resumed_at = now
        resumed = True
    else:
        device = Device(
            id="PHONE-" + secrets.token_hex(10).upper(),
            store_id=store_id,
            token_hash=hash_token(token),
            enrolled_at=now,
            kind="phone",
        )
        session.add(device)
        session.flush()
        trip = PhoneTrip(
            device_id=device.id,
            store_id=store_id,
            loyalty_card=loyalty_card,
            created_at=now,
            expires_at=now + timedelta(hours=PHONE_TRIP_MAX_HOURS),
        )
        session.add(trip)
        resumed = False
    session.add(JoinTicketUse(nonce=parsed.nonce, device_id=device.id, used_at=now))
    try:
        session.flush()
    except IntegrityError:  # the same ticket spent at this very moment elsewhere
        raise JoinUsed() from None
    return Joined(device.id, token, as_utc(trip.expires_at), resumed)


def _open_trip(
    session: Session, loyalty_card: str, *, store_id: str, now: datetime, grace: timedelta
) -> PhoneTrip | None:
    trips = session.exec(
        select(PhoneTrip)
        .where(PhoneTrip.loyalty_card == loyalty_card, PhoneTrip.store_id == store_id)
        .order_by(col(PhoneTrip.created_at).desc())
    ).all()
    for trip in trips:
        if trip_state(session, trip, now=now, grace=grace) == "open":
            return trip
    return None


# --- the trip as the page sees it ------------------------------------------------------------


def device_for_bearer(session: Session, token: str, *, now: datetime, grace: timedelta) -> Device:
    """The device whose current token this is (a paired store handheld or a phone
    whose trip has not expired)."""
    if not token or len(token) > 256:
        raise Unauthorized("send the device token (Authorization: Bearer <token>)")
    device = session.exec(select(Device).where(Device.token_hash == hash_token(token))).first()
    if device is None or device.revoked_at is not None:
        raise Unauthorized("unknown or revoked device token")
    if device.staff_mode:
        raise Forbidden("a staff-mode handheld has no shopper trips")
    if device.kind == "phone":
        ensure_phone_trip(session, device.id, now=now, grace=grace)
    return device


def trip_status(
    session: Session,
    device: Device,
    *,
    secret: str,
    view: Any,
) -> dict[str, Any]:
    """The device's latest basket (priced by ``view(session, basket)``), its audit, and
    once released to payment the hand-off code and the receipt link."""
    basket = latest_basket(session, device.id)
    if basket is None:
        return {
            "basket": None,
            "status": None,
            "audit": None,
            "handoff_code": None,
            "handoff_payload": None,
            "receipt_url": None,
        }
    audit = session.get(CheckoutAudit, basket.id)
    handoff = _handoff(session, basket.id)
    code = handoff.code if handoff is not None else None
    return {
        "basket": view(session, basket),
        "status": basket.status,
        "audit": None
        if audit is None
        else {"decision": audit.decision, "rescan_count": _rescan_count(audit)},
        "handoff_code": code,
        "handoff_payload": pos_payload(code) if code else None,
        "receipt_url": receipt_path(secret, basket.id) if handoff is not None else None,
    }


def _rescan_count(audit: CheckoutAudit) -> int:
    try:
        rescan = json.loads(audit.rescan)
    except ValueError:
        return 0
    return len(rescan) if isinstance(rescan, list) else 0


def receipt_path(secret: str, basket_id: str) -> str:
    return f"/shop/receipt/{codes.receipt_token(secret, basket_id)}"


def receipt_record(session: Session, secret: str, token: str) -> dict[str, Any] | None:
    """The frozen hand-off record a receipt token names, or None (forged, or the basket
    was never released to payment)."""
    try:
        basket_id = codes.read_receipt_token(secret, token)
    except codes.CodeRefused:
        return None
    handoff = _handoff(session, basket_id)
    return None if handoff is None else handoff_view(handoff)


def _handoff(session: Session, basket_id: str) -> PaymentHandoff | None:
    return session.exec(select(PaymentHandoff).where(PaymentHandoff.basket_id == basket_id)).first()
