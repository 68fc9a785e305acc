from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store_server.pricing.gs1 import parse_scan
from store_server.pricing.variable_measure import DEFAULT_LAYOUTS
from store_server.shared.errors import InvalidCode
from store_server.shared.gs1 import gtin_candidates, is_valid_gtin, normalize_gtin
from tests.gs1 import mod10, with_check_digit
from tests.hostile import scanner_text

# Real published codes.
EAN13 = "4006381333931"
EAN8 = "96385074"
UPCA = "036000291452"
ISBN = "9780306406157"  # ISBN 978-0-306-40615-7
GTIN14 = "10012345000017"


@pytest.mark.parametrize(
    ("code", "gtin14"),
    [
        (EAN13, "0" + EAN13),
        (EAN8, "000000" + EAN8),
        (UPCA, "00" + UPCA),
        (GTIN14, GTIN14),
        (ISBN, "0" + ISBN),
        ("0" + UPCA, "00" + UPCA),
        (f"  {EAN13}\n", "0" + EAN13),
    ],
)
def test_valid_codes_normalise_to_gtin14(code: str, gtin14: str) -> None:
    assert normalize_gtin(code) == gtin14
    assert is_valid_gtin(code)


@pytest.mark.parametrize("good", [EAN13, EAN8, UPCA, GTIN14, ISBN, "9791090636071"])
def test_every_wrong_check_digit_is_rejected(good: str) -> None:
    good = with_check_digit(good[:-1])
    for digit in "0123456789":
        code = good[:-1] + digit
        if digit == good[-1]:
            assert is_valid_gtin(code)
            continue
        with pytest.raises(InvalidCode, match="check digit"):
            gtin_candidates(code)


def test_bad_check_digit_message_names_expected_digit() -> None:
    with pytest.raises(InvalidCode) as info:
        gtin_candidates("4006381333932")
    assert "EAN-13" in info.value.message
    assert "expected 1, got 2" in info.value.message


def test_isbn_979_is_a_gtin13() -> None:
    code = with_check_digit("979109063607")
    assert normalize_gtin(code) == "0" + code


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "123456789", "12345678901", "123456789012345"]
)
def test_wrong_length_is_invalid(code: str) -> None:
    with pytest.raises(InvalidCode):
        gtin_candidates(code)
    assert not is_valid_gtin(code)


@pytest.mark.parametrize("code", ["4006381333g31", "abc", "4006381333 931", "٤٠٠٦٣٨١٣٣٣٩٣١"])
def test_non_digits_are_invalid(code: str) -> None:
    with pytest.raises(InvalidCode):
        gtin_candidates(code)


def test_upc_e_expands_to_upc_a() -> None:
    # Published pair: UPC-E 04252614 <-> UPC-A 042100005264.
    assert "00042100005264" in gtin_candidates("04252614")


def test_eight_digits_valid_as_ean8_and_upce_give_both_ean8_first() -> None:
    # 01234565 is a valid EAN-8 and also UPC-E for UPC-A 012345000065.
    assert gtin_candidates("01234565") == ("00000001234565", "00012345000065")


def test_eight_digits_only_ean8_when_number_system_not_upce() -> None:
    assert gtin_candidates(EAN8) == ("000000" + EAN8,)


def test_eight_digits_only_upce_when_ean8_check_fails() -> None:
    # UPC-E 04252614 has an EAN-8 check digit of 9, not 4.
    assert mod10("0425261") != "4"
    assert gtin_candidates("04252614") == ("00042100005264",)


def test_eight_digits_invalid_both_ways_says_why() -> None:
    with pytest.raises(InvalidCode) as info:
        gtin_candidates("96385075")
    assert "EAN-8" in info.value.message and "UPC-E" in info.value.message


