"""JSON sent by clients (request bodies, handheld frames, uploaded files), parsed so that
no input can crash the code that reads it.

``json.loads`` alone lets two kinds of hostile input through: nesting deep enough to
exhaust Python's stack (a ``RecursionError`` in the parser, or later in whatever walks
the result), and ``\\ud800``-style escapes that decode to lone surrogates, which are not
text: encoding them for a reply, a log line or the database then fails. :func:`loads`
refuses both with the same :class:`ClientJSONError` as a syntax error, so every caller
answers them with its usual bad-input error.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "ClientJSONError", "loads", "problem_of"]

# Caddie's documents nest three or four levels (a campaign's targets, a plan's dayparts);
# 64 leaves room for any honest client and the whole stack for the code that follows.
MAX_DEPTH = 64


class ClientJSONError(ValueError):
    """Why the input is not acceptable JSON, in words safe to show to its sender (the
    input itself is never quoted); ``line`` is where a syntax error is, else 1."""

    def __init__(self, reason: str, line: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``text``, or :class:`ClientJSONError`."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClientJSONError(exc.msg, exc.lineno) from None
    except RecursionError:
        raise ClientJSONError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # bytes that are not UTF-8/16/32
        raise ClientJSONError(str(exc).split(":", 1)[0]) from None
    problem = problem_of(value, max_depth=max_depth)
    if problem:
        raise ClientJSONError(problem)
    return value


def problem_of(value: Any, *, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a value already parsed (by the framework, say) is not acceptable: too deep, or
    a string (object keys included) that is not Unicode text. None if it is fine.

    Iterative, so walking the value cannot itself run out of stack."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if not item.isascii() and not _is_text(item):
                return "a string is not valid Unicode text (it holds a lone surrogate)"
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                pending.extend((child, depth + 1) for child in item.values())
            else:
                pending.extend((child, depth + 1) for child in item)
    return None


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
