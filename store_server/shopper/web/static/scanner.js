// The camera and the decoder. Frames never leave the device: the native BarcodeDetector
// where the browser has one, else the vendored zxing-cpp WebAssembly polyfill, served by
// this app (nothing from a CDN). Debounce runs on frame time (requestVideoFrameCallback).

import { Debouncer, RETAIL_FORMATS, scanRead } from "./gtin.js";

const detectors = new Map(); // formats -> Promise of a detector

async function makeDetector(base, formats) {
  if ("BarcodeDetector" in window) {
    const supported = await window.BarcodeDetector.getSupportedFormats();
    const wanted = formats.filter((f) => supported.includes(f));
    if (wanted.length === formats.length) return new window.BarcodeDetector({ formats: wanted });
  }
  const module = await import(`${base}/vendor/barcode-detector/ponyfill.js`);
  module.setZXingModuleOverrides({
    locateFile: (path, prefix) =>
      path.endsWith(".wasm") ? `${base}/vendor/zxing-wasm/${path}` : prefix + path,
  });
  return new module.BarcodeDetector({ formats });
}

/** One detector per set of formats (the loyalty card is read as a retail code whatever
 * the store scans); the WebAssembly module is compiled once. */
export function detector(base, formats = RETAIL_FORMATS) {
  const key = formats.join(",");
  if (!detectors.has(key)) detectors.set(key, makeDetector(base, formats));
  return detectors.get(key);
}

// The part of the frame that is read: the viewfinder guide's box (shop.css, .guide) with a
// margin. Fewer pixels per frame: more frames read per second on a slow phone.
const AIM = { x: 0.08, y: 0.18, w: 0.84, h: 0.64 };

/** Symbols in the aim zone of the video's current frame. */
export async function readFrame(det, video, canvas) {
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (!w || !h) return [];
  const sw = Math.round(w * AIM.w);
  const sh = Math.round(h * AIM.h);
  if (canvas.width !== sw || canvas.height !== sh) {
    canvas.width = sw;
    canvas.height = sh;
  }
  const g = canvas.getContext("2d", { willReadFrequently: true });
  g.drawImage(video, Math.round(w * AIM.x), Math.round(h * AIM.y), sw, sh, 0, 0, sw, sh);
  return det.detect(g.getImageData(0, 0, sw, sh));
}

export class CameraError extends Error {
  constructor(kind, cause) {
    super(`camera ${kind}`);
    this.kind = kind; // "refused" | "absent" | "decoder"
    this.cause = cause;
  }
}

/**
 * Scans from the rear camera into `onScan(code)` (a 14-digit GTIN), one call per
 * accepted scan. `onFrame(info)` (optional) sees every decoded frame (for measurement).
 */
export class Scanner {
  constructor(video, { base, formats = RETAIL_FORMATS, onScan, onFrame = null, onFail = null }) {
    this.video = video;
    this.base = base;
    this.formats = formats;
    this.onScan = onScan;
    this.onFrame = onFrame;
    this.onFail = onFail;
    this.stream = null;
    this.running = false;
    this.debouncer = new Debouncer(0.5);
    this.busy = false;
    this.canvas = new OffscreenCanvas(1, 1);
  }

  async start() {
    if (!navigator.mediaDevices?.getUserMedia) throw new CameraError("absent");
    let det;
    try {
      det = await detector(this.base, this.formats);
    } catch (error) {
      throw new CameraError("decoder", error);
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      });
    } catch (error) {
      const absent = ["NotFoundError", "OverconstrainedError", "NotReadableError"];
      throw new CameraError(absent.includes(error?.name) ? "absent" : "refused", error);
    }
    const track = this.stream.getVideoTracks()[0];
    const caps = track.getCapabilities?.() ?? {};
    if (caps.focusMode?.includes("continuous")) {
      await track.applyConstraints({ advanced: [{ focusMode: "continuous" }] }).catch(() => {});
    }
    this.torchAvailable = Boolean(caps.torch);
    this.video.srcObject = this.stream;
    await this.video.play();
    this.running = true;
    this.debouncer = new Debouncer(0.5);
    this.loop(det);
  }

  async setTorch(on) {
    const track = this.stream?.getVideoTracks()[0];
    if (!track) return false;
    await track.applyConstraints({ advanced: [{ torch: on }] });
    return on;
  }

  stop() {
    this.running = false;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.video.srcObject = null;
  }

  loop(det) {
    const video = this.video;
    const next = (callback) =>
      video.requestVideoFrameCallback
        ? video.requestVideoFrameCallback(callback)
        : requestAnimationFrame((now) => callback(now, { mediaTime: now / 1000 }));
    const onFrame = async (now, meta) => {
      if (!this.running) return;
      // Frame time: when the camera captured it, else when it was presented.
      const frameTime = meta.captureTime != null ? meta.captureTime / 1000 : meta.mediaTime;
      if (!this.busy) {
        this.busy = true;
        try {
          const found = await readFrame(det, video, this.canvas);
          const sent = new Map(); // GTIN -> what the server gets (first read in the frame)
          for (const symbol of found) {
            const read = scanRead(symbol, this.formats);
            if (read && !sent.has(read.key)) sent.set(read.key, read.code);
          }
          const codes = [...sent.keys()];
          this.onFrame?.({ frameTime, codes, decodedAt: performance.now() });
          for (const key of this.debouncer.feed(frameTime, codes)) this.onScan(sent.get(key));
          this.failures = 0;
        } catch (error) {
          console.warn("decode failed", error);
          this.failures = (this.failures ?? 0) + 1;
          if (this.failures >= 5) {
            // The decoder cannot run here (e.g. WebAssembly refused): say so, stop trying.
            this.stop();
            this.onFail?.(new CameraError("decoder", error));
          }
        } finally {
          this.busy = false;
        }
      }
      if (this.running) next(onFrame);
    };
    next(onFrame);
  }
}
