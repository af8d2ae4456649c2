// Live progress: pages list the tickets to watch in elements with
// data-live-ticket; the server streams their state and progress as
// server-sent events. Without script the pages work, just without updates.
(function () {
  "use strict";
  function start() {
    var els = document.querySelectorAll("[data-live-ticket]");
    if (!els.length || !window.EventSource) return;
    var ids = [];
    els.forEach(function (el) { ids.push(el.getAttribute("data-live-ticket")); });
    var src = new EventSource("/live/progress?ids=" + encodeURIComponent(ids.join(",")));
    src.addEventListener("progress", function (ev) {
      var list = JSON.parse(ev.data);
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
  // Snapshot picker: choosing a snapshot reloads the table list for it.
  function picker() {
    document.querySelectorAll("input[data-snapshot-pick]").forEach(function (r) {
      r.addEventListener("change", function () {
        var u = new URL(window.location.href);
        u.searchParams.set("snapshot", r.value);
        window.location.href = u.toString();
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { start(); picker(); });
})();
