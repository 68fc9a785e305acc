"""Every URL ``caddie demo`` prints opens in headless Chromium and shows data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.browser.chromium import chromium_browser, evaluate_settled
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

URL_LINE = re.compile(
    r"^\s+(?P<name>[a-zA-Z0-9 -]+):\s+(?P<url>http://\S+)"
    r"(?:\s+\((?:login|admin) (?P<user>\S+) / (?P<pw>\S+)\))?"
)


class DemoOutput(threading.Thread):
    """Reads the demo's output to the end, so that a full pipe never blocks the demo
    (its server logs to the same pipe), and collects the URLs it prints."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.lines: list[str] = []
        self.urls: dict[str, tuple[str, str | None, str | None]] = {}
        self.all_urls = threading.Event()

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            match = URL_LINE.match(line)
            if match:
                self.urls[match["name"].strip()] = (match["url"], match["user"], match["pw"])
                if match["name"].strip() == "metrics":  # the last URL printed
                    self.all_urls.set()
        self.all_urls.set()

    def tail(self) -> str:
        return "".join(self.lines[-40:])


def test_every_printed_url_renders_with_data(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "store_server.cli", "demo", "--duration", "0", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
    )
    output = DemoOutput(proc)
    output.start()
    try:
        output.all_urls.wait(120)
        urls = output.urls
        assert {
            "staff console",
            "operator console",
            "screen player S-01",
            "screen player S-02",
            "API docs",
            "metrics",
        } <= set(urls), output.tail()
        # let the shoppers scan, one finish, and the screens play for a while
        metrics_url, admin, admin_password = urls["metrics"]
        login = httpx.post(
            metrics_url.replace("/metrics", "/api/auth/login"),
            json={"username": admin, "password": admin_password},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        as_admin = {"Authorization": f"Bearer {login.json()['token']}"}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            metrics = httpx.get(metrics_url, headers=as_admin, timeout=5).text
            if re.search(r"caddie_signage_plays_total\S* [1-9]", metrics):
                break
            time.sleep(1)
        assert re.search(r"^caddie_\w+", metrics, re.M), "metrics expose Caddie series"
        with chromium_browser() as browser:
            page = browser.new_page()
            url, user, password = urls["staff console"]
            page.goto(url)
            page.fill("input[name=username]", user or "")
            page.fill("input[name=password]", password or "")
            page.click("button[type=submit]")
            # the first shopper's trip is about 7 s of frames; the console shows it when it ends
            page.wait_for_selector("#queue-rows tr", timeout=60_000)
            assert page.locator("#queue-rows tr").count() >= 1

            page = browser.new_page()
            url, user, password = urls["operator console"]
            page.goto(url)
            page.fill("input[name=username]", user or "")
            page.fill("input[name=password]", password or "")
            page.click("button[type=submit]")
            page.wait_for_url(url)  # logged in: back from the login page to the screens
            page.locator("#screens tr[data-screen=S-01]").wait_for()  # the mall's screens

            for name in ("screen player S-01", "screen player S-02"):
                page = browser.new_page()
                page.goto(urls[name][0])
                # Polled with evaluate: wait_for_function's string predicate would need
                # eval, which the pages' Content-Security-Policy refuses.
                deadline = time.monotonic() + 30
                while not evaluate_settled(
                    page,
                    "() => Boolean(window.caddiePlayer && window.caddiePlayer.state().played > 0)",
                ):
                    assert time.monotonic() < deadline, f"{name} played nothing in 30 s"
                    page.wait_for_timeout(200)
                state = page.evaluate("window.caddiePlayer.state()")
                assert state["visible"]["src"], state  # an image is on screen, never black
                page.close()  # a playing screen keeps decoding; the next pages need not wait

            page = browser.new_page()
            url, user, password = urls["manager console"]
            page.goto(url)
            page.fill("input[name=username]", user or "")
            page.fill("input[name=password]", password or "")
            page.click("button[type=submit]")
            page.wait_for_selector("#fig-trips_started", timeout=30_000)
            page.goto(url + "/loss?range=month")
            page.wait_for_selector("#fig-unrecovered", timeout=30_000)

            page = browser.new_page()
            page.goto(urls["API docs"][0])
            page.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI from local assets
            assert page.locator(".opblock").count() > 10
        proc.terminate()  # as a service manager stops it: a clean stop with a summary
        assert proc.wait(30) == 0
        output.join(10)
        assert "demo summary:" in output.tail(), output.tail()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        # Shown by pytest only when the test fails: what the demo and its server said.
        print("--- demo output (last lines) ---\n" + output.tail())
