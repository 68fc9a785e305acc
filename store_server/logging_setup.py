"""Structured logging: one JSON object per line in production, readable text otherwise.

Every line carries the id of the HTTP request (``request_id``) or WebSocket connection
(``connection_id``) it was written for, taken from context variables that the app's
middleware sets, so one request's lines can be found among thousands.

Why secrets are scrubbed here as well as never passed in: a token can still reach a log
line by accident (an exception message quoting a frame, a library logging a URL). The
formatter masks extra fields named like secrets and anything in the message that looks
like a bearer token, a ``token``/``password`` value or a session cookie.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

SECRET_KEYS = ("token", "password", "secret", "authorization", "cookie")

request_id_var: ContextVar[str | None] = ContextVar("caddie_request_id", default=None)
connection_id_var: ContextVar[str | None] = ContextVar("caddie_connection_id", default=None)

_SCRUB = re.compile(
    r"""(?ix)
    (bearer\s+)[^\s"',;]+                                   # Authorization: Bearer xyz
    | (["']?(?:token|password|secret|caddie_session)["']?\s*[:=]\s*["']?)[^\s"',;&}]+
    """
)


def scrub(text: str) -> str:
    """Mask what looks like a credential in free text."""
    return _SCRUB.sub(lambda m: (m.group(1) or m.group(2) or "") + "***", text)


class ContextFilter(logging.Filter):
    """Copies the request/connection id of the current task onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.connection_id = connection_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key in ("request_id", "connection_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key.startswith("ctx_"):
                name = key[4:]
                entry[name] = (
                    "***" if any(s in name.lower() for s in SECRET_KEYS) else _plain(value)
                )
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = getattr(record, "request_id", None) or getattr(record, "connection_id", None)
        record.ids = f" [{ids}]" if ids else ""
        return scrub(super().format(record))


def _plain(value: object) -> object:
    return scrub(value) if isinstance(value, str) else value


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Route every logger (uvicorn's included) to one stderr handler in ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log stays as uvicorn set it (off under ``caddie serve``, whose
    # middleware writes an access line with the request id instead).
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
