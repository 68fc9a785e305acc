"""``caddie demo`` as a new user runs it: a real process, embedded SQLite, the fixtures."""

from __future__ import annotations

import re
from pathlib import Path

from tests.servers import caddie, free_port


def test_demo_prices_a_basket_over_the_real_websocket(tmp_path: Path) -> None:
    result = caddie("demo", "--duration", "0.5", "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "products and" in out and "promotions imported" in out
    assert "Coffee: 3 for 2" in out  # the promotion shows as a labelled discount
    totals = re.findall(r"(\d+\.\d\d) EUR", out)
    assert totals, out
    match = re.search(r"Total (\d+\.\d\d) EUR for (\d+) items", out)
    assert match and float(match.group(1)) > 0 and int(match.group(2)) == 9
    assert re.search(r"audit decision: (none|partial|full)", out)
    assert (tmp_path / "caddie-demo.db").exists()


def test_demo_refuses_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = caddie("demo", "--duration", "0.1", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"port {port} is in use" in result.stderr
    assert "Traceback" not in result.stderr
