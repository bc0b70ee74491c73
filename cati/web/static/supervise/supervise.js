// The supervisor room: renders the live snapshot (GET /api/v1/campaigns/{id}/live/stream, supervisor
// view) and the controls' state (GET .../controls), and sends the controls (POST .../controls/...,
// X-CSRF-Token from <meta name="csrf-token">) after a confirm with a reason. No refresh button: the
// stream pushes every change; seat times tick here between snapshots.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const T = JSON.parse($("sv-i18n").textContent);
  const CFG = JSON.parse($("sv-config").textContent);
  const EN = CFG.locale === "en";
  const t = (key, vars) => {
    let s = key in T ? T[key] : key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(v);
    return s;
  };
  const name = (n) => (n ? (EN ? n.en || n["zh-CN"] : n["zh-CN"] || n.en) : "");
  const text = (id, value) => { const el = $(id); if (el) el.textContent = value == null ? "–" : String(value); };
  const pct = (x, digits) => (x == null ? "–" : (x * 100).toFixed(digits == null ? 2 : digits) + "%");
  const local = (iso) => (iso ? iso.replace("T", " ").replace(/([+-]\d\d:\d\d|Z)$/, "").slice(0, 19) : "–");
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  const select = $("campaign-select");
  if (select) select.addEventListener("change", () => select.form.submit());
  if (CFG.campaign == null) return;
  const base = "/api/v1/campaigns/" + encodeURIComponent(CFG.campaign);

  let snap = null;
  let controls = null;
  let received = performance.now();

  // ---- helpers -------------------------------------------------------------------------------
  function td(tr, value, cls) {
    const el = document.createElement("td");
    if (value instanceof Node) el.appendChild(value); else el.textContent = value == null ? "–" : String(value);
    if (cls) el.className = cls;
    tr.appendChild(el);
    return el;
  }
  function button(label, cls, onClick, data) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (cls) b.className = cls;
    for (const [k, v] of Object.entries(data || {})) b.dataset[k] = v;
    b.addEventListener("click", onClick);
    return b;
  }
  function badge(label, cls) {
    const s = document.createElement("span");
    s.className = "badge " + cls;
    s.textContent = label;
    return s;
  }
  function duration(seconds) {
    if (seconds == null) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (x) => String(x).padStart(2, "0");
    return (h ? h + ":" + two(m) : String(m)) + ":" + two(r);
  }
  function flash(message, ok) {
    const el = $("flash");
    el.textContent = message;
    el.className = "flash " + (ok ? "ok" : "bad");
    el.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { el.hidden = true; }, ok ? 5000 : 12000);
  }

  // ---- confirm dialog and POST ---------------------------------------------------------------
  const dialog = $("confirm");
  let pending = null;
  function confirmThen(message, reasonRequired, send) {
    pending = { reasonRequired, send };
    $("confirm-text").textContent = message;
    $("confirm-reason").value = "";
    $("confirm-reason-label").textContent = t(reasonRequired ? "supervise.reason" : "supervise.reason.optional");
    $("confirm-error").hidden = true;
    dialog.showModal();
    $("confirm-reason").focus();
  }
  $("confirm-cancel").addEventListener("click", () => { pending = null; dialog.close(); });
  $("confirm-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!pending) { dialog.close(); return; }
    const reason = $("confirm-reason").value.trim();
    if (pending.reasonRequired && !reason) { $("confirm-error").hidden = false; return; }
    const job = pending;
    pending = null;
    dialog.close();
    job.send(reason);
  });

  async function post(path, body, done) {
    try {
      const r = await fetch(base + "/controls" + path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      });
      const data = await r.json().catch(() => ({}));
      if (!r.ok) {
        const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || r.status);
        flash(t("supervise.failed") + detail, false);
        return;
      }
      if (data && data.districts) { controls = data; renderAll(); }
      flash(t("supervise.done") + done, true);
      loadControls();
    } catch (err) {
      flash(t("supervise.failed") + err, false);
    }
  }

  async function loadControls() {
    try {
      const r = await fetch(base + "/controls", { credentials: "same-origin" });
      if (r.ok) { controls = await r.json(); renderAll(); }
    } catch (err) { /* the stream's badge shows a dead connection */ }
  }

  // ---- campaign-wide controls ----------------------------------------------------------------
  $("btn-campaign-pause").addEventListener("click", () =>
    confirmThen(t("supervise.confirm.pause_campaign"), true, (reason) =>
      post("/pause", { reason }, t("supervise.pause_campaign"))));
  $("btn-campaign-resume").addEventListener("click", () =>
    confirmThen(t("supervise.confirm.resume_campaign"), false, (reason) =>
      post("/resume", { reason }, t("supervise.resume_campaign"))));
  const modeSelect = $("mode-select");
  modeSelect.addEventListener("change", () => {
    const mode = modeSelect.value;
    const was = controls ? controls.dialling_mode : null;
    modeSelect.value = was || mode;  // shown as switched only once the server says so
    if (!mode || mode === was) return;
    confirmThen(t("supervise.confirm.pacing", { mode: t("supervise.mode." + mode) }), true, (reason) =>
      post("/pacing", { mode, reason }, t("supervise.mode.switch") + " · " + t("supervise.mode." + mode)));
  });

  // ---- rendering -----------------------------------------------------------------------------
  function controlDistrict(code) {
    return controls ? controls.districts.find((d) => d.code === code) : null;
  }

  function renderKpis() {
    const s = snap;
    const paused = controls ? controls.paused : false;
    text("k-status", t("live.status." + s.campaign.status));
    const dl = $("k-dialling");
    dl.textContent = t(paused ? "supervise.dialling.paused" : "supervise.dialling.on");
    dl.className = "v " + (paused ? "bad" : "good");
    text("k-completes", s.progress.totals.completes + " / " + s.progress.totals.target);
    text("k-inprogress", s.progress.totals.in_progress);
    text("k-hour", s.calls.last_hour.total);
    const ab = s.abandonment;
    const abEl = $("k-abandon");
    abEl.textContent = pct(ab.today.rate) + " / " + pct(ab.cap, 1) + " (" + ab.today.abandoned + "/" + ab.today.live + ")";
    abEl.className = "v " + (ab.today.share_of_cap != null && ab.today.share_of_cap >= 0.8 ? "bad" : "");
    const link = s.dialer ? s.dialer.link : "off";
    const linkEl = $("k-link");
    linkEl.textContent = ("supervise.link." + link) in T ? t("supervise.link." + link) : link;
    linkEl.className = "v " + (link === "up" ? "good" : link === "off" ? "" : "bad");
    text("clock", local(s.campaign.now).slice(11, 16));
    $("btn-campaign-pause").hidden = paused;
    $("btn-campaign-resume").hidden = !paused;
    const closed = s.campaign.status === "closed";
    $("btn-campaign-pause").disabled = closed;
    $("btn-campaign-resume").disabled = closed;
    modeSelect.disabled = closed;
    const modes = controls ? controls.modes : ["preview", "progressive", "predictive"];
    const mode = controls ? controls.dialling_mode : s.campaign.dialling_mode;
    if (modeSelect.options.length !== modes.length) {
      modeSelect.replaceChildren(...modes.map((m) => {
        const o = document.createElement("option");
        o.value = m; o.textContent = t("supervise.mode." + m);
        return o;
      }));
    }
    modeSelect.value = mode;
  }

  function renderAlerts() {
    const ul = $("alerts");
    const items = (snap.alerts || []).map((a) => {
      const li = document.createElement("li");
      li.className = "alert " + a.level;
      li.dataset.code = a.code;
      li.textContent = EN ? a.text.en : a.text["zh-CN"];
      return li;
    });
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = t("supervise.alerts.none");
      items.push(li);
    }
    ul.replaceChildren(...items);
  }

  function renderCells() {
    const rows = [];
    const closedCampaign = snap.campaign.status === "closed";
    for (const d of snap.progress.districts) {
      const cd = controlDistrict(d.code);
      const dName = name(d.name);
      d.cells.forEach((c, i) => {
        const tr = document.createElement("tr");
        tr.dataset.district = d.code;
        tr.dataset.stratum = c.stratum;
        if (cd && cd.paused) tr.classList.add("paused");
        if (i === 0) {
          const wrap = document.createElement("div");
          wrap.className = "district";
          const label = document.createElement("strong");
          label.textContent = dName;
          wrap.appendChild(label);
          if (cd && cd.paused) wrap.appendChild(badge(t("supervise.district.paused"), "bad"));
          if (cd) {
            const b = cd.paused
              ? button(t("supervise.resume"), "small", () => confirmThen(
                  t("supervise.confirm.resume_district", { name: dName }), false,
                  (reason) => post("/districts/" + encodeURIComponent(d.code) + "/resume", { reason }, dName + " · " + t("supervise.resume"))),
                  { action: "resume-district" })
              : button(t("supervise.pause"), "small danger", () => confirmThen(
                  t("supervise.confirm.pause_district", { name: dName }), true,
                  (reason) => post("/districts/" + encodeURIComponent(d.code) + "/pause", { reason }, dName + " · " + t("supervise.pause"))),
                  { action: "pause-district" });
            b.disabled = closedCampaign;
            wrap.appendChild(b);
          }
          const cellTd = td(tr, wrap);
          cellTd.rowSpan = d.cells.length;
          cellTd.className = "district-cell";
        }
        td(tr, t("live.stratum." + c.stratum));
        td(tr, c.target, "num");
        td(tr, c.completes, "num strong");
        td(tr, c.in_progress, "num");
        td(tr, c.remaining, "num");
        td(tr, c.window_open == null ? "–" : t(c.window_open ? "live.window.open" : "live.window.closed"),
           c.window_open ? "good" : "muted");
        const cc = cd ? cd.cells.find((x) => x.stratum === c.stratum) : null;
        const full = cc ? cc.full : c.remaining <= 0;
        const closed = cc ? cc.closed : false;
        const state = closed ? badge(t("supervise.cell.closed"), "bad")
          : full ? badge(t("supervise.cell.full"), "muted") : badge(t("supervise.cell.open"), "good");
        td(tr, state, "cell-state");
        const stratumName = t("live.stratum." + c.stratum);
        const path = "/quota-cells/" + encodeURIComponent(d.code) + "/" + encodeURIComponent(c.stratum);
        const action = closed
          ? button(t("supervise.reopen_cell"), "small", () => confirmThen(
              t("supervise.confirm.reopen_cell", { name: dName, stratum: stratumName }), false,
              (reason) => post(path + "/reopen", { reason }, dName + " · " + stratumName + " · " + t("supervise.reopen_cell"))),
              { action: "reopen-cell" })
          : button(t("supervise.close_cell"), "small danger", () => confirmThen(
              t("supervise.confirm.close_cell", { name: dName, stratum: stratumName }), true,
              (reason) => post(path + "/close", { reason }, dName + " · " + stratumName + " · " + t("supervise.close_cell"))),
              { action: "close-cell" });
        action.disabled = closedCampaign || (closed && full) || !cd;
        td(tr, action);
        rows.push(tr);
      });
    }
    const tr = document.createElement("tr");
    tr.className = "total";
    const p = snap.progress.totals;
    td(tr, t("live.total")); td(tr, "");
    td(tr, p.target, "num"); td(tr, p.completes, "num"); td(tr, p.in_progress, "num"); td(tr, p.remaining, "num");
    td(tr, ""); td(tr, ""); td(tr, "");
    rows.push(tr);
    $("cells-table").querySelector("tbody").replaceChildren(...rows);
  }

  const LOG_OUT = new Set(["ready", "paused", "wrap_up", "reserved"]);
  function renderSeats() {
    const seats = snap.seats || [];
    const rows = seats.map((s) => {
      const tr = document.createElement("tr");
      tr.dataset.user = s.username;
      tr.dataset.state = s.state;
      td(tr, s.display_name ? s.display_name + " (" + s.username + ")" : s.username);
      const st = td(tr, t("supervise.state." + s.state) + (s.pause_reason ? " · " + t("console.pause." + s.pause_reason) : ""), "seat-state state-" + s.state);
      st.dataset.state = s.state;
      const tick = td(tr, duration(s.seconds_in_state), "num tick");
      tick.dataset.base = String(s.seconds_in_state);
      td(tr, s.district ? name(s.district.name) + (s.stratum ? " · " + t("live.stratum." + s.stratum) : "") : "–");
      td(tr, s.completes_today, "num");
      td(tr, s.avg_interview_seconds_today == null ? "–" : duration(s.avg_interview_seconds_today), "num");
      const who = s.display_name || s.username;
      const b = button(t("supervise.seat.logout"), "small", () => confirmThen(
        t("supervise.confirm.logout", { name: who }), true,
        (reason) => post("/seats/" + s.user_id + "/logout", { reason }, who + " · " + t("supervise.seat.logout"))),
        { action: "logout" });
      b.disabled = !LOG_OUT.has(s.state) || snap.campaign.status === "closed";
      td(tr, b);
      return tr;
    });
    $("seats-table").querySelector("tbody").replaceChildren(...rows);
    const online = seats.filter((s) => s.state !== "offline").length;
    text("seat-count", "(" + online + " / " + seats.length + ")");
    $("seats-none").hidden = seats.length > 0;
  }

  function tickSeats() {
    const extra = (performance.now() - received) / 1000;
    for (const el of document.querySelectorAll("#seats-table td.tick")) {
      el.textContent = duration(Number(el.dataset.base) + extra);
    }
  }
  setInterval(tickSeats, 1000);

  function renderRates() {
    const items = [];
    for (const k of ["RR1", "RR3", "COOP1", "REF1", "CON1"]) {
      const v = snap.rates.provisional ? snap.rates.provisional[k] : null;
      const div = document.createElement("div");
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v == null ? "–" : (v * 100).toFixed(1) + "%";
      div.append(dt, dd); items.push(div);
    }
    $("rates").replaceChildren(...items);
  }

  // ---- charts --------------------------------------------------------------------------------
  const charts = {};
  function chart(id) {
    if (!window.echarts) return null;
    if (!charts[id]) charts[id] = window.echarts.init($(id));
    return charts[id];
  }
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  const COLOURS = { staff: "#3b6fb6", resident: "#c0392b" };
  const fontSize = () => Math.max(12, Math.round(parseFloat(getComputedStyle(document.body).fontSize) * 0.85));

  function renderCharts() {
    const fs = fontSize();
    const p = snap.progress;
    const progress = chart("chart-progress");
    if (progress) {
      const strata = [...new Set(p.districts.flatMap((d) => d.cells.map((c) => c.stratum)))];
      const series = [];
      for (const s of strata) {
        const pick = (d) => d.cells.find((c) => c.stratum === s) || { completes: 0, remaining: 0 };
        const colour = COLOURS[s] || "#777";
        series.push({ name: t("live.stratum." + s), type: "bar", stack: s, itemStyle: { color: colour },
                      data: p.districts.map((d) => pick(d).completes),
                      label: { show: true, position: "inside", fontSize: fs, formatter: (x) => (x.value ? String(x.value) : "") } });
        series.push({ name: t("live.stratum." + s) + " · " + t("live.remaining"), type: "bar", stack: s,
                      data: p.districts.map((d) => pick(d).remaining), itemStyle: { color: colour, opacity: 0.18 } });
      }
      progress.setOption({
        animation: false, tooltip: { trigger: "axis" }, textStyle: { fontSize: fs },
        legend: { top: 0, data: strata.map((s) => t("live.stratum." + s)), textStyle: { fontSize: fs } },
        grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: p.districts.map((d) => name(d.name)), axisLabel: { fontSize: fs } },
        yAxis: { type: "value", axisLabel: { fontSize: fs } }, series,
      }, true);
    }
    const outcomes = chart("chart-outcomes");
    if (outcomes) {
      const o = snap.calls.outcomes;
      const keys = ["answered", "busy", "no_answer", "failed", "abandoned"];
      const colours = { answered: "#1f7a3a", busy: "#b26a00", no_answer: "#9aa5b1", failed: "#6b4c9a", abandoned: "#b4232a" };
      outcomes.setOption({
        animation: false, tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
        legend: { orient: "vertical", left: 0, top: "middle", textStyle: { fontSize: fs } },
        title: { text: t("supervise.outcomes.today_total", {
                   today: keys.reduce((n, k) => n + (o.today[k] || 0), 0),
                   total: keys.reduce((n, k) => n + (o.total[k] || 0), 0) }),
                 right: 0, top: 0, textStyle: { fontSize: fs, fontWeight: 500 } },
        series: [{
          type: "pie", radius: ["38%", "66%"], center: ["62%", "55%"], avoidLabelOverlap: true,
          label: { fontSize: fs, formatter: "{c}" },
          data: keys.map((k) => ({ name: t("live.outcome." + k), value: o.today[k] || 0, itemStyle: { color: colours[k] } }))
            .filter((x) => x.value > 0),
        }],
      }, true);
    }
    const hour = chart("chart-hour");
    if (hour) {
      const per = snap.calls.last_hour.districts || {};
      hour.setOption({
        animation: false, tooltip: { trigger: "axis" },
        grid: { left: 8, right: 8, top: 16, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: p.districts.map((d) => name(d.name)), axisLabel: { fontSize: fs } },
        yAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: fs } },
        series: [{ type: "bar", data: p.districts.map((d) => per[d.code] || 0), itemStyle: { color: "#3b6fb6" },
                   label: { show: true, position: "top", fontSize: fs } }],
      }, true);
    }
    const ab0 = snap.abandonment;
    text("abandon-note", pct(ab0.today.rate) + " / " + t("live.cap") + " " + pct(ab0.cap, 1) + " · " +
         ab0.today.abandoned + " / " + ab0.today.live + " (" + ab0.rule_seconds + " s)");
    const gauge = chart("chart-abandon");
    if (gauge) {
      const ab = snap.abandonment;
      const cap = ab.cap || 0.01;
      const rate = ab.today.rate || 0;
      gauge.setOption({
        animation: false,
        series: [{
          type: "gauge", min: 0, max: cap * 2 * 100, startAngle: 180, endAngle: 0, radius: "120%", center: ["50%", "88%"],
          splitNumber: 2,
          axisLine: { lineStyle: { width: 16, color: [[0.4, "#1f7a3a"], [0.5, "#b26a00"], [1, "#b4232a"]] } },
          axisLabel: { show: false }, splitLine: { show: false }, axisTick: { show: false },
          pointer: { width: 6, length: "70%" }, anchor: { show: true, size: 10 },
          title: { show: false },
          detail: { fontSize: fs * 1.3, fontWeight: 700, offsetCenter: [0, "-38%"], formatter: () => pct(rate) },
          data: [{ value: Math.min(rate, cap * 2) * 100 }],
        }],
      }, true);
    }
  }

  function renderAll() {
    if (!snap) return;
    renderKpis();
    renderAlerts();
    renderCells();
    renderSeats();
    renderRates();
    renderCharts();
  }

  // ---- the stream ----------------------------------------------------------------------------
  const conn = $("conn");
  function state(kind) {
    conn.className = "conn " + kind;
    conn.textContent = t("live.state." + kind);
    conn.dataset.state = kind;
  }
  function connect() {
    const source = new EventSource(base + "/live/stream");
    source.addEventListener("open", () => state("live"));
    source.addEventListener("error", () => {
      state("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(connect, 5000);
      }
    });
    source.addEventListener("snapshot", (ev) => {
      state("live");
      try {
        snap = JSON.parse(ev.data);
        received = performance.now();
        renderAll();
        loadControls();  // the pause and close flags are not in the snapshot
      } catch (err) { console.error(err); }
      document.body.dataset.eventId = ev.lastEventId;
    });
  }
  loadControls();
  connect();
})();
