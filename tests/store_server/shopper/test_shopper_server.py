"""The shopper app's server side against real ``caddie serve`` processes: kiosk pairing,
phone joins from the entrance code, the real handheld socket with the issued token, the
trip status through audit, release and payment, the receipt link, token expiry with the
trip, rate limits per client address and hostile input. Nothing here opens a browser."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from store_server.db import make_engine, migrate
from store_server.devices.models import Device
from store_server.shopper import codes
from store_server.shopper.models import JoinTicketUse, PairingCode, PhoneTrip
from tests.dbrows import rows_in
from tests.servers import ServerProcess, caddie
from tests.store_server.factories import COFFEE_ITEM, MILK_ITEM, add_products

pytestmark = [pytest.mark.integration]

SECRET = "shopper-tests-secret-0123456789abcdefghij"
STAFF_PASSWORD = "shopper-staff-pw"
# No random audits: every finished basket goes straight to the till.
POLICY = {"base_rate": 0.0, "first_trip_always": False, "max_days_without_audit": None}
COUNTED = (Device, PhoneTrip, JoinTicketUse, PairingCode)


def _database(directory: Path) -> str:
    url = f"sqlite:///{directory / 'caddie.db'}"
    migrate(url)
    engine = make_engine(url)
    add_products(engine, (COFFEE_ITEM, MILK_ITEM))
    engine.dispose()
    env = {"CADDIE_NEW_PASSWORD": STAFF_PASSWORD}
    for name, role in (("alice", "staff"), ("root", "admin"), ("olga", "operator")):
        made = caddie("user", "create", name, "--role", role, "--database-url", url, env=env)
        assert made.returncode == 0, made.stderr
    return url


def _server_env(**extra: str) -> dict[str, str]:
    return {
        "CADDIE_SECRET_KEY": SECRET,
        "CADDIE_AUDIT_POLICY": json.dumps(POLICY),
        "CADDIE_SHOPPER_JOINS_PER_MINUTE": "1000",
        **extra,
    }


class Store:
    """A running server with the calls a shopper, staff and a till make."""

    def __init__(self, server: ServerProcess, database_url: str) -> None:
        self.server = server
        self.url = server.url
        self.database_url = database_url
        # A script's client: it keeps no cookies, so its JSON requests are judged as an API
        # client's (no CSRF token). The page's own requests, cookies and token included,
        # are the browser tests' (tests/browser/test_shopper_offers_exit.py).
        self.http = httpx.Client(
            base_url=server.url,
            timeout=10,
            event_hooks={"response": [lambda _reply: self.http.cookies.clear()]},
        )
        self._staff: dict[str, str] = {}

    def entrance_code(self, *, at: float | None = None, secret: str = SECRET) -> str:
        return codes.entrance_code(secret, "store-1", time.time() if at is None else at)

    def ticket(self) -> str:
        reply = self.http.get("/shop/join", params={"c": self.entrance_code()})
        assert reply.status_code == 303, reply.text
        location = reply.headers["location"]
        assert location.startswith("/shop#join=")
        return location.removeprefix("/shop#join=")

    def join(self, card: str, ticket: str | None = None) -> httpx.Response:
        body = {"ticket": ticket or self.ticket(), "loyalty_card": card}
        return self.http.post("/api/shop/join", json=body)

    def joined(self, card: str) -> dict[str, Any]:
        reply = self.join(card)
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()
        return data

    def trip(self, token: str) -> httpx.Response:
        return self.http.get("/api/shop/trip", headers={"Authorization": f"Bearer {token}"})

    def counts(self) -> dict[str, int]:
        return rows_in(self.database_url, *COUNTED)

    def staff(self, username: str = "alice") -> dict[str, str]:
        if username not in self._staff:
            reply = self.http.post(
                "/api/auth/login", json={"username": username, "password": STAFF_PASSWORD}
            )
            assert reply.status_code == 200, reply.text
            self._staff[username] = reply.json()["token"]
            self.http.cookies.clear()
        return {"Authorization": f"Bearer {self._staff[username]}"}

    def release_and_pay(self, basket_id: str, amount: int) -> dict[str, Any]:
        released = self.http.post(
            f"/api/checkout/baskets/{basket_id}/release", headers=self.staff()
        )
        assert released.status_code == 200, released.text
        handoff: dict[str, Any] = released.json()["handoff"]
        till = self.http.post(
            "/api/checkout/pos-terminals",
            json={"terminal_id": f"POS-{uuid.uuid4().hex[:6]}", "store_id": "store-1"},
            headers=self.staff("root"),
        )
        assert till.status_code == 201, till.text
        paid = self.http.post(
            f"/api/pos/handoffs/{handoff['code']}/paid",
            json={"payment_reference": "R-1", "amount_cents": amount},
            headers={"Authorization": f"Bearer {till.json()['token']}"},
        )
        assert paid.status_code == 200, paid.text
        return handoff


class Handheld:
    """The shopper app's socket traffic, on the real ``/ws/handheld`` (websockets)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        if message["type"] != "hello":
            message = {"id": str(uuid.uuid4()), **message}
        self.ws.send(json.dumps(message))
        reply: dict[str, Any] = json.loads(self.ws.recv(timeout=10))
        return reply

    def hello(self, device_id: str, token: str) -> dict[str, Any]:
        return self.send(
            {
                "type": "hello",
                "protocol": 1,
                "device_id": device_id,
                "token": token,
                "features": ["offers"],
            }
        )


