"""Validation of handheld WebSocket messages (PROTOCOL.md, version 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store_server import client_json
from store_server.offers.protocol import OFFER_REQUEST_TYPES, parse_offer_fields
from store_server.shared.errors import BadMessage, BadQuantity

REQUEST_TYPES = ("start", "scan", "remove", "finish", *OFFER_REQUEST_TYPES)
MAX_ID_LENGTH = 128
MAX_CODE_LENGTH = 512  # GS1 element strings and Digital Link URLs are longer than a GTIN
MAX_QTY = 999


@dataclass(frozen=True)
class Request:
    type: str
    id: str
    fields: dict[str, Any]


def parse_frame(text: str) -> dict[str, Any]:
    """A JSON object with a string ``type``, or BadMessage.

    A frame nested too deep, or holding a string that is not Unicode text (a lone
    surrogate escape such as ``\\ud800``, in any field), is refused here with the rest
    of the bad JSON: such a string could be neither stored nor echoed in a reply."""
    try:
        data = client_json.loads(text)
    except client_json.ClientJSONError as exc:
        raise BadMessage(f"the frame is not valid JSON: {exc.reason}") from None
    if not isinstance(data, dict):
        raise BadMessage("the frame must be a JSON object")
    if not isinstance(data.get("type"), str):
        raise BadMessage("the message has no string 'type'", id=request_id(data))
    return data


def request_id(data: dict[str, Any]) -> str | None:
    """The request id when it is usable, so even an error can echo it."""
    value = data.get("id")
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
        return value
    return None


def parse_request(data: dict[str, Any]) -> Request:
    kind = data["type"]
    if kind not in REQUEST_TYPES:
        raise BadMessage(f"unknown message type {kind[:40]!r}")
    rid = request_id(data)
    if rid is None:
        raise BadMessage(f"'{kind}' needs an 'id': a string of 1 to {MAX_ID_LENGTH} characters")
    fields: dict[str, Any] = {}
    if kind in ("scan", "remove"):
        code = data.get("code")
        if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
            raise BadMessage("'code' must be the scanned digits as a non-empty string")
        fields["code"] = code
        qty = data.get("qty")
        # PROTOCOL.md: qty defaults to 1, and null is how JSON writers spell "absent"
        fields["qty"] = parse_qty(1 if qty is None else qty)
    elif kind == "start":
        fields["loyalty_card"] = data.get("loyalty_card")
    elif kind in OFFER_REQUEST_TYPES:
        fields = parse_offer_fields(kind, data)
    return Request(kind, rid, fields)


def parse_qty(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise BadQuantity(f"qty must be a whole number from 1 to {MAX_QTY}")
    if not 1 <= value <= MAX_QTY:
        raise BadQuantity(f"qty must be a whole number from 1 to {MAX_QTY}")
    return value


def error_message(code: str, message: str, rid: str | None) -> dict[str, Any]:
    reply: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if rid is not None:
        reply["id"] = rid
    return reply
