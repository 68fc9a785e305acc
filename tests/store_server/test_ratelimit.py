"""The per-caller token buckets, on a clock the test moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store_server.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_request_per_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("a") == pytest.approx(0.5)  # the next token in 1/rate s
    clock.now += 0.25
    assert limiter.check("a") == pytest.approx(0.25)
    clock.now += 0.25
    assert limiter.check("a") == 0.0
    assert limiter.check("a") > 0
    clock.now += 60  # an idle caller is back to a full bucket, not more
    assert [limiter.check("a") for _ in range(4)][-1] > 0


def test_callers_do_not_share_a_bucket() -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock())
    assert limiter.check("a") == 0.0
    assert limiter.check("a") > 0
    assert limiter.check("b") == 0.0


def test_the_least_recently_used_callers_are_forgotten_past_the_bound() -> None:
    limiter = RateLimiter(1.0, 1, max_keys=2, clock=Clock())
    limiter.check("a")
    limiter.check("b")
    limiter.check("a")  # "a" is used again: "b" is now the oldest
    limiter.check("c")
    assert len(limiter) == 2
    assert limiter.check("a") > 0  # still remembered, still empty
    assert limiter.check("b") == 0.0  # forgotten: a full bucket again


def test_bad_budgets_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 1)
    with pytest.raises(ValueError):
        RateLimiter(1, 0)


@given(
    rate=st.floats(0.1, 100),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 2), max_size=60),
)
def test_never_more_than_the_burst_plus_what_refilled(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = Clock()
    limiter = RateLimiter(rate, burst, clock=clock)
    granted = 0
    for gap in gaps:
        clock.now += gap
        wait = limiter.check("k")
        assert wait >= 0
        granted += wait == 0
    assert granted <= burst + rate * sum(gaps) + 1e-6
