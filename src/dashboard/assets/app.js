// Gas Town dashboard: live updates over SSE and actions without a reload.
// The server renders every fragment (escaped); this script only swaps them in.
"use strict";
(function () {
  const body = document.body;
  const live = document.getElementById("live");
  const summary = document.getElementById("summary");
  const feed = document.getElementById("feed");
  const log = document.getElementById("log");
  const conn = document.getElementById("conn");
  const toast = document.getElementById("toast");
  const FEED_MAX = 200;
  const LOG_MAX = 200000;
  let pendingView = null;

  // Do not replace a form someone is typing in; apply the update on blur.
  function busy() {
    const a = document.activeElement;
    return a && live.contains(a) && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT");
  }
  function applyView(html) {
    if (busy()) { pendingView = html; return; }
    pendingView = null;
    live.innerHTML = html;
    body.dataset.updated = String(Date.now());
  }
  document.addEventListener("focusout", function () {
    setTimeout(function () { if (pendingView !== null && !busy()) applyView(pendingView); }, 0);
  });

  function connect() {
    const params = new URLSearchParams({ view: body.dataset.view || "/", after: body.dataset.after || "0" });
    if (body.dataset.log !== undefined) params.set("log", body.dataset.log);
    const es = new EventSource("/live?" + params.toString());
    es.onopen = function () { conn.className = "conn on"; conn.title = "live updates: connected"; };
    es.onerror = function () { conn.className = "conn off"; conn.title = "live updates: reconnecting"; };
    es.addEventListener("summary", function (e) { summary.innerHTML = e.data; });
    es.addEventListener("view", function (e) { applyView(e.data); });
    es.addEventListener("feed", function (e) {
      if (e.lastEventId) body.dataset.after = e.lastEventId;
      const tmp = document.createElement("ol");
      tmp.innerHTML = e.data;
      const rows = Array.from(tmp.children);
      for (let i = rows.length - 1; i >= 0; i--) {
        rows[i].classList.add("new");
        feed.insertBefore(rows[i], feed.firstChild);
      }
      while (feed.children.length > FEED_MAX) feed.removeChild(feed.lastChild);
    });
    es.addEventListener("log", function (e) {
      if (!log) return;
      const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 20;
      log.textContent = (log.textContent + e.data + "\n").slice(-LOG_MAX);
      if (stick) log.scrollTop = log.scrollHeight;
    });
    es.addEventListener("problem", function (e) { showToast(e.data, true); });
  }

  function showToast(text, isError) {
    toast.textContent = text;
    toast.className = "toast" + (isError ? " err" : "");
    toast.hidden = false;
    clearTimeout(showToast.timer);
    showToast.timer = setTimeout(function () { toast.hidden = true; }, 8000);
  }

  // Actions: post the form (it carries its CSRF field), show the outcome.
  document.addEventListener("submit", function (ev) {
    const form = ev.target;
    if (!form.classList.contains("act")) return;
    ev.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    fetch(form.action, {
      method: "POST",
      headers: { "Accept": "application/json" },
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
    }).then(function (r) {
      return r.json().catch(function () { return { ok: false, message: "HTTP " + r.status }; });
    }).then(function (res) {
      showToast(res.message, !res.ok);
      if (res.ok) form.querySelectorAll("input:not([type=hidden]), textarea").forEach(function (i) { i.value = ""; });
    }).catch(function (err) {
      showToast("the request failed: " + err, true);
    }).finally(function () { if (button) button.disabled = false; });
  });

  if (log) log.scrollTop = log.scrollHeight;
  connect();
})();
