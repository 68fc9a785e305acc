"""Shopper app benchmark (not a test): the page in headless Chromium with a fake 720p
camera, against a real ``caddie serve``, next to the Python handheld on the same frames.

Run: .venv/bin/python benchmarks/shopper_bench.py [--items 8]

Reports:
- decoded frames/s in the page: how many frames per second the app's ``readFrame`` (the
  aim zone of the live 1280x720 video, through the decoder) gets through, back to back:
  the capacity; the app itself reads each new camera frame once;
- time from a barcode first visible to its line shown in the cart (p50/p95): "visible"
  is the first presented video frame whose middle has bars in it (read from the frame's
  pixels by a requestVideoFrameCallback observer), "shown" the moment the cart line
  appears (MutationObserver); so it spans decode, debounce, IndexedDB, the WebSocket
  round trip, pricing and the redraw;
- the Python handheld's live decoder (``handheld_client.decoding.Decoder``) on the same
  frames: frames/s and the codes it reads;
- the first load of the app shell without the decoder (bytes over the wire), and what a
  second load asks the server for (from the server's access log).
The machine is shared: the load average is printed first.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.chromium import chromium_browser  # noqa: E402
from tests.browser.fake_camera import Scene, camera_args, frames, write_y4m  # noqa: E402
from tests.browser.shop_helpers import (  # noqa: E402
    CATALOG,
    PHONE,
    access_lines,
    open_shop,
    shop_server,
    wait_for_offline_shell,
)
from tests.servers import REPO  # noqa: E402

SIZE = (1280, 720)

OBSERVE = """
() => {
  const video = document.getElementById('video');
  const canvas = new OffscreenCanvas(64, 36);
  const g = canvas.getContext('2d', { willReadFrequently: true });
  window.bench = { visible: [], shown: {}, wasBlank: true };
  const onFrame = (now, meta) => {
    g.drawImage(video, 0, 0, 64, 36);
    const px = g.getImageData(16, 12, 32, 12).data;
    let dark = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] < 100) dark++;
    const bars = dark > 20;
    if (bars && window.bench.wasBlank) window.bench.visible.push(performance.now());
    window.bench.wasBlank = !bars;
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  new MutationObserver(() => {
    for (const li of document.querySelectorAll('#lines li.line[data-gtin]')) {
      const shown = window.bench.shown;
      if (!(li.dataset.gtin in shown)) shown[li.dataset.gtin] = performance.now();
    }
  }).observe(document.getElementById('lines'), { childList: true, subtree: true });
}
"""

DECODE_RATE = """
async (seconds) => {
  // Its own <video> on the camera: the app's scan loop is stopped, so the clip replaying
  // from its start adds nothing to the basket.
  const { detector, readFrame } = await import('/shop/static/scanner.js');
  const canvas = new OffscreenCanvas(1, 1);
  const det = await detector('/shop/static');
  const video = document.createElement('video');
  video.muted = true;
  const constraints = { video: { width: 1280, height: 720 } };
  video.srcObject = await navigator.mediaDevices.getUserMedia(constraints);
  await video.play();
  let calls = 0, reads = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    reads += (await readFrame(det, video, canvas)).length;
    calls++;
  }
  for (const t of video.srcObject.getTracks()) t.stop();
  return { calls, reads, seconds };
}
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def codes_from_catalog(n: int) -> list[str]:
    with CATALOG.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["sold_by"] == "unit" and len(r["gtin"]) == 13]
    return [r["gtin"] for r in rows[:: max(1, len(rows) // n)][:n]]


def python_handheld(scenes: list[Scene]) -> tuple[float, set[str]]:
    from handheld_client.decoding.decoder import Decoder

    decoder = Decoder()
    images = list(frames(scenes, SIZE))
    read: set[str] = set()
    started = time.perf_counter()
    for image in images:
        read.update(s.gtin14 or s.text for s in decoder.decode(image))
    return len(images) / (time.perf_counter() - started), read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=6)
    parser.add_argument("--fps", type=int, default=30, help="frame rate of the fake camera")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    codes = codes_from_catalog(args.items)
    fps = args.fps
    scenes = [Scene(None, fps)]
    for code in codes:
        scenes += [Scene(code, fps), Scene(None, fps * 2 // 3)]  # 1 s in view, 0.67 s between
    scenes.append(Scene(None, fps * 3))
    tmp = Path(tempfile.mkdtemp(prefix="shopper-bench-"))
    try:
        measure(tmp, codes, scenes, fps)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the 720p clip is hundreds of MB


def measure(tmp: Path, codes: list[str], scenes: list[Scene], fps: int) -> None:
    clip = write_y4m(tmp / "camera.y4m", frames(scenes, SIZE), SIZE, fps=fps)

    with shop_server(tmp) as shop, chromium_browser(camera_args(clip)) as browser:
        log = tmp / "server.log"
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        sizes: dict[str, int] = {}

        def on_response(response: Any) -> None:
            try:
                sizes[response.url] = len(response.body())
            except Exception:  # a redirect or a socket: no body
                sizes.setdefault(response.url, 0)

        page = context.new_page()
        page.on("response", on_response)
        page.goto(shop.server.url + "/shop")
        page.wait_for_selector("#screen-start:not([hidden])")
        shell = {u: b for u, b in sizes.items() if "/vendor/" not in u}
        page.close()

        page = open_shop(context, shop)
        page.get_by_label("Loyalty card").fill("4000000000006")
        page.get_by_role("button", name="Start shopping").click()
        wait_for_offline_shell(page)
        before = len(access_lines(log))
        page.reload()
        page.wait_for_selector("#screen-cart:not([hidden])")
        page.wait_for_function("document.getElementById('offline').hidden")
        time.sleep(1)
        second = access_lines(log)[before:]

        page.evaluate(OBSERVE)
        page.get_by_role("button", name="Start camera").click()
        page.wait_for_function(
            "n => Object.keys(window.bench.shown).length >= n",
            arg=len(codes),
            timeout=sum(sc.frames for sc in scenes) * 1000 / fps + 60_000,
        )
        bench = page.evaluate("window.bench")
        page.get_by_role("button", name="Stop camera").click()
        lines = shop.basket_lines()
        visible, shown = bench["visible"], bench["shown"]
        latencies = []
        for i, code in enumerate(codes):
            at = shown.get(code.zfill(14))
            if at is not None and i < len(visible):
                latencies.append(at - visible[i])

        rate = page.evaluate(DECODE_RATE, 10)

    python_fps, python_read = python_handheld(scenes)
    print(f"page shell first load: {sum(shell.values())} bytes in {len(shell)} files")
    for url, size in sorted(shell.items(), key=lambda kv: -kv[1]):
        print(f"  {size:>8}  {url.split('127.0.0.1')[1].split('/', 1)[1]}")
    vendor = REPO / "store_server" / "shopper" / "web" / "static" / "vendor"
    decoder = [
        p for p in vendor.rglob("*") if p.suffix in (".js", ".wasm") and "uqr" not in p.parts
    ]
    print(
        f"decoder (loaded on first camera use, cached by the service worker):"
        f" {sum(p.stat().st_size for p in decoder)} bytes"
    )
    print(f"second load asked the server for: {second}")
    print(
        f"page decode rate: {rate['calls'] / rate['seconds']:.1f} frames read/s on the live"
        f" 1280x720 video ({fps} frames/s camera; {rate['reads']} symbols read)"
    )
    print(
        f"visible -> line shown, {len(latencies)}/{len(codes)} items: "
        f"p50 {statistics.median(latencies):.0f} ms, p95 {pct(latencies, 0.95):.0f} ms, "
        f"max {max(latencies):.0f} ms"
    )
    print(f"cart lines in the database: {len(lines)} (each qty {sorted({q for _, q in lines})})")
    expected = {c.zfill(14) for c in codes}
    print(
        f"python handheld, same frames: {python_fps:.1f} frames/s, "
        f"read {len(expected & python_read)}/{len(codes)} codes"
    )


if __name__ == "__main__":
    main()
