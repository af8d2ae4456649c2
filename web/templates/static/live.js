// Live progress: pages list the tickets to watch in elements with
// data-live-ticket; the server streams their state and progress as
// server-sent events. Without script the pages work, just without updates.
(function () {
  "use strict";
  // The same spans as the server writes (templates.FormatBytes, FormatDuration).
  function fmtBytes(n) {
    if (n < 1024) return n + " B";
    var u = "KMGTPE", i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
    return n.toFixed(1) + " " + u[i] + "iB";
  }
  function fmtDuration(ms) {
    var s = Math.abs(ms) / 1000;
    if (s < 60) return Math.floor(s) + " s";
    if (s < 7200) return Math.floor(s / 60) + " min";
    if (s < 72 * 3600) return Math.floor(s / 3600) + " h";
    return Math.floor(s / 86400) + " d";
  }
  function start() {
    var els = document.querySelectorAll("[data-live-ticket]");
    var dash = document.querySelector("[data-live-dashboard]");
    if ((!els.length && !dash) || !window.EventSource) return;
    var ids = [];
    els.forEach(function (el) { ids.push(el.getAttribute("data-live-ticket")); });
    var src = new EventSource("/live/progress?ids=" + encodeURIComponent(ids.join(",")) + (dash ? "&awaiting=1" : ""));
    // The dashboard's approvals list: a ticket submitted (or decided)
    // elsewhere refreshes it at once.
    if (dash) src.addEventListener("awaiting", function (ev) {
      var now = JSON.parse(ev.data), shown = {};
      document.querySelectorAll("#awaiting [data-awaiting-ticket]").forEach(function (el) { shown[el.getAttribute("data-awaiting-ticket")] = true; });
      var same = now.length === Object.keys(shown).length && now.every(function (id) { return shown[id]; });
      if (!same) refreshDashboard();
    });
    src.addEventListener("progress", function (ev) {
      var list = JSON.parse(ev.data);
      if (dash) dashboardSeen(list);
      list.forEach(function (s) {
        document.querySelectorAll('[data-live-ticket="' + s.id + '"]').forEach(function (el) {
          var p = s.progress || {};
          var bar = el.querySelector("progress");
          if (bar) bar.value = p.percent || 0;
          var set = function (sel, text) { var n = el.querySelector(sel); if (n) n.textContent = text; };
          set("[data-live=percent]", Math.round(p.percent || 0) + "%");
          set("[data-live=phase]", p.phase || "");
          set("[data-live=table]", p.current_table || "");
          set("[data-live=message]", p.message || "");
          if (p.bytes_total) set("[data-live=bytes]", fmtBytes(p.bytes || 0) + " of " + fmtBytes(p.bytes_total));
          else if (p.bytes) set("[data-live=bytes]", fmtBytes(p.bytes));
          if (p.tables_total) set("[data-live=tables]", (p.tables_done || 0) + " of " + p.tables_total);
          if (p.rows) set("[data-live=rows]", String(p.rows));
          var started = Date.parse(el.getAttribute("data-started") || "");
          if (!isNaN(started)) {
            var elapsed = Date.now() - started;
            set("[data-live=elapsed]", fmtDuration(elapsed));
            var done = p.bytes_total ? (p.bytes || 0) / p.bytes_total : (p.percent || 0) / 100;
            set("[data-live=eta]", done > 0 && done < 1 ? "about " + fmtDuration(elapsed * (1 - done) / done) : "–");
          }
          var st = el.querySelector("[data-live=state]");
          if (st && st.getAttribute("data-state") !== s.state) {
            st.textContent = s.state.replace("_", " ");
            st.className = "state state-" + s.state;
            st.setAttribute("data-state", s.state);
            if (el.hasAttribute("data-reload-on-state")) window.location.reload();
          }
        });
      });
    });
  }
  // The dashboard stays current while nobody touches it: the stream names
  // every queued or running ticket, so a restore started elsewhere (or one
  // that ended) refreshes the counts and lists in place; a slow timer keeps
  // the counts of the other states current too.
  var refreshing = false;
  function refreshDashboard() {
    if (refreshing || !window.fetch || !window.DOMParser) return;
    refreshing = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["dashboard-counts", "active-section", "awaiting-section"].forEach(function (id) {
          var now = document.getElementById(id), next = doc.getElementById(id);
          if (now && next) now.replaceWith(document.importNode(next, true));
        });
      })
      .catch(function () {})
      .then(function () { refreshing = false; });
  }
  function dashboardSeen(list) {
    var live = {}, shown = {};
    list.forEach(function (s) { if (s.state === "queued" || s.state === "running") live[s.id] = true; });
    document.querySelectorAll("#active [data-live-ticket]").forEach(function (el) { shown[el.getAttribute("data-live-ticket")] = true; });
    var same = Object.keys(live).length === Object.keys(shown).length &&
      Object.keys(live).every(function (id) { return shown[id]; });
    if (!same) refreshDashboard();
  }
  function dashboardTimer() {
    if (document.querySelector("[data-live-dashboard]")) setInterval(refreshDashboard, 20000);
  }
  // Snapshot picker: choosing a snapshot (click, arrow keys) swaps the table
  // list for that snapshot's in place; the page is not reloaded, so what was
  // typed stays, and nothing is submitted. Ticked tables the other snapshot
  // also holds stay ticked.
  function picker() {
    var form = document.querySelector("form[data-tables-url]");
    if (!form || !window.fetch) return;
    var box = document.getElementById("tables-box");
    var load = function (id) {
      var ticked = {};
      form.querySelectorAll("input[name=tables]:checked").forEach(function (c) { ticked[c.value] = true; });
      fetch(form.getAttribute("data-tables-url") + "?snapshot=" + encodeURIComponent(id), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) {
          if (!box) return;
          box.innerHTML = html;
          box.querySelectorAll("input[name=tables]").forEach(function (c) { if (ticked[c.value]) c.checked = true; });
          var u = new URL(window.location.href);
          u.searchParams.set("snapshot", id);
          history.replaceState(null, "", u.pathname + u.search + u.hash);
        })
        .catch(function () {});
    };
    // Enter on a snapshot (an implicit submission, no button pressed) would
    // save the triage; choosing a snapshot is not saving it.
    // (The browser's implicit submission names the default button as the
    // submitter, so the key is remembered until it is released.)
    var entering = false;
    form.addEventListener("submit", function (ev) { if (entering) ev.preventDefault(); });
    form.querySelectorAll("input[data-snapshot-pick]").forEach(function (r) {
      r.addEventListener("change", function () { if (r.checked) load(r.value); });
      var hold = function (ev) { if (ev.key === "Enter") { entering = true; ev.preventDefault(); } };
      r.addEventListener("keydown", hold);
      r.addEventListener("keypress", hold);
      r.addEventListener("keyup", function (ev) { if (ev.key === "Enter") entering = false; });
      r.addEventListener("blur", function () { entering = false; });
    });
    form.querySelectorAll("a[data-snapshot-tables]").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        var id = a.getAttribute("data-snapshot-tables");
        var r = form.querySelector('input[data-snapshot-pick][value="' + id + '"]');
        if (r) r.checked = true;
        load(id);
      });
    });
  }
  // A page rendered for a refused POST stands for its form's page: move the
  // address there, so links, reloads and the picker never hit the POST URL.
  function canonical() {
    var c = document.body.getAttribute("data-canonical");
    if (c && window.location.pathname !== c) history.replaceState(null, "", c + window.location.hash);
  }
  // Submit buttons are disabled while a form is in flight (no double
  // submission); the button pressed still sends its name and value.
  function busy() {
    document.querySelectorAll("form[method=post]").forEach(function (f) {
      f.addEventListener("submit", function (ev) {
        if (ev.defaultPrevented) return;
        var b = ev.submitter;
        if (b && b.name) {
          var h = document.createElement("input");
          h.type = "hidden"; h.name = b.name; h.value = b.value;
          f.appendChild(h);
        }
        f.setAttribute("aria-busy", "true");
        setTimeout(function () {
          f.querySelectorAll("button[type=submit], button:not([type])").forEach(function (x) { x.disabled = true; });
        }, 0);
      });
    });
    // Back to a page kept in the browser's cache: its buttons work again.
    window.addEventListener("pageshow", function (ev) {
      if (!ev.persisted) return;
      document.querySelectorAll("form[aria-busy]").forEach(function (f) {
        f.removeAttribute("aria-busy");
        f.querySelectorAll("button").forEach(function (x) { x.disabled = false; });
      });
    });
  }
  // Typed confirmations: the button stays disabled until the typed text is
  // the one asked for (the server checks it all the same).
  function confirmations() {
    document.querySelectorAll("input[data-confirm]").forEach(function (i) {
      var f = i.form, want = i.getAttribute("data-confirm");
      var btn = f && f.querySelector("button[data-confirm-button]");
      if (!btn) return;
      var hint = f.querySelector("[data-confirm-hint]");
      var sync = function () {
        var ok = i.value.trim() === want;
        btn.disabled = !ok;
        if (hint) hint.textContent = ok ? "" : (i.value ? "That is not " + want + "." : "");
      };
      i.addEventListener("input", sync);
      sync();
    });
  }
  // The first field a refused form marks invalid gets the focus.
  function focusError() {
    var el = document.querySelector("[aria-invalid=true]");
    if (el && document.activeElement !== el) el.focus();
  }
  document.addEventListener("DOMContentLoaded", function () {
    canonical(); start(); dashboardTimer(); picker(); busy(); confirmations(); focusError();
  });
})();
