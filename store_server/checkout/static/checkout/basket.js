// One basket at the exit: keyboard-wedge rescans, corrections, age check, release.
// Every change re-renders the server's panel in place; other staff's changes arrive over /ws/staff.
import { connectStaff, tickWaits } from "./live.js";

const panel = document.getElementById("panel");
const basketId = panel.dataset.basket;
const api = `/api/checkout/baskets/${encodeURIComponent(basketId)}`;
const scanInput = document.getElementById("scan-input");
const scanResult = document.getElementById("scan-result");
const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

const OUTCOMES = {
  verified: ["ok", (n) => `✔ ${n} verified`],
  duplicate: ["info", (n) => `${n} already verified — scanned twice, ignored`],
  extra: ["bad", (n) => `✖ ${n} is NOT in the basket — resolve it below`],
};

function say(text, kind) {
  scanResult.textContent = text;
  scanResult.className = `scan-result ${kind}`;
}

async function call(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrfToken },
    body: JSON.stringify(body ?? {}),
    credentials: "same-origin",
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) { location.href = "/staff/login"; throw new Error("logged out"); }
  if (!res.ok) throw new Error(data?.error?.message || `error ${res.status}`);
  return data;
}

let refreshing = null;
async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    const res = await fetch(`/staff/baskets/${encodeURIComponent(basketId)}/panel`, { credentials: "same-origin" });
    if (res.ok) {
      panel.innerHTML = await res.text();
      tickWaits(panel);
      const head = panel.querySelector(".head");
      const frozen = panel.querySelector("#handoff") || !["finishing", "audit"].includes(head?.dataset.status);
      scanInput.disabled = Boolean(frozen);
    }
  })().finally(() => { refreshing = null; });
  return refreshing;
}

async function rescan(code) {
  try {
    const out = await call(`${api}/rescan`, { code });
    const [kind, text] = OUTCOMES[out.outcome];
    say(text(out.name), kind);
  } catch (err) {
    say(err.message, "bad");
  }
  await refresh();
}

document.getElementById("scan-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const code = scanInput.value.trim();
  scanInput.value = "";
  if (code) rescan(code);
  scanInput.focus();
});

// A USB scanner is a keyboard: digits arrive a few ms apart, then Enter. When the scan
// field has lost focus (staff clicked a button), catch such bursts anywhere on the page.
let burst = "";
let lastKey = 0;
document.addEventListener("keydown", (ev) => {
  const target = ev.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) return;
  const now = performance.now();
  if (now - lastKey > 80) burst = "";
  lastKey = now;
  if (/^[0-9]$/.test(ev.key)) { burst += ev.key; return; }
  if (ev.key === "Enter" && burst.length >= 8 && !scanInput.disabled) {
    ev.preventDefault();
    const code = burst;
    burst = "";
    rescan(code);
  }
});

async function act(fn) {
  try { await fn(); say("", ""); } catch (err) { say(err.message, "bad"); }
  await refresh();
  if (!scanInput.disabled) scanInput.focus();
}

panel.addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-action]");
  if (!button) return;
  const action = button.dataset.action;
  if (action === "approve-age") act(() => call(`${api}/age-approval`, {}));
  else if (action === "release") act(() => call(`${api}/release`));
  else if (action === "extra-add") act(() => call(`${api}/extras/${button.dataset.scan}/resolve`, { resolution: "add_to_basket" }));
  else if (action === "extra-dismiss") act(() => call(`${api}/extras/${button.dataset.scan}/resolve`, { resolution: "staff_error" }));
});

panel.addEventListener("submit", (ev) => {
  const form = ev.target.closest("form[data-action]");
  if (!form) return;
  ev.preventDefault();
  const data = new FormData(form);
  const qty = Number.parseInt(data.get("qty") || "1", 10);
  if (form.dataset.action === "remove") {
    act(() => call(`${api}/lines/${form.dataset.line}/remove`, { qty, reason: data.get("reason") }));
  } else if (form.dataset.action === "add") {
    const note = (data.get("note") || "").trim();
    act(() => call(`${api}/lines`, { code: String(data.get("code")).trim(), qty, reason: data.get("reason"), note: note || null }));
  }
});

connectStaff((msg) => {
  if (msg.type === "basket" && msg.basket.basket_id === basketId) refresh();
}, () => {});
tickWaits(panel);
setInterval(() => tickWaits(panel), 1000);
