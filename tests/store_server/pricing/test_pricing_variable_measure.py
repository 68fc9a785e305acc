from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store_server.pricing.gs1 import parse_scan
from store_server.pricing.variable_measure import (
    DEFAULT_LAYOUTS,
    VariableMeasureLayout,
    layouts_from_config,
    match_variable,
    weight_price_cents,
)
from store_server.shared.errors import InvalidCode, InvalidInput
from tests.gs1 import mod10, with_check_digit


def ean13(payload12: str) -> str:
    return with_check_digit(payload12)


GERMAN_PRICE = {  # "2X IIII K VVVVV C"
    "name": "de-price",
    "prefixes": ["22-23"],
    "kind": "price",
    "item_digits": 4,
    "value_check_digit": True,
    "value_digits": 5,
}
UK_PRICE = {  # "20 IIIII K VVVV C"
    "name": "uk-price",
    "prefixes": "20",
    "kind": "price",
    "item_digits": 5,
    "value_check_digit": True,
    "value_digits": 4,
}
CHECKED_WEIGHT = {
    "name": "weight-checked",
    "prefixes": ["28", "29"],
    "kind": "weight",
    "item_digits": 4,
    "value_check_digit": True,
    "value_digits": 5,
}


def test_default_price_layout_reads_cents_and_zeroes_value() -> None:
    code = ean13("211234501234")  # item 12345, price 12.34
    variable = match_variable("0" + code, DEFAULT_LAYOUTS)
    assert variable is not None
    assert variable.kind == "price"
    assert variable.price_cents == 1234
    assert variable.weight_g is None
    assert variable.lookup_gtin14 == "0" + ean13("211234500000")


def test_default_weight_layout_reads_grams() -> None:
    code = ean13("271234500750")
    variable = match_variable("0" + code, DEFAULT_LAYOUTS)
    assert variable is not None
    assert (variable.kind, variable.weight_g, variable.price_cents) == ("weight", 750, None)
    assert variable.lookup_gtin14 == "0" + ean13("271234500000")


def test_upc_a_number_system_2_is_a_price() -> None:
    upc_a = "2" + "12345" + "00499"
    upc_a += mod10(upc_a)
    scan = parse_scan(upc_a, DEFAULT_LAYOUTS)
    assert scan.variable is not None
    assert scan.variable.price_cents == 499
    lookup_body = "0212345" + "00000"
    assert scan.variable.lookup_gtin14 == "0" + lookup_body + mod10(lookup_body)


def test_ordinary_gtin_is_not_variable() -> None:
    assert match_variable("04006381333931", DEFAULT_LAYOUTS) is None
    assert parse_scan("4006381333931", DEFAULT_LAYOUTS).variable is None


def test_gtin14_with_packaging_indicator_is_not_variable() -> None:
    body = "1211234501234"
    assert match_variable(body + mod10(body), DEFAULT_LAYOUTS) is None


def test_no_layouts_means_no_variable_measure() -> None:
    assert match_variable("0" + ean13("211234501234"), ()) is None


def test_value_check_digit_five_digits_german_style() -> None:
    # GS1 General Specifications 7.9.4 example: the check digit of value 14685 is 6.
    layout = VariableMeasureLayout.from_config(GERMAN_PRICE)
    code = ean13("22" + "1234" + "6" + "14685")
    variable = match_variable("0" + code, [layout])
    assert variable is not None
    assert variable.price_cents == 14685
    assert variable.lookup_gtin14 == "0" + ean13("22" + "1234" + "000000")


def test_value_check_digit_four_digits_uk_style() -> None:
    # GS1 General Specifications 7.9.3 example: the check digit of value 2875 is 9.
    layout = VariableMeasureLayout.from_config(UK_PRICE)
    code = ean13("20" + "12345" + "9" + "2875")
    variable = match_variable("0" + code, [layout])
    assert variable is not None
    assert variable.price_cents == 2875
    assert variable.lookup_gtin14 == "0" + ean13("20" + "12345" + "00000")


def test_weight_with_value_check_digit() -> None:
    layout = VariableMeasureLayout.from_config(CHECKED_WEIGHT)
    code = ean13("28" + "0042" + "6" + "14685")
    variable = match_variable("0" + code, [layout])
    assert variable is not None
    assert (variable.kind, variable.weight_g) == ("weight", 14685)


@pytest.mark.parametrize("wrong", ["0", "1", "2", "3", "4", "5", "7", "8", "9"])
def test_bad_value_check_digit_is_invalid_code(wrong: str) -> None:
    layout = VariableMeasureLayout.from_config(GERMAN_PRICE)
    code = ean13("22" + "1234" + wrong + "14685")  # GTIN check digit itself is right
    with pytest.raises(InvalidCode, match="price check digit"):
        match_variable("0" + code, [layout])
    with pytest.raises(InvalidCode):
        parse_scan(code, [layout])


