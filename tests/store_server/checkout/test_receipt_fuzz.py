"""The receipt renderers with every field at its limits (hypothesis): the text receipt
keeps every line within the printer's width and never fails, the HTML one renders.

Found by the web security audit: a payment reference of 42 characters or more (the API
takes 100) or an age approver with a long name made ``_row`` compute a negative width,
and the text receipt answered 500."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store_server.checkout import receipts
from store_server.checkout.console import templates

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1)
CENTS = st.integers(min_value=0, max_value=10**12)


def limited(most: int) -> st.SearchStrategy[str]:
    """Text up to ``most`` characters, often exactly ``most``."""
    return st.one_of(TEXT.filter(lambda t: len(t) <= most), st.just("W" * most), st.just("x"))


lines = st.lists(
    st.fixed_dictionaries(
        {
            "name": limited(200),
            "qty": st.integers(min_value=1, max_value=999),
            "unit_price_cents": CENTS,
            "line_total_cents": CENTS,
            "weight_g": st.one_of(st.none(), st.integers(min_value=1, max_value=10**7)),
        }
    ),
    max_size=5,
)
records = st.fixed_dictionaries(
    {
        "store_id": limited(64),
        "currency": st.sampled_from(["EUR", "USD", "CHF"]),
        "lines": lines,
        "discounts": st.lists(
            st.fixed_dictionaries({"label": limited(200), "amount_cents": CENTS}), max_size=3
        ),
        "item_count": st.integers(min_value=0, max_value=10**6),
        "total_cents": CENTS,
        "taxes": st.lists(
            st.fixed_dictionaries(
                {
                    "rate": st.sampled_from(["0", "0.055", "0.2", "1"]),
                    "gross_cents": CENTS,
                    "tax_cents": CENTS,
                }
            ),
            max_size=3,
        ),
        "status": st.sampled_from(["released", "paid"]),
        "paid_at": st.just("2026-12-06T10:00:00+00:00"),
        "payment_reference": st.one_of(st.none(), limited(100)),
        "released_at": st.just("2026-12-06T09:59:00+00:00"),
        "basket_id": st.uuids().map(str),
        "code": st.text("ABCDEFGHJKMNPQRSTUVWXYZ23456789", min_size=10, max_size=10),
        "age_check": st.one_of(st.none(), st.fixed_dictionaries({"approved_by": limited(86)})),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_text_receipt_lines_never_pass_the_printer_width(record: dict[str, Any]) -> None:
    text = receipts.receipt_text(record, timezone="Europe/Paris")
    for line in text.splitlines():
        assert len(line) <= receipts.RECEIPT_WIDTH, line
    if record["payment_reference"] and record["status"] == "paid":
        shown = "".join(text.split())
        assert "".join(record["payment_reference"].split()) in shown  # wrapped, not cut


@settings(max_examples=60, deadline=None)
@given(records)
def test_html_receipt_renders_every_record(record: dict[str, Any]) -> None:
    page = templates.get_template("checkout/receipt.html").render(
        r=record, released_local="2026-12-06 10:59", paid_local="2026-12-06 11:00", csrf_token=""
    )
    assert record["code"] in page


def test_the_reported_cases_render() -> None:
    base = {
        "store_id": "store-1",
        "currency": "EUR",
        "lines": [],
        "discounts": [],
        "item_count": 0,
        "total_cents": 0,
        "taxes": [],
        "status": "paid",
        "paid_at": "2026-12-06T10:00:00+00:00",
        "released_at": "2026-12-06T09:59:00+00:00",
        "basket_id": "0" * 32,
        "code": "ABCDEFGHJK",
    }
    text = receipts.receipt_text(
        {**base, "payment_reference": "R" * 100, "age_check": {"approved_by": "s" * 86}},
        timezone="UTC",
    )
    assert "R" * 42 in text and max(len(line) for line in text.splitlines()) <= 42
