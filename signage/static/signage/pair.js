// Pairs a kiosk browser with its screen from a link .../play#token=TOKEN. The token is in
// the fragment, which browsers never send, so no proxy or access log records it; it is
// posted in a body, the server answers with the screen cookie, and the page reloads
// without the fragment.
(function () {
  "use strict";
  const found = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!found) return;
  const body = document.body;
  const meta = document.querySelector('meta[name="csrf-token"]');
  const url = (body.dataset.root || "") + "/screens/" + encodeURIComponent(body.dataset.screen) + "/pair";
  history.replaceState(null, "", location.pathname + location.search);
  fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": meta ? meta.content : "" },
    body: JSON.stringify({ token: decodeURIComponent(found[1]) }),
  }).then(async (response) => {
    if (response.ok) { location.reload(); return; }
    let message = "HTTP " + response.status;
    try { message = (await response.json()).error.message; } catch (e) { /* not JSON */ }
    document.getElementById("pair-message").textContent = "Pairing refused: " + message;
  });
})();
