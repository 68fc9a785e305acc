"""What a decoded barcode means: the ``Symbol`` value and its GS1 normalisation.

Pure module (no I/O). Decoders disagree on how they spell the same retail symbol
(zxing-cpp reports UPC-A as EAN-13 with a leading 0 and UPC-E already expanded;
zbar reports UPC-E as 8 digits), so every read goes through :func:`make_symbol`
which settles one spelling and one GTIN-14 per symbol and rejects bad check digits.
GS1 data (Digital Link URIs, GS1 element strings in DataMatrix/DataBar/Code 128)
is interpreted with ``biip`` rather than by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from biip import parse
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.upc import Upc

from store_server.shared.digits import is_ascii_digits
from store_server.shared.gs1 import PARSE_ERRORS

ALL_SYMBOLOGIES: tuple[str, ...] = (
    "EAN13",
    "EAN8",
    "UPCA",
    "UPCE",
    "CODE128",
    "QR",
    "DATAMATRIX",
    "DATABAR",
)
DEFAULT_SYMBOLOGIES: tuple[str, ...] = ("EAN13", "EAN8", "UPCA", "UPCE")
RETAIL_SYMBOLOGIES = frozenset(DEFAULT_SYMBOLOGIES)


@dataclass(frozen=True)
class Symbol:
    """One barcode read from a frame, already checked and normalised."""

    symbology: str
    text: str
    gtin14: str | None
    weight_g: int | None = None
    price_cents: int | None = None
    batch: str | None = None
    expiry: date | None = None
    position: tuple[int, int, int, int] | None = None

    @property
    def key(self) -> str:
        """Identity used for voting and debouncing: the GTIN when there is one."""
        return self.gtin14 or f"{self.symbology}:{self.text}"


def check_symbologies(symbologies: object) -> tuple[str, ...]:
    """Validate a symbology allow-list early, so a typo is not a silent 'reads nothing'."""
    names = tuple(str(s).strip().upper() for s in symbologies)  # type: ignore[attr-defined]
    unknown = [n for n in names if n not in ALL_SYMBOLOGIES]
    if unknown or not names:
        raise ValueError(
            f"unknown symbology {', '.join(unknown) or '(none given)'}; "
            f"choose from {' '.join(ALL_SYMBOLOGIES)}"
        )
    return tuple(dict.fromkeys(names))


def gtin14_of(digits: str) -> str | None:
    """GTIN-14 of ``digits`` if it is a GTIN-8/12/13/14 with a correct check digit."""
    if not is_ascii_digits(digits) or len(digits) not in (8, 12, 13, 14):
        return None
    try:
        Gtin.parse(digits)
    except PARSE_ERRORS:
        return None
    return digits.zfill(14)


def _upce_to_upca(upce: str) -> str | None:
    try:
        return Upc.parse(upce).as_upc_a()
    except PARSE_ERRORS:
        return None


def _upca_to_upce(upca: str) -> str | None:
    try:
        return Upc.parse(upca).as_upc_e()
    except Exception:  # ParseError, or biip's EncodeError when not compressible
        return None


def retail_symbol(
    symbology: str, digits: str, position: tuple[int, int, int, int] | None = None
) -> Symbol | None:
    """Normalise an EAN/UPC read; ``None`` for a bad check digit or impossible form.

    A 13-digit EAN-13 starting with 0 is bit-for-bit a UPC-A symbol (GS1 General
    Specifications 5.2.1), so it is reported as UPCA with 12 digits whichever decoder
    read it: output then matches the symbol that is printed.
    """
    if not is_ascii_digits(digits):
        return None
    if symbology == "UPCE":
        upca: str | None
        upce: str | None
        if len(digits) == 8:
            upca = _upce_to_upca(digits)
            upce = digits
        elif len(digits) in (12, 13):
            upca = digits[-12:] if len(digits) == 12 or digits[0] == "0" else None
            upce = _upca_to_upce(upca) if upca else None
        else:
            return None
        if upca is None or upce is None:
            return None
        gtin = gtin14_of(upca)
        return Symbol("UPCE", upce, gtin, position=position) if gtin else None
    if symbology in ("EAN13", "UPCA"):
        if len(digits) == 13 and digits[0] == "0":
            digits = digits[1:]
        if len(digits) == 12:
            gtin = gtin14_of(digits)
            return Symbol("UPCA", digits, gtin, position=position) if gtin else None
        if len(digits) == 13:
            gtin = gtin14_of(digits)
            return Symbol("EAN13", digits, gtin, position=position) if gtin else None
        return None
    if symbology == "EAN8" and len(digits) == 8:
        gtin = gtin14_of(digits)
        return Symbol("EAN8", digits, gtin, position=position) if gtin else None
    return None


def _grams(value: Decimal, ai: str) -> int | None:
    # GS1 AIs 310n (kg) and 320n (lb), n = decimals; biip applies the decimals.
    if ai.startswith("310"):
        return int((value * 1000).to_integral_value())
    if ai.startswith("320"):
        return int((value * Decimal("453.59237")).to_integral_value())
    return None


def gs1_symbol(
    symbology: str, text: str, position: tuple[int, int, int, int] | None = None
) -> Symbol | None:
    """Interpret GS1 content (element string or Digital Link); ``None`` if not GS1.

    One spelling for every GS1 symbology (GS1-128, DataBar, GS1 DataMatrix): element
    strings become their human-readable form, ``(01)09506000134352(10)L7``, whatever
    the engine returned (zxing-cpp gives it for most, zbar gives raw digits with
    <GS> separators). It is the text printed under the symbol, has no invisible
    characters, and the store server parses it like the raw form. A Digital Link
    stays the URI it encodes.
    """
    element_strings = None
    try:
        if text.startswith("("):
            message = GS1Message.parse_hri(text)
            element_strings, text = message.element_strings, message.as_hri()
        else:
            result = parse(text)
            if result.gs1_digital_link_uri is not None:
                element_strings = result.gs1_digital_link_uri.element_strings
            elif result.gs1_message is not None and symbology != "QR":
                element_strings = result.gs1_message.element_strings
                text = result.gs1_message.as_hri()
    except PARSE_ERRORS:
        return None
    if not element_strings:
        return None
    gtin14 = weight = price = batch = expiry = None
    for es in element_strings:
        ai = es.ai.ai
        if ai == "01" and es.gtin is not None:
            gtin14 = gtin14_of(es.value)
        elif ai == "10":
            batch = es.value
        elif ai == "17" and es.date is not None:
            expiry = es.date
        elif ai[:3] in ("310", "320") and es.decimal is not None:
            weight = _grams(es.decimal, ai)
        elif ai[:3] == "392" and es.decimal is not None:
            # 392n: amount payable in the local currency, n decimals (GS1 GenSpecs 3.6.x)
            price = int((es.decimal * 100).to_integral_value())
    if gtin14 is None:
        return None
    return Symbol(symbology, text, gtin14, weight, price, batch, expiry, position)


def other_symbol(
    symbology: str, text: str, position: tuple[int, int, int, int] | None = None
) -> Symbol:
    """Code 128 / QR / DataMatrix / DataBar: GS1 meaning when present, else plain text."""
    return gs1_symbol(symbology, text, position) or Symbol(symbology, text, None, position=position)
