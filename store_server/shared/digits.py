"""Digit strings from users, devices and files: ASCII ``0``–``9`` only.

``str.isdigit`` also accepts superscripts and other scripts' digits ("²", "٣"),
which ``int()`` refuses or reads differently and which no barcode carries, so
every check of outside text goes through :func:`is_ascii_digits`.
"""

from __future__ import annotations


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty string of ASCII digits only."""
    return text.isascii() and text.isdigit()
