// Message catalogues (i18n/<lang>.json) and Intl formatting. The language comes from
// the browser unless the shopper picked one (kept in localStorage).

export const LANGUAGES = ["en", "fr"];
const CHOSEN = "caddie.lang";

let lang = "en";
let messages = {};
let fallback = {};

async function load(code, base) {
  const reply = await fetch(`${base}/i18n/${code}.json`);
  if (!reply.ok) throw new Error(`catalogue ${code}: ${reply.status}`);
  return reply.json();
}

export function pickLanguage() {
  const chosen = localStorage.getItem(CHOSEN);
  if (LANGUAGES.includes(chosen)) return chosen;
  for (const tag of navigator.languages || [navigator.language]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export async function setLanguage(code, base, { remember = false } = {}) {
  if (!LANGUAGES.includes(code)) code = "en";
  if (Object.keys(fallback).length === 0) fallback = await load("en", base);
  messages = code === "en" ? fallback : await load(code, base);
  lang = code;
  if (remember) localStorage.setItem(CHOSEN, code);
  document.documentElement.lang = code;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
}

export function language() {
  return lang;
}

/** The message `key`, with `{name}` placeholders filled from `values`. */
export function t(key, values = {}) {
  const text = messages[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

/** Singular/plural messages: `key.one` / `key.other`, chosen by Intl.PluralRules. */
export function tn(key, count, values = {}) {
  const form = new Intl.PluralRules(lang).select(count) === "one" ? "one" : "other";
  return t(`${key}.${form}`, { count: formatNumber(count), ...values });
}

export function money(cents, currency) {
  return new Intl.NumberFormat(lang, { style: "currency", currency }).format(cents / 100);
}

export function formatNumber(n) {
  return new Intl.NumberFormat(lang).format(n);
}

export function weight(grams) {
  return new Intl.NumberFormat(lang, { style: "unit", unit: "kilogram", maximumFractionDigits: 3 })
    .format(grams / 1000);
}

export function dateTime(iso) {
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" })
    .format(new Date(iso));
}