def test_match_variable_rejects_bad_gtin_check_digit() -> None:
    code = ean13("211234501234")
    bad = code[:-1] + str((int(code[-1]) + 1) % 10)
    with pytest.raises(InvalidCode):
        match_variable("0" + bad, DEFAULT_LAYOUTS)


def test_first_matching_layout_wins_in_config_order() -> None:
    weight = VariableMeasureLayout.from_config(
        {"prefixes": ["21"], "kind": "weight", "item_digits": 5, "value_digits": 5}
    )
    variable = match_variable("0" + ean13("211234501234"), [weight, *DEFAULT_LAYOUTS])
    assert variable is not None and variable.weight_g == 1234


def test_value_multiplier_scales_value() -> None:
    layout = VariableMeasureLayout.from_config(
        {
            "prefixes": ["23"],
            "kind": "weight",
            "item_digits": 6,
            "value_digits": 4,
            "value_multiplier": 10,
        }
    )
    variable = match_variable("0" + ean13("231234560125"), [layout])
    assert variable is not None and variable.weight_g == 1250


def test_layout_round_trips_through_config() -> None:
    layout = VariableMeasureLayout.from_config(GERMAN_PRICE)
    assert VariableMeasureLayout.from_config(layout.to_config()) == layout
    assert layout.prefixes == frozenset({"22", "23"})


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"kind": "count"}, "kind"),
        ({"prefixes": ["50"]}, "restricted-circulation"),
        ({"prefixes": ["2"]}, "bad prefix"),
        ({"prefixes": ["25-21"]}, "bad prefix"),
        ({"prefixes": ["2\u00b2"]}, "bad prefix"),  # "2²": isdigit() but not a digit
        ({"prefixes": ["\u0662\u0662"]}, "bad prefix"),  # Arabic-Indic "22"
        ({"prefixes": []}, "prefixes"),
        ({"item_digits": 5}, "must be 10"),
        ({"item_digits": "4"}, "whole number"),
        ({"value_digits": 6, "item_digits": 3}, "4 or 5"),
        ({"value_check_digit": "yes"}, "true or false"),
        ({"value_multiplier": 0}, "value_multiplier"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_bad_layout_config_is_rejected_clearly(change: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        VariableMeasureLayout.from_config({**GERMAN_PRICE, **change})
    assert fragment in info.value.message
    assert info.value.details["problems"]


def test_missing_layout_fields_all_reported() -> None:
    with pytest.raises(InvalidInput) as info:
        VariableMeasureLayout.from_config({"prefixes": ["20"]})
    problems = info.value.details["problems"]
    assert isinstance(problems, list)
    assert any("kind" in p for p in problems)
    assert any("item_digits" in p for p in problems)
    assert any("value_digits" in p for p in problems)


def test_layouts_from_config_numbers_each_bad_layout() -> None:
    with pytest.raises(InvalidInput) as info:
        layouts_from_config([GERMAN_PRICE, {**UK_PRICE, "kind": "x"}, {"prefixes": "2"}])
    problems = info.value.details["problems"]
    assert isinstance(problems, list)
    assert any(p.startswith("layout #2:") for p in problems)
    assert any(p.startswith("layout #3:") for p in problems)
    assert not any(p.startswith("layout #1:") for p in problems)


@pytest.mark.parametrize(
    ("weight_g", "per_kg", "expected"),
    [
        (1000, 1299, 1299),
        (500, 1299, 650),
        (250, 1298, 325),
        (333, 1000, 333),
        (1, 499, 0),
        (1, 500, 1),
        (1234, 0, 0),
        (0, 999, 0),
        (2500, 1, 3),
    ],
)
def test_weight_price_rounds_half_up(weight_g: int, per_kg: int, expected: int) -> None:
    assert weight_price_cents(weight_g, per_kg) == expected


def test_weight_price_rejects_negative() -> None:
    with pytest.raises(InvalidInput):
        weight_price_cents(-1, 100)


@given(st.integers(0, 100_000), st.integers(0, 1_000_000))
def test_weight_price_is_nearest_cent(weight_g: int, per_kg: int) -> None:
    cents = weight_price_cents(weight_g, per_kg)
    assert abs(cents * 1000 - weight_g * per_kg) <= 500
    assert cents * 1000 - weight_g * per_kg != -500  # exact halves round up


@given(
    st.sampled_from(["20", "21", "22", "23", "24"]),
    st.text("0123456789", min_size=5, max_size=5),
    st.integers(0, 99_999),
)
def test_any_default_price_code_round_trips(prefix: str, item: str, cents: int) -> None:
    code = ean13(prefix + item + f"{cents:05d}")
    scan = parse_scan(code, DEFAULT_LAYOUTS)
    assert scan.variable is not None
    assert scan.variable.price_cents == cents
    assert scan.variable.lookup_gtin14 == "0" + ean13(prefix + item + "00000")
