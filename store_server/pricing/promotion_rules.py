"""What a promotion may say: its fields as JSON values or their CSV text forms, checked
one by one (:class:`PromotionFields`), and the rules between them
(:func:`promotion_problems`).

Every problem is reported at once, in the shop's words ("bad number for buy_qty: 'three'
is not a whole number"); the wording is part of the catalog import's replies, so each
field's check raises its own message rather than the framework's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from store_server.shared.errors import InvalidCode, shown
from store_server.shared.gs1 import normalize_gtin

if TYPE_CHECKING:
    from store_server.pricing.promotions import Promotion

__all__ = [
    "KINDS",
    "PARAMETERS",
    "PromotionFields",
    "PromotionKind",
    "field_problems",
    "promotion_problems",
]

PromotionKind = Literal[
    "percent_off", "amount_off", "multi_buy", "bundle_price", "mix_and_match", "loyalty_price"
]
KINDS: tuple[str, ...] = (
    "percent_off",
    "amount_off",
    "multi_buy",
    "bundle_price",
    "mix_and_match",
    "loyalty_price",
)
PARAMETERS = (
    "percent",
    "amount_cents",
    "buy_qty",
    "pay_qty",
    "bundle_qty",
    "bundle_price_cents",
    "loyalty_price_cents",
)
_REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    # kind -> accepted parameter sets (exactly one must be given in full)
    "percent_off": (("percent",),),
    "amount_off": (("amount_cents",),),
    "multi_buy": (("buy_qty", "pay_qty"),),
    "bundle_price": (("bundle_qty", "bundle_price_cents"),),
    "mix_and_match": (("bundle_qty", "bundle_price_cents"), ("buy_qty", "pay_qty")),
    "loyalty_price": (("loyalty_price_cents",),),
}

_PROBLEM = "promotion_field"


def _refuse(problem: str) -> PydanticCustomError:
    # The problem is passed as context, so braces in a quoted value stay as sent.
    return PydanticCustomError(_PROBLEM, "{problem}", {"problem": problem})


def _raw(value: object) -> object:
    """Text is trimmed, and empty text (a blank CSV cell) counts as not given."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def _key(info: ValidationInfo) -> str:
    return info.field_name or "value"


def _text(value: object, info: ValidationInfo) -> str:
    value = _raw(value)
    if value is None:
        raise _refuse(f"{_key(info)} is missing")
    if not isinstance(value, str):
        raise _refuse(f"{_key(info)} must be text, got {shown(value)}")
    return value


def _kind(value: object) -> str:
    if isinstance(value, str) and value.strip() in KINDS:
        return value.strip()
    if value is None or value == "":
        raise _refuse("kind is missing")
    raise _refuse(f"unknown kind {shown(value)}")


def _items(value: object, info: ValidationInfo) -> list[str]:
    """A list of text, or one text separated by ``;`` (a CSV cell)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(x, str) for x in value):
        return [x.strip() for x in value if x.strip()]
    raise _refuse(f"{_key(info)} must be a list of text or text separated by ';'")


def _gtin(value: object) -> str:
    item = str(value)
    try:
        return normalize_gtin(item)
    except InvalidCode as exc:
        raise _refuse(f"bad GTIN {shown(item)}: {exc.message}") from None


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _int(value: object, info: ValidationInfo) -> int | None:
    value = _raw(value)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise _refuse(f"bad number for {_key(info)}: {shown(value)} is not a whole number")


def _decimal(value: object, info: ValidationInfo) -> Decimal | None:
    value = _raw(value)
    if value is None:
        return None
    bad = _refuse(f"bad number for {_key(info)}: {shown(value)}")
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise bad
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise bad from None
    if not number.is_finite():
        raise bad
    return number


def _datetime(value: object, info: ValidationInfo) -> datetime | None:
    value = _raw(value)
    if value is None:
        return None
    key = _key(info)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _refuse(f"bad date for {key}: {shown(value)} is not ISO 8601") from None
    if not isinstance(value, datetime):
        raise _refuse(f"bad date for {key}: {shown(value)}")
    if value.utcoffset() is None:
        raise _refuse(f"bad date for {key}: {value.isoformat()!r} needs a UTC offset")
    return value.astimezone(UTC)


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _bool(value: object, info: ValidationInfo) -> bool:
    value = _raw(value)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise _refuse(f"{_key(info)} must be true or false, got {shown(value)}")


_Text = Annotated[str, BeforeValidator(_text)]
_Int = Annotated[int | None, BeforeValidator(_int)]
_Gtin = Annotated[str, BeforeValidator(_gtin)]
_Time = Annotated[datetime | None, BeforeValidator(_datetime)]
_OPTIONAL = Field(default=None, validate_default=True)


class PromotionFields(BaseModel):
    """One promotion's fields as sent (JSON or CSV text), each parsed on its own: GTINs
    normalised to GTIN-14, times with a UTC offset stored in UTC, lists given as a list or
    as text separated by ``;``. Unknown keys are ignored, as everywhere in the protocol.
    The rules between fields are :func:`promotion_problems`'."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: _Text = _OPTIONAL
    label: _Text = _OPTIONAL
    kind: Annotated[PromotionKind, BeforeValidator(_kind)] = _OPTIONAL
    gtins: Annotated[frozenset[_Gtin], BeforeValidator(_items)] = _OPTIONAL
    categories: Annotated[frozenset[str], BeforeValidator(_items)] = _OPTIONAL
    percent: Annotated[Decimal | None, BeforeValidator(_decimal)] = _OPTIONAL
    amount_cents: _Int = _OPTIONAL
    buy_qty: _Int = _OPTIONAL
    pay_qty: _Int = _OPTIONAL
    bundle_qty: _Int = _OPTIONAL
    bundle_price_cents: _Int = _OPTIONAL
    loyalty_price_cents: _Int = _OPTIONAL
    starts_at: _Time = _OPTIONAL
    ends_at: _Time = _OPTIONAL
    loyalty_only: Annotated[bool, BeforeValidator(_bool)] = _OPTIONAL


