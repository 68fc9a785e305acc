"""The staff console and POS APIs give each caller its own request budget."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.accounts import PASSWORD
from tests.store_server.checkout.conftest import COFFEE, Checkout

BURST = 3
# So slow that no token comes back during a test: the budget is exactly the burst.
TRICKLE = 0.01


@pytest.fixture
def limited(make_checkout: Callable[..., Checkout]) -> Checkout:
    return make_checkout(api_rate_limit_per_second=TRICKLE, api_rate_limit_burst=BURST)


def assert_throttled(reply: httpx.Response) -> None:
    assert reply.status_code == 429, reply.text
    error = reply.json()["error"]
    assert error["code"] == "rate_limited" and "retry in" in error["message"]
    retry_after = int(reply.headers["retry-after"])
    assert 1 <= retry_after <= round(1 / TRICKLE) + 1


def test_a_staff_session_over_its_budget_gets_429_and_others_do_not(limited: Checkout) -> None:
    alice = limited.auth("alice")
    for _ in range(BURST):
        assert limited.client.get("/api/checkout/baskets", headers=alice).status_code == 200
    # Every staff API spends the same budget, reads and writes alike.
    assert_throttled(limited.client.get("/api/checkout/baskets", headers=alice))
    assert_throttled(
        limited.client.post(
            "/api/checkout/baskets/any/rescan", json={"code": COFFEE}, headers=alice
        )
    )
    # Another session, even of the same person, has a budget of its own.
    other_session = limited.client.post(
        "/api/auth/login", json={"username": "alice", "password": PASSWORD}
    ).json()["token"]
    limited.client.cookies.clear()
    fresh = {"Authorization": f"Bearer {other_session}"}
    assert limited.client.get("/api/checkout/baskets", headers=fresh).status_code == 200
    assert limited.client.get("/api/checkout/baskets", headers=limited.auth("bob")).is_success


def test_the_session_cookie_counts_like_the_bearer_token(limited: Checkout) -> None:
    token = limited.auth("alice")["Authorization"].removeprefix("Bearer ")
    cookie = {"Cookie": f"caddie_session={token}"}
    for _ in range(BURST):
        assert limited.client.get("/api/checkout/baskets", headers=cookie).status_code == 200
    assert_throttled(
        limited.client.get("/api/checkout/baskets", headers={"Authorization": f"Bearer {token}"})
    )


def test_the_till_and_the_staff_handheld_have_budgets_too(limited: Checkout) -> None:
    till = {"Authorization": f"Bearer {limited.pos_token()}"}
    for _ in range(BURST):
        assert limited.client.get("/api/pos/handoffs/NOPE", headers=till).status_code == 404
    assert_throttled(limited.client.get("/api/pos/handoffs/NOPE", headers=till))
    assert_throttled(
        limited.client.post(
            "/api/pos/handoffs/NOPE/paid",
            json={"payment_reference": "R-1", "amount_cents": 1},
            headers=till,
        )
    )
    handheld = {
        "Authorization": f"Bearer {limited.tokens['STAFF-H']}",
        "X-Caddie-Device": "STAFF-H",
    }
    body = {"basket_id": "nope", "code": COFFEE}
    for _ in range(BURST):
        reply = limited.client.post("/api/checkout/handheld/rescan", json=body, headers=handheld)
        assert reply.status_code == 404, reply.text
    assert_throttled(
        limited.client.post("/api/checkout/handheld/rescan", json=body, headers=handheld)
    )


def test_anonymous_callers_are_limited_by_address(limited: Checkout) -> None:
    for _ in range(BURST):
        assert limited.client.get("/api/checkout/baskets").status_code == 401
    assert_throttled(limited.client.get("/api/checkout/baskets"))


def test_the_default_budget_lets_a_busy_exit_work(checkout: Checkout) -> None:
    """A rescan at each beep of a fast scanner, with the panel refreshed, fits."""
    alice = checkout.auth("alice")
    for _ in range(30):
        assert checkout.client.get("/api/checkout/baskets", headers=alice).status_code == 200


def test_the_budget_is_configured_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from store_server.config import load_settings
    from store_server.shared.errors import ConfigurationError

    monkeypatch.setenv("CADDIE_API_RATE_LIMIT_PER_SECOND", "2.5")
    monkeypatch.setenv("CADDIE_API_RATE_LIMIT_BURST", "7")
    settings = load_settings()
    assert (settings.api_rate_limit_per_second, settings.api_rate_limit_burst) == (2.5, 7)
    monkeypatch.setenv("CADDIE_API_RATE_LIMIT_BURST", "0")
    with pytest.raises(ConfigurationError, match="CADDIE_API_RATE_LIMIT_BURST"):
        load_settings()