def handheld(store: Store) -> Any:
    from websockets.sync.client import connect

    return connect(store.server.ws_url, open_timeout=10)


def shop(store: Store, creds: dict[str, Any], card: str, codes_: list[str]) -> dict[str, Any]:
    """Hello, start, scan each code and finish; returns the checkout reply."""
    with handheld(store) as ws:
        hh = Handheld(ws)
        welcome = hh.hello(creds["device_id"], creds["token"])
        assert welcome["type"] == "welcome", welcome
        assert hh.send({"type": "start", "loyalty_card": card})["type"] == "basket"
        for code in codes_:
            ack = hh.send({"type": "scan", "code": code})
            assert ack["type"] == "ack", ack
        done = hh.send({"type": "finish"})
    assert done["type"] == "checkout", done
    return done


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory = tmp_path_factory.mktemp("shopper")
    url = _database(directory)
    server = ServerProcess(url, env=_server_env(), log_path=directory / "server.log")
    with server:
        running = Store(server, url)
        yield running
        running.http.close()


# --- own phone --------------------------------------------------------------------------------


def test_a_phone_joins_shops_pays_and_keeps_its_receipt(store: Store) -> None:
    creds = store.joined("PHONE-CARD-1")
    assert creds["kind"] == "phone" and creds["resumed"] is False
    assert creds["expires_at"] is not None
    assert store.trip(creds["token"]).json() == {
        "basket": None,
        "status": None,
        "audit": None,
        "handoff_code": None,
        "handoff_payload": None,
        "receipt_url": None,
    }
    done = shop(store, creds, "PHONE-CARD-1", [COFFEE_ITEM.gtin[1:], MILK_ITEM.gtin[1:]])
    basket_id = done["basket"]["basket_id"]
    finishing = store.trip(creds["token"]).json()
    assert finishing["status"] == "finishing"
    assert finishing["audit"] == {"decision": "none", "rescan_count": 0}
    assert finishing["basket"]["basket_id"] == basket_id
    assert finishing["basket"]["total_cents"] == 349 + 115
    assert finishing["receipt_url"] is None

    # Staff see why the audit policy judged the trip as it did: it was on a phone.
    staff_view = store.http.get(f"/api/checkout/baskets/{basket_id}", headers=store.staff())
    assert "trip on the shopper's own phone" in json.dumps(staff_view.json())

    handoff = store.release_and_pay(basket_id, 349 + 115)
    paid = store.trip(creds["token"]).json()
    assert paid["status"] == "paid"
    assert paid["handoff_code"] == handoff["code"]
    assert paid["handoff_payload"] == handoff["pos_payload"]
    receipt_url = paid["receipt_url"]
    assert receipt_url.startswith("/shop/receipt/")

    page = httpx.get(store.url + receipt_url)  # no login, no cookie
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert COFFEE_ITEM.name in page.text and "4.64 EUR" in page.text and "PAID" in page.text
    assert "NOT PAID" not in page.text
    download = httpx.get(store.url + receipt_url + "/receipt.txt")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")
    assert COFFEE_ITEM.name in download.text and "PAID" in download.text

    # Within the grace period the phone still says hello (and reads its receipt), but
    # its trip is over: it starts no other.
    with handheld(store) as ws:
        hh = Handheld(ws)
        assert hh.hello(creds["device_id"], creds["token"])["type"] == "welcome"
        ended = hh.send({"type": "start", "loyalty_card": "PHONE-CARD-1"})
        assert ended["type"] == "error" and ended["code"] == "bad_message"
        assert "trip has ended" in ended["message"]
    assert store.trip(creds["token"]).json()["status"] == "paid"


