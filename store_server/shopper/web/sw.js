// The shopper app's service worker (scope /shop). SHELL_VERSION and SHELL_URLS are
// written above this line by the server: the version is a hash of the cached files.
// The shell (page, scripts, styles, catalogues, decoder) is served from the cache, so
// the app opens and scans with no network; the API and the socket are never cached.

const CACHE = `caddie-shop-${SHELL_VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL_URLS)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((n) => n.startsWith("caddie-shop-") && n !== CACHE).map((n) => caches.delete(n)),
      ))
      .then(() => self.clients.claim()),
  );
});

// A page that loaded during installation asks to be claimed (see shop.js boot()).
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "claim") event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // /shop and /shop/pair are one shell; the fragment never reaches here.
  const isPage = request.mode === "navigate" && (url.pathname === "/shop" || url.pathname === "/shop/pair");
  const isShell = url.pathname.startsWith("/shop/static/");
  if (!isPage && !isShell) return;
  const key = isPage ? "/shop" : url.pathname;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const hit = await cache.match(key);
      if (hit) return hit;
      const reply = await fetch(request);
      if (reply.ok && isShell) cache.put(key, reply.clone());
      return reply;
    }),
  );
});
