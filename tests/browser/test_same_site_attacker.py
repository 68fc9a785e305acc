"""A page of another origin on the same site (another port of 127.0.0.1) attacks a
logged-in admin's browser against a real ``caddie serve``, in Chromium: every attack the
web security audit reproduced (issue 19, findings 1 and 3) now changes nothing.

``SameSite=Strict`` cookies go with these requests (same site), so before the web
security layer (store_server.websec) each of them succeeded. The same requests, sent as
the consoles' scripts send them, still work: the attacks failed for the right reason."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from store_server.db import make_engine, session_scope
from store_server.devices.service import enroll
from tests.accounts import PASSWORD, make_user
from tests.browser.chromium import chromium_page, screenshot_dir
from tests.servers import ServerProcess, free_port
from tests.signage.test_signage_browser import fast_plan, prepare, write_plan, write_posters
from tests.store_server.factories import COFFEE_ITEM, MILK_ITEM, WINE_ITEM, add_products

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

# A 1x1 PNG: a creative the upload route would take.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
CSV = (
    "gtin,name,category,price_cents,tax_rate,age_restricted,sold_by\n"
    f"{COFFEE_ITEM.gtin},Ground coffee 250 g,coffee,1,0.055,false,unit\n"
)
EVIL_CAMPAIGN = {
    "id": "K-EVIL",
    "advertiser": "Evil",
    "creatives": ["CR-H"],
    "start": "2020-01-01",
    "end": "2099-12-31",
    "priority": "house",
}


def attack_page(target: str, basket_id: str) -> str:
    """The attacker's page: forms and no-cors fetches, as the audit used them."""
    attacks = {
        "target": target,
        "basket": basket_id,
        "line": json.dumps({"code": MILK_ITEM.gtin, "qty": 5, "reason": "shopper_request"}),
        "csv": CSV,
        "pos": json.dumps({"terminal_id": "POS-1"}),
        "campaign": json.dumps(EVIL_CAMPAIGN),
        "pixel": base64.b64encode(PIXEL).decode(),
    }
    return f"""<!doctype html><html><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe><iframe name="sink3"></iframe>
<form id="age" method="post" enctype="text/plain" target="sink1"
      action="{target}/api/checkout/baskets/{basket_id}/age-approval">
  <input name='{{"x":"' value='"}}'></form>
<form id="logout" method="post" target="sink2" action="{target}/staff/logout"></form>
<form id="login" method="post" target="sink3" action="{target}/staff/login">
  <input name="username" value="mallory"><input name="password" value="{PASSWORD}"></form>
<script>
const A = {json.dumps(attacks)};
const done = {{}};
function blind(name, path, body, type) {{
  const init = {{ method: "POST", mode: "no-cors", credentials: "include", body }};
  if (type) init.headers = {{ "Content-Type": type }};
  return fetch(A.target + path, init).then(() => {{ done[name] = "sent"; }},
                                            (e) => {{ done[name] = String(e); }});
}}
function submit(id) {{
  const form = document.getElementById(id);
  const frame = document.querySelector("iframe[name=" + form.target + "]");
  return new Promise((resolve) => {{
    const loaded = () => {{ done[id] = "submitted"; resolve(); }};
    frame.addEventListener("load", loaded, {{ once: true }});
    form.submit();
  }});
}}
(async () => {{
  const bytes = Uint8Array.from(atob(A.pixel), (c) => c.charCodeAt(0));
  const upload = new FormData();
  upload.append("id", "CR-EVIL");
  upload.append("duration_s", "1");
  upload.append("file", new Blob([bytes], {{ type: "image/png" }}), "evil.png");
  await Promise.all([
    blind("line", "/api/checkout/baskets/" + A.basket + "/lines", A.line),
    blind("import", "/api/catalog/import", A.csv, "text/plain"),
    blind("pos", "/api/checkout/pos-terminals", A.pos),
    blind("campaign", "/signage/api/campaigns", A.campaign),
    blind("creative", "/signage/api/creatives", upload),
  ]);
  await submit("age");
  await submit("logout");
  await submit("login");
  document.title = "attacks done";
  document.body.dataset.done = JSON.stringify(done);
}})();
</script></body></html>"""


