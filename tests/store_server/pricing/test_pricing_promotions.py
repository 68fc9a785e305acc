from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from store_server.pricing import promotion_search
from store_server.pricing.money import tax_included
from store_server.pricing.promotion_rules import PromotionFields, field_problems
from store_server.pricing.promotions import (
    PricedLine,
    PricingResult,
    Promotion,
    evaluate,
)
from store_server.shared.errors import InvalidCode, InvalidInput
from store_server.shared.gs1 import normalize_gtin
from tests.gs1 import with_check_digit


def gtin(n: int) -> str:
    body = f"0400000{n:06d}"
    return with_check_digit(body)


A, B, C, D = gtin(1), gtin(2), gtin(3), gtin(4)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
VAT = Decimal("0.2")
REDUCED = Decimal("0.055")


def line(
    key: str,
    code: str,
    qty: int,
    price: int,
    *,
    category: str = "grocery",
    rate: Decimal = VAT,
    weight_g: int | None = None,
) -> PricedLine:
    total = price if weight_g is not None else qty * price
    return PricedLine(
        key=key,
        gtin=code,
        category=category,
        qty=qty,
        unit_price_cents=price,
        line_total_cents=total,
        tax_rate=rate,
        weight_g=weight_g,
    )


def promo(
    pid: str,
    kind: str,
    *,
    gtins: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    **params: object,
) -> Promotion:
    return Promotion.from_dict(
        {
            "id": pid,
            "label": f"label {pid}",
            "kind": kind,
            "gtins": list(gtins),
            "categories": list(categories),
            **params,
        }
    )


def run(
    lines: list[PricedLine], promos: list[Promotion], *, card: bool = False, at: datetime = NOW
) -> PricingResult:
    return evaluate(lines, promos, at=at, loyalty_card=card)


def off(result: PricingResult) -> dict[str, int]:
    return {d.promotion_id: d.amount_cents for d in result.discounts}


# -- each kind ---------------------------------------------------------------------------


def test_no_promotions_totals_and_tax() -> None:
    result = run([line("1", A, 2, 600), line("2", B, 1, 211, rate=REDUCED)], [])
    assert result.subtotal_cents == result.total_cents == 1411
    assert result.discounts == ()
    taxes = {t.rate: (t.gross_cents, t.tax_cents) for t in result.taxes}
    assert taxes == {VAT: (1200, 200), REDUCED: (211, 11)}
    assert result.tax_cents == 211


def test_percent_off_rounds_half_up_per_unit() -> None:
    # 15% of 99 = 14.85 -> 15 per unit, three units
    result = run([line("1", A, 3, 99)], [promo("P", "percent_off", gtins=(A,), percent="15")])
    assert off(result) == {"P": 45}
    assert result.total_cents == 297 - 45


def test_percent_off_with_fraction() -> None:
    result = run([line("1", A, 1, 1000)], [promo("P", "percent_off", gtins=(A,), percent="12.5")])
    assert off(result) == {"P": 125}


def test_amount_off_never_makes_a_unit_negative() -> None:
    result = run([line("1", A, 2, 80)], [promo("P", "amount_off", gtins=(A,), amount_cents=100)])
    assert off(result) == {"P": 160}
    assert result.total_cents == 0


def test_multi_buy_three_for_two() -> None:
    p = promo("M", "multi_buy", gtins=(A,), buy_qty=3, pay_qty=2)
    assert off(run([line("1", A, 2, 250)], [p])) == {}
    assert off(run([line("1", A, 3, 250)], [p])) == {"M": 250}
    assert off(run([line("1", A, 5, 250)], [p])) == {"M": 250}
    assert off(run([line("1", A, 6, 250)], [p])) == {"M": 500}


def test_multi_buy_groups_one_gtin_at_a_time() -> None:
    p = promo("M", "multi_buy", categories=("soap",), buy_qty=3, pay_qty=2)
    mixed = [line("1", A, 2, 300, category="soap"), line("2", B, 1, 200, category="soap")]
    assert off(run(mixed, [p])) == {}
    assert off(run([*mixed, line("3", B, 2, 200, category="soap")], [p])) == {"M": 200}


def test_bundle_price_two_for_five() -> None:
    p = promo("B", "bundle_price", gtins=(A,), bundle_qty=2, bundle_price_cents=500)
    result = run([line("1", A, 5, 299)], [p])
    assert off(result) == {"B": 2 * (598 - 500)}
    assert result.total_cents == 1495 - 196


