"""The audit policy: rates, reasons, rescan picks and configuration, with plain values."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store_server.checkout.audit_policy import (
    AuditDecision,
    AuditInputs,
    AuditLine,
    AuditPolicy,
    ShopperHistory,
    decide,
    escalate,
    trust_score,
)
from store_server.shared.errors import InvalidInput

NOW = datetime(2026, 3, 14, 11, 0, tzinfo=UTC)


def gtin(n: int) -> str:
    return f"{n:014d}"


def line(n: int, category: str = "dairy", qty: int = 1, cents: int = 250) -> AuditLine:
    return AuditLine(gtin(n), category, qty, cents)


ORDINARY = tuple(line(i) for i in range(1, 9))  # 8 items, 20.00 EUR, nothing risky


def regular(**changes: object) -> ShopperHistory:
    """A returning shopper with no audit record: every history factor is neutral."""
    values: dict[str, object] = {
        "trips": 5,
        "audits_passed": 0,
        "discrepancies": 0,
        "last_audit_at": None,
    }
    values.update(changes)
    return ShopperHistory(**values)  # type: ignore[arg-type]


def inputs(
    lines: tuple[AuditLine, ...] = ORDINARY,
    history: ShopperHistory | None = None,
    total: int | None = None,
) -> AuditInputs:
    return AuditInputs(
        lines=lines,
        total_cents=sum(x.line_total_cents for x in lines) if total is None else total,
        history=history or regular(),
        now=NOW,
    )


def probability(i: AuditInputs, policy: AuditPolicy | None = None) -> float:
    return decide(i, policy or AuditPolicy(), random.Random(0)).probability


def test_same_seed_same_decisions_and_seeds_matter() -> None:
    policy = AuditPolicy(base_rate=0.3)
    cases = [inputs(history=regular(trips=t)) for t in range(1, 200)]

    def run(seed: int) -> list[AuditDecision]:
        rng = random.Random(seed)
        return [decide(i, policy, rng) for i in cases]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_audit_rate_matches_base_rate_without_history_effects() -> None:
    policy = AuditPolicy(base_rate=0.1, first_trip_always=False)
    rng = random.Random(2026)
    case = inputs()
    decisions = [decide(case, policy, rng) for _ in range(20_000)]
    rate = sum(d.decision != "none" for d in decisions) / len(decisions)
    assert rate == pytest.approx(0.1, abs=0.01)
    assert all(d.probability == pytest.approx(0.1) for d in decisions)
    audited = next(d for d in decisions if d.decision != "none")
    assert "random check (base rate 10%)" in audited.reasons


def test_first_trip_is_always_audited_with_a_reason() -> None:
    first = inputs(history=ShopperHistory.first_trip())
    for seed in range(200):
        d = decide(first, AuditPolicy(), random.Random(seed))
        assert d.decision in ("partial", "full")
        assert d.probability == 1.0
        assert d.reasons[0] == "first trip with a loyalty card"
    relaxed = AuditPolicy(first_trip_always=False)
    outcomes = {decide(first, relaxed, random.Random(s)).decision for s in range(200)}
    assert "none" in outcomes


def test_clean_audits_raise_trust_and_lower_the_odds_monotonically() -> None:
    scores = [trust_score(regular(audits_passed=n)) for n in range(30)]
    assert scores[0] == pytest.approx(0.5)
    assert all(a < b for a, b in zip(scores, scores[1:], strict=False))
    odds = [probability(inputs(history=regular(audits_passed=n))) for n in range(30)]
    assert all(a >= b for a, b in zip(odds, odds[1:], strict=False))
    assert odds[3] < odds[0]
    # The floor: a long clean record never drops the odds below min_trust_factor × base.
    assert odds[-1] == pytest.approx(0.05 * AuditPolicy().min_trust_factor)
    d = decide(inputs(history=regular(audits_passed=12)), AuditPolicy(), random.Random(0))
    assert "trusted shopper: 12 clean audits" in d.reasons


def test_discrepancies_raise_the_odds_and_make_audits_full() -> None:
    policy = AuditPolicy(base_rate=0.01)
    odds = [probability(inputs(history=regular(discrepancies=n)), policy) for n in range(4)]
    assert odds[0] < odds[1] < odds[2] < odds[3]
    assert trust_score(regular(discrepancies=1)) < trust_score(regular())
    # Staff-proof: the trust formula only sees what the caller counts as the shopper's.
    history = regular(audits_passed=2, discrepancies=1, last_discrepancy_at=NOW - timedelta(days=9))
    full = AuditPolicy(base_rate=1.0, max_probability=1.0)
    d = decide(inputs(history=history), full, random.Random(0))
    assert d.decision == "full"
    assert "1 discrepancy found in past audits, 2 clean audits" in d.reasons
    assert "discrepancy found 9 days ago: full rescan" in d.reasons
    assert d.rescan == tuple(x.gtin for x in ORDINARY)


def test_an_old_discrepancy_no_longer_forces_a_full_rescan() -> None:
    history = regular(
        audits_passed=6, discrepancies=1, last_discrepancy_at=NOW - timedelta(days=400)
    )
    policy = AuditPolicy(base_rate=1.0, max_probability=1.0, partial_share=1.0)
    assert decide(inputs(history=history), policy, random.Random(0)).decision == "partial"


def test_risky_categories_raise_the_odds_and_are_named() -> None:
    risky = (
        *ORDINARY[:5],
        line(20, "spirits", qty=2, cents=4400),
        line(21, "razor", cents=1290),
    )
    base = probability(inputs())
    d = decide(inputs(lines=risky), AuditPolicy(), random.Random(0))
    assert d.probability > base
    assert "3 items in risky categories (spirits, razor)" in d.reasons


def test_basket_value_and_size_raise_the_odds() -> None:
    base = probability(inputs())
    dear = decide(inputs(total=18_240), AuditPolicy(), random.Random(0))
    assert dear.probability == pytest.approx(2 * base)
    assert "basket value 182.40 EUR above 150.00 EUR" in dear.reasons
    big = tuple(line(i, qty=5, cents=100) for i in range(1, 9))  # 40 items, 8.00 EUR
    large = decide(inputs(lines=big), AuditPolicy(), random.Random(0))
    assert large.probability > base
    assert "40 items, at least 40" in large.reasons


def test_a_trip_on_the_shoppers_own_phone_has_its_own_weight_and_reason() -> None:
    own = dataclasses.replace(inputs(), own_phone=True)
    store_device = decide(inputs(), AuditPolicy(), random.Random(0))
    phone = decide(own, AuditPolicy(), random.Random(0))
    assert phone.probability == pytest.approx(1.5 * store_device.probability)
    assert "trip on the shopper's own phone" in phone.reasons
    assert "trip on the shopper's own phone" not in store_device.reasons
    heavier = decide(own, AuditPolicy(own_phone_factor=4.0), random.Random(0))
    assert heavier.probability == pytest.approx(4 * store_device.probability)
    neutral = decide(own, AuditPolicy(own_phone_factor=1.0), random.Random(0))
    assert neutral.probability == store_device.probability
    assert "trip on the shopper's own phone" not in neutral.reasons
    assert own.to_dict()["own_phone"] is True and inputs().to_dict()["own_phone"] is False


def test_odds_are_capped_but_forcing_rules_are_not() -> None:
    policy = AuditPolicy(base_rate=0.5, max_probability=0.6, max_days_without_audit=60)
    history = regular(discrepancies=3)
    assert probability(inputs(history=history), policy) == pytest.approx(0.6)
    overdue = regular(discrepancies=3, last_audit_at=NOW - timedelta(days=90))
    assert probability(inputs(history=overdue), policy) == 1.0


def test_time_since_last_audit_raises_then_forces() -> None:
    sixty = AuditPolicy(max_days_without_audit=60)

    def at(days: int) -> AuditDecision:
        history = regular(audits_passed=4, last_audit_at=NOW - timedelta(days=days))
        return decide(inputs(history=history), sixty, random.Random(0))

    assert at(20).probability == at(30).probability
    assert at(41).probability > at(30).probability
    assert "no audit for 41 days" in at(41).reasons
    for seed in range(50):
        history = regular(audits_passed=4, last_audit_at=NOW - timedelta(days=61))
        d = decide(inputs(history=history), sixty, random.Random(seed))
        assert d.decision != "none"
        assert d.probability == 1.0
        assert d.reasons[0] == "no audit for 61 days (limit 60)"
    never = AuditPolicy(max_days_without_audit=None)
    history = regular(audits_passed=4, last_audit_at=NOW - timedelta(days=400))
    assert probability(inputs(history=history), never) < 1.0


def test_naive_datetimes_are_read_as_utc() -> None:
    naive_last = (NOW - timedelta(days=61)).replace(tzinfo=None)
    sixty = AuditPolicy(max_days_without_audit=60)
    d = decide(inputs(history=regular(last_audit_at=naive_last)), sixty, random.Random(0))
    assert d.probability == 1.0


def test_partial_rescan_picks_distinct_items_from_the_basket() -> None:
    policy = AuditPolicy(base_rate=1.0, max_probability=1.0, partial_share=1.0, partial_items=3)
    basket = (*ORDINARY, line(3, qty=2, cents=500))  # gtin 3 appears on two lines
    gtins = {x.gtin for x in basket}
    for seed in range(300):
        d = decide(inputs(lines=basket), policy, random.Random(seed))
        assert d.decision == "partial"
        assert len(d.rescan) == 3
        assert len(set(d.rescan)) == 3
        assert set(d.rescan) <= gtins
    small = decide(inputs(lines=ORDINARY[:2]), policy, random.Random(0))
    assert small.rescan == (gtin(1), gtin(2))


def test_partial_rescan_favours_valuable_and_risky_items() -> None:
    policy = AuditPolicy(base_rate=1.0, max_probability=1.0, partial_share=1.0, partial_items=1)
    basket = (
        *(line(i, cents=200) for i in range(1, 9)),
        line(50, "electronics", cents=200),  # risky, cheap
        line(60, "meat", cents=3000),  # valuable, not risky
    )
    rng = random.Random(99)
    picks = Counter(decide(inputs(lines=basket), policy, rng).rescan[0] for _ in range(6000))
    plain = sum(picks[gtin(i)] for i in range(1, 9)) / 8
    assert picks[gtin(50)] > 2 * plain
    assert picks[gtin(60)] > 5 * plain
    assert picks[gtin(60)] > picks[gtin(50)]


def test_escalation_gives_a_full_rescan_of_every_item() -> None:
    policy = AuditPolicy(base_rate=1.0, max_probability=1.0, partial_share=1.0)
    partial = decide(inputs(), policy, random.Random(0))
    assert partial.decision == "partial"
    basket_gtins = [x.gtin for x in ORDINARY] + [gtin(3)]
    full = escalate(partial, basket_gtins, "discrepancy on item 00000000000003")
    assert full.decision == "full"
    assert full.rescan == tuple(x.gtin for x in ORDINARY)
    assert full.reasons == (*partial.reasons, "discrepancy on item 00000000000003")
    assert (full.probability, full.trust_score) == (partial.probability, partial.trust_score)
    with pytest.raises(InvalidInput):
        escalate(partial, basket_gtins, "  ")
    with pytest.raises(InvalidInput):
        escalate(partial, [], "discrepancy")


def test_empty_basket_needs_no_audit_even_on_a_first_trip() -> None:
    d = decide(
        inputs(lines=(), history=ShopperHistory.first_trip()), AuditPolicy(), random.Random(0)
    )
    assert d.decision == "none"
    assert d.rescan == ()
    assert d.reasons == ("empty basket: nothing to rescan",)


def test_very_high_value_baskets_get_a_full_rescan() -> None:
    policy = AuditPolicy(base_rate=1.0, max_probability=1.0, partial_share=1.0)
    d = decide(inputs(total=61_200), policy, random.Random(0))
    assert d.decision == "full"
    assert "basket value 612.00 EUR at or above 500.00 EUR: full rescan" in d.reasons


def test_a_not_audited_decision_still_says_why() -> None:
    policy = AuditPolicy(base_rate=0.0)
    d = decide(inputs(history=regular(audits_passed=12)), policy, random.Random(0))
    assert d.decision == "none"
    assert d.reasons == (
        "trusted shopper: 12 clean audits",
        "not selected by the random check (probability 0%)",
    )


def test_decision_round_trips_through_json() -> None:
    d = decide(inputs(history=ShopperHistory.first_trip()), AuditPolicy(), random.Random(3))
    stored = json.loads(json.dumps(d.to_dict()))
    assert stored["decision"] == d.decision
    assert AuditDecision.from_dict(stored) == d
    assert json.loads(json.dumps(inputs().to_dict()))["history"]["trips"] == 5
    with pytest.raises(InvalidInput):
        AuditDecision.from_dict({"decision": "partial"})


def test_stored_inputs_carry_every_field_of_every_line() -> None:
    """The lines are written out by hand (no deep copy): a new field must be stored too."""
    sample = inputs()
    assert sample.lines
    assert sample.to_dict()["lines"] == [dataclasses.asdict(line) for line in sample.lines]


def test_policy_config_round_trips() -> None:
    config = {
        "base_rate": 0.02,
        "partial_items": 5,
        "first_trip_always": False,
        "risky_categories": ["spirits", "razor"],
        "max_days_without_audit": None,
        "high_value_cents": 20000,
    }
    policy = AuditPolicy.from_config(config)
    assert policy.base_rate == 0.02
    assert policy.risky_categories == frozenset({"spirits", "razor"})
    assert policy.max_days_without_audit is None
    assert AuditPolicy.from_config(json.loads(json.dumps(policy.to_dict()))) == policy
    assert AuditPolicy.from_config({}) == AuditPolicy()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"base_rate": -0.1}, "base_rate must be between 0 and 1, not -0.1"),
        ({"base_rate": 1.5}, "base_rate must be between 0 and 1, not 1.5"),
        ({"base_rate": "0.1"}, "base_rate must be a number, not '0.1'"),
        ({"base_rate": True}, "base_rate must be a number, not True"),
        ({"partial_items": 2.5}, "partial_items must be a whole number, not 2.5"),
        ({"partial_items": 0}, "partial_items must be at least 1, not 0"),
        ({"first_trip_always": "yes"}, "first_trip_always must be true or false"),
        ({"risky_categories": "spirits"}, "risky_categories must be a list of category names"),
        ({"max_probability": 0}, "max_probability must be above 0 and at most 1"),
        ({"max_days_without_audit": 0}, "max_days_without_audit must be at least 1"),
        ({"base_rte": 0.1}, "unknown setting 'base_rte'"),
        ({"own_phone_factor": 0.5}, "own_phone_factor must be at least 1, not 0.5"),
        ({"own_phone_factor": "2"}, "own_phone_factor must be a number, not '2'"),
    ],
)
def test_bad_config_is_rejected_with_a_clear_message(
    config: dict[str, object], expected: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        AuditPolicy.from_config(config)
    assert expected in caught.value.message


def test_every_config_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        AuditPolicy.from_config({"base_rate": 2, "partial_items": "3", "colour": "red"})
    problems = caught.value.details["problems"]
    assert isinstance(problems, list)
    assert len(problems) == 3


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(InvalidInput, match="partial_share must be between 0 and 1"):
        AuditPolicy(partial_share=1.2)


_lines = st.lists(
    st.builds(
        AuditLine,
        gtin=st.integers(1, 30).map(gtin),
        category=st.sampled_from(["dairy", "spirits", "razor", "produce"]),
        qty=st.integers(1, 12),
        line_total_cents=st.integers(0, 20_000),
        age_restricted=st.booleans(),
    ),
    max_size=25,
).map(tuple)
_histories = st.builds(
    ShopperHistory,
    trips=st.integers(0, 300),
    audits_passed=st.integers(0, 60),
    discrepancies=st.integers(0, 5),
    last_audit_at=st.none() | st.integers(0, 400).map(lambda d: NOW - timedelta(days=d)),
)


@settings(max_examples=300, deadline=None)
@given(
    lines=_lines,
    history=_histories,
    seed=st.integers(0, 2**32),
    base_rate=st.floats(0, 1),
    partial_items=st.integers(1, 6),
)
def test_any_decision_is_consistent(
    lines: tuple[AuditLine, ...],
    history: ShopperHistory,
    seed: int,
    base_rate: float,
    partial_items: int,
) -> None:
    policy = AuditPolicy(base_rate=base_rate, partial_items=partial_items)
    case = AuditInputs(lines, sum(x.line_total_cents for x in lines), history, NOW)
    d = decide(case, policy, random.Random(seed))
    distinct = list(dict.fromkeys(x.gtin for x in lines))
    assert 0.0 <= d.probability <= 1.0
    assert 0.0 < d.trust_score < 1.0
    assert d.reasons
    assert len(set(d.rescan)) == len(d.rescan)
    assert set(d.rescan) <= set(distinct)
    if d.decision == "none":
        assert d.rescan == ()
    elif d.decision == "full":
        assert list(d.rescan) == distinct
    else:
        assert len(d.rescan) == min(partial_items, len(distinct))
    assert d == decide(case, policy, random.Random(seed))
