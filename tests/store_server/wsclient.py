"""A small synchronous handheld for protocol tests (Starlette's TestClient WebSocket)."""

from __future__ import annotations

import uuid
from typing import Any


class Handheld:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        self.ws.send_json(message)
        reply: dict[str, Any] = self.ws.receive_json()
        return reply

    def hello(self, device_id: str, token: str) -> dict[str, Any]:
        return self.send({"type": "hello", "protocol": 1, "device_id": device_id, "token": token})

    def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("id", str(uuid.uuid4()))
        return self.send({"type": kind, **fields})

    def start(self, card: str = "2900000000017", **fields: Any) -> dict[str, Any]:
        return self.request("start", loyalty_card=card, **fields)

    def scan(self, code: str, **fields: Any) -> dict[str, Any]:
        return self.request("scan", code=code, **fields)

    def remove(self, code: str, **fields: Any) -> dict[str, Any]:
        return self.request("remove", code=code, **fields)

    def finish(self, **fields: Any) -> dict[str, Any]:
        return self.request("finish", **fields)
