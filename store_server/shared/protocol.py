"""Numbers of the handheld protocol (PROTOCOL.md) that both ends must agree on."""

from __future__ import annotations

PROTOCOL_VERSION = 1
# WebSocket close code of a refused token: reconnecting would be refused again.
CLOSE_UNAUTHORIZED = 4401
