// Keeps keyboard-wedge scans out of the login fields: a scanner types digits a few ms
// apart and ends with Enter; such a burst is taken back out of the field and not submitted.
const form = document.getElementById("login-form");
const notice = document.getElementById("scan-ignored");
const BURST_GAP_MS = 35;
const MIN_SCAN = 6;
let burst = 0;
let last = 0;
let startValue = "";

form.addEventListener("keydown", (ev) => {
  const field = ev.target;
  if (!(field instanceof HTMLInputElement)) return;
  const now = performance.now();
  const quick = now - last < BURST_GAP_MS;
  last = now;
  if (/^[0-9]$/.test(ev.key)) {
    if (!quick) { burst = 0; startValue = field.value; }
    burst += 1;
    return;
  }
  if (ev.key === "Enter" && quick && burst >= MIN_SCAN) {
    ev.preventDefault();
    field.value = startValue;
    burst = 0;
    notice.hidden = false;
  }
});
