// Operator console: login, uploads, approval, booking and editing campaigns with live
// availability, the life-cycle buttons, user accounts. Every refusal from the API
// ({"error": {"message", "problems"}}) is shown in the page, once.
// Every request that changes something sends the page's CSRF token (X-CSRF-Token).
(function () {
  "use strict";
  const root = document.body.dataset.root || "";
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  function send(url, method, body) {
    const headers = { "X-CSRF-Token": csrf };
    const options = { method: method, credentials: "same-origin", headers: headers };
    if (body instanceof FormData) options.body = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options);
  }

  function showProblems(list, error) {
    list.innerHTML = "";
    const problems = error && error.problems && error.problems.length ? error.problems : null;
    const message = error && error.message || "request failed";
    const items = problems ? problems.slice() : [message];
    // a headline of its own goes first; one that only repeats the problems does not
    if (problems && !problems.includes(message) && message !== problems.join("; ")) {
      items.unshift(message);
    }
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

  function say(el, text) { el.textContent = text; el.hidden = false; }

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
      const response = await send("/api/auth/login", "POST",
        { username: login.username.value, password: login.password.value });
      if (!response.ok) { say(out, (await errorOf(response)).message); return; }
      const who = await response.json();
      if (who.role !== "operator" && who.role !== "admin") {
        await send("/api/auth/logout", "POST");
        say(out, "this account (" + who.role + ") cannot use the operator console");
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
      const response = await send(root + "/api/creatives", "POST", new FormData(upload));
      if (!response.ok) { showProblems(problems, await errorOf(response)); return; }
      const creative = await response.json();
      say(ok, "uploaded " + creative.id + " (" + creative.content_type + ", " + creative.duration_s +
          " s): it waits for approval");
      setTimeout(() => location.reload(), 600);
    });
  }

  // ---------------------------------------------------------------- approval
  for (const cell of document.querySelectorAll("td.approval")) {
    const problems = cell.querySelector(".problems");
    async function review(action, body) {
      problems.hidden = true;
      const response = await send(cell.dataset.api + "/" + action, "POST", body);
      if (!response.ok) { showProblems(problems, await errorOf(response)); return; }
      location.reload();
    }
    const approve = cell.querySelector("[data-review=approve]");
    if (approve) approve.addEventListener("click", () => review("approve", undefined));
    const refuse = cell.querySelector(".refuse-form");
    if (refuse) refuse.addEventListener("submit", (event) => {
      event.preventDefault();
      review("refuse", { reason: refuse.reason.value });
    });
  }

  // ---------------------------------------------------------------- booking and editing
  const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

  function daypart(form) {
    const a = form.daypart_start.value.trim() || "00:00";
    let b = form.daypart_end.value.trim() || "24:00";
    if (b === "00:00") b = "24:00";
    return [a, b];
  }

  function campaignOf(form) {
    const [a, b] = daypart(form);
    const campaign = {
      advertiser: form.advertiser.value.trim(),
      creatives: checked(form, "creatives"),
      start: form.start.value, end: form.end.value,
      days: checked(form, "days"),
      dayparts: (a === "00:00" && b === "24:00") ? [] : [[a, b]],
      targets: { zones: checked(form, "t_zones"), groups: checked(form, "t_groups"),
                 screens: checked(form, "t_screens") },
      priority: form.priority.value,
      category: form.category.value.trim() || null,
      share_of_voice: form.share_of_voice.value ? Number(form.share_of_voice.value) : null,
      max_plays_per_hour: form.max_plays_per_hour.value ? Number(form.max_plays_per_hour.value) : null,
    };
    if (form.dataset.mode === "book") {
      campaign.id = form.id.value.trim();
      campaign.state = form.state.value;
      for (const key of ["category", "share_of_voice", "max_plays_per_hour"]) {
        if (campaign[key] === null) delete campaign[key];
      }
    }
    return campaign;
  }

  for (const form of document.querySelectorAll("form.booking")) {
    const summary = form.querySelector(".availability-summary");
    const list = form.querySelector(".availability-list");
    let pending = 0;

    async function refreshAvailability() {
      const mine = ++pending;
      const c = campaignOf(form);
      const [a, b] = daypart(form);
      const exclude = form.dataset.campaign || c.id || "";
      const days = c.days.length ? c.days : DAYS;
      const rows = [];
      const errors = [];
      for (const day of days) {
        const query = new URLSearchParams({ day: day, start: a, end: b,
          zones: c.targets.zones.join(","), groups: c.targets.groups.join(","),
          screens: c.targets.screens.join(","), exclude: exclude });
        const response = await fetch(root + "/api/availability?" + query, { credentials: "same-origin" });
        if (!response.ok) { errors.push((await errorOf(response)).message); continue; }
        for (const row of await response.json()) rows.push(row);
      }
      if (mine !== pending) return;
      list.innerHTML = "";
      for (const row of rows) {
        const li = document.createElement("li");
        li.textContent = row.text; li.dataset.screen = row.screen_id; li.dataset.free = row.free;
        if (row.free === 0) li.className = "full";
        list.appendChild(li);
      }
      summary.className = "availability-summary";
      if (errors.length) {
        summary.textContent = errors[0];
        summary.classList.add("error");
      } else if (!rows.length) {
        summary.textContent = "No screen matches these targets.";
        summary.classList.add("muted");
      } else {
        const worst = rows.reduce((w, r) => (r.free < w.free ? r : w), rows[0]);
        const screens = new Set(rows.map((r) => r.screen_id)).size;
        summary.textContent = "At most " + worst.free + " guaranteed slot" + (worst.free === 1 ? "" : "s") +
          " per loop free on all " + screens + " targeted screen" + (screens === 1 ? "" : "s") +
          " (fewest: " + worst.text + ")";
        summary.dataset.free = worst.free;
        if (worst.free === 0) summary.classList.add("full");
      }
    }

    form.addEventListener("change", refreshAvailability);
    refreshAvailability();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const problems = form.querySelector(".problems");
      const ok = form.querySelector(".ok");
      problems.hidden = true; ok.hidden = true;
      let response;
      if (form.dataset.mode === "edit") {
        response = await send(root + "/api/campaigns/" + encodeURIComponent(form.dataset.campaign),
                              "PATCH", campaignOf(form));
      } else {
        response = await send(root + "/api/campaigns", "POST", campaignOf(form));
      }
      if (!response.ok) { showProblems(problems, await errorOf(response)); return; }
      const row = await response.json();
      if (form.dataset.mode === "edit") {
        const n = Object.keys(row.changes || {}).length;
        say(ok, n ? "saved " + n + " change" + (n === 1 ? "" : "s") : "nothing changed");
        setTimeout(() => location.reload(), 700);
      } else {
        say(ok, "booked " + row.id + " (" + row.priority + ", " + row.state + ")");
        refreshAvailability();
      }
    });
  }

  // ---------------------------------------------------------------- life cycle
  const lifecycle = document.getElementById("lifecycle");
  if (lifecycle) {
    const api = lifecycle.dataset.api;
    const problems = document.getElementById("lifecycle-problems");
    const ok = document.getElementById("lifecycle-ok");
    async function act(path, body) {
      problems.hidden = true; ok.hidden = true;
      const response = await send(api + "/" + path, "POST", body);
      if (!response.ok) { showProblems(problems, await errorOf(response)); return; }
      const row = await response.json();
      say(ok, row.action + ": now " + row.state);
      setTimeout(() => location.reload(), 700);
    }
    for (const button of lifecycle.querySelectorAll("button[data-action]")) {
      button.addEventListener("click", () => {
        if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
        act(button.dataset.action, undefined);
      });
    }
    const flight = document.getElementById("flight-form");
    if (flight) flight.addEventListener("submit", (event) => {
      event.preventDefault();
      act("flight", { start: flight.start.value || null, end: flight.end.value || null });
    });
  }

  // ---------------------------------------------------------------- users
  const userForm = document.getElementById("user-form");
  if (userForm) {
    userForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const problems = document.getElementById("user-problems");
      const ok = document.getElementById("user-ok");
      problems.hidden = true; ok.hidden = true;
      const response = await send(root + "/api/users", "POST", {
        username: userForm.username.value.trim(), password: userForm.password.value,
        role: userForm.role.value, store_id: userForm.store_id.value.trim() || null,
      });
      if (!response.ok) { showProblems(problems, await errorOf(response)); return; }
      const made = await response.json();
      say(ok, "created " + made.username + " (" + made.role + ")");
      setTimeout(() => location.reload(), 700);
    });
    for (const button of document.querySelectorAll("button[data-user-action]")) {
      button.addEventListener("click", async () => {
        const problems = document.getElementById("users-problems");
        problems.hidden = true;
        const response = await send(button.dataset.api + "/" + button.dataset.userAction, "POST");
        if (!response.ok) { showProblems(problems, await errorOf(response)); return; }
        location.reload();
      });
    }
  }

  // ---------------------------------------------------------------- print
  const print = document.getElementById("print");
  if (print) print.addEventListener("click", () => window.print());
})();
