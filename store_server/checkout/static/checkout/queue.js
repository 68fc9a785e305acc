// The live exit queue: one row per basket at the exit, state first, updated over /ws/staff
// without reloads; today's figures refresh with every change.
import { connectStaff, money, sessionEnded, tickWaits, waitText } from "./live.js";

const rows = new Map();
const tbody = document.getElementById("queue-rows");

// What staff must do first: baskets waiting for an audit, then the others waiting, then
// those released to the till.
const STATES = {
  audit: ["waiting: audit", 0],
  finishing: ["waiting: no audit", 1],
  released: ["released: at the till", 2],
};

function stateOf(b) {
  return b.released ? "released" : b.status;
}

function cell(tr, label, content, cls) {
  const td = document.createElement("td");
  td.dataset.label = label;
  if (cls) td.className = cls;
  if (content instanceof Node) td.append(content); else td.textContent = content;
  tr.append(td);
  return td;
}

function render() {
  const list = [...rows.values()].sort((a, b) =>
    (STATES[stateOf(a)]?.[1] ?? 9) - (STATES[stateOf(b)]?.[1] ?? 9)
    || (a.finished_at || "").localeCompare(b.finished_at || ""));
  tbody.replaceChildren();
  for (const b of list) {
    const state = stateOf(b);
    const tr = document.createElement("tr");
    tr.dataset.basket = b.basket_id;
    tr.dataset.state = state;
    tr.className = `state-${state}`;
    const badge = document.createElement("span");
    badge.className = `badge state state-${state}`;
    badge.textContent = STATES[state]?.[0] ?? b.status;
    if (b.released && b.handoff_code) badge.textContent += ` · ${b.handoff_code}`;
    cell(tr, "State", badge, "state");
    const t = document.createElement("time");
    t.className = "waited";
    t.setAttribute("datetime", b.finished_at || "");
    cell(tr, "Waiting", t);
    const a = document.createElement("a");
    a.href = `/staff/baskets/${encodeURIComponent(b.basket_id)}`;
    a.textContent = b.device_id;
    cell(tr, "Device", a, "device");
    const audit = b.decision === "none" ? "no audit" : `${b.decision} rescan (${b.rescan_count})`;
    const why = document.createElement("span");
    why.textContent = audit;
    if (b.reasons.length) {
      const small = document.createElement("small");
      small.className = "reasons";
      small.textContent = b.reasons.join(" · ");
      why.append(document.createElement("br"), small);
    }
    cell(tr, "Audit", why);
    cell(tr, "Items", String(b.item_count), "num");
    cell(tr, "Value", money(b.total_cents, b.currency), "num");
    cell(tr, "Age check", b.age_check === "needed" ? "18+ needed" : b.age_check === "approved" ? "approved" : "—",
      b.age_check === "needed" ? "age-needed" : "");
    tr.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") location.href = a.href; });
    tbody.append(tr);
  }
  document.getElementById("queue-count").textContent = String(list.length);
  document.getElementById("queue-empty").hidden = list.length > 0;
  tickWaits(tbody);
}

function load(list) {
  rows.clear();
  for (const b of list) rows.set(b.basket_id, b);
  render();
}

let figuresDue = null;
function refreshFigures() {
  clearTimeout(figuresDue);
  figuresDue = setTimeout(async () => {
    const res = await fetch("/api/checkout/figures", { credentials: "same-origin" });
    if (res.status === 401) { sessionEnded(); return; }
    if (!res.ok) return;
    const f = await res.json();
    document.getElementById("fig-waiting").textContent = String(f.waiting);
    document.getElementById("fig-audits").textContent = String(f.audits_done);
    document.getElementById("fig-wait").textContent = waitText(f.average_wait_s);
    document.getElementById("fig-paid").textContent = String(f.paid);
  }, 300);
}

load(JSON.parse(document.getElementById("queue-data").textContent));
connectStaff((msg) => {
  if (msg.type === "queue") load(msg.baskets);
  else if (msg.type === "basket") {
    if (msg.in_queue) rows.set(msg.basket.basket_id, msg.basket); else rows.delete(msg.basket.basket_id);
    render();
    refreshFigures();
  }
}, (up) => { document.getElementById("live").className = up ? "live on" : "live off"; });
setInterval(() => tickWaits(tbody), 1000);
