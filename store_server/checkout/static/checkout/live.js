// Shared by the staff pages: the live socket, session end, requests that change something,
// money, waits, and the rescan sounds.

const LOGIN = "/staff/login";

// The session ended (logout elsewhere, expiry, a disabled account): say so, then go to the
// login page, which brings staff back to this page.
export function sessionEnded() {
  const banner = document.getElementById("session-ended");
  if (banner) banner.hidden = false;
  document.body.classList.add("ended");
  const next = encodeURIComponent(location.pathname);
  setTimeout(() => { location.href = `${LOGIN}?ended=1&next=${next}`; }, 1500);
}

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

// POST JSON with the CSRF header; a 401 ends the session, other refusals throw their message.
export async function postJSON(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body ?? {}),
    credentials: "same-origin",
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) { sessionEnded(); throw new Error("Your session ended: log in again"); }
  if (!res.ok) {
    const err = new Error(data?.error?.message || `error ${res.status}`);
    err.code = data?.error?.code;
    throw err;
  }
  return data;
}

// The staff socket: reconnects with a jittered backoff; a refused session is announced.
export function connectStaff(onMessage, onState) {
  let delay = 500;
  function open() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws/staff`);
    ws.onopen = () => { delay = 500; onState(true); };
    ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      onState(false);
      if (ev.code === 4401 || ev.code === 4403) { sessionEnded(); return; }
      setTimeout(open, delay + Math.random() * delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  open();
}

export function money(cents, currency) {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}${currency ? " " + currency : ""}`;
}

export function waitText(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return m ? `${m} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

export function waited(iso) {
  if (!iso) return "";
  return waitText((Date.now() - Date.parse(iso)) / 1000);
}

export function tickWaits(root = document) {
  for (const t of root.querySelectorAll("time.waited")) t.textContent = waited(t.getAttribute("datetime"));
}

// Rescan feedback staff hear without looking: a high beep (verified), a low double buzz
// (discrepancy), three short mid tones (unknown code). WebAudio, no sound files.
const TONES = {
  verified: [[880, 0, 0.12]],
  duplicate: [[660, 0, 0.08]],
  discrepancy: [[220, 0, 0.22], [220, 0.3, 0.22]],
  unknown: [[440, 0, 0.08], [440, 0.14, 0.08], [440, 0.28, 0.08]],
};
let audio = null;

export function signal(kind, element) {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const start = audio.currentTime + 0.01;
    for (const [freq, at, length] of TONES[kind] ?? []) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = kind === "discrepancy" ? "square" : "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.2, start + at);
      gain.gain.exponentialRampToValueAtTime(0.001, start + at + length);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + at);
      osc.stop(start + at + length + 0.02);
    }
    document.body.dataset.lastSound = kind;
  } catch {
    // no audio device: the flash still shows
  }
  if (element) {
    element.classList.remove("flash-verified", "flash-duplicate", "flash-discrepancy", "flash-unknown");
    void element.offsetWidth; // restart the animation
    element.classList.add(`flash-${kind}`);
  }
}