def field_problems(error: ValidationError) -> list[str]:
    """The problems of a refused :class:`PromotionFields`, in field order; a check of
    the framework's own (none is expected) still names its field."""
    problems: list[str] = []
    for err in error.errors():
        ctx: dict[str, Any] = err.get("ctx") or {}
        if err["type"] == _PROBLEM:
            problems.append(str(ctx["problem"]))
        else:
            where = ".".join(str(part) for part in err["loc"]) or "promotion"
            problems.append(f"{where}: {err['msg']}")
    return problems


def _is_gtin14(gtin: str) -> bool:
    try:
        return normalize_gtin(gtin) == gtin
    except InvalidCode:
        return False


def promotion_problems(p: Promotion) -> list[str]:
    """What makes an offer impossible: a missing or extra parameter for its kind, amounts
    out of range, an empty scope, a window that ends before it starts."""
    problems: list[str] = []
    if not isinstance(p.id, str) or not p.id.strip():
        problems.append("id is missing")
    if not isinstance(p.label, str) or not p.label.strip():
        problems.append("label is missing")
    if p.kind not in KINDS:
        problems.append(f"unknown kind {shown(p.kind)}")
        return problems
    for gtin in sorted(p.gtins):
        if not (isinstance(gtin, str) and len(gtin) == 14 and _is_gtin14(gtin)):
            problems.append(f"gtins must be valid GTIN-14s, got {shown(gtin)}")
    if not p.gtins and not p.categories:
        problems.append("needs at least one GTIN or category")
    given = {name for name in PARAMETERS if getattr(p, name) is not None}
    options = _REQUIRED[p.kind]
    matching = [opt for opt in options if set(opt) <= given]
    if not matching:
        wanted = " or ".join(" and ".join(opt) for opt in options)
        problems.append(f"{p.kind} needs {wanted}")
    else:
        for name in sorted(given - set(matching[0]), key=PARAMETERS.index):
            problems.append(f"{name} does not apply to {p.kind}")
    if p.percent is not None and not (Decimal(0) < p.percent <= Decimal(100)):
        problems.append(f"percent must be more than 0 and at most 100, got {p.percent}")
    if p.amount_cents is not None and p.amount_cents <= 0:
        problems.append(f"amount_cents must be positive, got {p.amount_cents}")
    if p.buy_qty is not None and p.buy_qty < 2:
        problems.append(f"buy_qty must be at least 2, got {p.buy_qty}")
    if p.pay_qty is not None and p.buy_qty is not None and not 1 <= p.pay_qty < p.buy_qty:
        problems.append(f"pay_qty must be from 1 to buy_qty - 1, got {p.pay_qty}")
    if p.bundle_qty is not None and p.bundle_qty < 2:
        problems.append(f"bundle_qty must be at least 2, got {p.bundle_qty}")
    for name in ("bundle_price_cents", "loyalty_price_cents"):
        value = getattr(p, name)
        if value is not None and value < 0:
            problems.append(f"{name} must not be negative, got {value}")
    for name in ("starts_at", "ends_at"):
        value = getattr(p, name)
        if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
            problems.append(f"{name} needs a UTC offset")
    if (
        not any("needs a UTC offset" in problem for problem in problems)
        and p.starts_at is not None
        and p.ends_at is not None
        and p.starts_at >= p.ends_at
    ):
        problems.append("ends_at must be after starts_at")
    return problems
