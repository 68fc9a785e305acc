// Caddie screen player: plays the screen's loop in step with the wall clock.
//
// * The slot on air at instant t is position floor((t mod L) / slot) of the loop that
//   started at floor(t / L) * L (L = loop length), so screens side by side agree.
// * Loop n+1 is fetched during the last slot of loop n, not earlier: loops are built
//   from live store signals when asked for, so fetching late lets a signal change
//   reach the screen within one loop. A loop once fetched is never fetched again. When
//   the server is unreachable the newest loop we have is played forward in time.
// * Creatives are kept in the Cache API (and as blob URLs in memory), so playback
//   needs no network; a service worker also caches this page and its scripts.
// * Never black: the built-in fallback image shows for empty slots and creatives that
//   fail to load; while a creative plays it is hidden, and a creative whose shape is
//   not the screen's is letterboxed in black.
// * Every few minutes the player reports on itself (version, loop in step with the
//   server's clock, cache) and posts a small JPEG of what it shows, with its token.
// * Diagnostics (online state, last error) show only in an overlay: ?diagnostics=1,
//   or the "d" key.
// * Proof of play is queued in localStorage and posted in batches until accepted;
//   the server de-duplicates by play_id, so retrying is always safe.
(function () {
  "use strict";

  const body = document.body;
  const screenId = body.dataset.screen;
  const root = body.dataset.root || "";
  const flushMs = Number(body.dataset.flushMs) || 10000;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = csrfMeta ? csrfMeta.content : "";
  const statusMs = Number(body.dataset.statusMs) || 60000;
  const version = body.dataset.version || "0";
  const loopUrl = root + "/screens/" + encodeURIComponent(screenId) + "/loop";
  const popUrl = root + "/proof-of-play";
  const queueKey = "caddie-pop:" + screenId;
  const loopKey = "caddie-loop:" + screenId;
  const CACHE = "caddie-media-v1";
  const BATCH = 200;

  const els = {
    imgs: [document.getElementById("img-a"), document.getElementById("img-b")],
    video: document.getElementById("video"),
    frame: document.getElementById("frame"),
    status: document.getElementById("status"),
  };

  const st = {
    loops: new Map(),       // valid_from ms -> loop
    latest: null,           // newest fetched loop (its structure repeats offline)
    online: null,
    lastFetchOk: null,
    lastError: null,
    current: null,          // {key, slot, loopStart, shown, play}
    played: 0,
    history: [],
    media: new Map(),       // media url -> object URL (or the url itself for remote media)
    failed: new Map(),      // media url -> time of last failure
    fetching: false,
    flushing: false,
    retryAt: 0,             // after a failed fetch, wait until then
    fetches: [],            // recent loop fetches: which loop, when (for tests, status)
    imgTurn: 0,
    skewMs: null,           // server clock minus ours, from the last loop reply's Date
    reports: 0,             // status reports and screenshots accepted
  };

  // ------------------------------------------------------------------ helpers

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" +
      h.slice(16, 20) + "-" + h.slice(20);
  }

  function readQueue() {
    try { return JSON.parse(localStorage.getItem(queueKey) || "[]"); } catch (e) { return []; }
  }

  function writeQueue(q) {
    try { localStorage.setItem(queueKey, JSON.stringify(q)); } catch (e) { st.lastError = String(e); }
  }

  function loopLength(loop) { return loop.slot_seconds * loop.slots.length * 1000; }

  function remember(loop) {
    const start = Date.parse(loop.valid_from);
    loop._start = start;
    loop._end = Date.parse(loop.valid_until);
    st.loops.set(start, loop);
    if (!st.latest || start >= st.latest._start) {
      st.latest = loop;
      try { localStorage.setItem(loopKey, JSON.stringify(loop)); } catch (e) { /* full */ }
    }
    for (const key of Array.from(st.loops.keys())) {
      if (key < Date.now() - 10 * 60 * 1000 && st.loops.get(key) !== st.latest) st.loops.delete(key);
    }
  }

  // The loop on air at t: fetched if we have it, else the newest one moved forward.
  function loopAt(t) {
    for (const loop of st.loops.values()) {
      if (loop._start <= t && t < loop._end) return { loop: loop, start: loop._start };
    }
    const base = st.latest;
    if (!base) return null;
    const len = loopLength(base);
    return { loop: base, start: Math.floor(t / len) * len };
  }

  // ------------------------------------------------------------------ media

  async function mediaSrc(url) {
    if (!url) return null;
    const known = st.media.get(url);
    if (known) return known;
    const failedAt = st.failed.get(url);
    if (failedAt && Date.now() - failedAt < 5000) return null;
    const sameOrigin = new URL(url, location.href).origin === location.origin;
    if (!sameOrigin) { st.media.set(url, url); return url; }
    let response = null;
    let cache = null;
    try {
      if (window.caches) {
        cache = await caches.open(CACHE);
        response = await cache.match(url);
      }
    } catch (e) { cache = null; }
    if (!response) {
      try {
        response = await fetch(url, { credentials: "same-origin" });
        if (!response.ok) throw new Error("HTTP " + response.status);
        if (cache) await cache.put(url, response.clone());
      } catch (e) {
        st.failed.set(url, Date.now());
        return null;
      }
    }
    const blob = await response.blob();
    const objectUrl = URL.createObjectURL(blob);
    st.media.set(url, objectUrl);
    return objectUrl;
  }

  function prefetch(loop) {
    for (const slot of loop.slots) if (slot.media_url) mediaSrc(slot.media_url);
  }

  // ------------------------------------------------------------------ fetching loops

  async function fetchLoop(at) {
    const response = await fetch(loopUrl + "?at=" + encodeURIComponent(new Date(at).toISOString()),
      { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error("loop: HTTP " + response.status);
    const date = Date.parse(response.headers.get("Date") || "");
    if (!Number.isNaN(date)) st.skewMs = date - Date.now();
    return response.json();
  }

  // The instant whose loop we still need: the loop on air if we lack it, else the
  // next one once the last slot of the one on air has begun; null when nothing is due.
  function dueAt(now) {
    const on = loopAt(now);
    if (!on || !st.loops.has(on.start)) return now;
    const loop = on.loop;
    const lastSlot = loop._end - loop.slot_seconds * 1000;
    if (now >= lastSlot && !st.loops.has(loop._end)) return loop._end;
    return null;
  }

  async function refresh() {
    if (st.fetching || Date.now() < st.retryAt) return;
    const at = dueAt(Date.now());
    if (at === null) return;
    st.fetching = true;
    try {
      const loop = await fetchLoop(at);
      remember(loop);
      prefetch(loop);
      st.online = true;
      st.lastFetchOk = new Date().toISOString();
      st.fetches.push({ at: new Date(at).toISOString(), fetched_at: new Date().toISOString() });
      if (st.fetches.length > 50) st.fetches.shift();
    } catch (e) {
      st.online = false;
      st.lastError = String(e && e.message || e);
      st.retryAt = Date.now() + 2000;
    } finally {
      st.fetching = false;
    }
  }

  // ------------------------------------------------------------------ showing slots

  function hideAll(except) {
    for (const el of [...els.imgs, els.video, els.frame]) {
      if (el !== except) el.classList.remove("on");
    }
    if (except !== els.video && !els.video.paused) els.video.pause();
    body.classList.toggle("airing", Boolean(except));
  }

  async function show(slot) {
    if (!slot || !slot.creative_id || !slot.media_url) { hideAll(null); return false; }
    const src = await mediaSrc(slot.media_url);
    if (!src) { hideAll(null); return false; }
    const kind = slot.kind || "image";
    if (kind === "video") {
      if (els.video.src !== src) els.video.src = src;
      els.video.currentTime = 0;
      try { await els.video.play(); } catch (e) { hideAll(null); return false; }
      els.video.classList.add("on");
      hideAll(els.video);
    } else if (kind === "html") {
      if (els.frame.getAttribute("src") !== src) els.frame.src = src;
      els.frame.classList.add("on");
      hideAll(els.frame);
    } else {
      const onAir = els.imgs.find((img) => img.classList.contains("on"));
      if (onAir && onAir.getAttribute("src") === src) { hideAll(onAir); return true; }
      const img = els.imgs[st.imgTurn];
      st.imgTurn = 1 - st.imgTurn;
      img.src = src;
      try { await img.decode(); } catch (e) { hideAll(null); return false; }
      img.classList.add("on");
      hideAll(img);
    }
    return true;
  }

  function finishPlay(current) {
    if (!current || !current.play) return;
    const play = current.play;
    current.play = null;
    play.duration_ms = Math.max(0, Math.round(performance.now() - current.t0));
    const q = readQueue();
    q.push(play);
    writeQueue(q);
    st.played += 1;
  }

  async function tick() {
    const now = Date.now();
    refresh();
    const on = loopAt(now);
    if (!on) { hideAll(null); return; }
    const slotMs = on.loop.slot_seconds * 1000;
    const position = Math.floor((now - on.start) / slotMs) % on.loop.slots.length;
    const key = on.start + ":" + position;
    if (st.current && st.current.key === key) return;
    const slot = on.loop.slots[position];
    const previous = st.current;
    const entry = { key: key, slot: slot, loopStart: on.start, position: position,
                    shown: false, switching: true, play: null, t0: performance.now() };
    st.current = entry;
    finishPlay(previous);
    const shown = await show(slot);
    entry.switching = false;
    if (st.current !== entry) return;
    entry.shown = shown;
    if (shown) {
      entry.t0 = performance.now();
      entry.play = { play_id: uuid4(), creative_id: slot.creative_id,
                     campaign_id: slot.campaign_id, started_at: new Date().toISOString(),
                     duration_ms: 0 };
    }
    st.history.push({ loop_start: new Date(on.start).toISOString(), position: position,
                      creative_id: shown ? slot.creative_id : null,
                      campaign_id: shown ? slot.campaign_id : null,
                      fetched: on.loop._start === on.start });
    if (st.history.length > 200) st.history.shift();
    diagnostics();
  }

  function diagnostics() {
    if (!body.classList.contains("diagnostics")) { els.status.textContent = ""; return; }
    const c = st.current;
    els.status.textContent = [
      screenId, "v" + version, st.online === false ? "offline" : "online",
      "slot " + (c ? c.position : "—"), st.played + " played", readQueue().length + " to send",
      st.lastError || "",
    ].join(" · ");
  }

  // ------------------------------------------------------------------ health reports

  function inStep() {
    // Dates have whole seconds: within 2 s of the server's clock, the loop is in step
    return st.skewMs === null ? true : Math.abs(st.skewMs) <= 2000;
  }

  function missingMedia() {
    const loop = st.latest;
    if (!loop) return 0;
    const urls = new Set(loop.slots.map((s) => s.media_url).filter(Boolean));
    return Array.from(urls).filter((u) => !st.media.has(u)).length;
  }

  // A small JPEG of what is on screen: the image or video frame on air drawn on a
  // canvas (an HTML creative or remote media cannot be read back: the fallback then).
  async function screenshot() {
    const on = document.querySelector("#stage .media.on");
    const source = on && on.tagName !== "IFRAME" ? on : document.getElementById("fallback");
    const width = 320;
    const height = Math.round(width * (innerHeight / Math.max(1, innerWidth)));
    const canvas = document.createElement("canvas");
    canvas.width = width; canvas.height = Math.min(height, 1280);
    const g = canvas.getContext("2d");
    g.fillStyle = "#000"; g.fillRect(0, 0, canvas.width, canvas.height);
    const w = source.videoWidth || source.naturalWidth || canvas.width;
    const h = source.videoHeight || source.naturalHeight || canvas.height;
    const scale = Math.min(canvas.width / w, canvas.height / h);
    try {
      g.drawImage(source, (canvas.width - w * scale) / 2, (canvas.height - h * scale) / 2,
                  w * scale, h * scale);
      return await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.7));
    } catch (e) {
      return null;  // remote media taints the canvas: no screenshot this time
    }
  }

  async function report() {
    const base = root + "/screens/" + encodeURIComponent(screenId);
    try {
      const status = await fetch(base + "/status", {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
        body: JSON.stringify({ player_version: version, loop_in_step: inStep(),
                               cached_creatives: st.media.size, missing_creatives: missingMedia() }),
      });
      if (status.ok) st.reports += 1;
      const shot = await screenshot();
      if (shot) {
        const sent = await fetch(base + "/screenshot", {
          method: "POST", credentials: "same-origin", cache: "no-store",
          headers: { "Content-Type": "image/jpeg", "X-CSRF-Token": csrfToken }, body: shot,
        });
        if (sent.ok) st.reports += 1;
      }
    } catch (e) {
      st.lastError = "status: " + String(e && e.message || e);
    }
  }

  // ------------------------------------------------------------------ proof of play

  async function flush() {
    if (st.flushing) return;
    const q = readQueue();
    if (!q.length) return;
    st.flushing = true;
    const batch = q.slice(0, BATCH);
    try {
      const response = await fetch(popUrl, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
        body: JSON.stringify({ plays: batch }),
      });
      st.online = true;
      if (response.ok || response.status === 422) {
        // 422: the server will never accept this batch (e.g. a creative was removed);
        // keeping it would block every later proof.
        if (response.status === 422) st.lastError = "proof of play refused: " + await response.text();
        const sent = new Set(batch.map((p) => p.play_id));
        writeQueue(readQueue().filter((p) => !sent.has(p.play_id)));
      } else {
        st.lastError = "proof of play: HTTP " + response.status;
      }
    } catch (e) {
      st.online = false;
      st.lastError = "proof of play: " + String(e && e.message || e);
    } finally {
      st.flushing = false;
    }
  }

  // ------------------------------------------------------------------ start

  function visible() {
    const on = document.querySelector("#stage .media.on");
    if (!on) return { kind: "fallback", src: document.getElementById("fallback").getAttribute("src") };
    return { kind: on.tagName.toLowerCase(), id: on.id, src: on.getAttribute("src") };
  }

  window.caddiePlayer = {
    state: function () {
      const c = st.current;
      return {
        screen_id: screenId,
        online: st.online,
        last_fetch_ok: st.lastFetchOk,
        last_error: st.lastError,
        loop_start: c ? new Date(c.loopStart).toISOString() : null,
        position: c ? c.position : null,
        // true while the slot's media is being decoded (the previous one stays on air)
        switching: c ? c.switching : false,
        creative_id: c && c.shown ? c.slot.creative_id : null,
        campaign_id: c && c.shown ? c.slot.campaign_id : null,
        played: st.played,
        pending_proofs: readQueue().length,
        cached_media: st.media.size,
        in_step: inStep(),
        reports: st.reports,
        visible: visible(),
      };
    },
    history: function () { return st.history.slice(); },
    fetches: function () { return st.fetches.slice(); },
    flush: flush,
    refresh: refresh,
    report: report,
  };

  if (new URLSearchParams(location.search).get("diagnostics") === "1") body.classList.add("diagnostics");
  document.addEventListener("keydown", (event) => {
    if (event.key === "d") { body.classList.toggle("diagnostics"); diagnostics(); }
  });

  try {
    const saved = JSON.parse(localStorage.getItem(loopKey) || "null");
    if (saved && saved.screen_id === screenId) remember(saved);
  } catch (e) { /* ignore a damaged saved loop */ }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(root + "/player-sw.js", { scope: root + "/" })
      .catch((e) => { st.lastError = "service worker: " + e; });
  }
  window.addEventListener("pagehide", () => finishPlay(st.current));
  refresh().then(tick);
  setInterval(tick, 200);
  setInterval(flush, flushMs);
  setTimeout(report, Math.min(5000, statusMs));
  setInterval(report, statusMs);
})();
