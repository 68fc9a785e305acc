"""The promotion engine against its previous version, kept in benchmarks/.

The previous engine explored every grouping (memoised) and fell back to a greedy
when its search passed ``SEARCH_BUDGET`` steps. The current one must give the very
same result (discounts, attribution to lines, taxes) whenever that search finished,
and never less for the shopper when it did not. Both budgets are also lowered
together, so that baskets right at the fallback boundary are common.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store_server.pricing import promotion_search as search
from store_server.pricing.promotion_rules import KINDS
from store_server.pricing.promotions import PricedLine, PricingResult, Promotion, evaluate
from tests.gs1 import with_check_digit

REFERENCE_PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "_promotions_reference.py"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def load_reference() -> ModuleType:
    name = "caddie_promotions_reference"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REFERENCE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


reference = load_reference()


def gtin(n: int) -> str:
    return with_check_digit(f"0400000{n:06d}")


CODES = [gtin(n) for n in range(1, 7)]
CATEGORY_OF = {
    code: ("wine" if n < 3 else "soap" if n < 5 else "tea") for n, code in enumerate(CODES)
}
RATES = [Decimal("0.2"), Decimal("0.055"), Decimal("0.20")]


@contextmanager
def budgets(value: int) -> Iterator[None]:
    saved = search.SEARCH_BUDGET, reference.SEARCH_BUDGET
    search.SEARCH_BUDGET = reference.SEARCH_BUDGET = value
    try:
        yield
    finally:
        search.SEARCH_BUDGET, reference.SEARCH_BUDGET = saved


def run_reference(
    lines: list[PricedLine], promos: list[Promotion], card: bool
) -> tuple[object, bool]:
    """The previous engine's result and whether its exact search finished everywhere."""
    greedy = reference._greedy
    fell_back = False

    def spy(component: object) -> object:
        nonlocal fell_back
        fell_back = True
        return greedy(component)

    reference._greedy = spy
    try:
        result = reference.evaluate(lines, promos, at=NOW, loyalty_card=card)
    finally:
        reference._greedy = greedy
    return result, not fell_back


def same(new: PricingResult, old: object) -> bool:
    # repr keeps the Decimal spelling of tax rates ("0.2" vs "0.20") in the comparison.
    return repr(dataclasses.astuple(new)) == repr(dataclasses.astuple(old))  # type: ignore[call-overload]


def check(lines: list[PricedLine], promos: list[Promotion], card: bool) -> bool:
    """Compare; returns whether the previous engine's search finished."""
    old, exact = run_reference(lines, promos, card)
    new = evaluate(lines, promos, at=NOW, loyalty_card=card)
    if exact:
        assert same(new, old), (new, old)
    else:
        assert new.total_cents <= old.total_cents  # type: ignore[attr-defined]
        assert sum(t.gross_cents for t in new.taxes) == new.total_cents
    return exact


@st.composite
def promotions_strategy(draw: st.DrawFn) -> list[Promotion]:
    out: list[Promotion] = []
    for n in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(list(KINDS)))
        target: dict[str, object] = draw(
            st.one_of(
                st.builds(
                    lambda g: {"gtins": g}, st.lists(st.sampled_from(CODES), min_size=1, max_size=4)
                ),
                st.builds(
                    lambda c: {"categories": c}, st.sampled_from([["wine"], ["soap", "tea"]])
                ),
            )
        )
        params: dict[str, object]
        if kind == "percent_off":
            params = {"percent": draw(st.sampled_from(["10", "12.5", "33", "50", "100"]))}
        elif kind == "amount_off":
            params = {"amount_cents": draw(st.integers(1, 400))}
        elif kind == "loyalty_price":
            params = {"loyalty_price_cents": draw(st.integers(0, 500))}
        elif kind == "bundle_price" or (kind == "mix_and_match" and draw(st.booleans())):
            params = {
                "bundle_qty": draw(st.integers(2, 4)),
                "bundle_price_cents": draw(st.integers(0, 1200)),
            }
        else:
            buy = draw(st.integers(2, 4))
            params = {"buy_qty": buy, "pay_qty": draw(st.integers(1, buy - 1))}
        out.append(
            Promotion.from_dict(
                {
                    "id": f"p{draw(st.integers(0, 9))}{n}",
                    "label": f"offer {n}",
                    "kind": kind,
                    "loyalty_only": draw(st.booleans()),
                    **target,
                    **params,
                }
            )
        )
    return out


