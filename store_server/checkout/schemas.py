"""Request bodies of the checkout API, and one parser that turns any malformed body into
the CaddieError family (``bad_message`` / ``invalid_input`` / ``too_large``) instead of a
framework reply."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from store_server import client_json
from store_server.body_limit import JSON_BODY_LIMIT, allow_body
from store_server.shared.errors import BadMessage, InvalidInput
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
    """A till reports the payment it took for a hand-off."""

    payment_reference: str = Field(
        min_length=1,
        max_length=100,
        description="The till's own reference for the payment; a retry with the same "
        "reference is answered as before and changes nothing.",
        examples=["TILL-3-000815"],
    )
    amount_cents: int = Field(
        description="The amount taken, in minor units (cents); must equal the hand-off's "
        "total_cents.",
        examples=[8177],
    )


PAYMENT_METHODS = ("cash", "card_terminal", "other")


class ManualPaymentBody(Body):
    """Staff record a payment taken without an integrated till: cash at a staffed till,
    a stand-alone card terminal."""

    method: Literal["cash", "card_terminal", "other"] = Field(description="How the shopper paid.")
    reference: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="The receipt number of the cash till or card terminal slip.",
        examples=["CASH-2-0042"],
    )
    amount_cents: int = Field(
        ge=0, description="The amount taken, in cents; must equal the basket's total."
    )
    note: str | None = Field(default=None, max_length=500)


class CardSearchBody(Body):
    loyalty_card: str = Field(min_length=1, max_length=32)
    reason: str = Field(
        min_length=5, max_length=200, description="Why staff look this shopper up (logged)."
    )


class ShiftFigures(BaseModel):
    since: str = Field(description="Start of the store's day (UTC).")
    waiting: int = Field(description="Baskets waiting for staff now.")
    audits_done: int
    released: int
    average_wait_s: int | None = Field(description="Finishing to release, in seconds.")
    paid: int


class PosTerminalBody(Body):
    terminal_id: str = Field(
        min_length=1,
        max_length=64,
        description="The till's id (letters, digits, . _ : -); registering it again "
        "revokes its old token.",
        examples=["POS-3"],
    )
    store_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The store the till serves (default: the admin's or the server's).",
    )


class PosTerminalReply(BaseModel):
    terminal_id: str
    store_id: str
    token: str = Field(description="The till's bearer token, shown this once.")


class HandoffLine(BaseModel):
    model_config = ConfigDict(extra="allow")

    gtin: str
    name: str
    qty: int
    unit_price_cents: int
    line_total_cents: int
    weight_g: int | None = None
    tax_rate: str | None = None
    age_restricted: bool = False


class HandoffDiscount(BaseModel):
    label: str
    amount_cents: int


class HandoffTax(BaseModel):
    rate: str = Field(description='Tax rate as a decimal fraction, e.g. "0.19".')
    gross_cents: int
    tax_cents: int


class HandoffAudit(BaseModel):
    decision: str
    outcome: str | None = None


class HandoffAgeCheck(BaseModel):
    model_config = ConfigDict(extra="allow")

    approved_by: str
    approved_at: str | None = None


class Handoff(BaseModel):
    """A basket released to payment, frozen as the till charges it."""

    model_config = ConfigDict(extra="allow")  # fields added later reach the till too

    handoff_id: str
    code: str = Field(description="The pick-up code the console shows (QR and Code128).")
    pos_payload: str = Field(description="What the QR code carries: CADDIE-PAY:<code>.")
    basket_id: str
    store_id: str
    device_id: str
    loyalty_card: str | None = None
    currency: str = Field(description="ISO 4217 code of every amount.")
    lines: list[HandoffLine]
    discounts: list[HandoffDiscount]
    item_count: int
    subtotal_cents: int = Field(description="The lines before promotions.")
    total_cents: int = Field(description="What the till charges, tax included.")
    tax_cents: int
    taxes: list[HandoffTax]
    audit: HandoffAudit
    age_check: HandoffAgeCheck | None = None
    released_at: str
    released_by: str
    status: Literal["released", "paid", "expired"]
    paid_at: str | None = None
    payment_reference: str | None = None
    pos_terminal_id: str | None = Field(
        default=None, description="The till that reported the payment (none: taken by staff)."
    )


class PaidReply(Handoff):
    replayed: bool = Field(description="True when this payment was reported before.")


class PolicyBody(Body):
    policy: dict[str, Any]


# --- replies -------------------------------------------------------------------------------
# Every field listed is always sent; fields added later reach the console too (extra
# fields pass through), so declaring a reply never changes what is sent.


class Reply(BaseModel):
    model_config = ConfigDict(extra="allow")


class QueueRow(Reply):
    """One basket at the exit, as the live queue lists it."""

    basket_id: str
    store_id: str
    device_id: str
    status: str = Field(description="finishing, audit, paid or abandoned.")
    decision: str = Field(description="The audit now: none, partial or full.")
    initial_decision: str = Field(description="The audit decided when the shopper finished.")
    reasons: list[str] = Field(description="Why the basket was picked, in the shop's words.")
    rescan_count: int
    trust_score: float | None
    total_cents: int
    tax_cents: int
    currency: str
    item_count: int
    finished_at: str | None
    age_check: Literal["approved", "needed", "none"]
    released: bool
    handoff_code: str | None
    handoff_status: str | None


class QueueReply(Reply):
    baskets: list[QueueRow] = Field(description="Oldest first: the next one staff should take.")


class HistoryRow(QueueRow):
    paid_at: str | None
    payment_reference: str | None
    paid_by: str = Field(description='"till <id>" or "staff".')


class HistoryReply(Reply):
    baskets: list[HistoryRow] = Field(description="Newest payment first, 50 at most.")


class ConsoleLine(Reply):
    gtin: str
    name: str
    qty: int
    unit_price_cents: int
    weight_g: int | None
    line_total_cents: int
    age_restricted: bool
    line_id: int
    category: str
    status: Literal["verified", "to_rescan", "not_checked"]
    verified: int = Field(description="Units of this GTIN staff have seen.")
    expected: int = Field(description="Units of this GTIN in the basket.")
    to_rescan: bool
    added_at_exit: int
    removed_at_exit: int


class AuditView(Reply):
    decision: str
    initial_decision: str
    reasons: list[str]
    probability: float
    trust_score: float
    inputs: dict[str, Any] = Field(description="What the audit policy was given.")
    decided_at: str | None
    escalated_at: str | None
    policy_version: int | None
    outcome: str | None


class ExtraItem(Reply):
    """An item staff rescanned that is not in the basket."""

    scan_id: int
    gtin: str
    name: str
    at: str | None
    actor: str
    resolution: str | None


class RescanView(Reply):
    gtin: str
    name: str
    outcome: Literal["verified", "duplicate", "extra"]
    actor: str
    at: str | None


class CorrectionView(Reply):
    kind: Literal["add", "remove"]
    gtin: str
    name: str
    qty: int
    reason: str
    note: str | None
    shopper_fault: bool
    voided: bool
    actor: str
    at: str | None
    text: str


class AgeApprovalView(Reply):
    approved_by: str
    approved_at: str | None
    note: str | None


class ActionView(Reply):
    """One entry of the basket's audit log; its particulars (an object named after the
    action's own fields) come with it as they were logged."""

    at: str | None
    actor: str
    who: str
    action: str
    text: str


