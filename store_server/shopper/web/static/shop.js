// The shopper app: unlock, scan, cart, offers, exit. Talks the handheld WebSocket
// (docs/PROTOCOL.md) through the IndexedDB outbox, and /api/shop/* (bearer device token).

import { formatsOf, gs1Gtin, gtin14 } from "./gtin.js";
import { Outbox } from "./outbox.js";
import { Scanner } from "./scanner.js";
import {
  dateTime, language, money, pickLanguage, setLanguage, t, tn, weight,
} from "./i18n.js";

const BASE = document.body.dataset.static;
const DEVICE_KEY = "caddie.device";
const TRIP_KEY = "caddie.trip"; // {card, basket, consent, offers} of the trip on screen
const UNDO_MS = 5000;
const REPLY_TIMEOUT_MS = 10000;
const POLL_MS = 3000;
const FINAL_ERRORS = new Set([
  "invalid_code", "unknown_product", "not_in_basket", "bad_quantity", "basket_locked",
  "bad_message", "no_basket",
]);

const $ = (id) => document.getElementById(id);

const state = {
  device: readJson(localStorage, DEVICE_KEY),
  trip: readJson(localStorage, TRIP_KEY) ?? emptyTrip(),
  outbox: null,
  pending: [], // outbox entries, oldest first
  ws: null,
  online: false,
  inflight: null,
  replyTimer: null,
  backoff: 500,
  reconnectTimer: null,
  removal: null, // {line, timer}: a removal the shopper can still undo
  scanner: null,
  audio: null,
  pollTimer: null,
  checkout: null,
};

function emptyTrip() {
  return { card: null, basket: null, consent: null, offers: [] };
}