def test_opening_again_resumes_the_cards_open_trip_and_revokes_the_old_token(
    store: Store,
) -> None:
    first = store.joined("PHONE-CARD-2")
    with handheld(store) as ws:
        hh = Handheld(ws)
        assert hh.hello(first["device_id"], first["token"])["type"] == "welcome"
        assert hh.send({"type": "start", "loyalty_card": "PHONE-CARD-2"})["type"] == "basket"
        assert hh.send({"type": "scan", "code": COFFEE_ITEM.gtin[1:]})["type"] == "ack"
    before = store.counts()
    second = store.joined("PHONE-CARD-2")
    assert second["resumed"] is True
    assert second["device_id"] == first["device_id"] and second["token"] != first["token"]
    after = store.counts()
    assert after["Device"] == before["Device"] and after["PhoneTrip"] == before["PhoneTrip"]
    assert after["JoinTicketUse"] == before["JoinTicketUse"] + 1

    with handheld(store) as ws:  # the basket is there on the new token
        welcome = Handheld(ws).hello(second["device_id"], second["token"])
        assert welcome["type"] == "welcome" and welcome["basket"]["item_count"] == 1
    with handheld(store) as ws:  # the old token no longer works
        refused = Handheld(ws).hello(first["device_id"], first["token"])
        assert refused["type"] == "error" and refused["code"] == "unauthorized"
    assert store.trip(first["token"]).status_code == 401

    other = store.joined("PHONE-CARD-3")  # another card: another phone identity
    assert other["resumed"] is False and other["device_id"] != first["device_id"]


def test_a_phone_shops_only_for_the_card_it_joined_with(store: Store) -> None:
    creds = store.joined("PHONE-CARD-9")
    with handheld(store) as ws:
        hh = Handheld(ws)
        assert hh.hello(creds["device_id"], creds["token"])["type"] == "welcome"
        other = hh.send({"type": "start", "loyalty_card": "SOMEONE-ELSE"})
        assert other["type"] == "error" and other["code"] == "bad_message"
        assert "another loyalty card" in other["message"]
        assert store.trip(creds["token"]).json()["basket"] is None
        mine = hh.send({"type": "start", "loyalty_card": "PHONE-CARD-9"})
        assert mine["type"] == "basket" and mine["basket"]["status"] == "open"


def test_a_paid_trip_is_not_resumed(store: Store) -> None:
    creds = store.joined("PHONE-CARD-4")
    done = shop(store, creds, "PHONE-CARD-4", [MILK_ITEM.gtin[1:]])
    store.release_and_pay(done["basket"]["basket_id"], 115)
    again = store.joined("PHONE-CARD-4")
    assert again["resumed"] is False and again["device_id"] != creds["device_id"]


def test_join_page_refuses_forged_and_expired_codes_with_a_page_and_creates_nothing(
    store: Store,
) -> None:
    before = store.counts()
    now = time.time()
    cases = {
        "forged (another secret)": (store.entrance_code(secret="x" * 40), 400),
        "tampered": (store.entrance_code()[:-2] + "AA", 400),
        "garbage": ("not-a-code", 400),
        "unicode": ("é🛒\u202e", 400),
        "huge": ("A" * 5_000, 400),
        "expired": (store.entrance_code(at=now - 6 * 60), 410),
        "from the future": (store.entrance_code(at=now + 3600), 400),
        "another store": (codes.entrance_code(SECRET, "store-2", now), 400),
    }
    for name, (code, status) in cases.items():
        reply = store.http.get("/shop/join", params={"c": code})
        assert reply.status_code == status, name
        assert "text/html" in reply.headers["content-type"], name
        assert "scan the code at the store entrance again" in reply.text.lower(), name
        assert "location" not in reply.headers
    missing = store.http.get("/shop/join")
    assert missing.status_code == 400 and "text/html" in missing.headers["content-type"]
    assert store.counts() == before


