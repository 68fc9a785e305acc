"""The baseline: a bare FastAPI/uvicorn WebSocket server answering each frame with a
basket-sized JSON reply, so the load benchmark can say what the store server costs on top
of WebSocket handling and JSON on this machine."""

from __future__ import annotations

import argparse
import json
from typing import Any

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect

LINES = [
    {
        "gtin": f"0{3000000000000 + i * 7919:013d}",
        "name": f"Benchmark product {i}",
        "qty": 1 + i % 3,
        "unit_price_cents": 199 + i * 10,
        "weight_g": None,
        "line_total_cents": (199 + i * 10) * (1 + i % 3),
    }
    for i in range(15)
]


def basket_view(basket_id: str) -> dict[str, Any]:
    """A basket as the protocol shows it, built afresh for each reply as a server does."""
    return {
        "basket_id": basket_id,
        "status": "open",
        "lines": LINES,
        "discounts": [{"label": "3 for 2", "amount_cents": 199}],
        "total_cents": 12345,
        "tax_cents": 643,
        "currency": "EUR",
        "item_count": 30,
    }


app = FastAPI()


@app.websocket("/ws/handheld")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            request = json.loads(await websocket.receive_text())
            basket = basket_view("00000000-0000-0000-0000-000000000000")
            reply = {"type": "ack", "id": request.get("id"), "line": LINES[0], "basket": basket}
            if request.get("type") == "hello":
                reply = {"type": "welcome", "device_id": request.get("device_id"), "basket": None}
            elif request.get("type") == "start":
                reply = {"type": "basket", "id": request.get("id"), "basket": basket}
            await websocket.send_text(json.dumps(reply, separators=(",", ":")))
    except WebSocketDisconnect:
        return


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        ws_max_size=65536,
    )
