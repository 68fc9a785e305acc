"""Request bodies of the checkout API, and one parser that turns any malformed body into
the CaddieError family (``bad_message`` / ``invalid_input`` / ``too_large``) instead of a
framework reply."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from store_server import client_json
from store_server.body_limit import JSON_BODY_LIMIT, allow_body
from store_server.errors import BadMessage, InvalidInput
from store_server.websec import require_media_type

M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class RescanBody(Body):
    code: str = Field(min_length=1, max_length=64)


class DeviceRescanBody(RescanBody):
    basket_id: str = Field(min_length=1, max_length=36)


class AddLineBody(Body):
    code: str = Field(min_length=1, max_length=64)
    qty: int = Field(default=1, ge=1, le=999)
    reason: Literal["missed_by_shopper", "shopper_request", "staff_error"]
    note: str | None = Field(default=None, max_length=500)


class RemoveLineBody(Body):
    qty: int = Field(default=1, ge=1, le=999)
    reason: Literal["not_in_trolley", "shopper_request", "staff_error"]
    note: str | None = Field(default=None, max_length=500)


class ResolveExtraBody(Body):
    resolution: Literal["add_to_basket", "staff_error"]


class AgeApprovalBody(Body):
    note: str | None = Field(default=None, max_length=500)


class PaidBody(Body):
    payment_reference: str = Field(min_length=1, max_length=100)
    amount_cents: int


class PosTerminalBody(Body):
    terminal_id: str = Field(min_length=1, max_length=64)
    store_id: str | None = Field(default=None, min_length=1, max_length=64)


class PolicyBody(Body):
    policy: dict[str, Any]


async def parse_body(request: Request, model: type[M], *, empty_ok: bool = False) -> M:
    """The body as ``model``; read within the JSON limit (413 past it, while it streams).
    Only a JSON body is read (415 otherwise): see ``websec.require_media_type``."""
    if not empty_ok or request.headers.get("content-length", "0") != "0":
        require_media_type(request, "json")
    raw = await allow_body(request, JSON_BODY_LIMIT).body()
    if not raw.strip():
        if empty_ok:
            return model()
        raise BadMessage("the request needs a JSON object body")
    try:
        data = client_json.loads(raw)
    except client_json.ClientJSONError as exc:
        raise BadMessage("the body is not valid JSON", problems=[exc.reason]) from None
    if not isinstance(data, dict):
        raise BadMessage("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise InvalidInput("; ".join(problems), problems=problems) from None