class BasketDetail(QueueRow):
    """One basket as the console shows it."""

    loyalty_card: str | None
    lines: list[ConsoleLine]
    rescan: list[str] = Field(description="GTINs the audit asks staff to rescan.")
    audit: AuditView | None
    extras: list[ExtraItem]
    rescans: list[RescanView]
    corrections: list[CorrectionView]
    discounts: list[HandoffDiscount]
    taxes: list[HandoffTax]
    subtotal_cents: int
    age_approval: AgeApprovalView | None
    handoff: Handoff | None
    problems: list[str] = Field(description="What still stands between it and payment.")
    actions: list[ActionView]


class RescanReply(Reply):
    outcome: Literal["verified", "duplicate", "extra"]
    gtin: str
    name: str
    scan_id: int | None
    basket: BasketDetail


class ReleasedHandoff(Handoff):
    qr_svg: str = Field(description="The pick-up code as a QR code (SVG).")
    code128_svg: str = Field(description="The pick-up code as a Code128 barcode (SVG).")


class ReleaseReply(Reply):
    handoff: ReleasedHandoff
    basket: QueueRow


class PolicyReply(Reply):
    store_id: str
    policy: dict[str, Any] = Field(description="The audit policy in force, every setting.")


def json_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring a route's JSON body: the routes read their bodies
    through :func:`parse_body` (one error shape for every malformed body), so FastAPI
    cannot see the model by itself."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


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
