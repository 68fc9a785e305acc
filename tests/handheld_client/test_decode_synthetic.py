"""Decoder on rendered labels (python-barcode, segno) under camera-like damage."""

from __future__ import annotations

import io
from datetime import date

import cv2
import numpy as np
import pytest
import segno
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st

from handheld_client.decoding import ALL_SYMBOLOGIES, Decoder, Symbol
from handheld_client.decoding.symbols import other_symbol, retail_symbol
from handheld_client.sources import place, render_barcode, synthetic_background
from tests.hostile import scanner_text

# Live mode without its time cap: the cap is measured on this machine's CPU, so what it
# leaves out depends on the machine (test_decode_gate tests the cap on a given clock).
LIVE = Decoder(ALL_SYMBOLOGIES, time_cap_s=None)


def _frame(label: np.ndarray, x: int = 300, y: int = 200) -> np.ndarray:
    return place(synthetic_background(3), label, x, y)


def _skew(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderValue=(255, 255, 255))


def _noise(image: np.ndarray, sigma: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def _glare(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    spot = 110 * np.exp(-(((xx - w * 0.35) ** 2) + ((yy - h * 0.4) ** 2)) / (2 * (w * 0.12) ** 2))
    return np.clip(image + spot[..., None], 0, 255).astype(np.uint8)


def _blur(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), 1.2)


CASES = [
    ("ean13", "400638133393", "EAN13", "4006381333931"),
    ("ean8", "9638507", "EAN8", "96385074"),
    ("upca", "03600029145", "UPCA", "036000291452"),
    ("code128", "CADDIE-42", "CODE128", "CADDIE-42"),
]
DAMAGE = {
    "clean": lambda im: im,
    "skew": lambda im: _skew(im, 12),
    "blur": _blur,
    "noise": lambda im: _noise(im, 18),
    "glare": _glare,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize(("kind", "data", "symbology", "text"), CASES)
def test_rendered_label_is_read(
    kind: str, data: str, symbology: str, text: str, damage: str
) -> None:
    frame = DAMAGE[damage](_frame(render_barcode(kind, data)))
    symbols = LIVE.decode(frame)
    assert [(s.symbology, s.text) for s in symbols] == [(symbology, text)]
    x, y, w, h = symbols[0].position or (0, 0, 0, 0)
    assert 250 < x < 900 and 150 < y < 600 and w > 50 and h > 5


def test_several_codes_in_one_frame() -> None:
    frame = synthetic_background(5)
    frame = place(frame, render_barcode("ean13", "590123412345"), 40, 40)
    frame = place(frame, render_barcode("upca", "03600029145"), 700, 60)
    frame = place(frame, render_barcode("ean8", "9638507"), 300, 420)
    got = sorted(s.gtin14 for s in LIVE.decode(frame) if s.gtin14)
    assert got == ["00000096385074", "00036000291452", "05901234123457"]


def test_gray_frame_is_accepted() -> None:
    frame = cv2.cvtColor(_frame(render_barcode("ean13", "400638133393")), cv2.COLOR_BGR2GRAY)
    assert [s.gtin14 for s in LIVE.decode(frame)] == ["04006381333931"]


def test_frame_without_barcode_yields_nothing() -> None:
    assert LIVE.decode(synthetic_background(11)) == []
    assert Decoder(thorough=True).decode(synthetic_background(12)) == []


def test_disabled_symbology_is_not_reported() -> None:
    frame = _frame(render_barcode("code128", "CADDIE-42"))
    assert Decoder(time_cap_s=None).decode(frame) == []  # default: EAN/UPC only


def _qr(text: str) -> np.ndarray:
    buffer = io.BytesIO()
    segno.make_qr(text, error="m").save(buffer, kind="png", scale=6, border=4)
    return cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_COLOR)


def test_gs1_digital_link_qr_gives_gtin_batch_expiry() -> None:
    uri = "https://id.gs1.org/01/09506000134352/10/ABC123?17=271231"
    symbols = Decoder(["QR"], time_cap_s=None).decode(_frame(_qr(uri)))
    assert len(symbols) == 1
    s = symbols[0]
    assert (s.symbology, s.text, s.gtin14) == ("QR", uri, "09506000134352")
    assert s.batch == "ABC123" and s.expiry == date(2027, 12, 31)


def _zxing_label(content: str, fmt: str, **options: object) -> np.ndarray:
    """A label rendered by zxing-cpp's own writer (BGR, on white)."""
    symbol = zxingcpp.create_barcode(content, getattr(zxingcpp.BarcodeFormat, fmt), **options)
    gray = np.array(zxingcpp.write_barcode_to_image(symbol, scale=4))
    return cv2.cvtColor(np.pad(gray, 24, constant_values=255), cv2.COLOR_GRAY2BGR)


def test_gs1_datamatrix_gives_gtin_batch_expiry() -> None:
    label = _zxing_label("(01)09506000134352(17)260131(10)L7", "DataMatrix", gs1=True)
    [s] = Decoder(["DATAMATRIX"], time_cap_s=None).decode(_frame(label))
    assert (s.symbology, s.gtin14) == ("DATAMATRIX", "09506000134352")
    assert (s.batch, s.expiry) == ("L7", date(2026, 1, 31))


def test_gs1_databar_expanded_gives_gtin_and_weight() -> None:
    label = _zxing_label("(01)09506000134352(3103)001250", "DataBarExpanded")
    [s] = Decoder(["DATABAR"], time_cap_s=None).decode(_frame(label, x=200))
    assert (s.symbology, s.gtin14, s.weight_g) == ("DATABAR", "09506000134352", 1250)


def test_plain_qr_has_no_gtin() -> None:
    [s] = Decoder(["QR"], time_cap_s=None).decode(_frame(_qr("hello caddie")))
    assert s == Symbol("QR", "hello caddie", None, position=s.position)


# ---- normalisation (pure) ------------------------------------------------------------


def test_upc_spellings_agree() -> None:
    from_zxing = retail_symbol("EAN13", "0036000291452")
    from_zbar = retail_symbol("UPCA", "036000291452")
    assert from_zxing == from_zbar
    assert from_zxing is not None and from_zxing.symbology == "UPCA"
    assert from_zxing.gtin14 == "00036000291452"


def test_upce_is_eight_digits_with_expanded_gtin() -> None:
    zxing_form = retail_symbol("UPCE", "0049000006582")  # zxing-cpp 3 reports it expanded
    zbar_form = retail_symbol("UPCE", "04965802")
    assert zxing_form == zbar_form
    assert zxing_form is not None
    assert (zxing_form.text, zxing_form.gtin14) == ("04965802", "00049000006582")


@pytest.mark.parametrize(
    ("symbology", "digits"),
    [
        ("EAN13", "4006381333932"),
        ("EAN8", "96385075"),
        ("UPCA", "036000291453"),
        ("UPCE", "04965803"),
        ("EAN13", "40063813339"),
        ("EAN13", "40063813339x"),
    ],
)
def test_bad_check_digit_or_length_is_rejected(symbology: str, digits: str) -> None:
    assert retail_symbol(symbology, digits) is None


@given(st.sampled_from(ALL_SYMBOLOGIES), scanner_text())
def test_any_decoded_text_is_a_symbol_or_nothing(symbology: str, text: str) -> None:
    """A QR code or Code 128 can carry anything; what the decoder reports never raises."""
    retail = retail_symbol(symbology, text)
    assert retail is None or (retail.gtin14 is not None and len(retail.gtin14) == 14)
    other = other_symbol(symbology, text)
    assert other.gtin14 is None or (len(other.gtin14) == 14 and other.gtin14.isascii())


def test_gs1_element_string_weight_price() -> None:
    s = other_symbol("DATABAR", "(01)09506000134352(3103)001250(3922)1599(17)260131(10)L7")
    assert s.gtin14 == "09506000134352"
    assert (s.weight_g, s.price_cents, s.batch, s.expiry) == (1250, 1599, "L7", date(2026, 1, 31))


def test_missing_libzbar_falls_back_to_zxing_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from handheld_client.decoding import engines

    def no_libzbar() -> None:
        raise ImportError("Unable to find zbar shared library")

    monkeypatch.setattr(engines, "_import_pyzbar", no_libzbar)
    monkeypatch.setattr(engines, "_zbar_cache", {})
    frame = _frame(render_barcode("ean13", "400638133393"))
    with caplog.at_level("WARNING", logger=engines.__name__):
        first = Decoder(time_cap_s=None).decode(frame)
        second = Decoder(time_cap_s=None).decode(_blur(frame))
    assert [s.text for s in first] == ["4006381333931"]
    assert [s.text for s in second] == ["4006381333931"]
    assert engines.read_zbar(frame[:, :, 0], ("EAN13",)) == []
    warnings = [r for r in caplog.records if "zbar unavailable" in r.getMessage()]
    assert len(warnings) == 1