function readJson(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

function saveTrip() {
  localStorage.setItem(TRIP_KEY, JSON.stringify(state.trip));
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

// ---------------------------------------------------------------- screens and messages

function show(screen) {
  for (const el of document.querySelectorAll("main > .screen")) el.hidden = el.id !== `screen-${screen}`;
  $("totals").hidden = screen !== "cart";
  if (document.body.dataset.screen !== screen) stopCamera();
  document.body.dataset.screen = screen;
}

function announce(text) {
  const live = $("announce");
  live.textContent = "";
  // A fresh text node so a repeated message is announced again.
  setTimeout(() => { live.textContent = text; }, 30);
}

function message(text, kind = "info") {
  const el = $("scan-message");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  announce(text);
}

function errorText(code) {
  const key = `error.${code}`;
  const text = t(key);
  return text === key ? t("error.unknown", { code }) : text;
}

function feedback() {
  try {
    if (state.audio) {
      const osc = state.audio.createOscillator();
      const gain = state.audio.createGain();
      osc.frequency.value = 1760;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(state.audio.destination);
      osc.start();
      osc.stop(state.audio.currentTime + 0.08);
    }
  } catch {
    /* no sound: the vibration and the announcement remain */
  }
  navigator.vibrate?.(60);
}

function wakeAudio() {
  if (!state.audio && window.AudioContext) state.audio = new AudioContext();
  state.audio?.resume?.();
}

// ---------------------------------------------------------------- the cart

function render() {
  const basket = state.trip.basket;
  const lines = $("lines");
  lines.replaceChildren();
  const currency = basket?.currency ?? "EUR";
  for (const line of basket?.lines ?? []) {
    if (state.removal?.line.gtin === line.gtin) continue;
    lines.append(lineItem(line, currency));
  }
  for (const entry of state.pending) {
    if (entry.message.type !== "scan") continue;
    const li = document.createElement("li");
    li.className = "line pending";
    li.dataset.pending = entry.id;
    li.innerHTML = `<div class="what"><span class="name"></span><span class="detail"></span></div>`;
    // The GTIN of GS1 data (a Digital Link, an element string), as it will be billed.
    li.querySelector(".name").textContent = gs1Gtin(entry.message.code) ?? entry.message.code;
    li.querySelector(".detail").textContent = t("cart.pending");
    lines.append(li);
  }
  $("cart-empty").hidden = lines.children.length > 0;
  const discounts = $("discounts");
  discounts.replaceChildren();
  for (const d of basket?.discounts ?? []) {
    const li = document.createElement("li");
    li.className = "discount";
    const label = document.createElement("span");
    label.textContent = d.label;
    const amount = document.createElement("span");
    amount.className = "amount";
    amount.textContent = money(-Math.abs(d.amount_cents), currency);
    li.append(label, amount);
    discounts.append(li);
  }
  $("item-count").textContent = String(basket?.item_count ?? 0);
  $("total").textContent = basket ? money(basket.total_cents, currency) : money(0, currency);
  renderOffers();
  renderBanner();
}

function lineItem(line, currency) {
  const li = document.createElement("li");
  li.className = "line";
  li.dataset.gtin = line.gtin;
  const what = document.createElement("div");
  what.className = "what";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = line.name;
  const detail = document.createElement("span");
  detail.className = "detail";
  detail.textContent = line.weight_g
    ? t("cart.per_kg", { weight: weight(line.weight_g), price: money(line.unit_price_cents, currency) })
    : t("cart.each", { price: money(line.unit_price_cents, currency) });
  what.append(name, detail);
  if (line.age_restricted) {
    const badge = document.createElement("span");
    badge.className = "badge age";
    badge.textContent = t("cart.age");
    what.append(badge);
  }
  const total = document.createElement("span");
  total.className = "line-total";
  total.textContent = money(line.line_total_cents, currency);
  const controls = document.createElement("div");
  controls.className = "controls";
  if (!line.weight_g) {
    controls.append(
      button("−", t("cart.less", { name: line.name }), "less", () => changeQty(line, -1)),
    );
    const qty = document.createElement("span");
    qty.className = "qty";
    qty.textContent = String(line.qty);
    qty.setAttribute("aria-label", `${t("cart.qty")} ${line.qty}`);
    controls.append(qty);
    controls.append(button("+", t("cart.more", { name: line.name }), "more", () => changeQty(line, 1)));
  }
  controls.append(button("✕", t("cart.remove", { name: line.name }), "remove", () => removeLine(line)));
  li.append(what, total, controls);
  return li;
}

function button(text, label, action, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `icon ${action}`;
  b.dataset.action = action;
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

function changeQty(line, delta) {
  if (delta > 0) return queue({ type: "scan", code: line.gtin, qty: 1 });
  if (line.qty <= 1) return removeLine(line);
  return queue({ type: "remove", code: line.gtin, qty: 1 });
}

function removeLine(line) {
  commitRemoval();
  const timer = setTimeout(commitRemoval, UNDO_MS);
  state.removal = { line, timer };
  $("undo-text").textContent = t("cart.removed_undo", { name: line.name });
  $("undo").hidden = false;
  announce(t("cart.removed_undo", { name: line.name }));
  render();
  $("undo-button").focus();
}

function commitRemoval() {
  const removal = state.removal;
  if (!removal) return;
  clearTimeout(removal.timer);
  state.removal = null;
  $("undo").hidden = true;
  queue({ type: "remove", code: removal.line.gtin, qty: removal.line.qty });
}

function undoRemoval() {
  if (!state.removal) return;
  clearTimeout(state.removal.timer);
  const { line } = state.removal;
  state.removal = null;
  $("undo").hidden = true;
  render();
  announce(`${line.name} ✓`);
}

function renderBanner() {
  const banner = $("offline");
  if (state.online || !state.device) {
    banner.hidden = true;
    return;
  }
  const count = state.pending.length;
  banner.textContent = count ? tn("offline.banner", count) : t("offline.none");
  banner.hidden = false;
}

// ---------------------------------------------------------------- outbox and socket

async function queue(message) {
  const entry = await state.outbox.add(message);
  state.pending.push(entry);
  if (message.type === "scan" && !state.online) {
    announce(t("scan.queued", { code: message.code }));
  }
  render();
  pump();
  return entry;
}

function connect() {
  clearTimeout(state.reconnectTimer);
  if (!state.device || state.ws) return;
  if (navigator.onLine === false) return renderBanner(); // the "online" event reconnects
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/handheld`;
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    scheduleReconnect();
    return;
  }
  state.ws = ws;
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({
      type: "hello", protocol: 1, device_id: state.device.device_id,
      token: state.device.token, features: ["offers"],
    }));
  });
  ws.addEventListener("message", (event) => {
    let reply;
    try {
      reply = JSON.parse(event.data);
    } catch {
      return;
    }
    receive(reply);
  });
  ws.addEventListener("close", (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    const wasOnline = state.online;
    state.online = false;
    state.inflight = null;
    clearTimeout(state.replyTimer);
    if (event.code === 4401) return refused();
    if (wasOnline) announce(t("announce.offline"));
    renderBanner();
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  clearTimeout(state.reconnectTimer);
  const delay = state.backoff * (0.5 + Math.random() / 2);
  state.backoff = Math.min(state.backoff * 2, 10000);
  state.reconnectTimer = setTimeout(connect, delay);
}

function dropSocket() {
  const ws = state.ws;
  if (ws) ws.close(4000, "no reply");
}

/** Back on screen, or woken from sleep (the page was frozen): the socket may have died
 * meanwhile without the page hearing of it (the network forgets a sleeping phone and
 * tells neither end), and no backoff timer ran. A fresh socket at once: the outbox is
 * replayed on it with the same ids, and the server applies each request once. */
function reconnectNow() {
  const ws = state.ws;
  if (ws) {
    state.ws = null; // its close event, if one comes, is an old socket's
    state.online = false;
    state.inflight = null;
    clearTimeout(state.replyTimer);
    ws.close(4000, "resumed");
  }
  state.backoff = 500;
  connect();
}

/** The device token was refused: a phone's trip has ended; a kiosk must be paired again. */
function refused() {
  const kind = state.device?.kind;
  localStorage.removeItem(DEVICE_KEY);
  state.device = null;
  renderBanner();
  show(kind === "phone" ? "ended" : "start");
}

function pump() {
  if (!state.online || state.inflight || !state.ws) return;
  const entry = state.pending[0];
  if (!entry) return;
  state.inflight = entry.id;
  const frame = { ...entry.message, id: entry.id, seq: entry.seq };
  // How long it waited for the network (PROTOCOL.md, queued_ms): the manager's figures.
  if (entry.queuedAt && (frame.type === "scan" || frame.type === "remove")) {
    frame.queued_ms = Math.max(0, Date.now() - entry.queuedAt);
  }
  state.ws.send(JSON.stringify(frame));
  clearTimeout(state.replyTimer);
  state.replyTimer = setTimeout(dropSocket, REPLY_TIMEOUT_MS);
}

async function answered(id) {
  clearTimeout(state.replyTimer);
  await state.outbox.forget(id);
  state.pending = state.pending.filter((e) => e.id !== id);
  if (state.inflight === id) state.inflight = null;
}

async function receive(reply) {
  const entry = reply.id ? state.pending.find((e) => e.id === reply.id) : null;
  switch (reply.type) {
    case "welcome":
      state.online = true;
      state.backoff = 500;
      announceOnline();
      if (reply.basket) setBasket(reply.basket);
      else if (
        state.trip.card && document.body.dataset.screen !== "exit"
        && !state.pending.some((e) => e.message.type === "start")
      ) {
        // The trip on screen was closed elsewhere (paid, abandoned): start afresh.
        resetTrip();
        show("unlock");
      }
      render();
      break;
    case "error":
      if (reply.code === "rate_limited" && entry) {
        state.inflight = null;
        setTimeout(pump, 1000);
        return;
      }
      if (entry) await answered(entry.id);
      showError(reply, entry);
      break;
    case "ack":
    case "basket":
      if (entry) await answered(entry.id);
      if (reply.basket) setBasket(reply.basket);
      if (entry) acknowledged(reply, entry);
      break;
    case "checkout":
      if (entry) await answered(entry.id);
      setBasket(reply.basket);
      state.checkout = reply;
      showExit();
      break;
    case "consent":
      if (entry) await answered(entry.id);
      state.trip.consent = reply.opt_in ? "in" : "out";
      if (!reply.opt_in) state.trip.offers = [];
      saveTrip();
      message(t(reply.opt_in ? "offers.opted_in" : "offers.opted_out"));
      break;
    case "offer":
      if (state.trip.consent === "in" && !state.trip.offers.some((o) => o.offer_id === reply.offer_id)) {
        state.trip.offers.push(reply);
        saveTrip();
      }
      break;
    default:
      if (entry) await answered(entry.id);
  }
  render();
  pump();
}

function announceOnline() {
  if (!state.announcedOnline) {
    state.announcedOnline = true;
    return;
  }
  announce(t("announce.online"));
}

function setBasket(basket) {
  state.trip.basket = basket;
  saveTrip();
  if (["finishing", "audit"].includes(basket.status) && document.body.dataset.screen !== "exit") {
    showExit();
  } else if (["paid", "abandoned"].includes(basket.status)) {
    showExit();
  }
}

function acknowledged(reply, entry) {
  const basket = reply.basket;
  const currency = basket?.currency ?? "EUR";
  const total = basket ? money(basket.total_cents, currency) : "";
  if (entry.message.type === "scan" && reply.line) {
    message(t("scan.added", {
      name: reply.line.name, price: money(reply.line.line_total_cents, currency), total,
    }), "ok");
  } else if (entry.message.type === "remove" && reply.line) {
    message(t("scan.removed", { name: reply.line.name, total }), "ok");
  } else if (entry.message.type === "accept_offer") {
    const offer = state.trip.offers.find((o) => o.offer_id === entry.message.offer_id);
    state.trip.offers = state.trip.offers.filter((o) => o.offer_id !== entry.message.offer_id);
    saveTrip();
    if (offer) message(t("offers.accepted", { label: offer.label }), "ok");
  }
}

function showError(reply, entry) {
  const code = entry?.message.code ?? "";
  const known = {
    invalid_code: "scan.invalid_code", unknown_product: "scan.unknown_product",
    not_in_basket: "scan.not_in_basket", basket_locked: "scan.basket_locked",
    bad_quantity: "scan.bad_quantity",
  }[reply.code];
  if (reply.code === "no_basket") {
    show("unlock");
    return;
  }
  message(known ? t(known, { code }) : t("scan.error", { message: reply.message ?? reply.code }), "error");
}

// ---------------------------------------------------------------- scanning

async function scanned(code) {
  feedback();
  await queue({ type: "scan", code, qty: 1 });
}

async function startCamera() {
  wakeAudio();
  const toggle = $("camera-toggle");
  if (state.scanner) return stopCamera();
  const scanner = new Scanner($("video"), {
    base: BASE,
    formats: formatsOf(document.body.dataset.symbologies),
    onScan: scanned,
  });
  state.scanner = scanner;
  $("viewfinder").hidden = false;
  toggle.setAttribute("aria-pressed", "true");
  toggle.textContent = t("camera.stop");
  toggle.dataset.i18n = "camera.stop";
  scanner.onFail = cameraFailed;
  try {
    await scanner.start();
    $("camera-help").hidden = true;
    $("torch").hidden = !scanner.torchAvailable;
    document.body.dataset.camera = "on";
  } catch (error) {
    cameraFailed(error);
  }
}

function cameraText(error) {
  const kind = error.kind ?? "refused";
  return t(
    kind === "absent" ? "camera.absent_body" : kind === "decoder" ? "camera.decoder_failed" : "camera.refused_body",
  );
}

/** Camera refused or absent, or the decoder cannot run: say how to fix it; typing works. */
function cameraFailed(error) {
  stopCamera();
  $("camera-help-text").textContent = cameraText(error);
  $("camera-help").hidden = false;
  document.body.dataset.camera = error.kind ?? "refused";
  $("manual-code").focus();
}

function stopCamera() {
  state.scanner?.stop();
  state.scanner = null;
  const toggle = $("camera-toggle");
  $("viewfinder").hidden = true;
  $("card-viewfinder").hidden = true;
  $("scan-card").setAttribute("aria-pressed", "false");
  $("torch").hidden = true;
  toggle.setAttribute("aria-pressed", "false");
  toggle.dataset.i18n = "camera.start";
  toggle.textContent = t("camera.start");
  if (document.body.dataset.camera === "on") document.body.dataset.camera = "off";
}

async function toggleTorch() {
  const torch = $("torch");
  const on = torch.getAttribute("aria-pressed") !== "true";
  try {
    await state.scanner?.setTorch(on);
    torch.setAttribute("aria-pressed", String(on));
  } catch {
    torch.hidden = true;
  }
}

function manualEntry(event) {
  event.preventDefault();
  const input = $("manual-code");
  const typed = input.value.replace(/\s+/g, "");
  if (!typed) return;
  const code = gtin14(typed);
  if (!code) {
    message(t("scan.invalid_code", { code: typed }), "error");
    input.select();
    return;
  }
  input.value = "";
  scanned(code);
  input.focus();
}

// ---------------------------------------------------------------- unlock, pairing, joining

async function postJson(path, body) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() };
  if (state.device?.token) headers.Authorization = `Bearer ${state.device.token}`;
  const reply = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  let data = null;
  try {
    data = await reply.json();
  } catch {
    /* an empty or non-JSON body: the status says enough */
  }
  if (!reply.ok) {
    const code = data?.error?.code ?? (reply.status === 429 ? "rate_limited" : `http_${reply.status}`);
    throw Object.assign(new Error(code), { code });
  }
  return data;
}

function storeDevice(data) {
  state.device = {
    device_id: data.device_id, token: data.token, kind: data.kind, expires_at: data.expires_at ?? null,
  };
  localStorage.setItem(DEVICE_KEY, JSON.stringify(state.device));
}

async function pair(code) {
  show("unlock");
  const note = $("unlock-error");
  note.hidden = false;
  note.textContent = t("pair.working");
  try {
    storeDevice(await postJson("/api/shop/pair", { code }));
    note.textContent = t("pair.done");
    history.replaceState(null, "", "/shop");
    connect();
  } catch (error) {
    note.textContent = t("pair.failed", { reason: errorText(error.code ?? "network") });
  }
}

async function unlock(event) {
  event?.preventDefault();
  const card = $("card").value.trim();
  const note = $("unlock-error");
  if (!/^[A-Za-z0-9-]{1,32}$/.test(card)) {  // the server's rule for a card number
    note.textContent = t(card ? "unlock.card_invalid" : "unlock.card_missing");
    note.hidden = false;
    $("card").focus();
    return;
  }
  const ticket = sessionStorage.getItem("caddie.join");
  if (ticket) {
    try {
      storeDevice(await postJson("/api/shop/join", { ticket, loyalty_card: card }));
      sessionStorage.removeItem("caddie.join");
    } catch (error) {
      note.textContent = t("unlock.join_failed", { reason: errorText(error.code ?? "network") });
      note.hidden = false;
      return;
    }
  }
  if (!state.device) return show("start");
  note.hidden = true;
  $("card").value = "";
  state.trip = { ...emptyTrip(), card };
  saveTrip();
  show("cart");
  await queue({ type: "start", loyalty_card: card });
  connect();
  offerConsent();
}

async function scanCard() {
  wakeAudio();
  if (state.scanner) return stopCamera();
  const note = $("unlock-error");
  const scanner = new Scanner($("card-video"), {
    base: BASE,
    onScan: (code) => { feedback(); cardScanned(code); },
  });
  state.scanner = scanner;
  $("card-viewfinder").hidden = false;
  $("scan-card").setAttribute("aria-pressed", "true");
  const failed = (error) => {
    stopCamera();
    note.textContent = cameraText(error);
    note.hidden = false;
    $("card").focus();
  };
  scanner.onFail = failed;
  try {
    await scanner.start();
  } catch (error) {
    failed(error);
  }
}

function cardScanned(code) {
  stopCamera();
  // Cards are printed as EAN-13 (or UPC-A, EAN-8): the number on the card, not the GTIN-14.
  $("card").value = code.startsWith("000000") ? code.slice(6) : code.startsWith("00") ? code.slice(2) : code.slice(1);
  unlock();
}

// ---------------------------------------------------------------- offers

function offerConsent() {
  if (state.trip.consent === null) $("consent").hidden = false;
}

function renderOffers() {
  const consent = state.trip.consent;
  $("consent-version").textContent = t("offers.consent_version");
  $("consent").hidden = consent !== null;
  $("opt-out").hidden = consent !== "in";
  $("offers-show").hidden = consent !== "out" && consent !== "declined";
  const list = $("offer-list");
  list.replaceChildren();
  for (const offer of consent === "in" ? state.trip.offers : []) {
    const li = document.createElement("li");
    li.className = "offer card";
    const label = document.createElement("strong");
    label.textContent = offer.label;
    const why = document.createElement("p");
    why.textContent = offer.why ?? "";
    const accept = button(t("offers.accept"), `${t("offers.accept")}: ${offer.label}`, "accept", () =>
      queue({ type: "accept_offer", offer_id: offer.offer_id }));
    accept.className = "primary";
    li.append(label, why, accept);
    list.append(li);
  }
}

function consentTo(optIn) {
  queue({ type: "consent", opt_in: optIn, wording_version: t("offers.consent_version") });
  state.trip.consent = optIn ? "in" : "out";
  if (!optIn) state.trip.offers = [];
  saveTrip();
  render();
}

// ---------------------------------------------------------------- exit

function showExit() {
  show("exit");
  const basket = state.trip.basket;
  const audit = state.checkout?.audit;
  const next = $("exit-next");
  $("exit-total").textContent = basket
    ? tn("exit.total", basket.item_count, { total: money(basket.total_cents, basket.currency) })
    : "";
  if (basket?.status === "paid") {
    next.textContent = "";
  } else if (basket?.status === "abandoned") {
    next.textContent = t("exit.abandoned");
  } else if (!audit) {
    next.textContent = t("exit.waiting");
  } else if (audit.decision === "full") {
    next.textContent = t("exit.full");
  } else if (audit.decision === "partial") {
    next.textContent = tn("exit.partial", audit.rescan?.length ?? audit.rescan_count ?? 0);
  } else {
    next.textContent = t("exit.pay");
  }
  announce(next.textContent);
  pollTrip();
}

async function pollTrip() {
  clearTimeout(state.pollTimer);
  if (!state.device || document.body.dataset.screen !== "exit") return;
  try {
    const reply = await fetch("/api/shop/trip", {
      headers: { Authorization: `Bearer ${state.device.token}` }, cache: "no-store",
    });
    if (reply.status === 401) return refused();
    if (reply.ok) tripStatus(await reply.json());
  } catch {
    /* offline: try again */
  }
  if (state.trip.basket?.status !== "paid") state.pollTimer = setTimeout(pollTrip, POLL_MS);
}

async function tripStatus(trip) {
  if (trip.basket) setBasketQuietly(trip.basket);
  if (trip.audit && !state.checkout) {
    state.checkout = { audit: { decision: trip.audit.decision, rescan_count: trip.audit.rescan_count } };
  }
  if (trip.handoff_code && $("handoff-code").textContent !== trip.handoff_code) {
    const { renderSVG } = await import(`${BASE}/vendor/uqr/uqr.mjs`);
    $("handoff-qr").innerHTML = renderSVG(trip.handoff_code, { border: 2 });
    const svg = $("handoff-qr").querySelector("svg");
    svg?.setAttribute("role", "img");
    svg?.setAttribute("aria-label", `${t("exit.handoff")}: ${trip.handoff_code}`);
    $("handoff-code").textContent = trip.handoff_code;
    $("handoff").hidden = false;
  }
  if (trip.status === "paid") {
    $("exit-paid").hidden = false;
    $("exit-next").textContent = "";
    $("handoff").hidden = true;
    $("new-trip").hidden = false;
    if (trip.receipt_url) {
      const link = $("receipt-link");
      link.href = trip.receipt_url;
      link.hidden = false;
    }
    announce(t("exit.paid"));
  } else if (trip.status === "abandoned") {
    $("exit-next").textContent = t("exit.abandoned");
    $("new-trip").hidden = false;
  }
}

function setBasketQuietly(basket) {
  state.trip.basket = basket;
  saveTrip();
}

/** After a trip: nothing of this shopper stays on screen or in the browser. */
function resetTrip() {
  clearTimeout(state.pollTimer);
  state.trip = emptyTrip();
  state.checkout = null;
  localStorage.removeItem(TRIP_KEY);
  for (const id of ["handoff", "exit-paid", "receipt-link", "new-trip", "scan-message"]) $(id).hidden = true;
  $("handoff-qr").replaceChildren();
  $("handoff-code").textContent = "";
  $("receipt-link").removeAttribute("href");
  render();
}

function tripDone() {
  const phone = state.device?.kind === "phone";
  resetTrip();
  if (phone) {
    localStorage.removeItem(DEVICE_KEY);
    state.device = null;
    state.ws?.close(1000);
    show("ended");
  } else {
    show("unlock");
    $("card").focus();
  }
}

// ---------------------------------------------------------------- start-up

/** A pairing code (`/shop/pair#code=`) or a join ticket (`#join=`): used once, and taken
 * out of the address bar at once. True when there was one. */
function oneTimeFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (location.pathname === "/shop/pair" && fragment.get("code")) {
    history.replaceState(null, "", location.pathname);
    pair(fragment.get("code"));
    return true;
  }
  if (fragment.get("join")) {
    sessionStorage.setItem("caddie.join", fragment.get("join"));
    history.replaceState(null, "", location.pathname);
    show("unlock");
    return true;
  }
  return false;
}

async function boot() {
  await setLanguage(pickLanguage(), BASE);
  $("lang").value = language();
  $("lang").addEventListener("change", async (event) => {
    await setLanguage(event.target.value, BASE, { remember: true });
    render();
    if (document.body.dataset.screen === "exit") showExit();
  });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/shop/sw.js", { scope: "/shop" }).catch((error) => {
      console.warn("no offline shell", error);
    });
    // A page that loaded while the worker was still installing can miss the worker's
    // clients.claim(); ask the active worker to claim it so the very first visit already
    // works offline.
    navigator.serviceWorker.ready.then((registration) => {
      if (!navigator.serviceWorker.controller && registration.active) {
        registration.active.postMessage({ type: "claim" });
      }
    });
  }
  state.outbox = await Outbox.open();
  state.pending = await state.outbox.pending();

  $("unlock-form").addEventListener("submit", unlock);
  $("scan-card").addEventListener("click", scanCard);
  $("manual-form").addEventListener("submit", manualEntry);
  $("camera-toggle").addEventListener("click", startCamera);
  $("torch").addEventListener("click", toggleTorch);
  $("undo-button").addEventListener("click", undoRemoval);
  $("finish").addEventListener("click", () => {
    commitRemoval();
    stopCamera();
    queue({ type: "finish" });
    showExit();
  });
  $("opt-in").addEventListener("click", () => consentTo(true));
  $("opt-decline").addEventListener("click", () => {
    state.trip.consent = "declined";
    saveTrip();
    render();
  });
  $("offers-show").addEventListener("click", () => {
    state.trip.consent = null;
    render();
  });
  $("opt-out").addEventListener("click", () => consentTo(false));
  $("new-trip").addEventListener("click", tripDone);
  window.addEventListener("online", () => { state.backoff = 500; connect(); });
  // The browser knows the network is gone: a socket may take minutes to notice.
  window.addEventListener("offline", () => state.ws?.close(4000, "offline"));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });
  document.addEventListener("resume", reconnectNow);

  // A link opened while the app is already on screen changes only the fragment.
  window.addEventListener("hashchange", oneTimeFragment);
  if (oneTimeFragment()) return;
  if (!state.device) return show("start");
  const trip = state.trip;
  if (state.pending.some((e) => e.message.type === "finish") || ["finishing", "audit"].includes(trip.basket?.status)) {
    showExit();
  } else if (trip.card || state.pending.length) {
    show("cart");
  } else {
    show("unlock");
  }
  render();
  connect();
}

boot();
