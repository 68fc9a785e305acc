"""The shopper app's pages and files as the server hands them out: one shell with no
inline script (the coming Content-Security-Policy is ``script-src 'self'``), a service
worker whose every cached URL exists, and the decoder's WebAssembly at the version the
vendored polyfill pins."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from store_server.app import create_app
from store_server.config import Settings
from store_server.shopper.pages import STATIC_DIR, WEB_DIR

VENDOR = STATIC_DIR / "vendor"


@pytest.fixture
def client(tmp_path: Path, sqlite_template: Path) -> Iterator[TestClient]:
    shutil.copy(sqlite_template, tmp_path / "caddie.db")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'caddie.db'}", environment="test")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/shop", "/shop/pair"])
def test_the_shell_has_no_inline_script_style_or_handler(client: TestClient, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 200
    html = reply.text
    assert '<meta name="csrf-token"' in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script type="module" src="/shop/static/shop.js">']
    assert not re.search(r"\son\w+=", html)
    assert "style=" not in html
    assert "javascript:" not in html


def test_the_service_worker_caches_files_that_exist(client: TestClient) -> None:
    reply = client.get("/shop/sw.js")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/javascript")
    assert reply.headers["service-worker-allowed"] == "/shop"
    urls = json.loads(re.search(r"const SHELL_URLS = (\[.*\]);", reply.text).group(1))  # type: ignore[union-attr]
    assert "/shop" in urls
    assert "/shop/static/vendor/zxing-wasm/zxing_reader.wasm" in urls
    assert not any("LICENSE" in u or u.endswith(".md") for u in urls)
    for url in urls:
        assert client.get(url).status_code == 200, url
    wasm = client.get("/shop/static/vendor/zxing-wasm/zxing_reader.wasm")
    assert wasm.headers["content-type"] == "application/wasm"


def test_the_wasm_is_the_one_the_polyfill_pins() -> None:
    polyfill = (VENDOR / "barcode-detector" / "zxing-exported.js").read_text(encoding="utf-8")
    wasm = (VENDOR / "zxing-wasm" / "zxing_reader.wasm").read_bytes()
    assert hashlib.sha256(wasm).hexdigest() in polyfill
    assert "zxing-wasm@3.1.3" in polyfill
    for folder in ("barcode-detector", "zxing-wasm", "uqr"):
        assert (VENDOR / folder / "LICENSE").is_file()


def test_no_file_is_fetched_from_another_origin() -> None:
    for path in [*STATIC_DIR.glob("*.js"), *(WEB_DIR / "templates").glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://(?!127\.0\.0\.1)", text), path


def test_every_message_is_in_every_catalogue() -> None:
    catalogues = {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in (STATIC_DIR / "i18n").glob("*.json")
    }
    assert set(catalogues) >= {"en", "fr"}
    keys = set(catalogues["en"])
    for lang, messages in catalogues.items():
        assert set(messages) == keys, lang
        for key, text in messages.items():
            holes = set(re.findall(r"\{(\w+)\}", text))
            assert holes == set(re.findall(r"\{(\w+)\}", catalogues["en"][key])), (lang, key)
    template = (WEB_DIR / "templates" / "shop.html").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n="([\w.]+)"', template))
    script = (STATIC_DIR / "shop.js").read_text(encoding="utf-8")
    used |= set(re.findall(r'\bt\("([\w.]+)"', script))
    used |= {
        f"{k}.{form}" for k in re.findall(r'\btn\("([\w.]+)"', script) for form in ("one", "other")
    }
    assert used - keys == set()


@pytest.mark.parametrize(
    "path",
    [
        "/shop/static/../pages.py",
        "/shop/static/%2e%2e/pages.py",
        "/shop/static/..%2fpages.py",
        "/shop/static/vendor/../../pages.py",
        "/shop/static/nothing-here.js",
    ],
)
def test_nothing_outside_the_static_folder_is_served(client: TestClient, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 404
    assert "STATIC_DIR" not in reply.text


def test_the_page_reads_the_symbologies_the_store_names_and_its_cache_follows(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """CADDIE_SHOPPER_SYMBOLOGIES reaches the page as a data attribute, and a change of
    it is a new shell version: phones drop the cached page that named the old ones."""
    shutil.copy(sqlite_template, tmp_path / "caddie.db")
    seen = {}
    for symbologies in ("EAN13,EAN8,UPCA,UPCE", "EAN13,EAN8,UPCA,UPCE,DATAMATRIX,QR"):
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'caddie.db'}",
            environment="test",
            shopper_symbologies=symbologies,
        )
        with TestClient(create_app(settings)) as test_client:
            body = re.search(r"<body[^>]*>", test_client.get("/shop").text).group(0)  # type: ignore[union-attr]
            worker = test_client.get("/shop/sw.js").text
        assert f'data-symbologies="{symbologies}"' in body
        version = re.search(r'const SHELL_VERSION = "(\w+)";', worker).group(1)  # type: ignore[union-attr]
        assert f'data-version="{version}"' in body
        seen[symbologies] = version
    assert len(set(seen.values())) == 2