def test_join_refuses_forged_expired_and_replayed_tickets_and_bad_cards(store: Store) -> None:
    now = time.time()
    forged = codes.join_ticket("y" * 40, "store-1", now)
    expired = codes.join_ticket(SECRET, "store-1", now - 11 * 60)
    entrance = store.entrance_code()  # a valid code of another kind is not a ticket
    before = store.counts()
    for ticket, status, code in (
        (forged, 400, "join_invalid"),
        (entrance, 400, "join_invalid"),
        (expired, 410, "join_expired"),
    ):
        reply = store.join("PHONE-CARD-5", ticket)
        assert (reply.status_code, reply.json()["error"]["code"]) == (status, code)
    for card in ("", "no spaces", "x" * 33, "é", "12<script>"):
        reply = store.join(card)
        assert reply.status_code == 400, card
        assert reply.json()["error"]["code"] == "invalid_card", card
    assert store.counts() == before

    ticket = store.ticket()
    assert store.join("PHONE-CARD-5", ticket).status_code == 200
    after_one = store.counts()
    replayed = store.join("PHONE-CARD-6", ticket)
    assert replayed.status_code == 410 and replayed.json()["error"]["code"] == "join_used"
    assert store.counts() == after_one


def test_hostile_bodies_get_clear_errors(store: Store) -> None:
    before = store.counts()
    for path in ("/api/shop/join", "/api/shop/pair"):
        not_json = store.http.post(
            path, content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert not_json.status_code == 422
        assert not_json.json()["error"]["code"] == "bad_message"
        wrong_type = store.http.post(
            path, content=b"code=1", headers={"Content-Type": "text/plain"}
        )
        assert 400 <= wrong_type.status_code < 500
        assert "error" in wrong_type.json()
        for body in ([], {"ticket": 1, "loyalty_card": None, "code": 5}, {}, "x"):
            reply = store.http.post(path, json=body)
            assert reply.status_code == 422, (path, body)
            assert reply.json()["error"]["code"] == "invalid_input"
        huge = store.http.post(path, json={"ticket": "A" * 600, "code": "A" * 600})
        assert huge.status_code == 422
        too_big = store.http.post(
            path,
            content=b'{"ticket": "' + b"A" * 3_000_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert too_big.status_code == 413
        assert "A" * 100 not in huge.text  # the value is never echoed
    unicode = store.http.post(
        "/api/shop/pair",
        json={
            "code": "\u202e🛒"
            + "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        },
    )
    assert unicode.status_code == 400 and unicode.json()["error"]["code"] == "pairing_invalid"
    ticket_unicode = store.join("CARD-OK", "é.🛒")
    assert ticket_unicode.json()["error"]["code"] == "join_invalid"
    assert store.counts() == before


# --- kiosk pairing ----------------------------------------------------------------------------


def _pair_url(store: Store, device: str, base: str = "https://shop.example.org") -> str:
    made = caddie(
        "device",
        "enroll",
        device,
        "--pair",
        "--base-url",
        base,
        "--database-url",
        store.database_url,
        env={"CADDIE_SECRET_KEY": SECRET},
    )
    assert made.returncode == 0, made.stderr
    device_id, url = made.stdout.strip().split("\t")
    assert device_id == device
    assert "█" in made.stderr or "▀" in made.stderr  # the QR code, for a person
    return url


def test_kiosk_pairing_works_once(store: Store) -> None:
    url = _pair_url(store, "KIOSK-1")
    assert url.startswith("https://shop.example.org/shop/pair#code=")
    code = url.split("#code=", 1)[1]
    paired = store.http.post("/api/shop/pair", json={"code": code})
    assert paired.status_code == 200, paired.text
    creds = paired.json()
    assert creds["device_id"] == "KIOSK-1" and creds["kind"] == "kiosk"
    assert creds["expires_at"] is None
    again = store.http.post("/api/shop/pair", json={"code": code})
    assert again.status_code == 410 and again.json()["error"]["code"] == "pairing_used"
    unknown = store.http.post("/api/shop/pair", json={"code": code[:-3] + "abc"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "pairing_invalid"

    # The paired token drives a whole trip on the real socket; the trip API knows it.
    done = shop(store, creds, "KIOSK-CARD-1", [COFFEE_ITEM.gtin[1:]])
    status = store.trip(creds["token"]).json()
    assert status["status"] == "finishing"
    assert status["basket"]["basket_id"] == done["basket"]["basket_id"]
    staff_view = store.http.get(
        f"/api/checkout/baskets/{done['basket']['basket_id']}", headers=store.staff()
    )
    assert "own phone" not in json.dumps(staff_view.json())


def test_enrolling_again_for_pairing_cancels_the_unused_code_and_the_old_token(
    store: Store,
) -> None:
    first = _pair_url(store, "KIOSK-2").split("#code=", 1)[1]
    second = _pair_url(store, "KIOSK-2").split("#code=", 1)[1]
    stale = store.http.post("/api/shop/pair", json={"code": first})
    assert stale.status_code == 400 and stale.json()["error"]["code"] == "pairing_invalid"
    paired = store.http.post("/api/shop/pair", json={"code": second}).json()
    _pair_url(store, "KIOSK-2")  # re-enrolled: the paired token is revoked
    with handheld(store) as ws:
        refused = Handheld(ws).hello(paired["device_id"], paired["token"])
        assert refused["code"] == "unauthorized"


def test_an_expired_pairing_code_is_refused(store: Store) -> None:
    code = _pair_url(store, "KIOSK-3").split("#code=", 1)[1]
    engine = make_engine(store.database_url)
    with engine.begin() as conn:  # as if issued 25 hours ago
        conn.execute(
            text(
                "UPDATE shopper_pairing_code SET expires_at = '2000-01-01 00:00:00' "
                "WHERE device_id = 'KIOSK-3'"
            )
        )
    engine.dispose()
    reply = store.http.post("/api/shop/pair", json={"code": code})
    assert reply.status_code == 410 and reply.json()["error"]["code"] == "pairing_expired"


def test_pair_needs_the_plain_enrol_output_unchanged(store: Store) -> None:
    made = caddie("device", "enroll", "PLAIN-1", "--database-url", store.database_url)
    assert made.returncode == 0
    assert re.fullmatch(r"PLAIN-1\t[A-Za-z0-9_-]{43}\n", made.stdout)


# --- roles ----------------------------------------------------------------------------------


def test_trip_needs_a_device_token(store: Store) -> None:
    assert store.http.get("/api/shop/trip").status_code == 401
    assert store.trip("not-a-token").status_code == 401
    staff = store.http.get("/api/shop/trip", headers=store.staff())  # a login is no device
    assert staff.status_code == 401


def test_receipt_links_reveal_one_basket_and_cannot_be_altered(store: Store) -> None:
    creds = store.joined("PHONE-CARD-7")
    done = shop(store, creds, "PHONE-CARD-7", [MILK_ITEM.gtin[1:]])
    mine = done["basket"]["basket_id"]
    store.release_and_pay(mine, 115)
    url = store.trip(creds["token"]).json()["receipt_url"]
    assert httpx.get(store.url + url).status_code == 200

    other = store.joined("PHONE-CARD-8")
    theirs = shop(store, other, "PHONE-CARD-8", [COFFEE_ITEM.gtin[1:]])["basket"]["basket_id"]
    store.release_and_pay(theirs, 349)
    token = url.removeprefix("/shop/receipt/")
    payload, signature = token.split(".")
    altered = codes._b64(json.dumps({"b": theirs}, separators=(",", ":")).encode())
    for forged in (f"{altered}.{signature}", token[:-1] + ("A" if token[-1] != "A" else "B"), "x"):
        page = httpx.get(f"{store.url}/shop/receipt/{forged}")
        assert page.status_code == 404 and COFFEE_ITEM.name not in page.text
        text_reply = httpx.get(f"{store.url}/shop/receipt/{forged}/receipt.txt")
        assert text_reply.status_code == 404
    # A valid token of another kind (an entrance code) is no receipt either.
    assert httpx.get(f"{store.url}/shop/receipt/{store.entrance_code()}").status_code == 404


def test_entrance_screen_for_staff_admin_or_the_display_key(store: Store) -> None:
    anonymous = httpx.get(store.url + "/shop/entrance")
    assert anonymous.status_code == 401 and "<svg" not in anonymous.text
    olga = store.staff("olga")["Authorization"].removeprefix("Bearer ")
    operator = httpx.get(store.url + "/shop/entrance", cookies={"caddie_session": olga})
    assert operator.status_code == 403 and "<svg" not in operator.text
    for who in ("alice", "root"):
        token = store.staff(who)["Authorization"].removeprefix("Bearer ")
        page = httpx.get(store.url + "/shop/entrance", cookies={"caddie_session": token})
        assert page.status_code == 200 and "<svg" in page.text, who
        assert 'http-equiv="refresh"' in page.text
        assert "<script" not in page.text
    shown = caddie(
        "shopper",
        "entrance-code",
        "--display",
        "--base-url",
        store.url,
        env={"CADDIE_SECRET_KEY": SECRET},
    )
    assert shown.returncode == 0, shown.stderr
    join_url, display_url = shown.stdout.strip().splitlines()
    screen = httpx.get(display_url)
    assert screen.status_code == 200 and "<svg" in screen.text
    wrong_key = httpx.get(store.url + "/shop/entrance", params={"key": "forged.key"})
    assert wrong_key.status_code == 401
    # The printed entrance URL works on the server.
    joined = httpx.get(join_url, follow_redirects=False)
    assert joined.status_code == 303 and joined.headers["location"].startswith("/shop#join=")


# --- servers of their own ------------------------------------------------------------------------


def test_joins_and_pairings_are_rate_limited_per_client_address(tmp_path: Path) -> None:
    url = _database(tmp_path)
    env = _server_env(CADDIE_SHOPPER_JOINS_PER_MINUTE="3")
    with ServerProcess(url, env=env, log_path=tmp_path / "server.log") as server:
        store = Store(server, url)
        tickets = [store.ticket() for _ in range(5)]
        first = httpx.Client(
            base_url=server.url, transport=httpx.HTTPTransport(local_address="127.0.0.1")
        )
        second = httpx.Client(
            base_url=server.url, transport=httpx.HTTPTransport(local_address="127.0.0.2")
        )
        with first, second:
            replies = [
                first.post("/api/shop/join", json={"ticket": t, "loyalty_card": f"RL-{i}"})
                for i, t in enumerate(tickets[:3])
            ]
            assert [r.status_code for r in replies] == [200, 200, 200]
            before = store.counts()
            limited = first.post(
                "/api/shop/join", json={"ticket": tickets[3], "loyalty_card": "RL-3"}
            )
            assert limited.status_code == 429
            assert limited.json()["error"]["code"] == "rate_limited"
            assert int(limited.headers["retry-after"]) >= 1
            pairing = first.post("/api/shop/pair", json={"code": "whatever"})
            assert pairing.status_code == 429
            assert store.counts() == before
            # Another address has its own budget.
            other = second.post(
                "/api/shop/join", json={"ticket": tickets[4], "loyalty_card": "RL-4"}
            )
            assert other.status_code == 200, other.text
        store.http.close()


def test_a_phone_token_expires_with_its_paid_trip(tmp_path: Path) -> None:
    url = _database(tmp_path)
    env = _server_env(CADDIE_SHOPPER_TRIP_GRACE_MINUTES="0")
    with ServerProcess(url, env=env, log_path=tmp_path / "server.log") as server:
        store = Store(server, url)
        creds = store.joined("EXPIRY-CARD")
        kiosk_code = _pair_url(store, "KIOSK-E").split("#code=", 1)[1]
        kiosk = store.http.post("/api/shop/pair", json={"code": kiosk_code}).json()
        for who, card in ((creds, "EXPIRY-CARD"), (kiosk, "KIOSK-E-CARD")):
            done = shop(store, who, card, [COFFEE_ITEM.gtin[1:]])
            store.release_and_pay(done["basket"]["basket_id"], 349)
        from websockets.exceptions import ConnectionClosed

        with handheld(store) as ws:
            hh = Handheld(ws)
            refused = hh.hello(creds["device_id"], creds["token"])
            assert refused["type"] == "error" and refused["code"] == "unauthorized"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert store.trip(creds["token"]).status_code == 401
        # A store handheld's token does not end with its shopper's trip.
        with handheld(store) as ws:
            assert Handheld(ws).hello(kiosk["device_id"], kiosk["token"])["type"] == "welcome"
        # The card starts a new trip with a new phone identity.
        again = store.joined("EXPIRY-CARD")
        assert again["resumed"] is False and again["device_id"] != creds["device_id"]
        store.http.close()
