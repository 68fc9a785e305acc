"""Receipts name staff by a display name or initials, never by their login (issue 19,
finding 2: a login printed on every receipt is half of what a password guesser needs)."""

from __future__ import annotations

from sqlmodel import select

from store_server.auth.models import User, initials
from store_server.auth.service import create_user
from store_server.db import make_engine, session_scope
from tests.accounts import PASSWORD
from tests.servers import caddie
from tests.store_server.checkout.conftest import COFFEE, WINE, Checkout

C13, W13 = COFFEE[1:], WINE[1:]


def test_the_age_approver_is_shown_by_display_name_on_every_receipt(
    checkout: Checkout, db_url: str
) -> None:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        create_user(
            session,
            username="j.doe-exit",
            password=PASSWORD,
            role="staff",
            store_id="store-1",
            display_name="Jo",
        )
    engine.dispose()
    basket_id = checkout.trip([W13, C13])["basket"]["basket_id"]
    checkout.rescan_all(basket_id)
    approved = checkout.post(f"/api/checkout/baskets/{basket_id}/age-approval", as_="j.doe-exit")
    assert approved.json()["age_approval"]["approved_by"] == "Jo"
    assert checkout.release(basket_id).status_code == 200
    text = checkout.get(f"/api/checkout/baskets/{basket_id}/receipt.txt").text
    assert "Age checked by" in text and "Jo" in text
    assert "j.doe" not in text and "staff:" not in text


def test_initials_by_default() -> None:
    assert initials("alice.martin") == "AM"
    assert initials("bob") == "B"
    assert initials("x-y_z.w@shop.example") == "XYZ"
    assert initials("._-") == "?"


def test_user_create_takes_a_display_name_and_defaults_to_initials(sqlite_url: str) -> None:
    env = {"CADDIE_NEW_PASSWORD": PASSWORD}
    for args in (["anna.berg"], ["carl.diaz", "--display-name", "Carl D."]):
        done = caddie(
            "user", "create", *args, "--role", "staff", "--database-url", sqlite_url, env=env
        )
        assert done.returncode == 0, done.stderr
    bad = caddie(
        "user",
        "create",
        "eve",
        "--role",
        "staff",
        "--display-name",
        "a\nb",
        "--database-url",
        sqlite_url,
        env=env,
    )
    assert bad.returncode != 0 and "display name" in (bad.stderr + bad.stdout)
    engine = make_engine(sqlite_url)
    with session_scope(engine) as session:
        names = {u.username: u.display_name for u in session.exec(select(User)).all()}
    engine.dispose()
    assert names == {"anna.berg": "AB", "carl.diaz": "Carl D."}
