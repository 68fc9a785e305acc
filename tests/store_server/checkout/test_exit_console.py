"""The staff console's new ground without a browser: the landing page per role, login
that returns where it should (and nowhere else), the history and its logged card
search, today's figures, the log in words; with hostile input on each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from store_server.checkout import history, wording
from store_server.checkout.models import PersonalLookup
from store_server.checkout.records import Actor
from store_server.db import session_scope
from tests.accounts import PASSWORD, make_user
from tests.store_server.checkout.conftest import COFFEE, Checkout

C13 = COFFEE[1:]


def _paid(checkout: Checkout, card: str = "CARD-1", device: str = "H-1") -> str:
    basket_id: str = checkout.trip([C13], card=card, device=device)["basket"]["basket_id"]
    checkout.rescan_all(basket_id)
    code = checkout.release(basket_id).json()["handoff"]["code"]
    token = checkout.pos_token()
    paid = checkout.client.post(
        f"/api/pos/handoffs/{code}/paid",
        json={"payment_reference": f"R-{basket_id[:6]}", "amount_cents": 349},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert paid.status_code == 200, paid.text
    return basket_id


def _form_post(client: Any, path: str, data: dict[str, str], *, page: str, **kw: Any) -> Any:
    """POST a console form as the browser does: the page's CSRF token in the form and
    the X-CSRF-Token header, from the server's own origin."""
    import re

    shown = client.get(page).text
    found = re.search(r'<meta name="csrf-token" content="([^"]*)">', shown)
    assert found is not None, "every console page carries the CSRF meta tag"
    token = found.group(1)
    headers = {"Origin": "http://testserver", "X-CSRF-Token": token}
    return client.post(path, data={**data, "csrf_token": token}, headers=headers, **kw)


def _log_in(client: Any, username: str = "alice", **kw: Any) -> Any:
    data = {"username": username, "password": PASSWORD}
    return _form_post(client, "/staff/login", data, page="/staff/login", **kw)


def _links(page: str) -> set[str]:
    import re

    return set(re.findall(r'data-destination="([^"]+)"', page))


@pytest.mark.parametrize(
    "user, expected",
    [
        (None, {"/shop", "/staff", "/manager", "/signage/console", "/docs", "/metrics"}),
        ("alice", {"/shop", "/staff", "/docs"}),
        ("olga", {"/shop", "/signage/console", "/docs"}),
        ("mona", {"/shop", "/manager", "/docs"}),
        ("root", {"/shop", "/staff", "/manager", "/signage/console", "/docs", "/metrics"}),
    ],
)
def test_the_landing_page_links_what_each_role_can_use(
    checkout: Checkout, engine: Any, user: str | None, expected: set[str]
) -> None:
    make_user(engine, "mona", "manager", None)
    client = checkout.client
    if user is not None:
        token = checkout.auth(user)["Authorization"].split()[1]
        client.cookies.set("caddie_session", token)
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert _links(page.text) == expected
    assert 'name="csrf-token"' in page.text
    client.cookies.clear()


def test_the_landing_page_ignores_a_bad_session_cookie(checkout: Checkout) -> None:
    for junk in (b"nope", b"x" * 5000, "\u00e9\u00e9".encode(), b"' OR 1=1 --"):
        page = checkout.client.get("/", headers=[(b"cookie", b"caddie_session=" + junk)])
        assert page.status_code == 200 and "not logged in" in page.text


