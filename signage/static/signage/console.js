// Operator console: login, creative upload with preview, live availability and booking.
// Every refusal from the API ({"error": {"message", "problems"}}) is shown in the page.
(function () {
  "use strict";
  const root = document.body.dataset.root || "";
  // Sent with every request that changes something (the server checks it with the cookie).
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = { "X-CSRF-Token": csrfMeta ? csrfMeta.content : "" };
  const json = Object.assign({ "Content-Type": "application/json" }, csrf);

  function showProblems(list, error) {
    list.innerHTML = "";
    const items = (error && error.problems && error.problems.length) ? error.problems
      : [error && error.message || "request failed"];
    if (error && error.message && error.problems && error.problems.length) items.unshift(error.message);
    for (const text of items) {
      const li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    }
    list.hidden = false;
  }

  async function errorOf(response) {
    try { return (await response.json()).error || { message: "HTTP " + response.status }; }
    catch (e) { return { message: "HTTP " + response.status }; }
  }

  function checked(form, name) {
    return Array.from(form.querySelectorAll('input[name="' + name + '"]:checked')).map((i) => i.value);
  }

  // ---------------------------------------------------------------- login
  const login = document.getElementById("login-form");
  if (login) {
    login.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = document.getElementById("login-error");
      out.hidden = true;
      const response = await fetch("/api/auth/login", {
        method: "POST", headers: json, credentials: "same-origin",
        body: JSON.stringify({ username: login.username.value, password: login.password.value }),
      });
      if (!response.ok) {
        out.textContent = (await errorOf(response)).message;
        out.hidden = false;
        return;
      }
      const who = await response.json();
      if (who.role !== "operator" && who.role !== "admin") {
        await fetch("/api/auth/logout", { method: "POST", headers: csrf, credentials: "same-origin" });
        out.textContent = "this account (" + who.role + ") cannot use the operator console";
        out.hidden = false;
        return;
      }
      location.href = root + "/console";
    });
  }

  // ---------------------------------------------------------------- upload
  const upload = document.getElementById("upload-form");
  if (upload) {
    const preview = document.getElementById("upload-preview");
    upload.file.addEventListener("change", () => {
      preview.innerHTML = "";
      const file = upload.file.files[0];
      if (!file) { preview.hidden = true; return; }
      const url = URL.createObjectURL(file);
      let el;
      if (file.type.startsWith("image/")) { el = document.createElement("img"); }
      else if (file.type.startsWith("video/")) { el = document.createElement("video"); el.muted = true; el.controls = true; }
      else { el = document.createElement("iframe"); el.setAttribute("sandbox", ""); }
      el.src = url;
      preview.appendChild(el);
      preview.hidden = false;
    });
    upload.addEventListener("submit", async (event) => {
      event.preventDefault();
      const problems = document.getElementById("upload-problems");
      const ok = document.getElementById("upload-ok");
      problems.hidden = true; ok.hidden = true;
      const response = await fetch(root + "/api/creatives", {
        method: "POST", body: new FormData(upload), headers: csrf, credentials: "same-origin",
      });
      if (!response.ok) { showProblems(problems, await errorOf(response)); return; }
      const creative = await response.json();
      ok.textContent = "uploaded " + creative.id + " (" + creative.content_type + ", " + creative.duration_s + " s)";
      ok.hidden = false;
      setTimeout(() => location.reload(), 600);
    });
  }

  // ---------------------------------------------------------------- booking
  const booking = document.getElementById("booking-form");
  if (booking) {
    const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    function daypart() {
      const a = booking.daypart_start.value || "00:00";
      let b = booking.daypart_end.value || "00:00";
      if (b === "00:00") b = "24:00";
      return [a, b];
    }

    function document_() {
      const [a, b] = daypart();
      const campaign = {
        id: booking.id.value.trim(),
        advertiser: booking.advertiser.value.trim(),
        creatives: checked(booking, "creatives"),
        start: booking.start.value, end: booking.end.value,
        days: checked(booking, "days"),
        dayparts: (a === "00:00" && b === "24:00") ? [] : [[a, b]],
        targets: { zones: checked(booking, "t_zones"), groups: checked(booking, "t_groups"),
                   screens: checked(booking, "t_screens") },
        priority: booking.priority.value,
        state: booking.state.value,
      };
      if (booking.category.value.trim()) campaign.category = booking.category.value.trim();
      if (booking.share_of_voice.value) campaign.share_of_voice = Number(booking.share_of_voice.value);
      if (booking.max_plays_per_hour.value) campaign.max_plays_per_hour = Number(booking.max_plays_per_hour.value);
      return campaign;
    }

    let pending = 0;
    async function refreshAvailability() {
      const mine = ++pending;
      const list = document.getElementById("availability-list");
      const c = document_();
      const [a, b] = daypart();
      const days = c.days.length ? c.days : DAYS;
      const lines = [];
      for (const day of days) {
        const query = new URLSearchParams({ day: day, start: a, end: b,
          zones: c.targets.zones.join(","), groups: c.targets.groups.join(","),
          screens: c.targets.screens.join(","), exclude: c.id });
        const response = await fetch(root + "/api/availability?" + query, { credentials: "same-origin" });
        if (!response.ok) { lines.push((await errorOf(response)).message); continue; }
        for (const row of await response.json()) lines.push(row);
      }
      if (mine !== pending) return;
      list.innerHTML = "";
      for (const row of lines) {
        const li = document.createElement("li");
        if (typeof row === "string") { li.textContent = row; li.className = "error"; }
        else { li.textContent = row.text; li.dataset.screen = row.screen_id; li.dataset.free = row.free;
               if (row.free === 0) li.className = "full"; }
        list.appendChild(li);
      }
      if (!lines.length) list.innerHTML = '<li class="muted">No screen matches these targets.</li>';
    }

    booking.addEventListener("change", refreshAvailability);
    refreshAvailability();

    booking.addEventListener("submit", async (event) => {
      event.preventDefault();
      const problems = document.getElementById("booking-problems");
      const ok = document.getElementById("booking-ok");
      problems.hidden = true; ok.hidden = true;
      const response = await fetch(root + "/api/campaigns", {
        method: "POST", headers: json, credentials: "same-origin",
        body: JSON.stringify(document_()),
      });
      if (!response.ok) { showProblems(problems, await errorOf(response)); return; }
      const row = await response.json();
      ok.textContent = "booked " + row.id + " (" + row.priority + ", " + row.state + ")";
      ok.hidden = false;
      refreshAvailability();
    });
  }
})();