def test_bundle_price_higher_than_shelf_price_gives_nothing() -> None:
    p = promo("B", "bundle_price", gtins=(A,), bundle_qty=2, bundle_price_cents=500)
    assert off(run([line("1", A, 2, 240)], [p])) == {}


def test_mix_and_match_bundle_across_gtins() -> None:
    p = promo("X", "mix_and_match", gtins=(A, B, C), bundle_qty=3, bundle_price_cents=1000)
    result = run([line("1", A, 1, 400), line("2", B, 1, 450), line("3", C, 1, 500)], [p])
    assert off(result) == {"X": 350}


def test_mix_and_match_n_for_m_frees_cheapest() -> None:
    p = promo("X", "mix_and_match", categories=("wine",), buy_qty=3, pay_qty=2)
    lines = [
        line("1", A, 1, 900, category="wine"),
        line("2", B, 1, 700, category="wine"),
        line("3", C, 1, 1200, category="wine"),
        line("4", D, 1, 800, category="beer"),
    ]
    assert off(run(lines, [p])) == {"X": 700}


def test_mix_and_match_groups_most_expensive_together() -> None:
    # Six wines: best is {1200,1100,1000} (free 1000) + {500,400,300} (free 300) = 1300.
    p = promo("X", "mix_and_match", categories=("wine",), buy_qty=3, pay_qty=2)
    prices = [300, 400, 500, 1000, 1100, 1200]
    lines = [
        line(str(i), gtin(10 + i), 1, price, category="wine") for i, price in enumerate(prices)
    ]
    assert off(run(lines, [p])) == {"X": 1300}


def test_loyalty_price_needs_the_card() -> None:
    p = promo("L", "loyalty_price", gtins=(A,), loyalty_price_cents=199)
    assert off(run([line("1", A, 2, 249)], [p], card=False)) == {}
    assert off(run([line("1", A, 2, 249)], [p], card=True)) == {"L": 100}


def test_loyalty_price_above_shelf_price_gives_nothing() -> None:
    p = promo("L", "loyalty_price", gtins=(A,), loyalty_price_cents=300)
    assert off(run([line("1", A, 1, 249)], [p], card=True)) == {}


def test_loyalty_only_flag_on_other_kinds() -> None:
    p = promo("P", "percent_off", gtins=(A,), percent="10", loyalty_only=True)
    assert off(run([line("1", A, 1, 1000)], [p], card=False)) == {}
    assert off(run([line("1", A, 1, 1000)], [p], card=True)) == {"P": 100}


def test_validity_window_start_inclusive_end_exclusive() -> None:
    start, end = NOW, NOW + timedelta(days=7)
    p = promo(
        "P",
        "percent_off",
        gtins=(A,),
        percent="10",
        starts_at=start.isoformat(),
        ends_at=end.isoformat(),
    )
    basket = [line("1", A, 1, 1000)]
    assert off(run(basket, [p], at=start - timedelta(seconds=1))) == {}
    assert off(run(basket, [p], at=start)) == {"P": 100}
    assert off(run(basket, [p], at=end - timedelta(microseconds=1))) == {"P": 100}
    assert off(run(basket, [p], at=end)) == {}


def test_validity_window_compares_instants_across_time_zones() -> None:
    paris = timezone(timedelta(hours=1))
    p = promo(
        "P", "percent_off", gtins=(A,), percent="10", starts_at="2026-11-25T13:00:00+01:00"
    )  # 12:00 UTC
    assert p.starts_at == NOW
    assert off(run([line("1", A, 1, 1000)], [p], at=NOW.astimezone(paris))) == {"P": 100}


def test_weighed_line_is_one_unit_and_only_gets_percent_or_amount_off() -> None:
    weighed = line("1", A, 1, 1234, weight_g=950)
    group = promo("M", "multi_buy", gtins=(A,), buy_qty=2, pay_qty=1)
    percent = promo("P", "percent_off", gtins=(A,), percent="10")
    loyalty = promo("L", "loyalty_price", gtins=(A,), loyalty_price_cents=1)
    assert (
        off(run([weighed, line("2", A, 1, 1234, weight_g=950)], [group, loyalty], card=True)) == {}
    )
    assert off(run([weighed], [group, percent, loyalty], card=True)) == {"P": 123}


# -- overlaps and the optimisation -------------------------------------------------------


