// Interviewer console: keyboard first; every key press is saved on the server at once.
// The server is the only source of truth: after a reload, a closed tab or a crash the page asks
// GET /api/v1/console/state and shows exactly where the interview was. Live changes (a call
// arrives, the line drops) come as SSE `state` events; EventSource reconnects by itself and the
// page re-reads the state whenever the stream (re)opens.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const T = JSON.parse($("console-i18n").textContent);
  const LANG = document.documentElement.lang === "en" ? "en" : "zh";
  const CSRF = document.querySelector('meta[name="csrf-token"]').content;
  const API = "/api/v1/console";
  const PAUSE_REASONS = ["break", "meal", "training", "technical", "other"];

  let state = null; // the last ConsoleState
  let busy = false; // one request at a time: a key press never races a stale version
  let mode = "main"; // main | pause | disposition | appointment
  let wrapTimer = null;
  let wrapKey = null; // the wrap-up being counted (the seat's `since`), and when this page saw it start
  let wrapStart = 0;
  let events = null;

  const tr = (pair) => (pair ? pair[LANG] || pair.zh || "" : "");
  const t = (key) => T[key] || key;

  function notice(text) {
    const el = $("notice");
    el.textContent = text || "";
    el.hidden = !text;
  }

  let epoch = 0; // counts completed changes: a state read that started before one is stale

  async function call(path, body) {
    const write = body !== undefined;
    if (write && busy) return null;
    if (write) busy = true;
    if (write) document.body.setAttribute("aria-busy", "true");
    try {
      const r = await fetch(API + path, {
        method: body === undefined ? "GET" : "POST",
        // The page's language: the server words its errors in it (zh-CN first, English on request).
        headers: {
          "Content-Type": "application/json", "X-CSRF-Token": CSRF, Accept: "application/json",
          "Accept-Language": LANG === "en" ? "en" : "zh-CN",
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
      });
      if (r.status === 401) {
        location.href = "/login?next=/console";
        return null;
      }
      const data = await r.json().catch(() => ({}));
      if (!r.ok) {
        // Coded errors come worded in the page's language; a malformed request gets one plain line.
        const detail = typeof data.detail === "string" ? data.detail : t("console_errors.ui.invalid_request");
        const stale = !data.code || data.code === "interview.stale_version" || data.code === "interview.not_current_item";
        if (r.status === 409 && path === "/interview" && stale) {
          notice(data.code ? detail : t("console.error.stale"));
          setTimeout(refresh, 0);
          return null;
        }
        notice(detail);
        return null;
      }
      notice("");
      return data;
    } catch (err) {
      notice(t("console.error.network"));
      return null;
    } finally {
      if (write) {
        busy = false;
        epoch += 1;
        document.body.removeAttribute("aria-busy");
      }
    }
  }

  async function refresh() {
    const seen = epoch;
    const s = await call("/state");
    if (s && seen === epoch && !busy) render(s);
  }

  async function act(path, body) {
    const s = await call(path, body || {});
    if (s) render(s);
    return s;
  }

  async function interview(action, extra) {
    const iv = state && state.current && state.current.interview;
    if (!iv) return;
    const item = iv.item;
    const body = Object.assign({ action, version: iv.version, item_id: item ? item.id : null }, extra || {});
    const view = await call("/interview", body);
    if (view) {
      state.current.interview = view;
      render(state);
    }
  }

  // ---- rendering ------------------------------------------------------------------------------

  function fmtDuration(sec) {
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s).padStart(2, "0");
  }

  function button(label, key, onClick, cls) {
    const b = document.createElement("button");
    b.type = "button";
    if (cls) b.className = cls;
    const k = document.createElement("kbd");
    k.textContent = key;
    b.append(k, " ", label);
    b.addEventListener("click", onClick);
    return b;
  }

  // ---- the campaign's time zone ---------------------------------------------------------------
  // Every time on the console is shown in the campaign's zone, whatever the browser's own.

  function zoneOf(s) {
    return (s && s.clock && s.clock.timezone) || (s && s.campaign && s.campaign.timezone) || "Asia/Shanghai";
  }

  function fmtTime(iso, zone, withDate) {
    const opts = { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withDate) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
    try {
      return new Intl.DateTimeFormat(LANG === "en" ? "en-GB" : "zh-CN", opts).format(new Date(iso));
    } catch (err) {
      return iso;
    }
  }

  function dayIn(zone, date) { // YYYY-MM-DD of `date` in `zone`
    const parts = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(date);
    const get = (type) => parts.find((p) => p.type === type).value;
    return `${get("year")}-${get("month")}-${get("day")}`;
  }

  let clockBase = null; // [service time ms, page time ms, speed]
  function tickClock() {
    if (!clockBase || !state) return;
    const [serviceMs, pageMs, speed] = clockBase;
    const now = new Date(serviceMs + (Date.now() - pageMs) * speed);
    $("clock-time").textContent = fmtTime(now.toISOString(), zoneOf(state), false);
    $("clock").title = zoneOf(state);
  }

  function renderFinished(s) {
    const d = s.dialling;
    const box = $("finished");
    box.hidden = !(d && d.finished);
    document.body.dataset.dialling = d && d.finished ? d.reason : "";
    if (d && d.finished) $("finished-text").textContent = tr(d.message);
  }

  function render(s) {
    state = s;
    if (s.clock && s.clock.now) {
      clockBase = [Date.parse(s.clock.now), Date.now(), s.clock.speed || 1];
      $("clock-zone").textContent = s.clock.timezone;
      tickClock();
    }
    renderFinished(s);
    const seat = s.seat.status;
    document.body.dataset.seat = seat;
    const badge = $("seat-status");
    badge.className = "badge " + seat;
    badge.textContent = t("console.status." + seat) +
      (seat === "paused" && s.seat.pause_reason ? " · " + t("console.pause." + s.seat.pause_reason) : "");
    $("fig-calls").textContent = s.shift.calls;
    $("fig-completes").textContent = s.shift.completes;
    $("fig-talk").textContent = fmtDuration(s.shift.talk_seconds);

    const cur = s.current;
    // A call in hand to code: on a call, or in wrap-up after the line dropped (recovery)
    const inCall = seat === "on_call" || (seat === "wrap_up" && !!cur && !!cur.to_code);
    const preview = s.campaign && s.campaign.dialling_mode === "preview";
    $("btn-ready").disabled = !["offline", "paused", "wrap_up"].includes(seat);
    $("btn-pause").disabled = !["offline", "ready", "paused", "wrap_up"].includes(seat) &&
      !(seat === "reserved" && cur && cur.call.state === "preview");
    $("btn-offline").disabled = !["ready", "paused", "wrap_up"].includes(seat);

    // case panel
    $("case-panel").hidden = !cur;
    if (cur) {
      $("case-district").textContent = LANG === "en" && cur.district.name_en ? cur.district.name_en : cur.district.name_zh;
      $("case-stratum").textContent = tr(cur.stratum_label) || cur.stratum;
      $("case-phone").textContent = cur.phone_masked;
      $("case-attempts").textContent = cur.attempts_count;
      $("case-call").textContent = t("console.call." + cur.call.state);
      $("case-call").dataset.call = cur.call.state;
      $("line-dropped").hidden = !cur.line_dropped;
      const appt = $("case-appointment");
      appt.hidden = !cur.appointment;
      if (cur.appointment) {
        appt.textContent = t("console.case.appointment") + ": " +
          fmtTime(cur.appointment.at, zoneOf(s), true) + " (" + zoneOf(s) + ")" +
          (cur.appointment.note ? " · " + cur.appointment.note : "");
      }
    }
    const isPreview = seat === "reserved" && cur && cur.call.state === "preview";
    $("btn-dial").hidden = !isPreview;
    $("btn-preview-next").hidden = true;
    $("btn-hangup").hidden = !(seat === "on_call" && cur && cur.call.state === "connected");
    $("btn-code").hidden = !(inCall && mode !== "disposition" && mode !== "appointment");

    // main area
    const iv = cur && cur.interview;
    const showScript = inCall && iv;
    $("script").hidden = !showScript;
    $("idle").hidden = !!showScript || seat === "wrap_up";
    if (!showScript) {
      let text = t("console.idle");
      if (seat === "ready") text = preview ? t("console.keys.preview") : t("console.waiting");
      if (seat === "reserved") text = isPreview ? t("console.keys.preview") : t("console.call.dialling");
      if (seat === "ready" && preview && s.notice_no_case) text = t("console.no_case");
      if (s.dialling && s.dialling.finished && ["ready", "paused", "offline"].includes(seat)) {
        text = tr(s.dialling.message); // told at once: no call will come
      }
      $("idle-text").textContent = text;
      $("btn-preview-next-main").hidden = !(seat === "ready" && preview);
    }
    if (showScript) renderInterview(iv);
    if (!inCall && (mode === "disposition" || mode === "appointment")) mode = "main";
    $("disposition").hidden = !(inCall && (mode === "disposition" || mode === "appointment"));
    $("disp-elsewhere-row").hidden = !(cur && cur.line_dropped);
    if (!cur || !cur.line_dropped) $("disp-elsewhere").checked = false;
    if (!$("disposition").hidden) renderDispositions();
    $("appointment-form").hidden = mode !== "appointment";
    $("pause-panel").hidden = mode !== "pause";
    renderWrapUp(s);

    let help = t("console.keys.idle");
    if (inCall) help = t("console.keys.question");
    else if (seat === "ready" && preview) help = t("console.keys.preview") + " · " + help;
    $("keys-help").textContent = help;
  }

  function renderInterview(iv) {
    const main = $("script");
    main.dataset.item = iv.item ? iv.item.id : "";
    main.dataset.state = iv.state;
    main.dataset.version = iv.version;
    $("intro-text").textContent = tr(iv.script.introduction);
    $("intro").open = iv.progress.answered === 0 && iv.state === "asking";
    $("progress").max = iv.progress.total;
    $("progress").value = iv.progress.answered;
    $("progress-text").textContent = iv.progress.answered + " / " + iv.progress.total;
    const asking = iv.state === "asking" && iv.item;
    const coding = mode === "disposition" || mode === "appointment";
    $("question").hidden = !asking || coding; // the picker fits the screen without scrolling
    if (coding) $("intro").open = false;
    $("ending").hidden = !!asking;
    if (asking) {
      const item = iv.item;
      $("q-id").textContent = tr(item.label); // never the item's id
      $("q-text").textContent = tr(item.text);
      $("q-instructions").textContent = item.instructions ? t("console.instructions") + ": " + tr(item.instructions) : "";
      const list = $("q-options");
      list.replaceChildren();
      const chosen = iv.current_answer && iv.current_answer.status === "answered" ? String(iv.current_answer.value) : null;
      for (const o of item.options) {
        const li = document.createElement("li");
        const b = button(tr(o.label), o.key, () => interview("answer", { value: Number(o.key) }));
        if (chosen === o.key) b.classList.add("chosen");
        b.dataset.option = o.key;
        li.append(b);
        list.append(li);
      }
      const isNumber = item.kind === "number", isText = item.kind === "text";
      $("q-input-row").hidden = !(isNumber || isText);
      $("q-number").hidden = !isNumber;
      $("q-text-input").hidden = !isText;
      $("q-hint").textContent = isNumber ? t("console.number_hint") : isText ? t("console.text_hint") : "";
      const prior = iv.current_answer && iv.current_answer.value != null ? String(iv.current_answer.value) : "";
      if (isNumber && $("q-number").dataset.item !== item.id) {
        $("q-number").value = prior;
        $("q-number").dataset.item = item.id;
        if (item.min != null) $("q-number").min = item.min;
        if (item.max != null) $("q-number").max = item.max;
      }
      if (isText && $("q-text-input").dataset.item !== item.id) {
        $("q-text-input").value = prior;
        $("q-text-input").dataset.item = item.id;
        $("q-text-input").maxLength = item.max_length;
      }
      $("btn-refuse").hidden = !item.allow_refuse;
      $("btn-dont-know").hidden = !item.allow_dont_know;
      $("btn-back").disabled = !iv.can_back;
      if (mode === "main") {
        if (isNumber) $("q-number").focus();
        else if (isText) $("q-text-input").focus();
        else if (document.activeElement && ["INPUT", "TEXTAREA"].includes(document.activeElement.tagName)) {
          document.activeElement.blur();
        }
      }
    } else {
      const title = iv.state === "completed" ? "console.closing" : iv.state === "screened_out" ? "console.screened_out" : "console.broken_off";
      $("ending-title").textContent = t(title);
      $("ending-text").textContent = iv.state === "completed" ? tr(iv.script.closing) :
        iv.state === "screened_out" ? tr(iv.script.screened_out) : "";
      if (mode === "main") openDisposition();
    }
    const answers = $("answers");
    answers.replaceChildren();
    for (const a of iv.answers) {
      const li = document.createElement("li");
      const v = a.status === "answered" ? (a.label ? tr(a.label) : String(a.value)) : t("console.answer." + a.status);
      li.textContent = tr(a.item_label) + "：" + v;
      li.title = tr(a.text);
      answers.append(li);
    }
  }

  function suggestedChoice() {
    const iv = state.current && state.current.interview;
    if (!iv) return null;
    // The scoring policy decides (all-rated/1: 1.1 only with every item rated); the server says which.
    return iv.rule ? iv.rule.choice : null;
  }

  function renderDispositions() {
    const list = $("disp-choices");
    list.replaceChildren();
    const suggested = suggestedChoice();
    const iv = state.current && state.current.interview;
    const rule = $("disp-rule");
    rule.textContent = iv && iv.rule && iv.rule.disposition
      ? t("console.disp.rule") + " " + iv.rule.name + ": " + iv.rule.disposition : "";
    for (const d of state.dispositions) {
      const li = document.createElement("li");
      const b = button(tr(d.label), d.key, () => chooseDisposition(d));
      const small = document.createElement("small");
      // A questionnaire gets the rule's code whatever key is pressed (the server records it).
      const ruled = iv && iv.rule && (iv.rule.disposition === "1.1" || iv.rule.disposition === "1.2");
      small.textContent = " " + (ruled && d.code !== "screened_out" ? iv.rule.disposition : d.aapor);
      b.append(small);
      b.dataset.code = d.code;
      if (d.code === suggested) b.classList.add("suggested");
      li.append(b);
      list.append(li);
    }
    const first = list.querySelector("button.suggested") || list.querySelector("button");
    if (mode === "disposition" && first && !list.contains(document.activeElement)) first.focus();
  }

  function openDisposition() {
    mode = "disposition";
    render(state);
  }

  function closeDisposition() {
    mode = "main";
    render(state);
  }

  async function chooseDisposition(d) {
    if (d.needs_time) {
      mode = "appointment";
      $("appointment-form").hidden = false;
      const at = $("appt-at");
      if (!at.value) { // tomorrow in the campaign's time zone (the server reads the time there)
        const base = clockBase ? clockBase[0] + (Date.now() - clockBase[1]) * clockBase[2] : Date.now();
        at.value = dayIn(zoneOf(state), new Date(base + 24 * 3600 * 1000));
        $("appt-time").value = "19:00";
      }
      $("appt-zone").textContent = t("console_errors.ui.appointment_tz") + " · " + zoneOf(state);
      at.focus();
      return;
    }
    const body = { code: d.code };
    if (!$("disp-elsewhere-row").hidden && $("disp-elsewhere").checked) body.completed_elsewhere = true;
    const s = await act("/disposition", body);
    if (s) mode = "main";
  }

  async function submitAppointment(ev) {
    if (ev) ev.preventDefault();
    const day = $("appt-at").value.trim();
    const m = /^(\d{1,2}):(\d{2})$/.exec($("appt-time").value.trim());
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) { $("appt-at").focus(); return; }
    if (!m) { $("appt-time").focus(); return; }
    const s = await call("/disposition", {
      code: "appointment",
      appointment_at: `${day}T${m[1].padStart(2, "0")}:${m[2]}`,
      note: $("appt-note").value || null,
      same_interviewer: $("appt-same").checked,
    });
    if (s) {
      mode = "main";
      $("appt-at").value = "";
      $("appt-time").value = "";
      $("appt-note").value = "";
      $("appt-same").checked = false;
      render(s);
    }
  }

  function renderWrapUp(s) {
    const show = s.seat.status === "wrap_up" && !(s.current && s.current.to_code);
    $("wrapup").hidden = !show;
    if (!show) {
      if (wrapTimer) { clearInterval(wrapTimer); wrapTimer = null; }
      return;
    }
    // Counted on this page's clock: the service clock may run faster than real time (demo speed).
    if (wrapKey !== s.seat.since) { wrapKey = s.seat.since; wrapStart = Date.now(); }
    const tick = () => {
      const left = Math.max(0, Math.ceil(s.wrap_up_seconds - (Date.now() - wrapStart) / 1000));
      $("wrap-count").textContent = left;
      if (left <= 0 && state.seat.status === "wrap_up" && !busy) {
        clearInterval(wrapTimer); wrapTimer = null;
        act("/next");
      }
    };
    if (!wrapTimer) wrapTimer = setInterval(tick, 500);
    tick();
    if (mode === "main" && document.activeElement !== $("btn-next")) $("btn-next").focus();
  }

  function renderPauseReasons() {
    const list = $("pause-reasons");
    list.replaceChildren();
    PAUSE_REASONS.forEach((r, i) => {
      const li = document.createElement("li");
      li.append(button(t("console.pause." + r), String(i + 1), () => pauseWith(r)));
      list.append(li);
    });
  }

  async function pauseWith(reason) {
    mode = "main";
    await act("/pause", { reason });
  }

  function openPause() {
    if ($("btn-pause").disabled) return;
    mode = "pause";
    $("pause-panel").hidden = false;
    $("pause-reasons").querySelector("button").focus();
  }

  // ---- keyboard ---------------------------------------------------------------------------------

  function onKey(ev) {
    if (!state || ev.ctrlKey || ev.metaKey) return;
    const key = ev.key;
    const tag = document.activeElement ? document.activeElement.tagName : "";
    const inField = tag === "INPUT" || tag === "TEXTAREA";
    const seat = state.seat.status;

    if (key === "F2") { ev.preventDefault(); if (!$("btn-ready").disabled) { mode = "main"; act("/ready", {}); } return; }
    if (key === "F3") { ev.preventDefault(); openPause(); return; }
    if (key === "F4") { ev.preventDefault(); if (!$("btn-offline").disabled) act("/offline"); return; }

    if (mode === "pause") {
      const i = Number(key) - 1;
      if (i >= 0 && i < PAUSE_REASONS.length) { ev.preventDefault(); pauseWith(PAUSE_REASONS[i]); }
      else if (key === "Escape") { ev.preventDefault(); mode = "main"; render(state); }
      return;
    }
    if (mode === "appointment") {
      if (key === "Escape") { ev.preventDefault(); mode = "disposition"; render(state); }
      else if (key === "Enter" && tag !== "BUTTON") { ev.preventDefault(); submitAppointment(); }
      return;
    }
    if (mode === "disposition") {
      if (key === "Escape") { ev.preventDefault(); closeDisposition(); return; }
      const d = state.dispositions.find((x) => x.key.toLowerCase() === key.toLowerCase());
      if (d) { ev.preventDefault(); chooseDisposition(d); }
      return;
    }
    const cur = state.current;
    const toCode = seat === "wrap_up" && cur && cur.to_code;
    if (seat === "wrap_up" && !toCode) {
      if (key === "Enter" || key === "n" || key === "N") { ev.preventDefault(); act("/next"); }
      return;
    }
    if (seat === "ready" && state.campaign && state.campaign.dialling_mode === "preview" && (key === "n" || key === "N")) {
      ev.preventDefault(); previewNext(); return;
    }
    if (seat === "reserved" && cur && cur.call.state === "preview") {
      if (key === "Enter") { ev.preventDefault(); act("/preview/dial"); }
      return;
    }
    if ((seat !== "on_call" && !toCode) || !cur || !cur.interview) return;
    const iv = cur.interview;
    if (key === "Escape") { ev.preventDefault(); if (inField) document.activeElement.blur(); openDisposition(); return; }
    if (iv.state !== "asking" || !iv.item) {
      if ((key === "Backspace" || key === "b" || key === "B") && iv.can_back) { ev.preventDefault(); interview("back"); }
      return;
    }
    const item = iv.item;
    if (inField) {
      if (key === "Enter" && !ev.shiftKey) { ev.preventDefault(); saveField(item); }
      else if (ev.altKey && (key === "d" || key === "D" || key === "∂")) { ev.preventDefault(); if (item.allow_dont_know) interview("dont_know"); }
      else if (ev.altKey && (key === "r" || key === "R" || key === "®")) { ev.preventDefault(); if (item.allow_refuse) interview("refuse"); }
      else if (key === "Backspace" && ev.altKey) { ev.preventDefault(); if (iv.can_back) interview("back"); }
      return;
    }
    const opt = item.options.find((o) => o.key === key);
    if (opt) { ev.preventDefault(); interview("answer", { value: Number(opt.key) }); return; }
    if ((key === "r" || key === "R") && item.allow_refuse) { ev.preventDefault(); interview("refuse"); return; }
    if ((key === "d" || key === "D") && item.allow_dont_know) { ev.preventDefault(); interview("dont_know"); return; }
    if ((key === "Backspace" || key === "b" || key === "B") && iv.can_back) { ev.preventDefault(); interview("back"); return; }
  }

  function saveField(item) {
    if (item.kind === "number") {
      const v = $("q-number").value.trim();
      if (v === "") return;
      interview("answer", { value: Number(v) });
    } else {
      const v = $("q-text-input").value.trim();
      if (v === "") { if (item.allow_dont_know) interview("dont_know"); return; }
      interview("answer", { value: v });
    }
  }

  async function previewNext() {
    const s = await act("/preview/next");
    if (s && !s.current) { s.notice_no_case = true; render(s); }
  }

  // ---- live events ------------------------------------------------------------------------------

  function connect() {
    events = new EventSource(API + "/events");
    events.addEventListener("dialling", (ev) => { // dialling has ended: the banner at once
      try { if (state) { state.dialling = JSON.parse(ev.data); renderFinished(state); } } catch (err) { /* next state repairs it */ }
    });
    events.addEventListener("state", (ev) => {
      try { render(JSON.parse(ev.data)); } catch (err) { /* a bad frame: the next one repairs it */ }
    });
    events.addEventListener("open", () => { notice(""); refresh(); });
    events.addEventListener("error", () => {
      if (events.readyState === EventSource.CLOSED) { setTimeout(connect, 3000); }
      else notice(t("console.error.network"));
    });
  }

  // ---- wiring -----------------------------------------------------------------------------------

  $("btn-ready").addEventListener("click", () => { mode = "main"; act("/ready", {}); });
  $("btn-pause").addEventListener("click", openPause);
  $("btn-offline").addEventListener("click", () => act("/offline"));
  $("btn-dial").addEventListener("click", () => act("/preview/dial"));
  $("btn-preview-next-main").addEventListener("click", previewNext);
  $("btn-hangup").addEventListener("click", () => act("/hangup"));
  $("btn-code").addEventListener("click", openDisposition);
  $("btn-next").addEventListener("click", () => act("/next"));
  $("btn-refuse").addEventListener("click", () => interview("refuse"));
  $("btn-dont-know").addEventListener("click", () => interview("dont_know"));
  $("btn-back").addEventListener("click", () => interview("back"));
  $("btn-save").addEventListener("click", () => state && state.current && saveField(state.current.interview.item));
  $("appointment-form").addEventListener("submit", submitAppointment);
  $("appt-cancel").addEventListener("click", () => { mode = "disposition"; render(state); });
  document.addEventListener("keydown", onKey);
  renderPauseReasons();
  setInterval(tickClock, 1000);
  refresh().then(connect);
})();
