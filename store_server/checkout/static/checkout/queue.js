// The live exit queue: one row per finishing basket, updated over /ws/staff without reloads.
import { connectStaff, money, tickWaits } from "./live.js";

const rows = new Map();
const tbody = document.getElementById("queue-rows");

function cell(tr, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  tr.append(td);
  return td;
}

function render() {
  const list = [...rows.values()].sort((a, b) => (a.finished_at || "").localeCompare(b.finished_at || ""));
  tbody.replaceChildren();
  for (const b of list) {
    const tr = document.createElement("tr");
    tr.dataset.basket = b.basket_id;
    tr.className = `decision-${b.decision}`;
    const t = document.createElement("time");
    t.className = "waited";
    t.setAttribute("datetime", b.finished_at || "");
    cell(tr, t);
    const a = document.createElement("a");
    a.href = `/staff/baskets/${encodeURIComponent(b.basket_id)}`;
    a.textContent = b.device_id;
    cell(tr, a);
    const badge = document.createElement("span");
    badge.className = `badge decision-${b.decision}`;
    badge.textContent = b.decision === "none" ? "no audit" : `${b.decision} (${b.rescan_count})`;
    cell(tr, badge);
    cell(tr, b.reasons.join(" · "), "reasons");
    cell(tr, String(b.item_count), "num");
    cell(tr, money(b.total_cents, b.currency), "num");
    cell(tr, b.age_check === "needed" ? "18+ needed" : b.age_check === "approved" ? "approved" : "—");
    cell(tr, b.released ? `released ${b.handoff_code}` : b.status);
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

load(JSON.parse(document.getElementById("queue-data").textContent));
connectStaff((msg) => {
  if (msg.type === "queue") load(msg.baskets);
  else if (msg.type === "basket") {
    if (msg.in_queue) rows.set(msg.basket.basket_id, msg.basket); else rows.delete(msg.basket.basket_id);
    render();
  }
}, (up) => { document.getElementById("live").className = up ? "live on" : "live off"; });
setInterval(() => tickWaits(tbody), 1000);
