"""Choosing a personal offer from a basket and a shopper's history (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from store_server.offers.rules import BasketUnit, OfferTemplate, choose_offer, relevance
from store_server.shared.errors import InvalidInput
from tests.store_server.factories import COFFEE_ITEM, MILK_ITEM

BISCUITS = OfferTemplate.from_dict(
    {
        "id": "coffee-biscuits",
        "kind": "complement",
        "label": "Half price biscuits",
        "when_categories": ["coffee"],
        "promotion": {"kind": "percent_off", "categories": ["biscuits"], "percent": "50"},
    }
)
TEA = OfferTemplate.from_dict(
    {
        "id": "coffee-tea",
        "kind": "complement",
        "label": "50c off tea",
        "when_categories": ["coffee"],
        "promotion": {"kind": "amount_off", "categories": ["tea"], "amount_cents": 50},
    }
)
MILK_3_FOR_2 = OfferTemplate.from_dict(
    {
        "id": "milk-3for2",
        "kind": "one_away",
        "label": "Milk: 3 for 2",
        "promotion": {"kind": "multi_buy", "gtins": [MILK_ITEM.gtin], "buy_qty": 3, "pay_qty": 2},
    }
)
TEMPLATES = (BISCUITS, TEA, MILK_3_FOR_2)


def coffee(qty: int = 1) -> BasketUnit:
    return BasketUnit(COFFEE_ITEM.gtin, "coffee", qty)


def milk(qty: int) -> BasketUnit:
    return BasketUnit(MILK_ITEM.gtin, "dairy", qty)


def test_a_complement_follows_the_basket_and_ties_go_to_the_first_listed() -> None:
    choice = choose_offer(TEMPLATES, [coffee()], history=frozenset(), offered=frozenset())
    assert choice is not None and choice.template is BISCUITS
    assert choice.reason == "basket has coffee"
    choice = choose_offer(
        TEMPLATES, [coffee()], history=frozenset(), offered=frozenset({"coffee-biscuits"})
    )
    assert choice is not None and choice.template is TEA


def test_history_makes_a_weaker_case_than_the_basket() -> None:
    choice = choose_offer(TEMPLATES, [milk(1)], history=frozenset({"coffee"}), offered=frozenset())
    assert choice is not None and choice.template is BISCUITS and choice.strength == 1
    assert choice.reason == "usually buys coffee"
    assert (
        choose_offer(TEMPLATES, [milk(1)], history=frozenset({"dairy"}), offered=frozenset())
        is None
    )


def test_no_money_off_what_is_already_in_the_basket() -> None:
    biscuits = BasketUnit("09999999999994", "biscuits", 1)
    assert relevance(BISCUITS, [coffee(), biscuits], frozenset()) is None


@pytest.mark.parametrize("qty, relevant", [(1, False), (2, True), (3, False), (5, True)])
def test_a_multi_buy_is_offered_one_unit_short(qty: int, relevant: bool) -> None:
    choice = relevance(MILK_3_FOR_2, [milk(qty)], frozenset())
    assert (choice is not None) is relevant
    if choice is not None:
        assert choice.strength == 3 and "short of 3" in choice.reason


def test_one_unit_short_beats_a_complement() -> None:
    choice = choose_offer(TEMPLATES, [coffee(), milk(2)], history=frozenset(), offered=frozenset())
    assert choice is not None and choice.template is MILK_3_FOR_2


def test_weighed_lines_do_not_make_groups() -> None:
    template = OfferTemplate.from_dict(
        {
            "id": "fruit",
            "kind": "one_away",
            "label": "2 for 1 fruit",
            "promotion": {
                "kind": "mix_and_match",
                "categories": ["produce"],
                "buy_qty": 2,
                "pay_qty": 1,
            },
        }
    )
    assert (
        relevance(template, [BasketUnit("02500010000000", "produce", 1, True)], frozenset()) is None
    )
    assert (
        relevance(template, [BasketUnit("03012345678903", "produce", 1)], frozenset()) is not None
    )


@pytest.mark.parametrize(
    "raw, problem",
    [
        (
            {
                "id": "x",
                "kind": "complement",
                "label": "L",
                "promotion": {"kind": "percent_off", "categories": ["a"], "percent": 5},
            },
            "needs when_categories",
        ),
        (
            {
                "id": "x",
                "kind": "one_away",
                "label": "L",
                "promotion": {"kind": "percent_off", "categories": ["a"], "percent": 5},
            },
            "needs a multi_buy",
        ),
        (
            {
                "id": "x",
                "kind": "one_away",
                "label": "L",
                "promotion": {"kind": "multi_buy", "categories": ["a"], "buy_qty": 1, "pay_qty": 1},
            },
            "buy_qty must be at least 2",
        ),
        ({"id": "x", "kind": "teaser", "label": "L", "promotion": {}}, "kind must be"),
    ],
)
def test_bad_templates_are_refused(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        OfferTemplate.from_dict(raw)
    assert problem in refused.value.message


def test_each_grant_gets_its_own_promotion_id() -> None:
    assert BISCUITS.promotion_for("g-1").id == "offer:g-1"
    assert BISCUITS.promotion_for("g-1").label == "Half price biscuits"
