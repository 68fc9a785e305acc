"""What leaves the exit on paper or on a screen: the POS pick-up codes and the receipt.

Both are built from the frozen hand-off record, never from the live basket, so the
receipt shows exactly what the POS was asked to charge.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import barcode
import segno
from barcode.writer import SVGWriter

RECEIPT_WIDTH = 42


def qr_svg(payload: str) -> str:
    """An inline SVG QR code (segno), for the POS's 2-D scanner or a phone."""
    return str(segno.make(payload, error="m").svg_inline(scale=4, title="POS pick-up code"))


def code128_svg(payload: str) -> str:
    """An inline SVG Code128 (python-barcode), for tills with a 1-D laser scanner."""
    raw = barcode.Code128(payload, writer=SVGWriter()).render(
        {"module_height": 12.0, "font_size": 0, "text_distance": 1.0, "quiet_zone": 2.0}
    )
    text: str = bytes(raw).decode("utf-8")
    return text[text.index("<svg") :]  # drop the XML prolog to inline it in HTML


def money(cents: int, currency: str = "") -> str:
    sign = "-" if cents < 0 else ""
    units, minor = divmod(abs(cents), 100)
    return f"{sign}{units}.{minor:02d}" + (f" {currency}" if currency else "")


def local_time(iso: str | None, timezone: str) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


# The least room a row keeps for its label before its value goes on lines of its own.
MIN_LABEL = 12


def _row(left: str, right: str, width: int = RECEIPT_WIDTH) -> str:
    """``left`` and ``right`` on one line of ``width`` characters, ``left`` cut to fit. A
    value too long to leave the label room (a payment reference may have 100 characters,
    a name 80) goes under the label instead, right-aligned and wrapped: no line is ever
    longer than ``width``."""
    left, right = " ".join(left.split()), " ".join(right.split())
    room = width - len(right) - 1
    if room < MIN_LABEL:
        chunks = [right[i : i + width] for i in range(0, len(right), width)] or [""]
        return "\n".join([_cut(left, width), *(chunk.rjust(width) for chunk in chunks)])
    return f"{_cut(left, room):<{room}} {right}"


def _cut(text: str, room: int) -> str:
    return text if len(text) <= room else text[: room - 1] + "…"


def receipt_text(record: dict[str, Any], *, timezone: str) -> str:
    """A plain-text receipt for a thermal printer or an e-mail body."""
    cur = record["currency"]
    out = [
        "CADDIE SELF-SCAN".center(RECEIPT_WIDTH),
        _cut(f"Store {record['store_id']}", RECEIPT_WIDTH).center(RECEIPT_WIDTH),
        "-" * RECEIPT_WIDTH,
    ]
    for line in record["lines"]:
        out.append(_row(line["name"], money(line["line_total_cents"])))
        if line.get("weight_g") is not None:
            out.append(
                _cut(
                    f"  {line['weight_g']} g x {money(line['unit_price_cents'])}/kg", RECEIPT_WIDTH
                )
            )
        elif line["qty"] > 1:
            out.append(_cut(f"  {line['qty']} x {money(line['unit_price_cents'])}", RECEIPT_WIDTH))
    for discount in record["discounts"]:
        out.append(_row(discount["label"], money(-discount["amount_cents"])))
    out += [
        "-" * RECEIPT_WIDTH,
        _row(f"TOTAL ({record['item_count']} items)", money(record["total_cents"], cur)),
    ]
    for tax in record["taxes"]:
        rate = f"{float(tax['rate']) * 100:g}%"
        out.append(
            _row(f"  incl. tax {rate} on {money(tax['gross_cents'])}", money(tax["tax_cents"]))
        )
    out.append("-" * RECEIPT_WIDTH)
    status = record.get("status")
    if status == "paid":
        out.append(_row("PAID", local_time(record.get("paid_at"), timezone)))
        if record.get("payment_reference"):
            out.append(_row("Payment ref.", str(record["payment_reference"])))
    else:
        out.append("NOT PAID - pay at the till".center(RECEIPT_WIDTH))
    out += [
        _row("Released", local_time(record.get("released_at"), timezone)),
        _row("Basket", record["basket_id"][:8]),
        _row("Pick-up code", record["code"]),
    ]
    if record.get("age_check"):
        out.append(_row("Age checked by", record["age_check"]["approved_by"]))
    out.append("Thank you for shopping with us".center(RECEIPT_WIDTH))
    return "\n".join(out) + "\n"