def test_best_offer_wins_when_several_apply() -> None:
    lines = [line("1", A, 3, 300)]
    multi = promo("M", "multi_buy", gtins=(A,), buy_qty=3, pay_qty=2)  # 300 off
    half = promo("H", "percent_off", gtins=(A,), percent="50")  # 450 off
    tenth = promo("T", "percent_off", gtins=(A,), percent="10")
    assert off(run(lines, [multi, tenth])) == {"M": 300}
    assert off(run(lines, [multi, half, tenth])) == {"H": 450}


def test_each_unit_counts_in_one_promotion_only() -> None:
    multi = promo("M", "multi_buy", gtins=(A,), buy_qty=3, pay_qty=2)
    tenth = promo("T", "percent_off", gtins=(A,), percent="10")
    result = run([line("1", A, 4, 300)], [multi, tenth])
    # three units in "3 for 2" (300 off), the fourth gets 10% (30 off); not 300 + 4 x 30
    assert off(result) == {"M": 300, "T": 30}
    assert result.total_cents == 1200 - 330


def test_group_offer_weighs_what_members_give_up() -> None:
    # "3 for 2" frees 300 but costs three 40%-offs (3 x 120 = 360): keep the 40% off.
    multi = promo("M", "multi_buy", gtins=(A,), buy_qty=3, pay_qty=2)
    forty = promo("F", "percent_off", gtins=(A,), percent="40")
    assert off(run([line("1", A, 3, 300)], [multi, forty])) == {"F": 360}


def test_competing_group_offers_share_units_optimally() -> None:
    # Mix-and-match pairs {A, B} for 300; bundle gives 2 x A for 350.
    # Units: A x2 (250 each), B x2 (250 each).
    # Best: two mix pairs (A+B, A+B) = 2 x 200 = 400, better than A+A bundle (150)
    # plus B+B mix (200) = 350.
    mix = promo("X", "mix_and_match", gtins=(A, B), bundle_qty=2, bundle_price_cents=300)
    bundle = promo("Y", "bundle_price", gtins=(A,), bundle_qty=2, bundle_price_cents=350)
    result = run([line("1", A, 2, 250), line("2", B, 2, 250)], [bundle, mix])
    assert off(result) == {"X": 400}


def test_tie_is_resolved_by_promotion_id() -> None:
    first = promo("a-first", "percent_off", gtins=(A,), percent="10")
    second = promo("b-second", "amount_off", gtins=(A,), amount_cents=100)
    assert off(run([line("1", A, 1, 1000)], [second, first])) == {"a-first": 100}


def test_discount_lines_are_labelled_and_summed_per_promotion() -> None:
    p = promo("P", "percent_off", categories=("fruit",), percent="10")
    result = run(
        [line("1", A, 1, 100, category="fruit"), line("2", B, 2, 200, category="fruit")], [p]
    )
    assert [(d.promotion_id, d.label, d.amount_cents) for d in result.discounts] == [
        ("P", "label P", 50)
    ]


def test_tax_is_computed_after_allocating_discounts_to_their_units() -> None:
    # The bundle's discount is shared pro rata between a 20% and a 5.5% item.
    mix = promo("X", "mix_and_match", gtins=(A, B), bundle_qty=2, bundle_price_cents=1000)
    result = run([line("1", A, 1, 800), line("2", B, 1, 400, rate=REDUCED)], [mix])
    assert off(result) == {"X": 200}
    gross = {t.rate: t.gross_cents for t in result.taxes}
    assert gross == {VAT: 800 - 133, REDUCED: 400 - 67}
    assert result.tax_cents == tax_included(667, VAT) + tax_included(333, REDUCED)
    assert dict(result.line_discounts) == {"1": 133, "2": 67}


def test_free_unit_of_n_for_m_carries_its_own_tax_rate() -> None:
    mix = promo("X", "mix_and_match", gtins=(A, B), buy_qty=2, pay_qty=1)
    result = run([line("1", A, 1, 800), line("2", B, 1, 400, rate=REDUCED)], [mix])
    gross = {t.rate: t.gross_cents for t in result.taxes}
    assert gross == {VAT: 800, REDUCED: 0}


def test_greedy_fallback_still_gives_a_sound_result(monkeypatch: pytest.MonkeyPatch) -> None:
    mix = promo("X", "mix_and_match", categories=("wine",), buy_qty=3, pay_qty=2)
    lines = [line(str(i), gtin(20 + i), 1, 100 * (i + 1), category="wine") for i in range(9)]
    exact = run(lines, [mix])
    monkeypatch.setattr(promotion_search, "SEARCH_BUDGET", 1)
    fallback = run(lines, [mix])
    assert fallback == run(list(reversed(lines)), [mix])
    assert 0 < fallback.total_cents <= fallback.subtotal_cents
    assert fallback.total_cents >= exact.total_cents  # exact is at least as good