@st.composite
def basket_strategy(draw: st.DrawFn) -> list[PricedLine]:
    lines = []
    for n in range(draw(st.integers(0, 7))):
        code = draw(st.sampled_from(CODES))
        rate = draw(st.sampled_from(RATES))
        if draw(st.integers(0, 6)) == 0:
            total = draw(st.integers(1, 2000))
            lines.append(
                PricedLine(f"k{n}", code, CATEGORY_OF[code], 1, total, total, rate, weight_g=500)
            )
            continue
        qty = draw(st.integers(1, 4))
        price = draw(st.sampled_from([99, 150, 250, 300, 475, 1000]))
        # sometimes a line total that does not split evenly (units of two prices)
        total = qty * price + draw(st.sampled_from([0, 0, 0, 1, qty - 1]))
        lines.append(PricedLine(f"k{n}", code, CATEGORY_OF[code], qty, price, total, rate))
    return lines


@settings(max_examples=250, deadline=None)
@given(basket_strategy(), promotions_strategy(), st.booleans())
def test_same_result_as_previous_engine(
    lines: list[PricedLine], promos: list[Promotion], card: bool
) -> None:
    check(lines, promos, card)


@settings(max_examples=250, deadline=None)
@given(basket_strategy(), promotions_strategy(), st.booleans(), st.sampled_from([1, 15, 60, 250]))
def test_same_result_at_the_fallback_boundary(
    lines: list[PricedLine], promos: list[Promotion], card: bool, budget: int
) -> None:
    with budgets(budget):
        check(lines, promos, card)


def mix(pid: str, codes: list[str], **params: object) -> Promotion:
    return Promotion.from_dict(
        {"id": pid, "label": pid, "kind": "mix_and_match", "gtins": codes, **params}
    )


def test_many_overlapping_mix_offers_use_the_exhaustive_search() -> None:
    # 4^5 pool positions at once: beyond the DP's limit, the exhaustive search decides.
    promos = [mix(f"m{i}", CODES, buy_qty=4, pay_qty=i % 3 + 1) for i in range(5)]
    lines = [
        PricedLine(f"k{i}", code, "wine", 1, 100 + 37 * i, 100 + 37 * i, RATES[0])
        for i, code in enumerate(CODES)
    ]
    assert check(lines, promos, False)


@pytest.mark.parametrize("units", [9, 24, 60])
def test_adversarial_overlap_is_at_least_as_good_as_before(units: int) -> None:
    codes = CODES[:3]
    promos = [
        Promotion.from_dict(
            {"id": "a", "label": "3 for 2", "kind": "multi_buy", "gtins": codes}
            | {"buy_qty": 3, "pay_qty": 2}
        ),
        mix("b", codes, buy_qty=3, pay_qty=2),
        Promotion.from_dict(
            {"id": "c", "label": "10%", "kind": "percent_off", "gtins": codes, "percent": "10"}
        ),
    ]
    lines = [
        PricedLine(
            f"k{i}", codes[i % 3], "wine", 1, 199 + 50 * (i % 7), 199 + 50 * (i % 7), RATES[0]
        )
        for i in range(units)
    ]
    check(lines, promos, False)
    result = evaluate(lines, promos, at=NOW, loyalty_card=False)
    assert result == evaluate(list(reversed(lines)), promos, at=NOW, loyalty_card=False)
