"""Hypothesis strategies for hostile input shared by the parsers' tests."""

from __future__ import annotations

import os

from hypothesis import strategies as st


def examples(default: int) -> int:
    """Examples per fuzz test: ``default`` in every run, ``CADDIE_FUZZ_EXAMPLES`` (e.g.
    5000) for a deep run by hand."""
    return int(os.environ.get("CADDIE_FUZZ_EXAMPLES") or default)


# Pieces of what scanners send (symbology identifiers, AIs, Digital Link paths, the GS
# separator) and of what they should not, put together at random: hostile input that
# looks almost right is where a parser breaks.
_PIECES = st.sampled_from(
    [
        "]",
        "]C1",
        "]Q3",
        "]d2",
        "]e0",
        "]E0",
        "]Z",
        "]C",
        "(",
        ")",
        "(01)",
        "(10)",
        "(17)",
        "(3103)",
        "(392",
        "01",
        "10",
        "17",
        "21",
        "310",
        "3922",
        "\x1d",
        "https://id.gs1.org",
        "http://x/",
        "/01/",
        "/10/",
        "?",
        "=",
        "&",
        "%",
        "%2",
        "%00",
        " ",
        "-",
        ".",
        "²",
        "٣",
        "4006381333931",
        "036000291452",
        "10012345000017",
        "0",
        "9",
        "999999",
        "991231",
        "000000",
        "\x00",
    ]
)


def scanner_text() -> st.SearchStrategy[str]:
    """Text a scanner (or an attacker) might send: near-valid GS1 pieces, random text."""
    return st.one_of(
        st.lists(_PIECES, max_size=8).map("".join),
        st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=8).map("".join),
    )
