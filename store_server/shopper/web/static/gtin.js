// The scan rules of the Python handheld (docs/PROTOCOL.md, handheld_client/debounce.py):
// retail symbologies unless the store names others, GTIN-14 with a valid check digit,
// debounce on frame time.

export const RETAIL_FORMATS = ["ean_13", "ean_8", "upc_a", "upc_e"];
// The BarcodeDetector formats of each symbology the store may name (the setting
// CADDIE_SHOPPER_SYMBOLOGIES, in the names of `caddie handheld --symbologies`).
export const SYMBOLOGY_FORMATS = {
  EAN13: ["ean_13"],
  EAN8: ["ean_8"],
  UPCA: ["upc_a"],
  UPCE: ["upc_e"],
  CODE128: ["code_128"],
  QR: ["qr_code"],
  DATAMATRIX: ["data_matrix"],
  DATABAR: ["databar", "databar_expanded", "databar_limited"],
};

/** The formats to read for a comma-separated list of symbology names; the retail ones
 * when the list names none. */
export function formatsOf(names) {
  const formats = String(names ?? "").split(",").flatMap((n) => SYMBOLOGY_FORMATS[n.trim()] ?? []);
  return formats.length ? [...new Set(formats)] : RETAIL_FORMATS;
}

/** Mod-10 check digit of the digits before the last one is the last one. */
export function checkDigitOk(digits) {
  if (!/^\d+$/.test(digits) || digits.length < 2) return false;
  let sum = 0;
  const body = digits.slice(0, -1);
  for (let i = 0; i < body.length; i++) {
    const d = body.charCodeAt(body.length - 1 - i) - 48;
    sum += i % 2 === 0 ? d * 3 : d;
  }
  return (10 - (sum % 10)) % 10 === Number(digits.at(-1));
}

/** UPC-E (8 digits, number system 0 or 1) expanded to UPC-A (12 digits). */
export function upceToUpca(upce) {
  if (!/^[01]\d{7}$/.test(upce)) return null;
  const [ns, d1, d2, d3, d4, d5, d6, check] = upce;
  let body;
  if ("012".includes(d6)) body = `${d1}${d2}${d6}0000${d3}${d4}${d5}`;
  else if (d6 === "3") body = `${d1}${d2}${d3}00000${d4}${d5}`;
  else if (d6 === "4") body = `${d1}${d2}${d3}${d4}00000${d5}`;
  else body = `${d1}${d2}${d3}${d4}${d5}0000${d6}`;
  return `${ns}${body}${check}`;
}

/**
 * The 14-digit GTIN of a retail code, or null for anything that is not one. `format` is
 * the BarcodeDetector format: UPC-E reads (8 digits, or already expanded) are expanded to
 * UPC-A first; without a format (typed by hand) the text must be a GTIN-8/12/13/14.
 */
export function gtin14(text, format = null) {
  let digits = String(text).trim();
  if (!/^\d+$/.test(digits)) return null;
  if (format === "upc_e") {
    if (digits.length === 8) digits = upceToUpca(digits);
    else if (digits.length === 13 && digits[0] === "0") digits = digits.slice(1);
    else if (digits.length !== 12) return null;
    if (digits === null) return null;
  }
  if (![8, 12, 13, 14].includes(digits.length)) return null;
  if (!checkDigitOk(digits)) return null;
  return digits.padStart(14, "0");
}

/**
 * The GTIN (AI 01) of GS1 data: a Digital Link URI, the printed form `(01)…(10)…`, or
 * (except in a QR code, as the Python handheld reads them) a raw element string, as GS1
 * DataMatrix, GS1-128 and DataBar carry it. Null for anything else.
 */
export function gs1Gtin(text, format = null) {
  const value = String(text);
  const link = /^https?:\/\/[^/]+(?:\/[^/]+)*?\/01\/(\d{8}|\d{12,14})(?:[/?#]|$)/.exec(value);
  if (link) return gtin14(link[1]);
  const printed = /^\(01\)(\d{14})(?:\(|$)/.exec(value);
  if (printed) return gtin14(printed[1]);
  if (format === "qr_code") return null;
  const element = /^(?:\]d2|\]C1|\]e0)?01(\d{14})/.exec(value.replace(/^\u001d/, ""));
  if (element) return gtin14(element[1]);
  return null;
}

/**
 * What a decoded symbol of one of `formats` means for the basket, or null: `key`, its
 * 14-digit GTIN (what the debouncer counts), and `code`, what is sent to the server. As
 * the Python handheld does, a retail code is sent as its GTIN and GS1 data whole (the
 * Digital Link, or the element string), so a weight, a price or a batch reaches the
 * server, which reads every GS1 form.
 */
export function scanRead(symbol, formats = RETAIL_FORMATS) {
  if (!formats.includes(symbol.format)) return null;
  if (RETAIL_FORMATS.includes(symbol.format)) {
    const key = gtin14(symbol.rawValue, symbol.format);
    return key && { key, code: key };
  }
  const key = gs1Gtin(symbol.rawValue, symbol.format);
  return key && { key, code: String(symbol.rawValue).replace(/^\u001d/, "") };
}

/** The 14-digit GTIN a decoded symbol of one of `formats` counts as, or null. */
export function scanCode(symbol, formats = RETAIL_FORMATS) {
  return scanRead(symbol, formats)?.key ?? null;
}

const EPSILON_S = 1e-6;

/**
 * A code seen in consecutive frames is one scan; it counts again only once it has been
 * absent for at least `absenceS` of frame time. Frame time going backwards starts afresh.
 */
export class Debouncer {
  constructor(absenceS = 0.5) {
    this.absenceS = absenceS;
    this.lastSeen = new Map();
    this.lastTime = null;
  }

  feed(frameTimeS, codes) {
    if (this.lastTime !== null && frameTimeS < this.lastTime) this.lastSeen.clear();
    this.lastTime = frameTimeS;
    const fresh = [];
    for (const code of new Set(codes)) {
      const previous = this.lastSeen.get(code);
      if (previous === undefined || frameTimeS - previous >= this.absenceS - EPSILON_S) {
        fresh.push(code);
      }
      this.lastSeen.set(code, frameTimeS);
    }
    for (const [code, t] of this.lastSeen) {
      if (frameTimeS - t > this.absenceS) this.lastSeen.delete(code);
    }
    return fresh;
  }
}