def test_signage_root_and_metrics_for_browsers(checkout: Checkout) -> None:
    staff, admin_auth = checkout.auth("alice"), checkout.auth("root")  # API clients: tokens
    client = checkout.client
    root = client.get("/signage")
    assert root.status_code == 200 and 'href="/signage/console"' in root.text
    browser = client.get("/metrics", headers={"accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 401 and "Log in as an admin" in browser.text
    assert 'href="/staff/login?next=/metrics"' in browser.text
    api = client.get("/metrics", headers={"accept": "application/json"})
    assert api.status_code == 401 and api.json()["error"]["code"] == "unauthorized"
    staff = client.get("/metrics", headers={**staff, "accept": "text/html"})
    assert staff.status_code == 403 and "metrics need the metrics token" in staff.text
    admin = client.get("/metrics", headers={**admin_auth, "accept": "text/html"})
    assert admin.status_code == 200 and "caddie_" in admin.text


@pytest.mark.parametrize(
    "next_path, lands",
    [
        ("/staff/baskets/abc-123", "/staff/baskets/abc-123"),
        ("/staff/history", "/staff/history"),
        ("/metrics", "/metrics"),
        ("https://evil.example/", "/staff"),
        ("//evil.example/staff", "/staff"),
        ("/staff/../../evil", "/staff"),
        ("/staff\\@evil.example", "/staff"),
        ("/staff/baskets/x?y=1", "/staff"),
        ("javascript:alert(1)", "/staff"),
        ("/" + "a" * 300, "/staff"),
        ("", "/staff"),
    ],
)
def test_login_returns_only_to_pages_of_this_console(
    checkout: Checkout, next_path: str, lands: str
) -> None:
    reply = _form_post(
        checkout.client,
        "/staff/login",
        {"username": "alice", "password": PASSWORD, "next": next_path},
        page="/staff/login",
        follow_redirects=False,
    )
    assert reply.status_code == 303 and reply.headers["location"] == lands
    checkout.client.cookies.clear()


def test_an_ended_session_sends_the_page_to_login_with_its_way_back(checkout: Checkout) -> None:
    client = checkout.client
    client.cookies.set("caddie_session", "expired-or-revoked")
    reply = client.get("/staff/baskets/some-basket", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/staff/login?next=%2Fstaff%2Fbaskets%2Fsome-basket&ended=1"
    page = client.get(reply.headers["location"])
    assert "Your session ended" in page.text and "the basket you had open" in page.text
    assert 'name="next" value="/staff/baskets/some-basket"' in page.text
    assert "autofocus" not in page.text  # a scan must not land in the username field
    client.cookies.clear()


def test_history_by_basket_device_and_time(checkout: Checkout) -> None:
    first = _paid(checkout, device="H-1")
    second = _paid(checkout, card="CARD-2", device="H-2")
    waiting = checkout.trip([C13], device="H-3")["basket"]["basket_id"]

    def found(**params: str) -> list[str]:
        reply = checkout.client.get(
            "/api/checkout/history", params=params, headers=checkout.auth("alice")
        )
        assert reply.status_code == 200, reply.text
        return [row["basket_id"] for row in reply.json()["baskets"]]

    assert set(found()) == {first, second} and waiting not in found()
    assert found(device="H-2") == [second]
    assert found(basket=first[:8]) == [first]
    assert found(since=(datetime.now(UTC) + timedelta(hours=1)).isoformat()) == []
    assert found(until=(datetime.now(UTC) - timedelta(hours=1)).isoformat()) == []
    assert found(basket="%") == [] and found(basket="_") == []  # no LIKE wildcards
    other = checkout.client.get("/api/checkout/history", headers=checkout.auth("bob"))
    assert other.json()["baskets"] == []  # another store's staff see their own only


@pytest.mark.parametrize(
    "params",
    [
        {"basket": "x" * 37},
        {"device": "d" * 65},
        {"since": "yesterday"},
        {"since": "2026-01-02T00:00:00", "until": "2026-01-01T00:00:00"},
        {"basket": "a\x00b"},
    ],
)
def test_history_refuses_bad_searches(checkout: Checkout, params: dict[str, str]) -> None:
    reply = checkout.client.get(
        "/api/checkout/history", params=params, headers=checkout.auth("alice")
    )
    assert reply.status_code == 422, reply.text
    assert "error" in reply.json()


def test_a_card_search_needs_a_reason_and_is_logged(checkout: Checkout, engine: Any) -> None:
    basket_id = _paid(checkout, card="CARD-77")
    path = "/api/checkout/history/by-card"
    for body in (
        {"loyalty_card": "CARD-77"},
        {"loyalty_card": "CARD-77", "reason": "why"},
        {"loyalty_card": "", "reason": "a good reason"},
        {"loyalty_card": "C" * 33, "reason": "a good reason"},
        {"loyalty_card": "CARD-77", "reason": "r" * 201},
        {"loyalty_card": ["CARD-77"], "reason": "a good reason"},
        {"loyalty_card": "CARD\n77", "reason": "a good reason"},
    ):
        refused = checkout.post(path, body)
        assert refused.status_code == 422, (body, refused.text)
    assert (
        checkout.client.post(path, json={"loyalty_card": "x", "reason": "xxxxx"}).status_code == 401
    )
    assert (
        checkout.post(path, {"loyalty_card": "CARD-77", "reason": "xxxxx"}, as_="olga").status_code
        == 403
    )
    with session_scope(engine) as session:
        assert session.exec(select(PersonalLookup)).all() == []  # refusals log nothing
    found = checkout.post(path, {"loyalty_card": "CARD-77", "reason": "receipt copy for shopper"})
    assert found.status_code == 200 and [r["basket_id"] for r in found.json()["baskets"]] == [
        basket_id
    ]
    nothing = checkout.post(path, {"loyalty_card": "CARD-00", "reason": "lost property check"})
    assert nothing.json()["baskets"] == []
    with session_scope(engine) as session:
        rows = [
            (r.actor, r.value, r.reason, r.results)
            for r in session.exec(select(PersonalLookup).order_by(col(PersonalLookup.id)))
        ]
    assert rows == [
        ("staff:alice", "CARD-77", "receipt copy for shopper", 1),
        ("staff:alice", "CARD-00", "lost property check", 0),
    ]


def test_the_history_page_searches_by_card_only_by_post(checkout: Checkout) -> None:
    _paid(checkout, card="CARD-5")
    client = checkout.client
    _log_in(client)
    by_get = client.get("/staff/history", params={"loyalty_card": "CARD-5"})
    assert by_get.status_code == 200 and "CARD-5" not in by_get.text
    no_reason = _form_post(
        client, "/staff/history", {"loyalty_card": "CARD-5", "reason": ""}, page="/staff/history"
    )
    assert no_reason.status_code == 422 and "give a reason" in no_reason.text
    bad_time = client.get("/staff/history", params={"since": "<script>"})
    assert bad_time.status_code == 422 and "<script>" not in bad_time.text
    ok = _form_post(
        client,
        "/staff/history",
        {"loyalty_card": "CARD-5", "reason": "shopper at the desk"},
        page="/staff/history",
    )
    assert ok.status_code == 200 and "3.49 EUR" in ok.text
    client.cookies.clear()


def test_figures_count_the_day_in_store_time(checkout: Checkout, engine: Any) -> None:
    _paid(checkout)
    checkout.trip([C13], device="H-2")
    figures = checkout.get("/api/checkout/figures").json()
    assert figures["waiting"] == 1 and figures["paid"] == 1
    assert figures["audits_done"] == 1 and figures["released"] == 1
    assert isinstance(figures["average_wait_s"], int) and figures["average_wait_s"] >= 0
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    with session_scope(engine) as session:
        later = history.figures(session, "store-1", timezone="Europe/Paris", now=tomorrow)
    assert later["paid"] == 0 and later["audits_done"] == 0 and later["average_wait_s"] is None
    assert later["waiting"] == 1  # still waiting: a basket does not leave the queue at midnight


def test_shift_start_is_local_midnight() -> None:
    now = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)  # 23:30 in Paris (summer time)
    assert history.shift_start(now, "Europe/Paris") == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    late = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # 00:30 the next day in Paris
    assert history.shift_start(late, "Europe/Paris") == datetime(2026, 7, 1, 22, 0, tzinfo=UTC)


def test_the_log_reads_as_sentences() -> None:
    names = {"03012345678902": "Ground coffee 250 g"}

    def say(action: str, **detail: object) -> str:
        return wording.describe(action, detail, currency="EUR", names=names)

    assert say("finished", decision="partial", rescan=["0301"]) == (
        "Shopper finished: partial rescan of 1 item"
    )
    assert say("rescan", gtin="03012345678902", outcome="verified") == (
        "Rescanned Ground coffee 250 g: verified"
    )
    assert say("line_added", gtin="x", name="Tea", qty=2, reason="missed_by_shopper") == (
        "Added 2 × Tea: shopper missed it (discrepancy)"
    )
    assert say("released", total_cents=8177, code="ABC", audit_outcome="passed") == (
        "Released to payment: 81.77 EUR, code ABC; audit passed"
    )
    assert say("paid", amount_cents=8177, payment_reference="T-1") == (
        "Paid 81.77 EUR at the till, reference T-1"
    )
    assert say("something_new", a=1) == "Something new: a 1"
    assert wording.who("device:H-7") == "handheld H-7" and wording.who("pos:POS-1") == "till POS-1"
    assert wording.who("staff:alice") == "alice" and wording.who("system") == "Caddie"


def test_the_basket_page_shows_discounts_tax_and_total(checkout: Checkout, engine: Any) -> None:
    from tests.store_server.factories import add_promotions

    add_promotions(
        engine,
        [{"id": "P3", "label": "Coffee: 3 for 2", "kind": "multi_buy", "gtins": [COFFEE],
          "buy_qty": 3, "pay_qty": 2}],
    )  # fmt: skip
    checkout.client.app.state.caddie.promotions.invalidate()  # type: ignore[attr-defined]
    basket_id = checkout.trip([C13, C13, C13])["basket"]["basket_id"]
    client = checkout.client
    _log_in(client)
    page = client.get(f"/staff/baskets/{basket_id}").text
    assert "Coffee: 3 for 2" in page and "−3.49 EUR" in page
    assert 'id="subtotal">10.47 EUR' in page and 'id="total-to-pay">6.98 EUR' in page
    assert "incl. tax 5.5%" in page
    assert "decision=partial" not in page and "Shopper finished: partial rescan" in page
    client.cookies.clear()


def test_actor_without_login_cannot_search_by_card(engine: Any) -> None:
    query = history.HistoryQuery(loyalty_card="CARD-1", reason="a device asks")
    with session_scope(engine) as session, pytest.raises(Exception, match="logged-in staff"):
        history.search(session, Actor("device:H-1", "store-1"), query)
