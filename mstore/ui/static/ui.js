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
  source.onmessage = (ev) => {
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
