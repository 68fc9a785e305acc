"""GS1 identification keys as a scanner reads them, turned into GTIN-14s.

biip does the GS1 work (check digits, UPC-E expansion, element strings, Digital
Link URIs, symbology identifiers); this module adds what both ends of the handheld
protocol need on top: one entry point for every form a scanner may send, protocol
errors (:class:`InvalidCode`) with a message a shopper's device can show, and the
ambiguity of 8-digit codes (EAN-8 or UPC-E). The store's own variable-measure codes
are the store server's business (``store_server.pricing.gs1``).
"""

from __future__ import annotations

import re

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementStrings
from biip.gs1_messages import GS1Message
from biip.symbology import GS1Symbology, SymbologyIdentifier
from biip.upc import Upc

from store_server.shared.errors import InvalidCode, shown

__all__ = [
    "PARSE_ERRORS",
    "element_gtin",
    "gtin_candidates",
    "is_valid_gtin",
    "normalize_gtin",
    "plain_candidates",
    "split_code",
]

_DIGITS = re.compile(r"[0-9]+")
# biip raises ParseError for input it recognises as malformed, and on some truncated
# input (a lone "]", for one) an IndexError or ValueError: each means "not a valid code".
PARSE_ERRORS = (ParseError, IndexError, ValueError)
_GTIN_LENGTHS = (8, 12, 13, 14)
_GS1_SEPARATOR = "\x1d"


def _check_digit_problem(digits: str) -> str | None:
    expected = gs1_standard_check_digit(digits[:-1])
    if int(digits[-1]) == expected:
        return None
    return f"expected {expected}, got {digits[-1]}"


def plain_candidates(digits: str) -> tuple[str, ...]:
    """Candidates for a bare run of digits (the common case: EAN/UPC symbols)."""
    length = len(digits)
    if length not in _GTIN_LENGTHS:
        raise InvalidCode(f"a GTIN has 8, 12, 13 or 14 digits; {shown(digits)} has {length}")
    if length != 8:
        problem = _check_digit_problem(digits)
        if problem:
            name = {12: "UPC-A", 13: "EAN-13", 14: "GTIN-14"}[length]
            raise InvalidCode(f"bad {name} check digit in {digits}: {problem}")
        return (digits.zfill(14),)
    # Eight digits are either an EAN-8 or a UPC-E (number system 0 or 1, expanded to
    # UPC-A per GS1 General Specifications 5.2.2.4.2). The decoded text alone cannot
    # tell which, so both valid readings are returned; EAN-8 first because that is the
    # literal value and the far more common symbol in EAN countries.
    found: list[str] = []
    problems: list[str] = []
    ean8_problem = _check_digit_problem(digits)
    if ean8_problem is None:
        found.append(digits.zfill(14))
    else:
        problems.append(f"not an EAN-8 ({ean8_problem})")
    try:
        found.append(Upc.parse(digits).as_gtin_14())
    except PARSE_ERRORS as exc:
        problems.append(f"not a UPC-E ({_upc_e_reason(exc)})")
    if not found:
        raise InvalidCode(f"bad check digit in {digits}: " + "; ".join(problems))
    return tuple(dict.fromkeys(found))


def _upc_e_reason(exc: Exception) -> str:
    text = str(exc)
    if "number system" in text:
        return "number system must be 0 or 1"
    match = re.search(r"Expected (\d+), got (\d+)", text)
    if match:
        return f"expected {match.group(1)}, got {match.group(2)}"
    return text


def _reason(exc: Exception, limit: int = 120) -> str:
    """The parser's explanation, cut short: it quotes the input, which may be huge."""
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_code(code: str) -> tuple[str | None, GS1ElementStrings | None]:
    """Return either bare digits or the element strings of a GS1 message / Digital Link."""
    text = code.strip()
    if not text:
        raise InvalidCode("empty code")
    if text.startswith("]"):
        try:
            identifier = SymbologyIdentifier.extract(text)
        except PARSE_ERRORS as exc:
            raise InvalidCode(f"bad symbology identifier in {shown(code)}: {_reason(exc)}") from exc
        text = text[len(identifier) :]
        symbology = identifier.gs1_symbology
        if symbology in GS1Symbology.with_gs1_digital_link_uri() and text.startswith("http"):
            return None, _digital_link(text)
        if symbology in GS1Symbology.with_gs1_messages():
            return None, _message(text)
    if text.lower().startswith(("http://", "https://")):
        return None, _digital_link(text)
    if text.startswith("("):
        try:
            return None, GS1Message.parse_hri(text).element_strings
        except PARSE_ERRORS as exc:
            raise InvalidCode(f"not a GS1 element string: {_reason(exc)}") from exc
    if _DIGITS.fullmatch(text) and len(text) in _GTIN_LENGTHS:
        return text, None
    length_problem = f"a GTIN has 8, 12, 13 or 14 digits; {shown(text)} has {len(text)}"
    if _DIGITS.fullmatch(text) and len(text) > 14 and text.startswith("01"):
        try:  # a raw element string such as "0109506000134352" + more AIs
            return None, GS1Message.parse(text).element_strings
        except PARSE_ERRORS as exc:
            raise InvalidCode(length_problem) from exc
    if _GS1_SEPARATOR in text or text.startswith("01") and _DIGITS.match(text):
        return None, _message(text)
    if not _DIGITS.fullmatch(text):
        raise InvalidCode(f"a GTIN has only digits; got {shown(code)}")
    raise InvalidCode(length_problem)


def _message(text: str) -> GS1ElementStrings:
    try:
        return GS1Message.parse(text).element_strings
    except PARSE_ERRORS as exc:
        raise InvalidCode(f"not a GS1 element string: {_reason(exc)}") from exc


def _digital_link(text: str) -> GS1ElementStrings:
    try:
        return GS1DigitalLinkURI.parse(text).element_strings
    except PARSE_ERRORS as exc:
        raise InvalidCode(f"not a GS1 Digital Link: {_reason(exc)}") from exc


def element_gtin(elements: GS1ElementStrings) -> tuple[str, ...]:
    element = elements.get(ai="01")
    if element is None:
        raise InvalidCode("the GS1 data carries no GTIN (AI 01)")
    digits = element.value
    if not _DIGITS.fullmatch(digits) or len(digits) != 14:
        raise InvalidCode(f"AI (01) must hold 14 digits, got {shown(digits)}")
    problem = _check_digit_problem(digits)
    if problem:
        raise InvalidCode(f"bad GTIN check digit in (01){digits}: {problem}")
    return (digits,)


def gtin_candidates(code: str) -> tuple[str, ...]:
    """The GTIN-14s a decoded code may stand for, in order of preference.

    Accepts bare EAN/UPC digits (8, 12, 13, 14; UPC-E as 8 digits), GS1 element
    strings (``(01)…``, ``]C1…``, raw ``01…`` with GS separators) and GS1 Digital Link
    URIs. ISBN/ISMN/ISSN "Bookland" codes (978/979/977) are ordinary GTIN-13s.
    """
    digits, elements = split_code(code)
    if elements is not None:
        return element_gtin(elements)
    assert digits is not None
    return plain_candidates(digits)


def normalize_gtin(code: str) -> str:
    """The preferred GTIN-14 for a code (how the catalog stores it)."""
    return gtin_candidates(code)[0]


def is_valid_gtin(code: str) -> bool:
    """Whether ``code`` is a GTIN (any accepted form) with a correct check digit."""
    try:
        gtin_candidates(code)
    except InvalidCode:
        return False
    return True
