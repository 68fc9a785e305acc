// One basket at the exit: keyboard-wedge rescans with a sound and a flash per result,
// corrections, age check, release, payment taken another way. Every change re-renders the
// server's panel in place; other staff's changes arrive over /ws/staff.
import { connectStaff, postJSON, sessionEnded, signal, tickWaits } from "./live.js";

const panel = document.getElementById("panel");
const basketId = panel.dataset.basket;
const api = `/api/checkout/baskets/${encodeURIComponent(basketId)}`;
const scanInput = document.getElementById("scan-input");
const scanResult = document.getElementById("scan-result");
const scanbar = document.getElementById("scanbar");

// outcome -> [css kind, sound, text]
const OUTCOMES = {
  verified: ["ok", "verified", (n) => `✔ ${n} verified`],
  duplicate: ["info", "duplicate", (n) => `${n} already verified — scanned twice, ignored`],
  extra: ["bad", "discrepancy", (n) => `✖ ${n} is NOT in the basket — resolve it below`],
};

function say(text, kind) {
  scanResult.textContent = text;
  scanResult.className = `scan-result ${kind}`;
}

let refreshing = null;
async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    const res = await fetch(`/staff/baskets/${encodeURIComponent(basketId)}/panel`, { credentials: "same-origin" });
    if (res.status === 401) { sessionEnded(); return; }
    if (res.ok) {
      const open = panel.querySelector("#manual-payment")?.open;
      panel.innerHTML = await res.text();
      if (open) panel.querySelector("#manual-payment")?.setAttribute("open", "");
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
    const out = await postJSON(`${api}/rescan`, { code });
    const [kind, sound, text] = OUTCOMES[out.outcome];
    say(text(out.name), kind);
    signal(sound, scanbar);
  } catch (err) {
    const unknown = ["unknown_product", "invalid_code"].includes(err.code);
    say(unknown ? `✖ Unknown code ${code}: not in the catalog` : err.message, "bad");
    signal(unknown ? "unknown" : "discrepancy", scanbar);
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

async function act(fn, done) {
  try { await fn(); say(done || "", done ? "ok" : ""); } catch (err) { say(err.message, "bad"); }
  await refresh();
  if (!scanInput.disabled) scanInput.focus();
}

panel.addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-action]");
  if (!button) return;
  const action = button.dataset.action;
  if (action === "approve-age") act(() => postJSON(`${api}/age-approval`, {}));
  else if (action === "release") act(() => postJSON(`${api}/release`, {}));
  else if (action === "extra-add") act(() => postJSON(`${api}/extras/${button.dataset.scan}/resolve`, { resolution: "add_to_basket" }));
  else if (action === "extra-dismiss") act(() => postJSON(`${api}/extras/${button.dataset.scan}/resolve`, { resolution: "staff_error" }));
});

// "Remove" asks once more on the button itself (no dialog in the way): the first press
// arms it for five seconds and names what goes; the second removes.
function armRemove(form, qty) {
  const button = form.querySelector("button[type=submit]");
  if (form.dataset.armed === "1") return true;
  form.dataset.armed = "1";
  button.classList.add("confirm");
  button.textContent = `Confirm: remove ${qty} × ${form.dataset.name}`;
  setTimeout(() => {
    if (!form.isConnected) return;
    form.dataset.armed = "";
    button.classList.remove("confirm");
    button.textContent = "Remove";
  }, 5000);
  return false;
}

function cents(text) {
  const m = /^\s*(\d+)(?:[.,](\d{1,2}))?\s*$/.exec(text || "");
  if (!m) return null;
  return Number.parseInt(m[1], 10) * 100 + Number.parseInt((m[2] || "0").padEnd(2, "0"), 10);
}

panel.addEventListener("submit", (ev) => {
  const form = ev.target.closest("form[data-action]");
  if (!form) return;
  ev.preventDefault();
  const data = new FormData(form);
  const qty = Number.parseInt(data.get("qty") || "1", 10);
  if (form.dataset.action === "remove") {
    if (!armRemove(form, qty)) return;
    act(() => postJSON(`${api}/lines/${form.dataset.line}/remove`, { qty, reason: data.get("reason") }),
      `Removed ${qty} × ${form.dataset.name}`);
  } else if (form.dataset.action === "add") {
    const note = (data.get("note") || "").trim();
    act(() => postJSON(`${api}/lines`, { code: String(data.get("code")).trim(), qty, reason: data.get("reason"), note: note || null }));
  } else if (form.dataset.action === "manual-payment") {
    const amount = cents(String(data.get("amount")));
    if (amount === null) { say("Amount: write it as 12.34", "bad"); return; }
    const note = String(data.get("note") || "").trim();
    act(() => postJSON(`${api}/manual-payment`, {
      method: data.get("method"), reference: String(data.get("reference")).trim(), amount_cents: amount, note: note || null,
    }), "Payment recorded");
  }
});

connectStaff((msg) => {
  if (msg.type === "basket" && msg.basket.basket_id === basketId) refresh();
}, () => {});
tickWaits(panel);
setInterval(() => tickWaits(panel), 1000);