def test_inactive_duplicate_ids_rejected() -> None:
    p = promo("P", "percent_off", gtins=(A,), percent="10")
    with pytest.raises(InvalidInput):
        run([line("1", A, 1, 100)], [p, p])


def test_naive_evaluation_time_rejected() -> None:
    with pytest.raises(InvalidInput):
        evaluate([], [], at=datetime(2026, 1, 1), loyalty_card=False)


# -- Promotion data ----------------------------------------------------------------------


def test_promotion_round_trips_through_json() -> None:
    p = promo(
        "P",
        "mix_and_match",
        gtins=("4006381333931", A),
        categories=("wine", "beer"),
        buy_qty=3,
        pay_qty=2,
        starts_at="2026-11-01T00:00:00+01:00",
        ends_at="2026-12-01T00:00:00Z",
        loyalty_only=True,
    )
    data = json.loads(json.dumps(p.to_dict()))
    assert Promotion.from_dict(data) == p
    assert "04006381333931" in p.gtins
    assert p.starts_at == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)


def test_percent_round_trips_exactly() -> None:
    p = promo("P", "percent_off", gtins=(A,), percent=12.5)
    assert p.percent == Decimal("12.5")
    assert Promotion.from_dict(json.loads(json.dumps(p.to_dict()))) == p


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"kind": "cheap"}, "unknown kind 'cheap'"),
        ({"kind": None}, "kind is missing"),
        ({"id": ""}, "id is missing"),
        ({"percent": "ten"}, "bad number for percent"),
        ({"percent": "0"}, "percent must be"),
        ({"percent": "101"}, "percent must be"),
        ({"percent": None}, "percent_off needs percent"),
        ({"amount_cents": 5}, "amount_cents does not apply to percent_off"),
        ({"gtins": ["123"], "categories": []}, "bad GTIN '123'"),
        ({"gtins": [], "categories": []}, "at least one GTIN or category"),
        ({"starts_at": "2026-13-01T00:00:00Z"}, "bad date for starts_at"),
        ({"starts_at": "2026-11-01T00:00:00"}, "needs a UTC offset"),
        (
            {"starts_at": "2026-11-02T00:00:00Z", "ends_at": "2026-11-01T00:00:00Z"},
            "ends_at must be after starts_at",
        ),
        ({"loyalty_only": "maybe"}, "loyalty_only must be true or false"),
        ({"gtins": 5}, "gtins must be a list"),
    ],
)
def test_bad_promotion_data_is_rejected(data: dict[str, object], fragment: str) -> None:
    base: dict[str, object] = {
        "id": "P",
        "label": "Ten off",
        "kind": "percent_off",
        "gtins": [A],
        "percent": "10",
    }
    with pytest.raises(InvalidInput) as info:
        Promotion.from_dict({**base, **data})
    problems = info.value.details["problems"]
    assert isinstance(problems, list)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    ("kind", "params", "fragment"),
    [
        ("multi_buy", {"buy_qty": 3}, "needs buy_qty and pay_qty"),
        ("multi_buy", {"buy_qty": 3, "pay_qty": 3}, "pay_qty must be"),
        ("multi_buy", {"buy_qty": "three", "pay_qty": 2}, "bad number for buy_qty"),
        ("bundle_price", {"bundle_qty": 1, "bundle_price_cents": 100}, "bundle_qty must be"),
        ("bundle_price", {"bundle_qty": 2, "bundle_price_cents": -1}, "must not be negative"),
        ("mix_and_match", {"percent": "5"}, "needs bundle_qty and bundle_price_cents or"),
        ("loyalty_price", {"loyalty_price_cents": 1.5}, "bad number"),
        ("amount_off", {"amount_cents": True}, "bad number"),
    ],
)
def test_bad_kind_parameters(kind: str, params: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Promotion.from_dict({"id": "P", "label": "x", "kind": kind, "gtins": [A], **params})
    problems = info.value.details["problems"]
    assert isinstance(problems, list)
    assert any(fragment in p for p in problems), problems


def test_every_refused_field_is_reported_at_its_place() -> None:
    """All problems at once, in field order, each located at the field (and list item)
    it came from; a value quoting braces is shown as sent."""
    data = {
        "id": "P",
        "label": 5,
        "kind": "percent_off",
        "gtins": [A, "123", "{x}"],
        "percent": "ten",
        "loyalty_only": "maybe",
    }
    with pytest.raises(ValidationError) as info:
        PromotionFields.model_validate(data)
    assert [(e["loc"], e["ctx"]["problem"]) for e in info.value.errors()] == [
        (("label",), "label must be text, got 5"),
        (("gtins", 1), "bad GTIN '123': " + _gtin_message("123")),
        (("gtins", 2), "bad GTIN '{x}': " + _gtin_message("{x}")),
        (("percent",), "bad number for percent: 'ten'"),
        (("loyalty_only",), "loyalty_only must be true or false, got 'maybe'"),
    ]
    with pytest.raises(InvalidInput) as refused:
        Promotion.from_dict(data)
    assert refused.value.details["problems"] == field_problems(info.value)


def _gtin_message(code: str) -> str:
    try:
        normalize_gtin(code)
    except InvalidCode as exc:
        return exc.message
    raise AssertionError(code)


# -- properties --------------------------------------------------------------------------

CODES = [A, B, C, D]
CATEGORY_OF = {A: "wine", B: "wine", C: "soap", D: "soap"}


@st.composite
def promotions_strategy(draw: st.DrawFn) -> list[Promotion]:
    out: list[Promotion] = []
    for n in range(draw(st.integers(0, 4))):
        kind = draw(
            st.sampled_from(
                [
                    "percent_off",
                    "amount_off",
                    "multi_buy",
                    "bundle_price",
                    "mix_and_match",
                    "loyalty_price",
                ]
            )
        )
        target: dict[str, object] = draw(
            st.one_of(
                st.builds(
                    lambda g: {"gtins": g}, st.lists(st.sampled_from(CODES), min_size=1, max_size=3)
                ),
                st.builds(lambda c: {"categories": [c]}, st.sampled_from(["wine", "soap"])),
            )
        )
        params: dict[str, object]
        if kind == "percent_off":
            params = {"percent": draw(st.integers(1, 100))}
        elif kind == "amount_off":
            params = {"amount_cents": draw(st.integers(1, 500))}
        elif kind == "loyalty_price":
            params = {"loyalty_price_cents": draw(st.integers(0, 500))}
        elif kind == "bundle_price" or (kind == "mix_and_match" and draw(st.booleans())):
            params = {
                "bundle_qty": draw(st.integers(2, 3)),
                "bundle_price_cents": draw(st.integers(0, 900)),
            }
        else:
            buy = draw(st.integers(2, 3))
            params = {"buy_qty": buy, "pay_qty": draw(st.integers(1, buy - 1))}
        out.append(promo(f"p{n}", kind, loyalty_only=draw(st.booleans()), **target, **params))
    return out


@st.composite
def basket_strategy(draw: st.DrawFn) -> list[PricedLine]:
    lines = []
    for n in range(draw(st.integers(0, 4))):
        code = draw(st.sampled_from(CODES))
        if draw(st.integers(0, 5)) == 0:
            lines.append(
                line(
                    f"k{n}",
                    code,
                    1,
                    draw(st.integers(1, 2000)),
                    category=CATEGORY_OF[code],
                    weight_g=draw(st.integers(1, 3000)),
                )
            )
        else:
            lines.append(
                line(
                    f"k{n}",
                    code,
                    draw(st.integers(1, 3)),
                    draw(st.sampled_from([99, 150, 250, 300, 475])),
                    category=CATEGORY_OF[code],
                    rate=REDUCED if code in (C, D) else VAT,
                )
            )
    return lines


@settings(max_examples=100, deadline=None)
@given(basket_strategy(), promotions_strategy(), st.booleans())
def test_total_is_between_zero_and_subtotal(
    lines: list[PricedLine], promos: list[Promotion], card: bool
) -> None:
    result = run(lines, promos, card=card)
    assert 0 <= result.total_cents <= result.subtotal_cents
    assert result.subtotal_cents == sum(ln.line_total_cents for ln in lines)
    discounted = sum(d.amount_cents for d in result.discounts)
    assert result.total_cents == result.subtotal_cents - discounted
    assert sum(t.gross_cents for t in result.taxes) == result.total_cents
    assert all(d.amount_cents > 0 for d in result.discounts)
    for key, amount in result.line_discounts:
        original = next(ln for ln in lines if ln.key == key)
        assert 0 < amount <= original.line_total_cents


@settings(max_examples=100, deadline=None)
@given(basket_strategy(), promotions_strategy(), st.booleans(), st.randoms())
def test_independent_of_scan_order_and_line_splitting(
    lines: list[PricedLine], promos: list[Promotion], card: bool, rnd: object
) -> None:
    result = run(lines, promos, card=card)
    shuffled = list(lines)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    split = [
        PricedLine(
            key=f"{ln.key}-{i}",
            gtin=ln.gtin,
            category=ln.category,
            qty=1,
            unit_price_cents=ln.unit_price_cents,
            line_total_cents=ln.unit_price_cents,
            tax_rate=ln.tax_rate,
        )
        for ln in shuffled
        if ln.weight_g is None
        for i in range(ln.qty)
    ] + [ln for ln in shuffled if ln.weight_g is not None]
    for other in (run(shuffled, list(reversed(promos)), card=card), run(split, promos, card=card)):
        assert other.total_cents == result.total_cents
        assert other.discounts == result.discounts
        assert other.taxes == result.taxes


def brute_force_discount(lines: list[PricedLine], promos: list[Promotion], card: bool) -> int:
    """Independent reference: try every way of grouping individual units."""
    units = []
    for ln in lines:
        if ln.weight_g is not None:
            units.append((ln.gtin, ln.category, ln.line_total_cents, True))
        else:
            units.extend((ln.gtin, ln.category, ln.unit_price_cents, False) for _ in range(ln.qty))
    active = [p for p in promos if p.is_active(NOW, loyalty_card=card)]

    def single(u: tuple[str, str, int, bool]) -> int:
        best = 0
        for p in active:
            if not p.applies_to(u[0], u[1]):
                continue
            if p.kind == "percent_off":
                assert p.percent is not None
                value = int((Decimal(u[2]) * p.percent / 100).to_integral_value("ROUND_HALF_UP"))
            elif p.kind == "amount_off":
                value = p.amount_cents or 0
            elif p.kind == "loyalty_price" and not u[3]:
                value = u[2] - (p.loyalty_price_cents or 0)
            else:
                continue
            best = max(best, min(max(value, 0), u[2]))
        return best

    def group_value(p: Promotion, members: list[tuple[str, str, int, bool]]) -> int:
        prices = sorted(m[2] for m in members)
        if p.bundle_qty is not None:
            return max(0, sum(prices) - (p.bundle_price_cents or 0))
        assert p.buy_qty is not None and p.pay_qty is not None
        return sum(prices[: p.buy_qty - p.pay_qty])

    def best(remaining: tuple[int, ...]) -> int:
        if not remaining:
            return 0
        first, rest = remaining[0], remaining[1:]
        value = single(units[first]) + best(rest)
        for p in active:
            size = p.group_size
            if size is None or units[first][3] or not p.applies_to(*units[first][:2]):
                continue
            for others in itertools.combinations(rest, size - 1):
                members = [units[i] for i in (first, *others)]
                if any(m[3] or not p.applies_to(m[0], m[1]) for m in members):
                    continue
                if p.kind in ("multi_buy", "bundle_price") and len({m[0] for m in members}) > 1:
                    continue
                left = tuple(i for i in rest if i not in others)
                value = max(value, group_value(p, members) + best(left))
        return value

    return best(tuple(range(len(units))))


@settings(max_examples=120, deadline=None)
@given(basket_strategy(), promotions_strategy(), st.booleans())
def test_optimisation_matches_brute_force(
    lines: list[PricedLine], promos: list[Promotion], card: bool
) -> None:
    result = run(lines, promos, card=card)
    assert result.subtotal_cents - result.total_cents == brute_force_discount(lines, promos, card)


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "x" * 100_000},
        {"percent": [1] * 50_000},
        {"gtins": ["9" * 100_000]},
        {"starts_at": "2026" * 25_000},
        {"loyalty_only": {"k": "v" * 100_000}},
        {"label": ["long"] * 50_000},
    ],
)
def test_a_huge_bad_value_is_named_not_echoed(data: dict[str, object]) -> None:
    """An import file or API body may hold a megabyte in one field: the error says which
    field is wrong and shows the start of the value, not the whole of it."""
    base = {"id": "P", "label": "Ten off", "kind": "percent_off", "gtins": [A], "percent": "10"}
    with pytest.raises(InvalidInput) as info:
        Promotion.from_dict({**base, **data})
    problems = info.value.details["problems"]
    assert isinstance(problems, list) and problems
    assert all(len(p) < 300 for p in problems), [p[:300] for p in problems]
    assert len(info.value.message) < 600
