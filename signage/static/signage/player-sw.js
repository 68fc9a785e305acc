// Caddie player service worker: lets a screen reload its page while the server is down.
// Media and static files: cache first (media names are content hashes, so never stale).
// The player page: network first, the cached copy when offline. The loop API and
// proof of play are left to the page, which handles being offline itself.
"use strict";

const MEDIA = "caddie-media-v1";
const SHELL = "caddie-shell-v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const scope = new URL(self.registration.scope).pathname;
  const path = url.pathname;
  if (path.startsWith(scope + "media/")) {
    event.respondWith((async () => {
      const cache = await caches.open(MEDIA);
      const hit = await cache.match(request);
      if (hit) return hit;
      const response = await fetch(request);
      if (response.ok) await cache.put(request, response.clone());
      return response;
    })());
  } else if (path.startsWith(scope + "static/")) {
    event.respondWith(networkFirst(request));
  } else if (request.mode === "navigate" && /\/screens\/[^/]+\/play$/.test(path)) {
    event.respondWith(networkFirst(request));
  }
});

// Scripts and the page change with releases: fresh when online, cached when not.
async function networkFirst(request) {
  const cache = await caches.open(SHELL);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (e) {
    const hit = await cache.match(request, { ignoreSearch: true });
    if (hit) return hit;
    throw e;
  }
}
