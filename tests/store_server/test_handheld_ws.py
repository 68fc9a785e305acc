"""The handheld WebSocket against PROTOCOL.md, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from unittest.mock import ANY

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.websockets import WebSocketDisconnect

from store_server.app import create_app
from store_server.baskets.models import Basket, HandheldRequest
from store_server.catalog.models import ProductPrice
from store_server.config import Settings
from store_server.db import session_scope
from store_server.devices.service import revoke
from store_server.timeutil import utcnow
from tests.dbrows import row_count
from tests.signals.helpers import collect, wait_for
from tests.store_server.factories import (
    APPLES_ITEM,
    CHEESE_ITEM,
    COFFEE_ITEM,
    MILK_ITEM,
    WINE_ITEM,
    add_products,
    add_promotions,
    enroll_devices,
    gtin14,
)
from tests.store_server.wsclient import Handheld

COFFEE_13 = COFFEE_ITEM.gtin[1:]
MILK_13 = MILK_ITEM.gtin[1:]
UNKNOWN_13 = "4006381333931"  # a valid EAN-13 the test catalog does not hold


def ean13(body12: str) -> str:
    return gtin14("0" + body12)[1:]


@pytest.fixture
def setup(engine: Engine, db_url: str) -> dict[str, str]:
    add_products(engine)
    return enroll_devices(engine, "H-1", "H-2")


@pytest.fixture
def client(db_url: str, setup: dict[str, str]) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db_url, environment="test"))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def handheld(client: TestClient, setup: dict[str, str]) -> Iterator[Handheld]:
    with client.websocket_connect("/ws/handheld") as ws:
        hh = Handheld(ws)
        assert hh.hello("H-1", setup["H-1"])["type"] == "welcome"
        yield hh


def test_hello_welcomes_a_device_without_basket(client: TestClient, setup: dict[str, str]) -> None:
    with client.websocket_connect("/ws/handheld") as ws:
        reply = Handheld(ws).hello("H-1", setup["H-1"])
    assert reply == {"type": "welcome", "device_id": "H-1", "basket": None}


@pytest.mark.parametrize(
    "device, token",
    [("H-1", "wrong"), ("NOPE", "x"), ("H-1", None), (7, "x"), ("H-2", "<H-1's token>")],
)
def test_bad_credentials_get_unauthorized_and_4401(
    client: TestClient, setup: dict[str, str], device: object, token: object
) -> None:
    if token == "<H-1's token>":
        token = setup["H-1"]
    with client.websocket_connect("/ws/handheld") as ws:
        ws.send_json({"type": "hello", "protocol": 1, "device_id": device, "token": token})
        reply = ws.receive_json()
        assert reply["type"] == "error" and reply["code"] == "unauthorized"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401


def test_reenrolling_revokes_the_old_token(
    client: TestClient, setup: dict[str, str], engine: Engine
) -> None:
    enroll_devices(engine, "H-1")
    with client.websocket_connect("/ws/handheld") as ws:
        assert Handheld(ws).hello("H-1", setup["H-1"])["code"] == "unauthorized"


@pytest.mark.parametrize("how", ["revoke", "enroll again"])
@pytest.mark.parametrize(
    "kind, code, rid",
    [
        ("scan", COFFEE_13, "after"),
        # Neither unknown_product nor a stored reply: a revoked device learns nothing.
        ("scan", UNKNOWN_13, "after"),
        ("scan", COFFEE_13, "before"),
        ("remove", COFFEE_13, "after"),
        ("finish", None, "after"),
        ("start", None, "after"),
    ],
)
def test_a_device_revoked_while_connected_can_change_nothing_more(
    handheld: Handheld,
    engine: Engine,
    db_url: str,
    how: str,
    kind: str,
    code: str | None,
    rid: str,
) -> None:
    handheld.start()
    before = handheld.scan(COFFEE_13, qty=2, id="before")["basket"]
    requests = row_count(db_url, HandheldRequest)
    if how == "revoke":
        with session_scope(engine) as session:
            revoke(session, "H-1")
    else:
        enroll_devices(engine, "H-1")
    fields = {"code": code} if code else {}
    reply = handheld.request(kind, id=rid, **fields)
    assert reply == {
        "type": "error",
        "id": rid,
        "code": "unauthorized",
        "message": "this device's token was revoked; enrol it again",
    }
    with pytest.raises(WebSocketDisconnect) as closed:
        handheld.ws.receive_json()
    assert closed.value.code == 4401
    # Nothing of the refused request was written: the basket is as the last ack said.
    assert row_count(db_url, HandheldRequest) == requests
    with session_scope(engine) as session:
        basket = session.get(Basket, before["basket_id"])
        assert basket is not None
        assert (basket.status, basket.item_count) == ("open", 2)
        assert basket.total_cents == before["total_cents"]


def test_requests_before_hello_are_unauthorized(client: TestClient) -> None:
    with client.websocket_connect("/ws/handheld") as ws:
        reply = Handheld(ws).scan(COFFEE_13, id="r1")
        assert reply["code"] == "unauthorized" and reply["id"] == "r1"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401


def test_wrong_protocol_version_is_a_bad_message_and_the_socket_stays(
    client: TestClient, setup: dict[str, str]
) -> None:
    with client.websocket_connect("/ws/handheld") as ws:
        hh = Handheld(ws)
        bad = hh.send({"type": "hello", "protocol": 2, "device_id": "H-1", "token": setup["H-1"]})
        assert bad["code"] == "bad_message"
        assert hh.hello("H-1", setup["H-1"])["type"] == "welcome"


def test_a_trip_prices_lines_and_totals(handheld: Handheld) -> None:
    basket = handheld.start()["basket"]
    assert basket["status"] == "open" and basket["lines"] == [] and basket["total_cents"] == 0
    ack = handheld.scan(COFFEE_13, id="a")
    assert ack["type"] == "ack" and ack["id"] == "a"
    assert ack["line"] == {
        "gtin": COFFEE_ITEM.gtin,
        "name": COFFEE_ITEM.name,
        "qty": 1,
        "unit_price_cents": 349,
        "weight_g": None,
        "line_total_cents": 349,
        "age_restricted": False,
    }
    ack = handheld.scan(COFFEE_ITEM.gtin, qty=2)  # the GTIN-14 form is the same item
    assert ack["line"]["qty"] == 3 and ack["line"]["line_total_cents"] == 1047
    ack = handheld.scan(WINE_ITEM.gtin[1:])
    basket = ack["basket"]
    assert basket["total_cents"] == 1047 + 899
    assert basket["item_count"] == 4
    assert basket["currency"] == "EUR"
    # tax-inclusive prices: 5.5 % on coffee, 20 % on wine, rounded half-up per rate
    assert basket["tax_cents"] == round(1047 * 0.055 / 1.055) + round(899 * 0.2 / 1.2)
    assert set(basket) >= {
        "basket_id",
        "status",
        "lines",
        "discounts",
        "total_cents",
        "tax_cents",
        "currency",
        "item_count",
    }


def test_upc_a_and_ean_8_forms_normalise(engine: Engine, handheld: Handheld) -> None:
    from tests.store_server.factories import Item

    upc = gtin14("0003600029145")  # a UPC-A item
    ean8 = gtin14("0000009638507")  # an EAN-8 item
    add_products(engine, [Item(upc, "Soap", "hygiene", 250), Item(ean8, "Gum", "sweets", 90)])
    handheld.start()
    assert handheld.scan(upc[2:])["line"]["gtin"] == upc  # 12 digits as a UPC-A reader gives
    assert handheld.scan(ean8[6:])["line"]["gtin"] == ean8  # 8 digits as an EAN-8 reader gives


def test_weight_and_price_labels(handheld: Handheld) -> None:
    handheld.start()
    weight_label = ean13("250001001234")  # apples, 1.234 kg at 2.99 / kg
    ack = handheld.scan(weight_label)
    assert ack["line"]["gtin"] == APPLES_ITEM.gtin
    assert ack["line"]["weight_g"] == 1234
    assert ack["line"]["unit_price_cents"] == 299
    assert ack["line"]["line_total_cents"] == 369  # 1.234 x 2.99 = 3.68966 -> 3.69
    price_label = ean13("210002004567")  # cheese cut to order, 45.67
    ack = handheld.scan(price_label)
    assert ack["line"]["gtin"] == CHEESE_ITEM.gtin
    assert ack["line"]["line_total_cents"] == 4567
    assert ack["basket"]["total_cents"] == 369 + 4567
    # a weighed item scanned without a scale label cannot be priced
    assert handheld.scan(APPLES_ITEM.gtin[1:])["code"] == "invalid_code"


def test_remove_takes_items_out(handheld: Handheld) -> None:
    handheld.start()
    handheld.scan(COFFEE_13, qty=3)
    ack = handheld.remove(COFFEE_13, qty=2)
    assert ack["type"] == "ack" and ack["line"]["qty"] == 1
    assert ack["basket"]["total_cents"] == 349
    ack = handheld.remove(COFFEE_13)
    assert ack["line"]["qty"] == 0 and ack["basket"]["lines"] == []
    assert ack["line"]["line_total_cents"] == 0  # the line as it is now: nothing in it
    assert handheld.remove(COFFEE_13)["code"] == "not_in_basket"
    assert handheld.remove(MILK_13)["code"] == "not_in_basket"


def test_null_quantity_counts_as_absent(handheld: Handheld) -> None:
    """PROTOCOL.md: qty defaults to 1, and ``null`` is the same as leaving it out."""
    handheld.start()
    ack = handheld.send({"type": "scan", "id": "n1", "code": COFFEE_13, "qty": None})
    assert ack["type"] == "ack" and ack["line"]["qty"] == 1, ack
    ack = handheld.send({"type": "scan", "id": "n2", "code": COFFEE_13})
    assert ack["line"]["qty"] == 2
    ack = handheld.send({"type": "remove", "id": "n3", "code": COFFEE_13, "qty": None})
    assert ack["type"] == "ack" and ack["line"]["qty"] == 1, ack


@pytest.mark.parametrize(
    "message, code",
    [
        ({"type": "scan", "id": "x", "code": "4006381333932"}, "invalid_code"),  # bad check digit
        ({"type": "scan", "id": "x", "code": "12345"}, "invalid_code"),
        ({"type": "scan", "id": "x", "code": "abcdefghijklm"}, "invalid_code"),
        ({"type": "scan", "id": "x", "code": "]"}, "invalid_code"),  # a lone symbology flag
        ({"type": "scan", "id": "x", "code": "]C"}, "invalid_code"),
        ({"type": "scan", "id": "x", "code": "\u00b2" * 13}, "invalid_code"),
        ({"type": "scan", "id": "x", "code": "4006381333931"}, "unknown_product"),
        ({"type": "scan", "id": "x", "code": COFFEE_13, "qty": 0}, "bad_quantity"),
        ({"type": "scan", "id": "x", "code": COFFEE_13, "qty": -3}, "bad_quantity"),
        ({"type": "scan", "id": "x", "code": COFFEE_13, "qty": 10**30}, "bad_quantity"),
        ({"type": "scan", "id": "x", "code": COFFEE_13, "qty": 1.5}, "bad_quantity"),
        ({"type": "scan", "id": "x", "code": COFFEE_13, "qty": "2"}, "bad_quantity"),
        ({"type": "scan", "id": "x", "code": COFFEE_13, "qty": True}, "bad_quantity"),
        ({"type": "scan", "id": "x"}, "bad_message"),
        ({"type": "scan", "id": "x", "code": 4006381333931}, "bad_message"),
        ({"type": "scan", "code": COFFEE_13}, "bad_message"),
        ({"type": "scan", "id": 5, "code": COFFEE_13}, "bad_message"),
        ({"type": "scan", "id": "x" * 500, "code": COFFEE_13}, "bad_message"),
        ({"type": "teleport", "id": "x"}, "bad_message"),
        ({"type": None}, "bad_message"),
        ({"id": "x"}, "bad_message"),
    ],
)
def test_bad_requests_get_documented_errors_and_change_nothing(
    handheld: Handheld, message: dict[str, object], code: str
) -> None:
    handheld.start()
    before = handheld.scan(MILK_13)["basket"]
    reply = handheld.send(message)
    assert reply["type"] == "error" and reply["code"] == code, reply
    assert isinstance(reply["message"], str) and reply["message"]
    if isinstance(message.get("id"), str) and len(str(message["id"])) < 100:
        assert reply["id"] == message["id"]
    # the socket stays usable and the basket is untouched
    after = handheld.scan(MILK_13)["basket"]
    assert after["item_count"] == before["item_count"] + 1
    assert after["total_cents"] == before["total_cents"] + MILK_ITEM.price_cents


@pytest.mark.parametrize(
    "frame", ["{not json", "[1, 2]", '"scan"', "null", "[" * 5000 + "]" * 5000, "{}", ""]
)
def test_malformed_frames_are_bad_messages(handheld: Handheld, frame: str) -> None:
    handheld.ws.send_text(frame)
    reply = handheld.ws.receive_json()
    assert reply["type"] == "error" and reply["code"] == "bad_message"
    assert "id" not in reply
    assert handheld.start()["type"] == "basket"


def test_binary_frames_close_the_socket(handheld: Handheld) -> None:
    handheld.ws.send_bytes(b'{"type":"start"}')
    with pytest.raises(WebSocketDisconnect) as closed:
        handheld.ws.receive_json()
    assert closed.value.code == 1003


def test_frames_over_64_kib_close_the_socket(handheld: Handheld) -> None:
    frame = json.dumps({"type": "scan", "id": "x", "code": COFFEE_13, "pad": "x" * 66_000})
    handheld.ws.send_text(frame)
    with pytest.raises(WebSocketDisconnect) as closed:
        handheld.ws.receive_json()
    assert closed.value.code == 1009


def test_a_frame_of_exactly_64_kib_is_answered(handheld: Handheld) -> None:
    base = json.dumps({"type": "start", "id": "big", "loyalty_card": "42", "pad": ""})
    frame = base[:-2] + "x" * (65536 - len(base)) + '"}'
    assert len(frame.encode()) == 65536
    handheld.ws.send_text(frame)
    assert handheld.ws.receive_json()["type"] == "basket"


def test_scan_without_basket(handheld: Handheld) -> None:
    assert handheld.scan(COFFEE_13)["code"] == "no_basket"
    assert handheld.finish()["code"] == "no_basket"
    assert handheld.remove(COFFEE_13)["code"] == "no_basket"


def test_finish_locks_the_basket(handheld: Handheld) -> None:
    handheld.start()
    handheld.scan(COFFEE_13, qty=2)
    checkout = handheld.finish(id="f1")
    assert checkout["type"] == "checkout" and checkout["id"] == "f1"
    assert checkout["basket"]["status"] in ("finishing", "audit")
    assert checkout["audit"]["decision"] in ("none", "partial", "full")
    assert set(checkout["audit"]["rescan"]) <= {COFFEE_ITEM.gtin}
    assert handheld.scan(COFFEE_13)["code"] == "basket_locked"
    assert handheld.remove(COFFEE_13)["code"] == "basket_locked"
    assert handheld.finish()["code"] == "basket_locked"
    assert handheld.start()["code"] == "basket_locked"
    assert handheld.finish(id="f1") == checkout  # the replay of the finish itself


def test_replayed_requests_get_the_same_reply_and_change_nothing(handheld: Handheld) -> None:
    handheld.start(id="s1")
    first = handheld.scan(COFFEE_13, id="scan-1")
    handheld.scan(MILK_13, id="scan-2")
    again = handheld.scan(COFFEE_13, id="scan-1")
    assert again == first
    assert handheld.remove(COFFEE_13, id="scan-1") == first  # the id decides, not the content
    state = handheld.start(id="s2")["basket"]
    assert state["item_count"] == 2


def test_reconnect_gets_the_open_basket_and_replays_across_connections(
    client: TestClient, setup: dict[str, str]
) -> None:
    with client.websocket_connect("/ws/handheld") as ws:
        hh = Handheld(ws)
        hh.hello("H-1", setup["H-1"])
        hh.start()
        ack = hh.scan(COFFEE_13, id="once")
    with client.websocket_connect("/ws/handheld") as ws:
        hh = Handheld(ws)
        welcome = hh.hello("H-1", setup["H-1"])
        assert welcome["basket"]["basket_id"] == ack["basket"]["basket_id"]
        assert welcome["basket"]["item_count"] == 1
        assert hh.scan(COFFEE_13, id="once") == ack
        assert hh.start()["basket"]["item_count"] == 1


def test_another_card_does_not_get_the_basket_a_shopper_left_open(
    client: TestClient, setup: dict[str, str], engine: Engine
) -> None:
    """A shopper put the device back without finishing; the next one unlocks it with
    their own card and starts from an empty basket, not paying for the first one's
    items. The left basket is abandoned, as an expired one is, and the consoles hear so."""
    with client.websocket_connect("/ws/handheld") as ws, collect(client, "baskets") as events:
        hh = Handheld(ws)
        hh.hello("H-1", setup["H-1"])
        left = hh.start(card="111")["basket"]["basket_id"]
        hh.scan(COFFEE_13)
        assert hh.start(card="111")["basket"]["basket_id"] == left  # the same shopper
        fresh = hh.start(card="222")["basket"]
        assert fresh["basket_id"] != left and fresh["lines"] == []
        wait_for(lambda: any(e["event"] == "basket.abandoned" for e in events))
        abandoned = [e for e in events if e["event"] == "basket.abandoned"]
        assert abandoned == [
            {"event": "basket.abandoned", "basket_id": left, "store_id": ANY, "status": "abandoned"}
        ]
        assert hh.scan(MILK_13)["basket"]["item_count"] == 1
        assert hh.start(card="222")["basket"]["basket_id"] == fresh["basket_id"]
    with client.websocket_connect("/ws/handheld") as ws:
        welcome = Handheld(ws).hello("H-1", setup["H-1"])
        assert welcome["basket"]["basket_id"] == fresh["basket_id"]
    with Session(engine) as session:
        statuses = {b.id: b.status for b in session.exec(select(Basket)).all()}
    assert statuses == {left: "abandoned", fresh["basket_id"]: "open"}


def test_a_device_never_sees_another_devices_basket(
    client: TestClient, setup: dict[str, str]
) -> None:
    with client.websocket_connect("/ws/handheld") as ws:
        one = Handheld(ws)
        one.hello("H-1", setup["H-1"])
        one.start(card="111")
        one.scan(COFFEE_13, id="shared-id")
        with client.websocket_connect("/ws/handheld") as ws2:
            two = Handheld(ws2)
            assert two.hello("H-2", setup["H-2"])["basket"] is None
            # the same request id from another device is another request
            assert two.scan(COFFEE_13, id="shared-id")["code"] == "no_basket"
            basket = two.start(card="222")["basket"]
            assert basket["lines"] == []
            assert basket["basket_id"] != one.start()["basket"]["basket_id"]


def test_promotions_show_as_labelled_discounts(engine: Engine, handheld: Handheld) -> None:
    add_promotions(
        engine,
        [
            {
                "id": "P-3FOR2",
                "label": "Coffee 3 for 2",
                "kind": "multi_buy",
                "gtins": [COFFEE_ITEM.gtin],
                "buy_qty": 3,
                "pay_qty": 2,
            }
        ],
    )
    handheld.start()
    basket = handheld.scan(COFFEE_13, qty=3)["basket"]
    assert basket["discounts"] == [{"label": "Coffee 3 for 2", "amount_cents": 349}]
    assert basket["total_cents"] == 2 * 349


def test_rate_limit_per_device(db_url: str, setup: dict[str, str]) -> None:
    app = create_app(
        Settings(
            database_url=db_url, environment="test", rate_limit_per_second=0.001, rate_limit_burst=3
        )
    )
    with TestClient(app) as test_client, test_client.websocket_connect("/ws/handheld") as ws:
        hh = Handheld(ws)
        hh.hello("H-1", setup["H-1"])
        replies = [hh.start()["type"] for _ in range(5)]
    assert replies[:3] == ["basket"] * 3
    assert all(r == "error" for r in replies[3:])


def test_scheduled_price_changes_do_not_touch_charged_lines(
    engine: Engine, handheld: Handheld
) -> None:
    change_at = utcnow() + timedelta(seconds=1)
    with session_scope(engine) as session:  # scheduled before the trip starts
        session.add(ProductPrice(gtin=COFFEE_ITEM.gtin, price_cents=399, effective_from=change_at))
        session.add(
            ProductPrice(
                gtin=MILK_ITEM.gtin, price_cents=1, effective_from=utcnow() + timedelta(days=1)
            )
        )
    handheld.start()
    first = handheld.scan(COFFEE_13)["line"]
    assert first["unit_price_cents"] == 349
    while utcnow() <= change_at:  # wait for the instant of the change, however long it takes
        time.sleep(0.05)
    basket = handheld.scan(COFFEE_13)["basket"]
    prices = sorted((line["unit_price_cents"], line["qty"]) for line in basket["lines"])
    assert prices == [(349, 1), (399, 1)]  # the first line keeps the price it was charged
    assert handheld.scan(MILK_13)["line"]["unit_price_cents"] == MILK_ITEM.price_cents


def test_unknown_fields_are_ignored(handheld: Handheld) -> None:
    reply = handheld.request("start", loyalty_card="9", colour="blue", nested={"a": [1]})
    assert reply["type"] == "basket"
    ack = handheld.send({"type": "scan", "id": str(uuid.uuid4()), "code": COFFEE_13, "x": 1})
    assert ack["type"] == "ack"


@pytest.mark.parametrize(
    "code",
    [
        "9" * 500,
        "x" * 500,
        "(01)" + "9" * 500,
        "https://id.gs1.org/01/" + "9" * 480,
        "]C1" + "01" + "9" * 500,
    ],
)
def test_a_long_code_is_named_not_echoed(handheld: Handheld, code: str) -> None:
    """A code may be up to 512 characters (GS1 element strings, Digital Link URLs): the
    error explains a bad one in a line, without sending it all back to the device."""
    handheld.start()
    reply = handheld.scan(code)
    assert reply["code"] == "invalid_code", reply["code"]
    assert len(reply["message"]) < 300, reply["message"][:300]
