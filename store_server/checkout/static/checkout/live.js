// The staff socket: reconnects with a jittered backoff; a refused login goes to the login page.
export function connectStaff(onMessage, onState) {
  let delay = 500;
  function open() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws/staff`);
    ws.onopen = () => { delay = 500; onState(true); };
    ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      onState(false);
      if (ev.code === 4401 || ev.code === 4403) { location.href = "/staff/login"; return; }
      setTimeout(open, delay + Math.random() * delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  open();
}

export function money(cents, currency) {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}${currency ? " " + currency : ""}`;
}

export function waited(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  const m = Math.floor(s / 60);
  return m ? `${m} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

export function tickWaits(root = document) {
  for (const t of root.querySelectorAll("time.waited")) t.textContent = waited(t.getAttribute("datetime"));
}
