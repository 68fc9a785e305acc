"""The handheld WebSocket ``/ws/handheld`` (PROTOCOL.md)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, WebSocket
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session
from starlette.websockets import WebSocketDisconnect, WebSocketState

from store_server import metrics
from store_server.devices import service as devices
from store_server.devices.models import Device
from store_server.handheld import service
from store_server.handheld.protocol import (
    REQUEST_TYPES,
    error_message,
    parse_frame,
    parse_request,
    request_id,
)
from store_server.manager.service import note_scan_outcome
from store_server.offers.protocol import FEATURE as OFFERS_FEATURE
from store_server.offers.protocol import hello_features
from store_server.offers.routes import push_offer
from store_server.shared.errors import BadMessage, CaddieError, RateLimited, Unauthorized
from store_server.shared.protocol import CLOSE_UNAUTHORIZED, PROTOCOL_VERSION
from store_server.shopper.service import TRIP_ENDED, ensure_phone_trip, phone_trip_state
from store_server.signals.publisher import note_handheld_outcome
from store_server.state import ServerState
from store_server.timeutil import utcnow

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_UNSUPPORTED = 1003
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013
CLOSE_SERVICE_RESTART = 1012


def _dumps(reply: dict[str, Any]) -> str:
    return json.dumps(reply, separators=(",", ":"))


class HandheldConnection:
    def __init__(self, websocket: WebSocket, state: ServerState) -> None:
        self.ws = websocket
        self.state = state
        self.device: Device | None = None
        self.features: frozenset[str] = frozenset()  # hello's optional "features"
        self.busy = False  # applying a request: a draining server waits for its reply
        self.closing = False
        self.basket: service.BasketState | None = None  # as last committed here
        self.phone_grace = timedelta(minutes=state.settings.shopper_trip_grace_minutes)
        # A shopper's own phone shops for the loyalty card it joined with, and no other.
        self.phone_card: str | None = None
        self.ctx = service.HandheldContext(
            currency=state.settings.currency,
            layouts=state.layouts,
            promotions=state.promotions,
            finish=state.finish_callback(),
            products=state.products,
        )

    async def send(self, reply: dict[str, Any]) -> None:
        await self.ws.send_text(_dumps(reply))

    async def error(self, exc: CaddieError, rid: str | None) -> None:
        await self.send(error_message(exc.code, exc.message, rid))

    async def close_for_restart(self) -> None:
        """Tell the device to reconnect (to another process): the server is stopping."""
        await self.close(CLOSE_SERVICE_RESTART, "service restart; reconnect")

    async def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        metrics.record_close(code)
        await self.ws.close(code, reason)

    async def run(self) -> None:
        await self.ws.accept()
        self.state.handhelds.add(self)
        try:
            while True:
                if self.state.draining:
                    await self.close_for_restart()
                    return
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if self.state.draining:  # arrived as the drain began: the device resends it
                    await self.close_for_restart()
                    return
                text = message.get("text")
                if text is None:
                    await self.ws.close(
                        CLOSE_UNSUPPORTED, "binary frames are not part of the protocol"
                    )
                    return
                if len(text) > self.state.settings.max_frame_bytes // 4 and (
                    len(text.encode("utf-8", "surrogatepass")) > self.state.settings.max_frame_bytes
                ):
                    await self.ws.close(CLOSE_TOO_BIG, "frames are limited to 64 KiB")
                    return
                self.busy = True
                try:
                    if not await self.handle(text):
                        return
                finally:
                    self.busy = False
        except WebSocketDisconnect:
            return
        finally:
            self.state.handhelds.discard(self)
            if self.device is not None:
                metrics.HANDHELDS.dec()
                count = self.state.connected_devices.get(self.device.id, 1) - 1
                if count <= 0:
                    self.state.connected_devices.pop(self.device.id, None)
                else:
                    self.state.connected_devices[self.device.id] = count

    async def handle(self, text: str) -> bool:
        """Answer one frame; False once the socket is closed."""
        started = time.perf_counter()
        try:
            data = parse_frame(text)
        except BadMessage as exc:
            rid = exc.details.get("id")
            await self.error(exc, rid if isinstance(rid, str) else None)
            return True
        rid = request_id(data)
        if data["type"] == "hello":
            return await self.hello(data)
        if self.device is None:
            await self.error(Unauthorized("send hello with the device token first"), rid)
            await self.ws.close(CLOSE_UNAUTHORIZED, "unauthorized")
            return False
        if self.state.handheld_limiter.check(self.device.id):
            await self.error(RateLimited("too many requests from this device; slow down"), rid)
            return True
        kind = data["type"] if data["type"] in REQUEST_TYPES else "other"
        try:
            request = parse_request(data)
            if request.type == "start" and self.phone_card is not None:
                await self.check_phone_start(request)
            outcome = await self.apply(request)
        except CaddieError as exc:
            await self.error(exc, rid)
            metrics.record_reply(kind, "error", started)
            await note_scan_outcome(self.state, self.device, data, error=exc, event=None)
            if isinstance(exc, Unauthorized):  # revoked or enrolled again since hello
                await self.close(CLOSE_UNAUTHORIZED, "unauthorized")
                return False
            return True
        except OperationalError as exc:
            log.warning("database unavailable while applying %s: %s", kind, exc.orig)
            await self.close(CLOSE_TRY_AGAIN, "store server database unavailable; reconnect")
            return False
        except (service.StaleBasket, IntegrityError) as exc:
            log.warning("could not apply %s after retries: %s", kind, exc)
            await self.close(CLOSE_TRY_AGAIN, "basket busy; reconnect and resend")
            return False
        if outcome.text is not None:
            await self.ws.send_text(outcome.text)
        else:
            await self.send(outcome.reply)
        metrics.record_reply(kind, "replayed" if outcome.replayed else "applied", started)
        if outcome.event == "basket.finished":
            metrics.record_audit(str(outcome.reply.get("audit", {}).get("decision")))
        if outcome.abandoned is not None:
            await self.publish("basket.abandoned", outcome.abandoned, "abandoned")
        if outcome.event is not None:
            await self.publish(outcome.event, outcome.basket_id, outcome.reply["basket"]["status"])
        await note_handheld_outcome(self.state, self.device, request, outcome)
        if not outcome.replayed:
            await note_scan_outcome(self.state, self.device, data, error=None, event=outcome.event)
        if OFFERS_FEATURE in self.features:
            await push_offer(self.state, self.send, request, outcome)
        return True

    async def check_phone_start(self, request: Any) -> None:
        """A shopper's own phone shops once, for the card it joined with: after its trip
        is paid or abandoned it starts no new one (the token only reads the receipt)."""
        if request.fields.get("loyalty_card") != self.phone_card:
            raise BadMessage(
                "this phone joined with another loyalty card; scan the entrance "
                "code again to shop with this one"
            )
        assert self.device is not None
        device_id, grace = self.device.id, self.phone_grace
        state = await self.state.db.run(
            lambda session: phone_trip_state(session, device_id, now=utcnow(), grace=grace)
        )
        if state == "expired":
            raise Unauthorized(TRIP_ENDED)
        if state == "ended":
            raise BadMessage(TRIP_ENDED)

    async def publish(self, event: str, basket_id: str | None, status: str) -> None:
        """Tell the staff consoles and store signals what happened to a basket."""
        assert self.device is not None
        await self.state.events.publish(
            "baskets",
            {
                "event": event,
                "basket_id": basket_id,
                "store_id": self.device.store_id,
                "status": status,
            },
        )

    async def apply(self, request: Any) -> service.Outcome:
        """Apply a request in the store's next group commit.

        Scans and removals run on the basket this connection last committed (no read),
        priced before the batch takes the writer lock; if another connection changed the
        basket meanwhile they are run again on a fresh read, inside the lock this time,
        where nobody can change it between the read and the write."""
        device = self.device
        assert device is not None
        committer = self.state.committer
        if request.type in service.LINE_REQUEST_TYPES:
            known = self.basket
            for attempt in range(3):

                def prepare(
                    session: Session, known: service.BasketState | None = known
                ) -> Callable[[Session], service.Outcome]:
                    return service.prepare_line_change(session, device, request, self.ctx, known)

                def in_turn(
                    session: Session, known: service.BasketState | None = known
                ) -> service.Outcome:
                    return service.apply_line_change(session, device, request, self.ctx, known)

                try:
                    if attempt == 0:
                        outcome = await committer.run_prepared(prepare)
                    else:
                        outcome = await committer.run(in_turn, isolated=False)
                except (service.StaleBasket, IntegrityError):
                    # Changed elsewhere meanwhile (or a batch failed and this ran alone):
                    # read the basket afresh; a third failure closes with 1013.
                    self.basket = known = None
                    if attempt == 2:
                        raise
                    continue
                self.basket = outcome.state
                return outcome

        known = self.basket
        self.basket = None  # finish and offers change the basket their own way

        def work(session: Session) -> service.Outcome:
            return service.apply(
                session, device, request, self.ctx, check_replay=False, known=known
            )

        def checked(session: Session) -> service.Outcome:
            return service.apply(session, device, request, self.ctx)

        try:
            outcome = await committer.run(work)
        except IntegrityError:
            # The request id was applied before (a replay), or on another connection at
            # this very moment: answer with what was stored.
            outcome = await committer.run(checked)
        self.basket = outcome.state  # a new basket, known to be empty
        return outcome

    async def hello(self, data: dict[str, Any]) -> bool:
        rid = request_id(data)
        if type(data.get("protocol")) is not int or data["protocol"] != PROTOCOL_VERSION:
            await self.error(
                BadMessage(
                    f"unsupported protocol {str(data.get('protocol'))[:20]!r}; this server speaks 1"
                ),
                rid,
            )
            return True
        device_id, token = data.get("device_id"), data.get("token")

        def work(session: Session) -> tuple[Device, dict[str, Any] | None]:
            device = devices.authenticate(session, device_id, token)
            if device.kind == "phone":  # a phone's token expires with its trip
                card = ensure_phone_trip(session, device.id, now=utcnow(), grace=self.phone_grace)
                self.phone_card = card
            return device, service.open_basket_view(session, device, self.ctx)

        try:
            device, basket = await self.state.db.run(work)
        except Unauthorized as exc:
            await self.error(exc, rid)
            await self.ws.close(CLOSE_UNAUTHORIZED, "unauthorized")
            return False
        except OperationalError as exc:
            log.warning("database unavailable at hello: %s", exc.orig)
            await self.close(CLOSE_TRY_AGAIN, "store server database unavailable; reconnect")
            return False
        if self.device is not None and self.device.id != device.id:
            await self.error(Unauthorized("this connection belongs to another device"), rid)
            await self.ws.close(CLOSE_UNAUTHORIZED, "unauthorized")
            return False
        if self.device is None:
            self.state.connected_devices[device.id] = (
                self.state.connected_devices.get(device.id, 0) + 1
            )
            metrics.HANDHELDS.inc()
            log.info("handheld %s said hello", device.id)
        self.device = device
        self.features = hello_features(data)
        await self.send({"type": "welcome", "device_id": device.id, "basket": basket})
        return True


@router.websocket("/ws/handheld")
async def handheld_socket(websocket: WebSocket) -> None:
    state: ServerState = websocket.app.state.caddie
    connection = HandheldConnection(websocket, state)
    try:
        await connection.run()
    except Exception:  # never a traceback to the device; it reconnects and replays
        log.exception("handheld connection failed")
        if websocket.client_state == WebSocketState.CONNECTED:
            await websocket.close(1011, "internal error; reconnect")
