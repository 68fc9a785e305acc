"""Signed codes of the shopper app, as plain values (no server, an explicit clock)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store_server.shopper import codes

SECRET = "codes-test-secret-0123456789abcdefghijkl"
NOW = 1_796_580_000.0  # 2026-12-06 14:40 UTC, at the start of a minute


def test_entrance_codes_rotate_each_minute_and_last_the_configured_minutes() -> None:
    code = codes.entrance_code(SECRET, "store-1", NOW + 5)
    assert code == codes.entrance_code(SECRET, "store-1", NOW + 59)  # same minute
    assert code != codes.entrance_code(SECRET, "store-1", NOW + 60)
    assert codes.read_entrance_code(SECRET, code, now=NOW + 299, minutes=5) == "store-1"
    with pytest.raises(codes.CodeRefused) as expired:
        codes.read_entrance_code(SECRET, code, now=NOW + 300, minutes=5)
    assert expired.value.reason == "expired"
    assert codes.read_entrance_code(SECRET, code, now=NOW + 599, minutes=10) == "store-1"


def test_codes_from_the_future_are_forged_beyond_the_clock_skew() -> None:
    code = codes.entrance_code(SECRET, "store-1", NOW + 60)
    assert codes.read_entrance_code(SECRET, code, now=NOW, minutes=5) == "store-1"
    late = codes.entrance_code(SECRET, "store-1", NOW + 180)
    with pytest.raises(codes.CodeRefused) as refused:
        codes.read_entrance_code(SECRET, late, now=NOW, minutes=5)
    assert refused.value.reason == "forged"


def test_join_tickets_are_fresh_each_time_and_last_ten_minutes() -> None:
    first = codes.join_ticket(SECRET, "store-1", NOW)
    second = codes.join_ticket(SECRET, "store-1", NOW)
    assert first != second
    read = codes.read_join_ticket(SECRET, first, now=NOW + 599)
    assert read.store_id == "store-1" and len(read.nonce) == 32
    assert read.nonce != codes.read_join_ticket(SECRET, second, now=NOW).nonce
    with pytest.raises(codes.CodeRefused) as expired:
        codes.read_join_ticket(SECRET, first, now=NOW + 600)
    assert expired.value.reason == "expired"


def test_a_code_of_one_kind_or_another_secret_is_forged() -> None:
    entrance = codes.entrance_code(SECRET, "store-1", NOW)
    ticket = codes.join_ticket(SECRET, "store-1", NOW)
    receipt = codes.receipt_token(SECRET, "b-1")
    display = codes.display_key(SECRET, "store-1")
    attempts = [
        lambda: codes.read_join_ticket(SECRET, entrance, now=NOW),
        lambda: codes.read_entrance_code(SECRET, ticket, now=NOW, minutes=5),
        lambda: codes.read_receipt_token(SECRET, entrance),
        lambda: codes.read_display_key(SECRET, receipt),
        lambda: codes.read_entrance_code(SECRET, display, now=NOW, minutes=5),
        lambda: codes.read_receipt_token("another-secret-of-forty-characters-xxxxx", receipt),
    ]
    for attempt in attempts:
        with pytest.raises(codes.CodeRefused) as refused:
            attempt()
        assert refused.value.reason == "forged"
    assert codes.read_receipt_token(SECRET, receipt) == "b-1"
    assert codes.read_display_key(SECRET, display) == "store-1"


def test_every_changed_character_breaks_a_receipt_token() -> None:
    token = codes.receipt_token(SECRET, "0f4f7c1c-7f52-4a53-9a55-0d7a3c1a9a10")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, char in enumerate(token):
        for other in (alphabet[(alphabet.index(char) + 1) % len(alphabet)], "A", "w"):
            if other == char:
                continue
            altered = token[:i] + other + token[i + 1 :]
            with pytest.raises(codes.CodeRefused):
                codes.read_receipt_token(SECRET, altered)


def test_entrance_url_carries_the_code_in_the_query() -> None:
    url = codes.entrance_url("https://shop.example.org", SECRET, "store-1", NOW)
    assert url == (
        "https://shop.example.org/shop/join?c=" + codes.entrance_code(SECRET, "store-1", NOW)
    )


@given(st.one_of(st.text(max_size=600), st.binary(max_size=64), st.integers(), st.none()))
def test_anything_else_is_refused_as_forged_never_an_exception(value: object) -> None:
    for read in (
        lambda v: codes.read_entrance_code(SECRET, v, now=NOW, minutes=5),
        lambda v: codes.read_join_ticket(SECRET, v, now=NOW),
        lambda v: codes.read_receipt_token(SECRET, v),
    ):
        with pytest.raises(codes.CodeRefused) as refused:
            read(value)
        assert refused.value.reason == "forged"


@given(st.dictionaries(st.text(max_size=3), st.one_of(st.text(), st.integers(), st.booleans())))
def test_signed_payloads_of_the_wrong_shape_are_forged(payload: dict[str, object]) -> None:
    for purpose, read in (
        ("entrance", lambda c: codes.read_entrance_code(SECRET, c, now=NOW, minutes=5)),
        ("join", lambda c: codes.read_join_ticket(SECRET, c, now=NOW)),
        ("receipt", lambda c: codes.read_receipt_token(SECRET, c)),
    ):
        code = codes.sign(SECRET, purpose, payload)  # type: ignore[arg-type]
        try:
            read(code)
        except codes.CodeRefused:
            continue
