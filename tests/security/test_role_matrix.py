"""Every endpoint of the running app against every kind of caller.

The endpoints come from the app itself (``app.routes``, included routers, mounted
apps, WebSocket routes and static mounts), so a new endpoint cannot slip past: it
fails ``test_endpoint_is_in_the_policy_table`` until its row is added to POLICY below.

A caller is *refused* when the server answers 401/403, redirects to a login page,
or closes a socket with 4401/4403; anything else (200, 404, 409, 422...) means it got
past authorisation. No answer may be a 5xx.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from store_server.app import create_app
from tests.accounts import PASSWORD
from tests.csrf import csrf_headers
from tests.security.world import (
    COFFEE,
    Credential,
    World,
    endpoints,
    has_mount,
    running_world,
    settings_for,
)

ANONYMOUS = "anonymous"
SHOPPER = "shopper"  # a shopper handheld's device token: the only shopper credential there is
DEVICE = "device"  # a staff-mode handheld's device token
POS = "pos"
SCREEN = "screen"
STAFF = "staff"  # staff of store-1, where the basket under test lives
OTHER_STORE = "other_store"  # staff of store-2
OPERATOR = "operator"
ADMIN = "admin"
REVOKED_SESSION = "revoked_session"  # an admin's token after logout
REVOKED_DEVICE = "revoked_device"  # a staff-mode handheld's token before re-enrolment

ALL = frozenset(
    {
        ANONYMOUS,
        SHOPPER,
        DEVICE,
        POS,
        SCREEN,
        STAFF,
        OTHER_STORE,
        OPERATOR,
        ADMIN,
        REVOKED_SESSION,
        REVOKED_DEVICE,
    }
)
PUBLIC = ALL
LOGGED_IN = frozenset({STAFF, OTHER_STORE, OPERATOR, ADMIN})
ANY_STAFF = frozenset({STAFF, OTHER_STORE, ADMIN})  # store-wide data (catalog, own queue)
STORE_1_STAFF = frozenset({STAFF, ADMIN})  # the store-1 basket
OPERATORS = frozenset({OPERATOR, ADMIN})
ADMIN_ONLY = frozenset({ADMIN})
K_PATH = {"campaign_id:path": "K-MATRIX"}  # a campaign id may hold slashes: a path parameter
SESSION_USERS = {STAFF: "alice", OTHER_STORE: "bob", OPERATOR: "olga", ADMIN: "root"}


@dataclass(frozen=True)
class Rule:
    """Who may call one endpoint, and a request shaped well enough to reach its logic."""

    allowed: frozenset[str]
    json: Any = None
    form: dict[str, str] | None = None
    params: dict[str, str] = field(default_factory=dict)  # path parameters
    consumes_credential: bool = False  # logout: each caller gets a fresh session
    redirect_is_answer: bool = False  # a page that always redirects, to anyone
    # the page a browser posts the form from (default: the form's own URL); a page that
    # sends strangers to the login gives them the login page's CSRF token instead
    form_page: str | None = None


PRODUCT = {
    "name": "Ground coffee 250 g",
    "category": "coffee",
    "price_cents": 349,
    "tax_rate": "0.055",
}
PROMOTION = {"label": "Milk 10%", "kind": "percent_off", "gtins": [COFFEE], "percent": "10"}

POLICY: dict[tuple[str, str], Rule] = {
    # --- public: documentation, health, logins, static files ---------------------------
    ("GET", "/openapi.json"): Rule(PUBLIC),
    ("GET", "/docs"): Rule(PUBLIC),
    ("GET", "/redoc"): Rule(PUBLIC),
    ("GET", "/healthz"): Rule(PUBLIC),
    ("GET", "/readyz"): Rule(PUBLIC),
    ("POST", "/api/auth/login"): Rule(PUBLIC, json={"username": "kiosk", "password": PASSWORD}),
    ("GET", "/staff/login"): Rule(PUBLIC),
    ("POST", "/staff/login"): Rule(PUBLIC, form={"username": "kiosk", "password": PASSWORD}),
    ("POST", "/staff/logout"): Rule(PUBLIC, consumes_credential=True, redirect_is_answer=True),
    ("GET", "/static/checkout/{path}"): Rule(PUBLIC, params={"path": "console.css"}),
    ("GET", "/static/docs/{path}"): Rule(PUBLIC, params={"path": "swagger-ui.css"}),
    ("GET", "/"): Rule(PUBLIC),
    ("GET", "/static/site/{path}"): Rule(PUBLIC, params={"path": "site.css"}),
    ("GET", "/signage/"): Rule(PUBLIC),
    # --- any logged-in person -----------------------------------------------------------
    ("POST", "/api/auth/logout"): Rule(LOGGED_IN, consumes_credential=True),
    ("GET", "/api/auth/me"): Rule(LOGGED_IN),
    # --- catalog and promotions: staff read, admin writes ---------------------------------
    ("GET", "/api/catalog/products"): Rule(ANY_STAFF),
    ("GET", "/api/catalog/products/{gtin}"): Rule(ANY_STAFF),
    ("PUT", "/api/catalog/products/{gtin}"): Rule(ADMIN_ONLY, json=PRODUCT),
    ("POST", "/api/catalog/import"): Rule(ADMIN_ONLY),
    ("GET", "/api/promotions"): Rule(ANY_STAFF),
    ("PUT", "/api/promotions/{promotion_id}"): Rule(ADMIN_ONLY, json=PROMOTION),
    ("DELETE", "/api/promotions/{promotion_id}"): Rule(ADMIN_ONLY),
    ("POST", "/api/promotions/import"): Rule(ADMIN_ONLY),
    # --- monitoring: admin (and Prometheus with CADDIE_METRICS_TOKEN, not a role) --------
    ("GET", "/metrics"): Rule(ADMIN_ONLY),
    # --- devices and tills: admin ---------------------------------------------------------
    ("POST", "/api/devices"): Rule(ADMIN_ONLY, json={"device_ids": ["MATRIX-NEW"]}),
    ("DELETE", "/api/devices/{device_id}"): Rule(ADMIN_ONLY),
    ("POST", "/api/checkout/pos-terminals"): Rule(
        ADMIN_ONLY, json={"terminal_id": "POS-MATRIX", "store_id": "store-1"}
    ),
    ("GET", "/api/checkout/stores/{store_id}/audit-policy"): Rule(ADMIN_ONLY),
    ("PUT", "/api/checkout/stores/{store_id}/audit-policy"): Rule(ADMIN_ONLY, json={"policy": {}}),
    # --- handhelds --------------------------------------------------------------------
    ("WS", "/ws/handheld"): Rule(frozenset({SHOPPER, DEVICE})),
    ("POST", "/api/checkout/handheld/rescan"): Rule(
        frozenset({DEVICE}), json={"basket_id": "{basket_id}", "code": COFFEE}
    ),
    # --- the exit: staff of the basket's store ----------------------------------------------
    ("GET", "/api/checkout/baskets"): Rule(ANY_STAFF),
    ("WS", "/ws/staff"): Rule(ANY_STAFF),
    ("GET", "/staff"): Rule(ANY_STAFF),
    ("GET", "/staff/history"): Rule(ANY_STAFF),
    ("POST", "/staff/history"): Rule(
        ANY_STAFF,
        form={"loyalty_card": "CARD-1", "reason": "the matrix asks"},
        form_page="/staff/login",
    ),
    ("GET", "/api/checkout/figures"): Rule(ANY_STAFF),
    ("GET", "/api/checkout/history"): Rule(ANY_STAFF),
    ("POST", "/api/checkout/history/by-card"): Rule(
        ANY_STAFF, json={"loyalty_card": "CARD-1", "reason": "the matrix asks"}
    ),
    ("GET", "/api/checkout/baskets/{basket_id}"): Rule(STORE_1_STAFF),
    ("POST", "/api/checkout/baskets/{basket_id}/rescan"): Rule(STORE_1_STAFF, json={"code": "1"}),
    ("POST", "/api/checkout/baskets/{basket_id}/lines"): Rule(
        STORE_1_STAFF, json={"code": "1", "reason": "staff_error"}
    ),
    ("POST", "/api/checkout/baskets/{basket_id}/lines/{line_id}/remove"): Rule(
        STORE_1_STAFF, json={"reason": "staff_error"}
    ),
    ("POST", "/api/checkout/baskets/{basket_id}/extras/{scan_id}/resolve"): Rule(
        STORE_1_STAFF, json={"resolution": "staff_error"}
    ),
    ("POST", "/api/checkout/baskets/{basket_id}/age-approval"): Rule(STORE_1_STAFF, json={}),
    ("POST", "/api/checkout/baskets/{basket_id}/release"): Rule(STORE_1_STAFF),
    ("POST", "/api/checkout/baskets/{basket_id}/manual-payment"): Rule(
        STORE_1_STAFF, json={"method": "cash", "reference": "C-1", "amount_cents": 1}
    ),
    ("GET", "/api/checkout/baskets/{basket_id}/receipt.txt"): Rule(STORE_1_STAFF),
    ("GET", "/staff/baskets/{basket_id}"): Rule(STORE_1_STAFF),
    ("GET", "/staff/baskets/{basket_id}/panel"): Rule(STORE_1_STAFF),
    ("GET", "/staff/baskets/{basket_id}/receipt"): Rule(STORE_1_STAFF),
    # --- the till ---------------------------------------------------------------------------
    ("GET", "/api/pos/handoffs/{code}"): Rule(frozenset({POS})),
    ("POST", "/api/pos/handoffs/{code}/paid"): Rule(
        frozenset({POS}), json={"payment_reference": "R-1", "amount_cents": 1}
    ),
    # --- the shopper app: codes and tickets are the credentials; trips need a device ---------
    ("POST", "/api/shop/pair"): Rule(PUBLIC, json={"code": "no-such-code"}),
    ("POST", "/api/shop/join"): Rule(PUBLIC, json={"ticket": "x.y", "loyalty_card": "C-1"}),
    ("GET", "/shop/join"): Rule(PUBLIC),
    ("GET", "/shop/receipt/{token}"): Rule(PUBLIC, params={"token": "x.y"}),
    ("GET", "/shop/receipt/{token}/receipt.txt"): Rule(PUBLIC, params={"token": "x.y"}),
    ("GET", "/shop/server.css"): Rule(PUBLIC),
    ("GET", "/api/shop/trip"): Rule(frozenset({SHOPPER})),
    ("GET", "/shop/entrance"): Rule(ANY_STAFF),
    # --- the manager console: managers of the store and admins (no manager in this world) --
    ("GET", "/manager/login"): Rule(PUBLIC),
    ("POST", "/manager/login"): Rule(PUBLIC, form={"username": "root", "password": PASSWORD}),
    ("POST", "/manager/logout"): Rule(PUBLIC, consumes_credential=True, redirect_is_answer=True),
    ("GET", "/static/manager/{path}"): Rule(PUBLIC, params={"path": "manager.css"}),
    ("GET", "/manager"): Rule(ADMIN_ONLY),
    ("GET", "/manager/loss"): Rule(ADMIN_ONLY),
    ("GET", "/manager/quality"): Rule(ADMIN_ONLY),
    ("GET", "/manager/policy"): Rule(ADMIN_ONLY),
    ("GET", "/manager/csv/{table}"): Rule(ADMIN_ONLY, params={"table": "figures"}),
    ("POST", "/manager/policy/apply"): Rule(
        ADMIN_ONLY, form={"settings": "{}", "reason": "the matrix asks"}, form_page="/manager/login"
    ),
    ("POST", "/manager/policy/rollback"): Rule(
        ADMIN_ONLY, form={"version": "1", "reason": "the matrix asks"}, form_page="/manager/login"
    ),
    ("POST", "/manager/pos-totals/import"): Rule(ADMIN_ONLY, form_page="/manager/login"),
    ("POST", "/api/manager/pos-totals"): Rule(
        frozenset({POS, ADMIN}), json={"day": "2026-03-02", "sales_cents": 1}
    ),
    # the app shell and its files: public; the device token lives in the page, not a cookie
    ("GET", "/shop"): Rule(PUBLIC),
    ("GET", "/shop/pair"): Rule(PUBLIC),
    ("GET", "/shop/sw.js"): Rule(PUBLIC),
    ("GET", "/shop/static/{path}"): Rule(PUBLIC, params={"path": "shop.css"}),
    # --- signage (mounted at /signage) --------------------------------------------------------
    ("GET", "/signage/screens/{screen_id}/loop"): Rule(frozenset({SCREEN}) | OPERATORS),
    ("POST", "/signage/proof-of-play"): Rule(frozenset({SCREEN}), json={"plays": []}),
    ("GET", "/signage/screens/{screen_id}/play"): Rule(frozenset({SCREEN})),
    # The credential is the body's token (a pairing link's fragment), whatever the headers
    # say: a wrong one lets nobody through (the pairing itself: test_signage_browser.py).
    ("POST", "/signage/screens/{screen_id}/pair"): Rule(
        frozenset(), json={"token": "not-a-screen-token"}
    ),
    ("GET", "/signage/player-sw.js"): Rule(PUBLIC),
    ("GET", "/signage/media/{file_name}"): Rule(PUBLIC, params={"file_name": "none.png"}),
    ("GET", "/signage/static/{path}"): Rule(PUBLIC, params={"path": "player.js"}),
    ("GET", "/signage/openapi.json"): Rule(PUBLIC),
    ("GET", "/signage/docs"): Rule(PUBLIC),
    ("GET", "/static/docs-init/{path}"): Rule(PUBLIC, params={"path": "swagger-init.js"}),
    ("GET", "/signage/static/docs/{path}"): Rule(PUBLIC, params={"path": "swagger-ui.css"}),
    ("GET", "/signage/static/docs-init/{path}"): Rule(PUBLIC, params={"path": "swagger-init.js"}),
    ("POST", "/signage/console/logout"): Rule(
        PUBLIC, consumes_credential=True, redirect_is_answer=True
    ),
    ("GET", "/signage/redoc"): Rule(PUBLIC),
    ("GET", "/signage/console/login"): Rule(PUBLIC),
    ("POST", "/signage/console/login"): Rule(
        PUBLIC, form={"username": "olga", "password": PASSWORD}
    ),
    ("GET", "/signage/console"): Rule(OPERATORS),
    ("GET", "/signage/console/creatives"): Rule(OPERATORS),
    ("GET", "/signage/console/campaigns"): Rule(OPERATORS),
    ("GET", "/signage/console/screens/{screen_id}/timeline"): Rule(OPERATORS),
    ("GET", "/signage/console/reports"): Rule(OPERATORS),
    ("GET", "/signage/console/attribution"): Rule(OPERATORS),
    ("GET", "/signage/api/screens"): Rule(OPERATORS),
    ("GET", "/signage/api/creatives"): Rule(OPERATORS),
    ("POST", "/signage/api/creatives"): Rule(OPERATORS),
    ("GET", "/signage/api/availability"): Rule(OPERATORS),
    ("GET", "/signage/api/campaigns"): Rule(OPERATORS),
    ("POST", "/signage/api/campaigns"): Rule(OPERATORS, json={}),
    ("GET", "/signage/api/screens/{screen_id}/timeline"): Rule(OPERATORS),
    ("GET", "/signage/api/reports"): Rule(OPERATORS),
    ("GET", "/signage/api/reports.csv"): Rule(OPERATORS),
    ("GET", "/signage/api/attribution/{campaign_id}.json"): Rule(OPERATORS),
    ("GET", "/signage/api/attribution/{campaign_id}.csv"): Rule(OPERATORS),
    ("GET", "/signage/api/attribution/{campaign_id}/series.csv"): Rule(OPERATORS),
    # --- the mall operator's console: life cycle, approval, health, calendar, users -----------
    ("GET", "/signage/api/campaigns/{campaign_id:path}/history"): Rule(OPERATORS, params=K_PATH),
    ("POST", "/signage/api/campaigns/{campaign_id:path}/flight"): Rule(
        OPERATORS, params=K_PATH, json={"end": "2026-12-31"}
    ),
    ("POST", "/signage/api/campaigns/{campaign_id:path}/pause"): Rule(OPERATORS, params=K_PATH),
    ("POST", "/signage/api/campaigns/{campaign_id:path}/resume"): Rule(OPERATORS, params=K_PATH),
    ("POST", "/signage/api/campaigns/{campaign_id:path}/cancel"): Rule(OPERATORS, params=K_PATH),
    ("GET", "/signage/api/campaigns/{campaign_id:path}"): Rule(OPERATORS, params=K_PATH),
    ("PATCH", "/signage/api/campaigns/{campaign_id:path}"): Rule(
        OPERATORS, params=K_PATH, json={"category": "tea"}
    ),
    ("POST", "/signage/api/creatives/{creative_id:path}/approve"): Rule(
        OPERATORS, params={"creative_id:path": "CR-MATRIX"}
    ),
    ("POST", "/signage/api/creatives/{creative_id:path}/refuse"): Rule(
        OPERATORS, params={"creative_id:path": "CR-MATRIX"}, json={"reason": "no"}
    ),
    ("POST", "/signage/screens/{screen_id}/status"): Rule(
        frozenset({SCREEN}),
        json={
            "player_version": "1",
            "loop_in_step": True,
            "cached_creatives": 0,
            "missing_creatives": 0,
        },
    ),
    ("POST", "/signage/screens/{screen_id}/screenshot"): Rule(frozenset({SCREEN})),
    ("GET", "/signage/api/screens/health"): Rule(OPERATORS),
    ("GET", "/signage/api/screens/{screen_id}/screenshot.jpg"): Rule(OPERATORS),
    ("GET", "/signage/api/calendar"): Rule(OPERATORS),
    ("GET", "/signage/api/users"): Rule(ADMIN_ONLY),
    ("POST", "/signage/api/users"): Rule(
        ADMIN_ONLY, json={"username": "matrix", "password": "long enough", "role": "staff"}
    ),
    ("POST", "/signage/api/users/{username}/{action}"): Rule(
        ADMIN_ONLY, params={"username": "nobody", "action": "disable"}
    ),
    ("GET", "/signage/console/campaigns/{campaign_id:path}"): Rule(OPERATORS, params=K_PATH),
    ("GET", "/signage/console/calendar"): Rule(OPERATORS),
    ("GET", "/signage/console/users"): Rule(ADMIN_ONLY),
    ("GET", "/signage/console/reports/advertiser"): Rule(OPERATORS),
}

# Path parameters that make an allowed caller reach the endpoint's own logic; the device
# being deleted and the promotion being replaced are not ones any credential relies on.
DEFAULT_PARAMS = {
    "gtin": COFFEE,
    "promotion_id": "P-MATRIX",
    "device_id": "VICTIM",
    "store_id": "store-1",
    "line_id": "1",
    "scan_id": "1",
    "code": "NO-SUCH-HANDOFF",
    "screen_id": "S-1",
    "campaign_id": "K-MATRIX",
}


def _app_endpoints() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(settings_for(f"sqlite:///{Path(folder) / 'unused.db'}"))
        return sorted({(method, path) for method, path, _ in endpoints(app)})


APP_ENDPOINTS = _app_endpoints()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[World]:
    from tests.security.world import fresh_database

    url = fresh_database(sqlite_template, tmp_path_factory.mktemp("matrix"))
    with running_world(url) as populated:
        yield populated


def test_the_app_has_endpoints_to_check() -> None:
    """Guards the discovery itself: routers, sockets and static mounts are all found."""
    found = set(APP_ENDPOINTS)
    assert ("WS", "/ws/handheld") in found and ("WS", "/ws/staff") in found
    assert ("GET", "/static/checkout/{path}") in found
    assert ("POST", "/api/checkout/baskets/{basket_id}/rescan") in found


@pytest.mark.parametrize("method, path", APP_ENDPOINTS, ids=[f"{m} {p}" for m, p in APP_ENDPOINTS])
def test_endpoint_is_in_the_policy_table(method: str, path: str) -> None:
    if (method, path) not in POLICY:
        pytest.fail(
            f"{method} {path} is not in the role matrix: add a row for it to POLICY in "
            f"{Path(__file__).relative_to(Path(__file__).parents[2])} saying which callers "
            "may use it (and a request body that reaches its logic)"
        )


def test_policy_table_has_no_stale_rows() -> None:
    """A renamed endpoint must not leave its old rule behind, untested. Signage rows wait
    for the signage app to be mounted."""
    with tempfile.TemporaryDirectory() as folder:
        signage = has_mount(create_app(settings_for(f"sqlite:///{folder}/x.db")), "/signage")
    stale = [
        f"{m} {p}"
        for m, p in POLICY
        if (m, p) not in APP_ENDPOINTS and (signage or not p.startswith("/signage"))
    ]
    assert not stale, f"rows for endpoints the app no longer has: {stale}"


def _fill(template: str, world: World, rule: Rule) -> str:
    values = {**DEFAULT_PARAMS, "basket_id": world.basket_id, **rule.params}
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    assert "{" not in template, f"no value for a path parameter of {template}"
    return template


def _fresh(world: World, credential: Credential) -> Credential:
    """A session of its own for an endpoint that ends it."""
    if credential.name in SESSION_USERS:
        return Credential(credential.name, world.login(SESSION_USERS[credential.name]))
    return credential


def _http_refused(world: World, method: str, path: str, rule: Rule, cred: Credential) -> bool:
    url = _fill(path, world, rule)
    body: dict[str, Any] = {}
    if rule.json is not None:
        body["json"] = {
            k: (_fill(v, world, rule) if isinstance(v, str) else v) for k, v in rule.json.items()
        }
    headers = cred.headers()
    if rule.form is not None:
        body["data"] = rule.form
        if "Authorization" not in headers:  # a browser: the form's page gives the token
            headers = {**headers, **csrf_headers(world.client, rule.form_page or url)}
    reply = world.client.request(method, url, headers=headers, **body)
    world.client.cookies.clear()
    assert reply.status_code < 500, f"{cred.name}: {method} {url} -> {reply.status_code}"
    if reply.status_code in (401, 403):
        return True
    location = reply.headers.get("location", "")
    return reply.is_redirect and "login" in location and not rule.redirect_is_answer


def _handheld_refused(world: World, cred: Credential) -> bool:
    with world.client.websocket_connect("/ws/handheld") as ws:
        ws.send_json(cred.hello())
        reply = ws.receive_json()
        if reply["type"] == "welcome":
            return False
        assert reply["type"] == "error" and reply["code"] == "unauthorized", reply
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
        return True


def _socket_refused(world: World, path: str, cred: Credential) -> bool:
    """A socket that authenticates on connect: refused = an error and a 4401/4403 close."""
    try:
        with world.client.websocket_connect(path, headers=cred.headers()) as ws:
            first = ws.receive_json()
            if first.get("type") != "error":
                return False
            assert first["code"] in ("unauthorized", "forbidden"), first
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code in (4401, 4403)
            return True
    except WebSocketDisconnect as exc:
        assert exc.code in (1008, 4401, 4403), exc
        return True


@pytest.mark.parametrize(
    "method, path",
    [e for e in APP_ENDPOINTS if e in POLICY],
    ids=[f"{m} {p}" for m, p in APP_ENDPOINTS if (m, p) in POLICY],
)
def test_only_the_declared_callers_get_through(world: World, method: str, path: str) -> None:
    rule = POLICY[(method, path)]
    wrong: list[str] = []
    for name, credential in world.credentials.items():
        cred = _fresh(world, credential) if rule.consumes_credential else credential
        if method != "WS":
            refused = _http_refused(world, method, path, rule, cred)
        elif path == "/ws/handheld":
            refused = _handheld_refused(world, cred)
        else:
            refused = _socket_refused(world, path, cred)
        if refused == (name in rule.allowed):
            wrong.append(f"{name} was {'refused' if refused else 'let through'}")
    assert not wrong, f"{method} {path}: " + "; ".join(wrong)


def test_a_revoked_shopper_handheld_is_refused_and_its_replacement_accepted(world: World) -> None:
    """Re-enrolling a shopper handheld revokes the token it had, on the socket too."""
    from store_server.db import make_engine, session_scope
    from store_server.devices.service import enroll

    old = world.credentials[SHOPPER]
    engine = make_engine(world.database_url)
    with session_scope(engine) as session:
        new_token = enroll(session, ["H-2"], store_id="store-1")[0][1]
    with session_scope(engine) as session:
        newer_token = enroll(session, ["H-2"], store_id="store-1")[0][1]
    engine.dispose()
    assert _handheld_refused(world, Credential("old", new_token, "H-2"))
    assert not _handheld_refused(world, Credential("new", newer_token, "H-2"))
    # A token is bound to its own device: H-1's token does not open H-2.
    assert _handheld_refused(world, Credential("swapped", old.token, "H-2"))