def test_element_string_in_brackets() -> None:
    scan = parse_scan("(01)09506000134352(3103)001250(10)ABC123(17)261231", DEFAULT_LAYOUTS)
    assert scan.candidates == ("09506000134352",)
    assert scan.weight_g == 1250
    assert scan.batch == "ABC123"
    assert scan.expiry == date(2026, 12, 31)
    assert scan.variable is None


def test_element_string_with_symbology_identifier_and_separator() -> None:
    scan = parse_scan("]C10109506000134352392200499\x1d1012345\x1d17270131", DEFAULT_LAYOUTS)
    assert scan.candidates == ("09506000134352",)
    assert scan.price_cents == 499
    assert scan.batch == "12345"
    assert scan.expiry == date(2027, 1, 31)


def test_raw_element_string_without_symbology_identifier() -> None:
    assert gtin_candidates("0109506000134352") == ("09506000134352",)
    assert parse_scan("01095060001343523102000075", DEFAULT_LAYOUTS).weight_g == 750


def test_element_string_weight_rounds_half_up_to_grams() -> None:
    # 3104 = kg with four decimals: 0.1235 kg = 123.5 g -> 124 g
    assert parse_scan("(01)09506000134352(3104)001235", DEFAULT_LAYOUTS).weight_g == 124


def test_element_string_with_bad_gtin_check_digit() -> None:
    with pytest.raises(InvalidCode, match="check digit"):
        gtin_candidates("(01)09506000134353(10)A")


def test_element_string_without_gtin() -> None:
    with pytest.raises(InvalidCode, match="AI 01"):
        gtin_candidates("(10)ABC")


def test_garbage_element_string() -> None:
    with pytest.raises(InvalidCode):
        gtin_candidates("(99")


def test_digital_link() -> None:
    scan = parse_scan("https://id.gs1.org/01/09506000134352/10/ABC?17=261231", DEFAULT_LAYOUTS)
    assert scan.candidates == ("09506000134352",)
    assert scan.batch == "ABC"
    assert scan.expiry == date(2026, 12, 31)


def test_digital_link_in_qr_with_symbology_identifier() -> None:
    assert gtin_candidates("]Q3https://example.com/01/09506000134352") == ("09506000134352",)


def test_digital_link_with_bad_check_digit() -> None:
    with pytest.raises(InvalidCode):
        gtin_candidates("https://id.gs1.org/01/09506000134353")


def test_ean13_with_symbology_identifier() -> None:
    assert gtin_candidates("]E0" + EAN13) == ("0" + EAN13,)


@given(
    st.sampled_from([7, 11, 12, 13]).flatmap(
        lambda n: st.text("0123456789", min_size=n, max_size=n)
    )
)
def test_any_payload_with_its_check_digit_is_valid(payload: str) -> None:
    code = with_check_digit(payload)
    candidates = gtin_candidates(code)
    assert candidates
    assert all(len(c) == 14 and c.isdigit() for c in candidates)
    if len(code) != 8:
        assert candidates == (code.zfill(14),)
    else:
        assert code.zfill(14) in candidates


@given(st.text("0123456789", min_size=12, max_size=12), st.integers(1, 9))
def test_any_single_digit_change_is_detected(payload: str, delta: int) -> None:
    code = with_check_digit(payload)
    position = len(payload) // 2
    changed = code[:position] + str((int(code[position]) + delta) % 10) + code[position + 1 :]
    assert not is_valid_gtin(changed)


@given(scanner_text())
def test_any_text_is_a_scan_code_or_invalid_code(text: str) -> None:
    """Whatever a scanner or an API client sends, the answer is a code or InvalidCode
    (an unexpected exception would be a 500 over REST and a lost frame on the socket)."""
    try:
        scan = parse_scan(text, DEFAULT_LAYOUTS)
    except InvalidCode as exc:
        assert exc.message
        return
    assert scan.candidates
    assert all(len(c) == 14 and c.isascii() and c.isdigit() for c in scan.candidates)
    assert normalize_gtin(text) == scan.candidates[0]
