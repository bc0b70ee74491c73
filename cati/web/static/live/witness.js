// The witness room: renders the live snapshot (GET /api/v1/campaigns/{id}/live/stream) and keeps it
// current. EventSource reconnects by itself; the badge says "live" or "reconnecting".
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const T = JSON.parse($("live-i18n").textContent);
  const CFG = JSON.parse($("live-config").textContent);
  const EN = CFG.locale === "en";
  const t = (key) => (key in T ? T[key] : key);
  const name = (n) => (n ? (EN ? n.en || n["zh-CN"] : n["zh-CN"] || n.en) : "");
  const text = (id, value) => { const el = $(id); if (el) el.textContent = value == null ? "–" : String(value); };
  const pct = (x) => (x == null ? "–" : (x * 100).toFixed(2) + "%");
  const local = (iso) => (iso ? iso.replace("T", " ").replace(/([+-]\d\d:\d\d|Z)$/, "").slice(0, 19) : "–");

  const select = $("campaign-select");
  if (select) select.addEventListener("change", () => select.form.submit());
  if (CFG.campaign == null) return;

  let progressChart = null;
  let outcomeChart = null;
  function charts() {
    if (!window.echarts) return;
    if (!progressChart) progressChart = window.echarts.init($("chart-progress"));
    if (!outcomeChart) outcomeChart = window.echarts.init($("chart-outcomes"));
  }
  window.addEventListener("resize", () => { if (progressChart) progressChart.resize(); if (outcomeChart) outcomeChart.resize(); });

  function cell(tr, value, cls) {
    const td = document.createElement("td");
    td.textContent = value == null ? "–" : String(value);
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  function fillBody(tableId, rows) {
    const body = $(tableId).querySelector("tbody");
    body.replaceChildren(...rows);
  }

  function renderProgress(p) {
    const rows = [];
    for (const d of p.districts) {
      d.cells.forEach((c, i) => {
        const tr = document.createElement("tr");
        cell(tr, i === 0 ? name(d.name) : "");
        cell(tr, t("live.stratum." + c.stratum));
        cell(tr, c.target, "num"); cell(tr, c.completes, "num"); cell(tr, c.in_progress, "num"); cell(tr, c.remaining, "num");
        cell(tr, c.window_open == null ? "–" : t(c.window_open ? "live.window.open" : "live.window.closed"),
             c.window_open ? "open" : "closed");
        rows.push(tr);
      });
    }
    const tr = document.createElement("tr");
    tr.className = "total";
    cell(tr, t("live.total")); cell(tr, "");
    cell(tr, p.totals.target, "num"); cell(tr, p.totals.completes, "num"); cell(tr, p.totals.in_progress, "num");
    cell(tr, p.totals.remaining, "num"); cell(tr, "");
    rows.push(tr);
    fillBody("progress-table", rows);
    if (!progressChart) return;
    const labels = p.districts.map((d) => name(d.name));
    const strata = [...new Set(p.districts.flatMap((d) => d.cells.map((c) => c.stratum)))];
    const series = [];
    const colours = { staff: "#3b6fb6", resident: "#c0392b" };
    const hideZero = { show: true, position: "inside", formatter: (x) => (x.value ? String(x.value) : "") };
    for (const s of strata) {
      const pick = (d) => d.cells.find((c) => c.stratum === s) || { completes: 0, remaining: 0 };
      const colour = colours[s] || "#777";
      series.push({ name: t("live.stratum." + s), type: "bar", stack: s, itemStyle: { color: colour },
                    data: p.districts.map((d) => pick(d).completes), label: hideZero });
      series.push({ name: t("live.stratum." + s) + " · " + t("live.remaining"), type: "bar", stack: s,
                    data: p.districts.map((d) => pick(d).remaining), itemStyle: { color: colour, opacity: 0.18 } });
    }
    progressChart.setOption({
      animation: false, tooltip: { trigger: "axis" },
      legend: { top: 0, data: strata.map((s) => t("live.stratum." + s)) },
      grid: { left: 48, right: 12, top: 40, bottom: 28 },
      xAxis: { type: "category", data: labels }, yAxis: { type: "value" }, series,
    }, true);
  }

  function renderOutcomes(o) {
    const keys = ["answered", "busy", "no_answer", "failed", "abandoned"];
    if (!outcomeChart) return;
    outcomeChart.setOption({
      animation: false, tooltip: { trigger: "axis" }, legend: { top: 0 },
      grid: { left: 48, right: 12, top: 40, bottom: 40 },
      xAxis: { type: "category", data: keys.map((k) => t("live.outcome." + k)), axisLabel: { interval: 0 } },
      yAxis: { type: "value" },
      series: [
        { name: t("live.outcomes.today"), type: "bar", data: keys.map((k) => o.today[k]), label: { show: true, position: "top" }, itemStyle: { color: "#3b6fb6" } },
        { name: t("live.outcomes.total"), type: "bar", data: keys.map((k) => o.total[k]), label: { show: true, position: "top" }, itemStyle: { color: "#9aa5b1" } },
      ],
    }, true);
  }

  function renderRates(r) {
    const dl = $("rates");
    const items = [];
    for (const k of ["RR1", "RR3", "COOP1", "REF1", "CON1"]) {
      const v = r.provisional ? r.provisional[k] : null;
      const div = document.createElement("div");
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v == null ? "–" : (v * 100).toFixed(1) + "%";
      div.append(dt, dd); items.push(div);
    }
    dl.replaceChildren(...items);
  }

  function renderPlan(s) {
    if (!s.plan) return;
    text("p-instrument", s.instrument ? s.instrument.name : s.plan.instrument.name);
    text("p-digest", s.instrument ? s.instrument.sha256 : s.plan.instrument.sha256);
    text("p-commitment", s.commitment);
    text("p-fingerprint", s.key_fingerprint);
    text("p-mode", s.campaign.dialling_mode);
    const rows = s.plan.districts.map((d) => {
      const tr = document.createElement("tr");
      cell(tr, name(d.name));
      cell(tr, d.prefixes.join(", "), "mono");
      cell(tr, d.quota_cells.map((q) => t("live.stratum." + q.stratum) + " " + q.target).join(" / "));
      return tr;
    });
    fillBody("plan-table", rows);
    const ul = $("plan-windows");
    const lis = [];
    for (const [stratum, wins] of Object.entries(s.plan.calling_windows || {})) {
      if (!Array.isArray(wins) || !["staff", "resident"].includes(stratum)) continue;
      const li = document.createElement("li");
      li.textContent = t("live.stratum." + stratum) + ": " +
        wins.map((w) => (w.days ? "[" + w.days.join(",") + "] " : "") + w.start + "–" + w.end).join("; ");
      lis.push(li);
    }
    ul.replaceChildren(...lis);
  }

  function renderAudit(a) {
    const rows = a.entries.map((e) => {
      const tr = document.createElement("tr");
      const extra = Object.entries(e.details || {}).map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v)).join(" ");
      cell(tr, e.seq); cell(tr, local(e.at)); cell(tr, e.actor);
      cell(tr, (EN ? e.description.en : e.description["zh-CN"]) + (extra ? " · " + extra : ""));
      cell(tr, e.object);
      return tr;
    });
    fillBody("audit-table", rows);
    const c = a.checkpoint;
    text("c-seq", c ? c.seq : t("live.checkpoint.none"));
    text("c-at", c ? local(c.at) : null);
    text("c-hash", c ? c.head_hash : null);
    text("c-sig", c ? c.signature : null);
    $("c-download").hidden = !c;
  }

  function render(s) {
    charts();
    text("f-status", t("live.status." + s.campaign.status));
    text("f-now", local(s.campaign.now));
    text("f-started", local(s.campaign.fieldwork_started_at));
    text("f-completes", s.progress.totals.completes + " / " + s.progress.totals.target);
    text("f-inprogress", s.progress.totals.in_progress);
    text("f-hour", s.calls.last_hour.total);
    const ab = s.abandonment;
    text("f-abandon", pct(ab.today.rate) + " (" + ab.today.abandoned + "/" + ab.today.live + ") · " + t("live.cap") + " " + pct(ab.cap));
    text("f-updated", local(s.campaign.now).slice(11));
    renderProgress(s.progress);
    renderOutcomes(s.calls.outcomes);
    renderRates(s.rates);
    renderPlan(s);
    renderAudit(s.audit);
    const sealed = !s.scores || s.scores.sealed;
    $("scores-sealed").hidden = !sealed;
    $("scores-open").hidden = sealed;
    if (!sealed) $("scores-open").textContent = JSON.stringify(s.scores.scores, null, 1).slice(0, 4000);
    const early = s.scores_opened_early;
    const banner = $("banner");
    banner.hidden = !early;
    if (early) {
      banner.textContent = (EN ? early.banner.en : early.banner["zh-CN"]) + " · " + local(early.at) + " · " +
        t("live.opened_early.by") + " " + early.by + " · " + t("live.opened_early.reason") + ": " + early.reason;
    }
  }

  const conn = $("conn");
  function state(kind) {
    conn.className = "conn " + kind;
    conn.textContent = t("live.state." + kind);
    conn.dataset.state = kind;
  }

  const url = "/api/v1/campaigns/" + encodeURIComponent(CFG.campaign) + "/live/stream?view=witness";
  function connect() {
    const source = new EventSource(url);
    source.addEventListener("open", () => state("live"));
    source.addEventListener("error", () => {
      state("reconnecting");
      if (source.readyState === EventSource.CLOSED) {  // refused (e.g. signed out): try again later
        source.close();
        setTimeout(connect, 5000);
      }
    });
    source.addEventListener("snapshot", (ev) => {
      state("live");
      try { render(JSON.parse(ev.data)); } catch (err) { console.error(err); }
      document.body.dataset.eventId = ev.lastEventId;
    });
  }
  connect();
})();
