// Live run progress on /runs: Server-Sent Events carry all_views() every second.
"use strict";
(function () {
  const table = document.querySelector("table[data-live]");
  if (!table || !window.EventSource) return;
  const fmt = (s) => {
    if (s === null || s === undefined) return "-";
    s = Math.floor(s);
    const m = Math.floor(s / 60), h = Math.floor(s / 3600);
    return s >= 3600 ? `${h}h${String(Math.floor(s % 3600 / 60)).padStart(2, "0")}m`
                     : `${m}m${String(s % 60).padStart(2, "0")}s`;
  };
  const rows = new Map();
  table.querySelectorAll("tr[data-run]").forEach((tr) => rows.set(tr.dataset.run, tr));
  const source = new EventSource(table.dataset.live);
  // a form on the page is being sent (start, pause, cancel...): its answer navigates;
  // a reload now would cancel that navigation
  let leaving = false;
  document.addEventListener("submit", () => { leaving = true; source.close(); });
  source.onmessage = (ev) => {
    if (leaving) return;
    const views = JSON.parse(ev.data);
    for (const v of views) {
      const tr = rows.get(v.id);
      if (!tr) { source.close(); window.location.reload(); return; }  // a new run
      const set = (name, text) => { const el = tr.querySelector(`[data-field="${name}"]`); if (el) el.textContent = text; };
      const bar = tr.querySelector("progress");
      bar.max = v.total || 1;
      bar.value = v.done + v.failed;
      set("counts", `${v.done} done, ${v.failed} failed / ${v.total}`);
      set("throughput", `${v.throughput.toFixed(2)}/s`);
      set("eta", fmt(v.eta_s));
      const st = tr.querySelector('[data-field="state"]');
      if (st.textContent !== v.state) { st.textContent = v.state; st.className = `state state-${v.state}`; }
    }
  };
})();

// The run page: re-render its body from /run/ID/live until the run has ended.
(function () {
  const box = document.getElementById("run-live");
  if (!box || !window.fetch) return;
  const ended = (el) => {
    const s = el.querySelector("[data-run-state]");
    return s && ["completed", "failed", "cancelled"].includes(s.dataset.runState);
  };
  if (ended(box)) return;
  let leaving = false;  // a button's form is being sent: its answer replaces the page
  document.addEventListener("submit", () => { leaving = true; });
  const tick = async () => {
    if (leaving) return;
    try {
      const r = await fetch(box.dataset.live, { credentials: "same-origin", cache: "no-store" });
      if (r.ok) {
        const html = await r.text();
        const f = document.activeElement;  // never yank a field someone is typing in
        if (!(f && box.contains(f) && ["INPUT", "SELECT", "TEXTAREA"].includes(f.tagName))) {
          box.innerHTML = html;
        }
      }
    } catch (e) { /* the server went away: keep the last view, try again */ }
    if (!ended(box)) setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
})();

// Panels mark a time with data-seek="SECONDS" (a transcript line, a scene): clicking it
// plays the page's video or audio from there.
document.addEventListener("click", (ev) => {
  const el = ev.target.closest && ev.target.closest("[data-seek]");
  if (!el) return;
  const media = document.querySelector(".preview video, .preview audio");
  const t = parseFloat(el.dataset.seek);
  if (!media || !isFinite(t)) return;
  ev.preventDefault();
  media.currentTime = t;
  const playing = media.play();
  if (playing && playing.catch) playing.catch(() => { /* the browser wants a gesture first */ });
});
