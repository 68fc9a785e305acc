"""One populated store for the security tests: accounts of every role in two stores,
shopper and staff-mode handhelds, a POS till, a basket waiting at the exit, and every
kind of credential the server accepts — including ones that must no longer work."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from store_server.app import create_app
from store_server.config import Settings
from store_server.db import make_engine, session_scope
from store_server.devices.service import enroll
from tests.accounts import login, make_user
from tests.servers import caddie
from tests.store_server.checkout.conftest import TEST_POLICY
from tests.store_server.factories import COFFEE_ITEM, MILK_ITEM, add_products, enroll_devices
from tests.store_server.wsclient import Handheld

COFFEE, MILK = COFFEE_ITEM.gtin, MILK_ITEM.gtin
# Accounts: username -> (role, store). "kiosk" exists only to be logged into by the matrix.
ACCOUNTS: dict[str, tuple[str, str | None]] = {
    "alice": ("staff", "store-1"),
    "bob": ("staff", "store-2"),
    "olga": ("operator", None),
    "root": ("admin", None),
    "gone": ("admin", None),
    "kiosk": ("staff", "store-1"),
}


@dataclass(frozen=True)
class Credential:
    """How one kind of caller presents itself: HTTP headers (bearer and both session
    cookies, since every place that reads a token in any form must refuse a wrong one)
    and, for the handheld socket, the ``hello`` it would send."""

    name: str
    token: str | None = None
    device_id: str | None = None

    def headers(self) -> dict[str, str]:
        if self.token is None:
            return {}
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Cookie": f"caddie_session={self.token}; caddie_screen={self.token}",
        }
        if self.device_id:
            headers["X-Caddie-Device"] = self.device_id
        return headers

    def hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "protocol": 1,
            "device_id": self.device_id or "H-1",
            "token": self.token or "",
        }


@dataclass
class World:
    client: TestClient
    database_url: str
    credentials: dict[str, Credential]
    basket_id: str
    handoff_code: str = "NOPE"
    screen_ids: list[str] = field(default_factory=list)

    def login(self, username: str) -> str:
        return login(self.client, username)


def has_mount(app: FastAPI, prefix: str) -> bool:
    return any(isinstance(r, Mount) and r.path == prefix for r in app.routes)


def endpoints(app: Any, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(method, path, route) for every endpoint the app serves, mounted apps included;
    a WebSocket route has method ``WS`` and a static-files mount ``GET {prefix}/{path}``."""
    for context in iter_route_contexts(app.routes):
        route = context.route
        if isinstance(route, Mount):
            inner = route.app
            if hasattr(inner, "routes"):
                yield from endpoints(inner, prefix + route.path)
            else:
                yield "GET", prefix + route.path + "/{path}", route
            continue
        path = prefix + context.path
        methods = getattr(context, "methods", None) or getattr(route, "methods", None)
        if methods is None:
            yield "WS", path, route
            continue
        for method in sorted(set(methods) - {"HEAD"}):
            yield method, path, route


def settings_for(database_url: str, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url, environment="test", audit_policy=TEST_POLICY, **extra
    )


def fresh_database(template: Path, folder: Path) -> str:
    path = folder / f"caddie-{uuid.uuid4().hex[:8]}.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


def populate(database_url: str) -> dict[str, str]:
    """Rows every security test starts from; returns the device tokens."""
    engine = make_engine(database_url)
    try:
        add_products(engine)
        for username, (role, store) in ACCOUNTS.items():
            make_user(engine, username, role, store)
        tokens = enroll_devices(engine, "H-1", "H-2", "VICTIM")
        tokens |= enroll_devices(engine, "OTHER-1", store_id="store-2")
        with session_scope(engine) as session:
            for staff_device in ("STAFF-H", "STAFF-OLD"):
                tokens |= dict(enroll(session, [staff_device], store_id="store-1", staff_mode=True))
            # Re-enrolling revokes the token issued above: keep the old one as a credential.
            tokens["STAFF-OLD:revoked"] = tokens["STAFF-OLD"]
            reissued = enroll(session, ["STAFF-OLD"], store_id="store-1", staff_mode=True)
            tokens["STAFF-OLD"] = reissued[0][1]
    finally:
        engine.dispose()
    return tokens


def enroll_screens(database_url: str, *screen_ids: str) -> dict[str, str]:
    """Through the CLI of PROTOCOL.md, the one stable way to make a screen token."""
    done = caddie("screen", "enroll", *screen_ids, "--database-url", database_url)
    assert done.returncode == 0, done.stderr
    return dict(line.split("\t", 1) for line in done.stdout.strip().splitlines())


@contextmanager
def running_world(database_url: str, app: FastAPI | None = None) -> Iterator[World]:
    """The app on a populated database, a finished first trip (so an audit waits at the
    exit), a POS till, and one credential per kind of caller. ``app``, when given, must
    have been created for ``database_url`` and not started yet."""
    tokens = populate(database_url)
    app = app or create_app(settings_for(database_url))
    with TestClient(app, follow_redirects=False) as client:
        world = World(client, database_url, {}, basket_id="")
        with client.websocket_connect("/ws/handheld") as ws:
            hh = Handheld(ws)
            assert hh.hello("H-1", tokens["H-1"])["type"] == "welcome"
            assert hh.start("CARD-1")["type"] == "basket"
            assert hh.scan(COFFEE)["type"] == "ack"
            assert hh.scan(MILK)["type"] == "ack"
            checkout = hh.finish()
            assert checkout["type"] == "checkout", checkout
        world.basket_id = checkout["basket"]["basket_id"]
        root = world.login("root")
        pos = client.post(
            "/api/checkout/pos-terminals",
            json={"terminal_id": "POS-1", "store_id": "store-1"},
            headers={"Authorization": f"Bearer {root}"},
        )
        assert pos.status_code == 201, pos.text
        gone = world.login("gone")
        assert (
            client.post("/api/auth/logout", headers={"Authorization": f"Bearer {gone}"})
        ).status_code == 204
        creds = [
            Credential("anonymous"),
            Credential("shopper", tokens["H-1"], "H-1"),
            Credential("device", tokens["STAFF-H"], "STAFF-H"),
            Credential("pos", pos.json()["token"]),
            Credential("staff", world.login("alice")),
            Credential("other_store", world.login("bob")),
            Credential("operator", world.login("olga")),
            Credential("admin", root),
            Credential("revoked_session", gone),
            Credential("revoked_device", tokens["STAFF-OLD:revoked"], "STAFF-OLD"),
        ]
        if has_mount(app, "/signage"):
            screens = enroll_screens(database_url, "S-1", "S-2")
            world.screen_ids = ["S-1", "S-2"]
            creds.append(Credential("screen", screens["S-1"]))
        world.credentials = {c.name: c for c in creds}
        yield world
