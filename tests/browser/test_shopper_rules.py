"""The page applies the Python handheld's scan rules: the same GTIN-14 normalisation (of
retail codes and of GS1 data) and the same debounce on frame time, checked by running the
page's own module (gtin.js) in Chromium on the inputs the Python code is given."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from handheld_client.debounce import Debouncer
from handheld_client.decoding.symbols import gs1_symbol, gtin14_of, retail_symbol
from store_server.pricing.gs1 import parse_scan
from store_server.pricing.variable_measure import DEFAULT_LAYOUTS
from tests.browser.chromium import chromium_browser
from tests.browser.shop_helpers import shop_server

pytestmark = [pytest.mark.browser, pytest.mark.integration]

FORMATS = {
    "EAN13": "ean_13",
    "EAN8": "ean_8",
    "UPCA": "upc_a",
    "UPCE": "upc_e",
    "CODE128": "code_128",
    "QR": "qr_code",
    "DATAMATRIX": "data_matrix",
    "DATABAR": "databar",
}
READS = [
    ("EAN13", "5087487868014"),
    ("EAN13", "5087487868015"),  # bad check digit
    ("EAN13", "0036000291452"),  # a UPC-A read as EAN-13
    ("UPCA", "036000291452"),
    ("EAN8", "96385074"),
    ("EAN8", "96385075"),
    ("UPCE", "01234565"),
    ("UPCE", "04252614"),
    ("UPCE", "012345000065"),
    ("UPCE", "11234562"),
    ("UPCE", "21234563"),  # number system 2: not a UPC-E
    ("EAN13", "50874878680"),  # too short
    ("EAN13", "5O87487868014"),  # a letter O
]

# GS1 data as the decoders return it (raw element strings with <GS>, or the printed form)
GS1_READS = [
    ("DATAMATRIX", "0109506000134352\x1d10L7"),
    ("DATAMATRIX", "(01)09506000134352(10)L7"),
    ("DATAMATRIX", "0109506000134353"),  # bad check digit
    ("CODE128", "0109506000134352"),
    ("DATABAR", "0109506000134352"),
    ("QR", "https://id.gs1.org/01/09506000134352"),
    ("QR", "https://example.com/shop/01/09506000134352/10/L7?x=1"),
    ("QR", "https://id.gs1.org/01/9506000134352"),  # a GTIN-13 in the link
    ("QR", "0109506000134352"),  # a QR code's element string is not GS1 data
    ("QR", "(01)09506000134352"),
    ("QR", "hello"),
    # variable measure: a weight (AI 3103, kg with 3 decimals), a price (AI 3922), a batch
    ("DATAMATRIX", "0109506000134352\x1d3103001250"),
    ("DATAMATRIX", "\x1d01095060001343523922000499\x1d10B-7"),
    ("QR", "https://id.gs1.org/01/09506000134352/10/B-7?3103=001250"),
]


def debounce_runs(seed: int) -> list[list[tuple[float, list[str]]]]:
    rng = random.Random(seed)
    runs = []
    for _ in range(40):
        t, frames = 0.0, []
        for _ in range(rng.randint(1, 60)):
            t += rng.choice([0.033, 0.1, 0.2, 0.3, 0.49, 0.5, 0.51, 0.7])
            if rng.random() < 0.05:
                t = max(0.0, t - 2)  # a new source: time goes backwards
            frames.append((round(t, 3), rng.sample(["A", "B", "C"], rng.randint(0, 2))))
        runs.append(frames)
    return runs


def test_gtin_normalisation_and_debounce_match_the_python_handheld(tmp_path: Path) -> None:
    with shop_server(tmp_path) as shop, chromium_browser() as browser:
        page = browser.new_page()
        page.goto(shop.server.url + "/shop")

        def js(expression: str, arg: Any) -> Any:
            module = "const m = await import('/shop/static/gtin.js');"
            return page.evaluate(f"async (arg) => {{ {module} {expression} }}", arg)

        for symbology, text in READS:
            python = retail_symbol(symbology, text)
            browser = js(
                "return m.scanRead({format: arg[0], rawValue: arg[1]});",
                [FORMATS[symbology], text],
            )
            expected = python.gtin14 if python else None
            assert browser == (expected and {"key": expected, "code": expected}), (symbology, text)
        for symbology, text in GS1_READS:
            python = gs1_symbol(symbology, text)
            browser = js(
                "return m.scanRead({format: arg[0], rawValue: arg[1]}, [arg[0]]);",
                [FORMATS[symbology], text],
            )
            assert (browser and browser["key"]) == (python.gtin14 if python else None), text
            if python is not None:
                # What the page sends the server reads as what the handheld sends: the same
                # GTIN, weight, price and batch.
                assert parse_scan(browser["code"], DEFAULT_LAYOUTS) == parse_scan(
                    python.text, DEFAULT_LAYOUTS
                ), text
        for typed in ["5087487868014", "96385074", "036000291452", "00036000291452", "123", ""]:
            assert js("return m.gtin14(arg);", typed) == gtin14_of(typed), typed

        runs = debounce_runs(seed=7)
        got = js(
            "return arg.map(run => { const d = new m.Debouncer(0.5);"
            " return run.map(([t, codes]) => d.feed(t, codes)); });",
            runs,
        )
        for run, browser_scans in zip(runs, got, strict=True):
            debouncer = Debouncer(0.5)
            assert browser_scans == [debouncer.feed(t, codes) for t, codes in run]
