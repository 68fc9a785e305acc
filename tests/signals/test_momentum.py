"""The scan window's running momentum counts give the same signals as counting every fact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from store_server.signals.models import ScanFact, Scope, SignalConfig, aggregate
from store_server.signals.service import ScanWindow

CONFIG = SignalConfig(active_minutes=10, momentum_minutes=15, min_count=2, timezone="UTC")
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

facts_strategy = st.lists(
    st.tuples(
        st.integers(0, 40 * 60),  # seconds after START: spans more than two windows
        st.sampled_from(["S-1", "S-2"]),
        st.sampled_from([None, "entrance", "food"]),
        st.sampled_from(["b1", "b2", "b3", "b4"]),
        st.sampled_from(["Hot drinks", "dairy", "Wine & spirits"]),
        st.integers(1, 5),
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(facts=facts_strategy, rounds=st.lists(st.integers(0, 45 * 60), min_size=1, max_size=6))
def test_running_counts_match_counting_every_fact(
    facts: list[tuple[int, str, str | None, str, str, int]], rounds: list[int]
) -> None:
    ordered = sorted(
        (
            ScanFact(store, zone, token, category, qty, START + timedelta(seconds=offset))
            for offset, store, zone, token, category, qty in facts
        ),
        key=lambda fact: fact.at,
    )
    window = ScanWindow(CONFIG.momentum_minutes)
    seen: list[ScanFact] = []
    pending = list(ordered)
    scopes = {Scope("S-1"), Scope("S-2")}
    for offset in sorted(rounds):
        now = START + timedelta(seconds=offset)
        while pending and pending[0].at <= now:  # facts arrive in time order, never early
            fact = pending.pop(0)
            window.add(fact)
            seen.append(fact)
        window.prune(now)
        counted = aggregate([], seen, scopes=scopes, now=now, config=CONFIG)
        running = aggregate([], (), scopes=scopes, now=now, config=CONFIG, momentum=window.momentum)
        assert running == counted


def test_counts_leave_with_the_facts() -> None:
    window = ScanWindow(15)
    fact = ScanFact("S-1", "food", "b1", "dairy", 2, START)
    window.add(fact)
    assert window.momentum.units == {
        Scope("S-1"): {"momentum:dairy": 2},
        Scope("S-1", "food"): {"momentum:dairy": 2},
    }
    window.prune(START + timedelta(minutes=16))
    assert window.momentum.units == {} and window.momentum.baskets == {}