@contextmanager
def attacker_site(folder: Path, html: str) -> Iterator[str]:
    """The attacker's own web server, on another port of the same host."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "attack.html").write_text(html)
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/attack.html"
    finally:
        server.shutdown()
        server.server_close()


def shop_with_a_finished_basket(db: str, tmp_path: Path) -> str:
    """Accounts, products, a signage plan, and the device token of H-1."""
    plan = write_plan(tmp_path / "plan", fast_plan())
    write_posters(tmp_path / "plan")
    prepare(db, plan, tmp_path / "media-store", ["S-01"])
    engine = make_engine(db)
    try:
        add_products(engine, (COFFEE_ITEM, MILK_ITEM, WINE_ITEM))
        make_user(engine, "root", "admin", None)
        make_user(engine, "mallory", "staff", "store-1")
        with session_scope(engine) as session:
            return enroll(session, ["H-1"], store_id="store-1")[0][1]
    finally:
        engine.dispose()


def finish_a_basket(ws_url: str, device_token: str) -> str:
    from websockets.sync.client import connect

    with connect(ws_url) as ws:

        def ask(message: dict[str, Any]) -> dict[str, Any]:
            ws.send(json.dumps({"id": str(uuid.uuid4()), **message}))
            reply: dict[str, Any] = json.loads(ws.recv(timeout=10))
            return reply

        hello = {"type": "hello", "protocol": 1, "device_id": "H-1", "token": device_token}
        assert ask(hello)["type"] == "welcome"
        ask({"type": "start", "loyalty_card": "CARD-1"})
        assert ask({"type": "scan", "code": WINE_ITEM.gtin[1:]})["type"] == "ack"
        return str(ask({"type": "finish"})["basket"]["basket_id"])


def test_a_same_site_page_on_another_port_changes_nothing(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    db = f"sqlite:///{tmp_path / 'caddie.db'}"
    device_token = shop_with_a_finished_basket(db, tmp_path)
    env = {"CADDIE_MEDIA_DIR": str(tmp_path / "media-store")}
    with ServerProcess(db, env=env, log_path=tmp_path / "server.log") as server:
        api = httpx.Client(base_url=server.url, timeout=15)
        admin_token = api.post("/api/auth/login", json={"username": "root", "password": PASSWORD})
        admin = {"Authorization": f"Bearer {admin_token.json()['token']}"}
        till = api.post("/api/checkout/pos-terminals", json={"terminal_id": "POS-1"}, headers=admin)
        till_auth = {"Authorization": f"Bearer {till.json()['token']}"}
        basket_id = finish_a_basket(server.ws_url, device_token)
        basket_url = f"/api/checkout/baskets/{basket_id}"
        before = api.get(basket_url, headers=admin).json()
        assert before["age_check"] == "needed"

        html = attack_page(server.url, basket_id)
        with attacker_site(tmp_path / "attacker", html) as attack_url, chromium_page() as page:
            page.goto(server.url + "/staff/login")
            page.fill("input[name=username]", "root")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator("#live")).to_have_class("live on")

            attacker = page.context.new_page()
            attacker.goto(attack_url)
            expect(attacker).to_have_title("attacks done")
            sent = json.loads(attacker.locator("body").get_attribute("data-done") or "{}")
            assert set(sent) == {
                "line",
                "import",
                "pos",
                "campaign",
                "creative",
                "age",
                "logout",
                "login",
            }, sent
            attacker.screenshot(path=str(screenshot_dir() / "same-site-attacker.png"))

            # The admin is still logged in as themselves: no forced logout, no login CSRF.
            page.goto(server.url + "/api/auth/me")
            assert json.loads(page.locator("body").inner_text())["username"] == "root"

        after = api.get(basket_url, headers=admin).json()
        assert after["age_check"] == "needed"
        assert after["lines"] == before["lines"] and after["total_cents"] == before["total_cents"]
        coffee = api.get(f"/api/catalog/products/{COFFEE_ITEM.gtin}", headers=admin).json()
        assert coffee["price_cents"] == COFFEE_ITEM.price_cents
        assert api.get("/api/pos/handoffs/NOPE", headers=till_auth).status_code == 404  # valid
        campaigns = api.get("/signage/api/campaigns", headers=admin).json()
        assert "K-EVIL" not in {c["id"] for c in campaigns}
        creatives = api.get("/signage/api/creatives", headers=admin).json()
        assert "CR-EVIL" not in {c["id"] for c in creatives}

        # Control: the same requests as a legitimate client sends them do work.
        booked = api.post("/signage/api/campaigns", json=EVIL_CAMPAIGN, headers=admin)
        assert booked.status_code == 201, booked.text
        imported = api.post(
            "/api/catalog/import",
            content=CSV.encode(),
            headers={**admin, "Content-Type": "text/csv"},
        )
        assert imported.status_code == 200, imported.text
