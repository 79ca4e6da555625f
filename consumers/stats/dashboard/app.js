/* The statistics dashboard: reads /api/stats/* and draws its charts as inline SVG (charts.js, loaded first).
 *
 * Its words are the console's (consumers/console/dashboard_text.py, Dutch, English or French as the user chose):
 * the page brings them, with the locale for numbers and dates and the categories' names, in #dashboard-i18n.
 */
"use strict";

(() => {
  const API = "/api/stats";
  const BLUE = "#2f6fd6";
  const PURPLE = "#7b4fc9";
  const GREEN = "#1f9d6b";
  const AMBER = "#e0a526";
  const RED = "#c8412f";
  const GREY = "#9aa5b5";
  const OUTCOME_COLORS = {
    answered_at_once: GREEN,
    appointment_made: BLUE,
    report_filed: PURPLE,
    referred: AMBER,
    abandoned: RED,
  };
  const OUTCOME_ORDER = Object.keys(OUTCOME_COLORS);

  const state = {
    meta: null,
    grain: "day",
    incident: null,
    controller: null,
    loads: 0,
    data: {},
  };

  // ------------------------------------------------------------------------------------------------
  // Small helpers

  const $ = (selector) => document.querySelector(selector);
  const I18N = JSON.parse(document.getElementById("dashboard-i18n").textContent);
  const LOCALE = I18N.locale;
  const number = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });
  const oneDecimal = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const signed = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0, signDisplay: "exceptZero" });
  const fmt = (n) => (n === null || n === undefined ? "–" : number.format(n));
  const pct = (n) => (n === null || n === undefined ? "–" : `${oneDecimal.format(n)} %`);
  const hoursText = (h) => (h === null || h === undefined ? "–" : t("hours", { hours: fmt(h) }));
  const { el, columns, rows, table, empty } = window.hubCharts({ format: fmt, tableLabel: () => t("table.show") });

  /** The words of `key` (under dash.) with its {fields} filled in; a missing word is an error, never shown. */
  function t(key, fields = {}) {
    const text = I18N.messages[`dash.${key}`];
    if (text === undefined) {
      console.error(`statistics dashboard: no words for dash.${key}`);
      return key;
    }
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in fields ? String(fields[name]) : whole));
  }

  function humanize(code) {
    const text = String(code).replace(/[._]+/g, " ").trim();
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function reason(d) {
    const text = I18N.reasons[d.type] || d.msg;
    const field = (d.loc || []).filter((p) => p !== "query" && p !== "body").pop();
    return field === undefined ? text : `${I18N.fields[field] || field}: ${text}`;
  }

  function categoryName(code) {
    return I18N.categories[code] || humanize(code);
  }

  const topicName = (code) => (I18N.messages[`dash.topic.${code}`] ? t(`topic.${code}`) : humanize(code));
  const outcomeName = (code) => (I18N.messages[`dash.outcome.${code}`] ? t(`outcome.${code}`) : humanize(code));

  function assigneeName(code) {
    const known = state.meta && state.meta.assignees.find((a) => a.code === code);
    return known ? known.name : humanize(code);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.round(seconds);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function localTime(iso, options) {
    const tz = (state.meta && state.meta.timezone) || "Europe/Brussels";
    return new Intl.DateTimeFormat(LOCALE, { timeZone: tz, ...options }).format(new Date(iso));
  }

  // "2021-03-15" is a local calendar day: format it without a time zone shift.
  function calendarDay(isoDay, options) {
    const [y, m, d] = isoDay.split("-").map(Number);
    return new Intl.DateTimeFormat(LOCALE, { ...options, timeZone: "UTC" }).format(new Date(Date.UTC(y, m - 1, d)));
  }

  const shortDay = (isoDay) => calendarDay(isoDay, { day: "numeric", month: "short" });
  const longDay = (isoDay) => calendarDay(isoDay, { day: "numeric", month: "long", year: "numeric" });
  const monthName = (isoDay) => calendarDay(isoDay, { month: "short" });

  // ------------------------------------------------------------------------------------------------
  // Data

  function periodParams() {
    const p = new URLSearchParams();
    if ($("#f-mode").value === "range") {
      p.set("from", $("#f-from").value);
      p.set("to", $("#f-to").value);
    } else {
      p.set("year", $("#f-year").value);
    }
    for (const name of ["district", "category"]) {
      const v = $(`#f-${name}`).value;
      if (v) p.set(name, v);
    }
    return p;
  }

  async function getJSON(path, params, signal) {
    const url = params ? `${API}${path}?${params}` : `${API}${path}`;
    const response = await fetch(url, { signal, headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      // A 422's reasons are the hub's own (by type, in the user's language); anything else as the API said it.
      const detail = body && body.detail && body.detail.length ? body.detail.map(reason).join("; ") : "";
      throw new Error(detail || (body && body.error) || response.statusText);
    }
    return body;
  }

  function withParam(params, name, value) {
    const copy = new URLSearchParams(params);
    copy.set(name, value);
    return copy;
  }

  function rangeProblem() {
    if ($("#f-mode").value !== "range") return null;
    const from = $("#f-from").value;
    const to = $("#f-to").value;
    if (!from || !to) return t("range.both");
    if (to < from) return t("range.reversed");
    return null;
  }

  function showError(message) {
    $("#status").textContent = message;
  }

  async function load() {
    const problem = rangeProblem();
    if (problem) {
      showError(problem);
      return;
    }
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const params = periodParams();
    keepInUrl(params);
    $("#main").setAttribute("aria-busy", "true");
    document.body.dataset.state = "loading";
    try {
      const signal = controller.signal;
      const [summary, series, hours, categories, districts, orders, incidents] = await Promise.all([
        getJSON("/summary", params, signal),
        getJSON("/series", withParam(params, "grain", state.grain), signal),
        getJSON("/calls/hours", params, signal),
        getJSON("/reports", withParam(params, "by", "category"), signal),
        getJSON("/reports", withParam(params, "by", "district"), signal),
        getJSON("/workorders", withParam(params, "by", "assignee"), signal),
        getJSON("/incidents", params, signal),
      ]);
      const chosen = incidents.incidents.find((i) => i.incident_id === state.incident) || incidents.incidents[0];
      const timeline = chosen
        ? await getJSON(`/incidents/${encodeURIComponent(chosen.incident_id)}/timeline`, null, signal)
        : null;
      state.incident = chosen ? chosen.incident_id : null;
      keepInUrl(params);
      state.data = { summary, series, hours, categories, districts, orders, incidents, timeline };
      showError("");
      renderAll();
      state.loads += 1;
      document.body.dataset.loads = String(state.loads);
      document.body.dataset.state = "ready";
    } catch (error) {
      if (error.name === "AbortError") return; // a newer filter choice replaced this load
      showError(t("error.load", { error: error.message }));
      document.body.dataset.state = "error";
      console.error("statistics dashboard:", error);
    } finally {
      if (state.controller === controller) $("#main").setAttribute("aria-busy", "false");
    }
  }

  // The URL says what is shown (period, filters, grain, incident), so a link to it opens the same view.
  function keepInUrl(params) {
    const url = new URLSearchParams(params);
    if (state.grain !== "day") url.set("grain", state.grain);
    if (state.incident) url.set("incident", state.incident);
    history.replaceState(null, "", `?${url}`);
    // Management's page on the same period and filters; the language page comes back to this very view.
    $("#back").href = `/console/management/?${params}`;
    $("#language").href = `/console/language?next=${encodeURIComponent(location.pathname + location.search)}`;
  }

  async function loadTimeline() {
    try {
      const id = encodeURIComponent(state.incident);
      state.data.timeline = await getJSON(`/incidents/${id}/timeline`, null, undefined);
      render("incident-timeline", renderTimeline);
      state.loads += 1;
      document.body.dataset.loads = String(state.loads);
    } catch (error) {
      showError(t("error.timeline", { error: error.message }));
      console.error("statistics dashboard:", error);
    }
  }

  // ------------------------------------------------------------------------------------------------
  // The dashboard

  function kpi(key, label, value, sub, warn = false) {
    const card = el("div", { class: `kpi${warn ? " warn" : ""}`, "data-kpi": key });
    card.append(el("div", { class: "k-label" }, label), el("div", { class: "k-value" }, value), el("div", { class: "k-sub" }, sub));
    return card;
  }

  function renderKpis() {
    const { summary, orders } = state.data;
    const c = summary.calls;
    const w = orders.total;
    $("#kpis").replaceChildren(
      kpi("calls", t("kpi.calls"), fmt(c.total), t("kpi.calls_sub", { answered: fmt(c.answered), abandoned: fmt(c.abandoned) })),
      kpi("first_contact_resolution", t("kpi.fcr"), pct(c.first_contact_resolution_pct), t("kpi.fcr_sub")),
      kpi("handle_time", t("kpi.handle"), duration(c.avg_handle_seconds), t("kpi.handle_sub", { median: duration(c.median_handle_seconds) })),
      kpi("outside_opening_hours", t("kpi.outside"), fmt(c.outside_opening_hours), t("kpi.outside_sub", { reports: fmt(summary.reports.outside_opening_hours) })),
      kpi("reports", t("kpi.reports"), fmt(summary.reports.total), t("kpi.reports_sub")),
      kpi("work_orders_open", t("kpi.orders"), fmt(w.open), t("kpi.orders_sub", { overdue: fmt(w.overdue), issued: fmt(w.issued) }), w.overdue > 0),
      kpi("sla_compliance", t("kpi.sla"), pct(w.sla_compliance_pct), t("kpi.sla_sub", { hours: hoursText(w.median_completion_hours) })),
      kpi("incidents", t("kpi.incidents"), fmt(summary.incidents), t("kpi.incidents_sub")),
    );
    const p = summary.period;
    $("#period-label").textContent = p.first_day === `${p.label}-01-01` ? p.label : `${shortDay(p.first_day)} – ${shortDay(p.last_day)} ${p.last_day.slice(0, 4)}`;
    $("#orders-note").textContent = t("note.workorders", { date: longDay(orders.as_of) });
  }

  function renderCallsOverTime(container) {
    const points = state.data.series.points;
    const grain = state.data.series.grain;
    const per = t(`per.${grain}`);
    const labels = points.map((p) => p.label);
    const many = points.length > 45;
    const tick = (i) => {
      const label = labels[i];
      if (grain === "day") {
        if (many) return label.endsWith("-01") ? monthName(label) : null;
        return points.length > 16 && i % Math.ceil(points.length / 14) ? null : shortDay(label);
      }
      if (grain === "week") return points.length > 20 && i % Math.ceil(points.length / 14) ? null : label.slice(5);
      return label;
    };
    const filtered = summaryFilters();
    columns(container, {
      title: t("calls.title", { grain: per, filters: filtered }),
      desc: t("calls.desc", { grain: per, period: state.data.series.period.label }),
      labels,
      tick,
      series: [
        { key: "calls", name: t("s.calls"), color: BLUE, values: points.map((p) => p.calls) },
        { key: "reports", name: t("s.reports"), color: PURPLE, values: points.map((p) => p.reports), line: true },
      ],
    });
    table(container, t("calls.caption"), [t(`grain.${grain}`), t("s.calls"), t("col.answered"), t("col.at_once"), t("col.abandoned"), t("s.reports")],
      points.map((p) => [p.label, fmt(p.calls), fmt(p.answered), fmt(p.answered_at_once), fmt(p.abandoned), fmt(p.reports)]));
  }

  function renderCallsByHour(container) {
    const hours = state.data.hours.hours;
    const labels = hours.map((h) => String(h.hour).padStart(2, "0"));
    columns(container, {
      title: `${t("h.hours")}${summaryFilters()}`,
      desc: t("hours.desc"),
      labels,
      full: labels.map((l) => `${l}:00–${l}:59`),
      tick: (i) => (i % 3 === 0 ? t("hour_tick", { hour: labels[i] }) : null),
      series: [
        { key: "inside", name: t("s.inside"), color: BLUE, values: hours.map((h) => h.calls - h.outside_opening_hours) },
        { key: "outside", name: t("s.outside"), color: AMBER, values: hours.map((h) => h.outside_opening_hours) },
        { key: "reports", name: t("s.filed"), color: PURPLE, values: hours.map((h) => h.reports), line: true },
      ],
    });
    table(container, t("h.hours"), [t("col.hour"), t("s.calls"), t("kpi.outside"), t("s.reports")],
      hours.map((h) => [`${String(h.hour).padStart(2, "0")}:00`, fmt(h.calls), fmt(h.outside_opening_hours), fmt(h.reports)]));
  }

  function renderTopics(container) {
    const topics = state.data.summary.calls.by_topic;
    if (!topics.length) return empty(container, t("topics.none"));
    const seen = new Set(topics.flatMap((x) => Object.keys(x.outcomes)));
    const outcomes = [...OUTCOME_ORDER.filter((o) => seen.has(o)), ...[...seen].filter((o) => !OUTCOME_ORDER.includes(o)).sort()];
    rows(container, {
      title: t("topics.title", { filters: summaryFilters() }),
      desc: t("topics.desc"),
      rows: topics.map((x) => ({ key: x.key, label: topicName(x.key), values: x.outcomes })),
      series: outcomes.map((o) => ({ key: o, name: outcomeName(o), color: OUTCOME_COLORS[o] || GREY })),
    });
    table(container, t("topics.caption"), [t("col.topic"), t("s.calls"), t("col.share"), t("kpi.fcr"), t("col.handle"), ...outcomes.map(outcomeName)],
      topics.map((x) => [topicName(x.key), fmt(x.calls), pct(x.share_pct), pct(x.first_contact_resolution_pct), duration(x.avg_handle_seconds), ...outcomes.map((o) => fmt(x.outcomes[o] || 0))]));
  }

  function renderReportRows(container, result, name, label) {
    if (!result.rows.length) return empty(container, t("reports.none"));
    const heading = t(name === "category" ? "h.categories" : "h.districts");
    rows(container, {
      title: `${heading}${summaryFilters()}`,
      desc: t(`reports.desc.${name}`, { period: result.period.label, total: fmt(result.total) }),
      rows: result.rows.map((r) => ({ key: r.key, label: label(r.key), values: { reports: r.reports } })),
      series: [{ key: "reports", name: t("s.reports"), color: name === "category" ? PURPLE : BLUE }],
    });
    table(container, heading, [t(name), t("s.reports"), t("col.share")],
      result.rows.map((r) => [label(r.key), fmt(r.reports), pct(r.share_pct)]));
  }

  function renderWorkOrders(container) {
    const result = state.data.orders;
    if (!result.rows.length) return empty(container, t("orders.none"));
    rows(container, {
      title: `${t("h.workorders")}${summaryFilters()}`,
      desc: t("orders.desc", { date: longDay(result.as_of) }),
      rows: result.rows.map((r) => ({
        key: r.key,
        label: assigneeName(r.key),
        values: { done: r.done, open: r.open - r.overdue, overdue: r.overdue, rejected: r.rejected },
      })),
      series: [
        { key: "done", name: t("s.done"), color: GREEN },
        { key: "open", name: t("s.open"), color: BLUE },
        { key: "overdue", name: t("s.overdue"), color: RED },
        { key: "rejected", name: t("s.rejected"), color: GREY },
      ],
    });
    const all = result.total;
    const line = (name, r) => [name, fmt(r.issued), fmt(r.open), fmt(r.overdue), fmt(r.done), fmt(r.done_on_time), pct(r.sla_compliance_pct), hoursText(r.median_completion_hours)];
    table(container, t("h.workorders"), [t("col.assignee"), t("col.issued"), t("col.open"), t("s.overdue"), t("s.done"), t("col.on_time"), t("kpi.sla"), t("col.median")],
      [...result.rows.map((r) => line(assigneeName(r.key), r)), line(t("orders.all"), all)], true);
  }

  function incidentTitle(i) {
    const fraction = i.waste_fraction && (I18N.fractions[i.waste_fraction] || i.waste_fraction);
    const what = fraction ? `${categoryName(i.category)} (${fraction})` : categoryName(i.category);
    return `${localTime(i.detected_at, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })} · ${what} · ${i.district}${i.street ? `, ${i.street}` : ""}`;
  }

  function renderIncidentOptions() {
    const select = $("#f-incident");
    const list = state.data.incidents.incidents;
    select.replaceChildren(...list.map((i) => el("option", { value: i.incident_id }, incidentTitle(i))));
    select.disabled = list.length === 0;
    if (state.incident) select.value = state.incident;
  }

  function renderTimeline(container) {
    const tl = state.data.timeline;
    if (!tl) return empty(container, t("timeline.none"));
    const step = tl.step_minutes;
    const buckets = tl.buckets;
    const first = buckets[0].minutes_from_alert;
    const clock = (at) => localTime(at, { hour: "2-digit", minute: "2-digit" });
    const labels = buckets.map((b) => clock(b.start));
    const markers = [{ key: "alert", at: -first / step, label: t("mark.alert", { time: clock(tl.alert_at) }), color: RED }];
    if (tl.broadcast_at) {
      const minutes = (new Date(tl.broadcast_at) - new Date(tl.alert_at)) / 60000;
      const at = (minutes - first) / step;
      if (at >= 0 && at <= buckets.length) {
        markers.push({ key: "broadcast", at, label: t("mark.broadcast", { time: clock(tl.broadcast_at) }), color: AMBER, dash: true });
      }
    }
    if (tl.resolved_at) {
      const minutes = (new Date(tl.resolved_at) - new Date(tl.alert_at)) / 60000;
      const at = (minutes - first) / step;
      if (at <= buckets.length) {
        markers.push({ key: "resolved", at, label: t("mark.resolved", { time: clock(tl.resolved_at) }), color: GREEN, dash: true });
      }
    }
    columns(container, {
      title: t("timeline.title", { incident: incidentTitle(tl.incident) }),
      desc: t("timeline.desc", { step, before: -first }),
      labels: buckets.map((b) => String(b.minutes_from_alert)),
      full: labels,
      tick: (i) => (i % 4 === 0 ? labels[i] : null),
      series: [
        { key: "calls", name: t("s.calls"), color: BLUE, values: buckets.map((b) => b.calls) },
        { key: "reports", name: t("s.reports"), color: PURPLE, values: buckets.map((b) => b.reports), line: true },
      ],
      markers,
      height: 260,
    });
    const saved = tl.incident.notice_saved;
    if (saved) container.append(noticeSaved(saved));
    table(container, t("h.incident"), [t("col.time"), t("col.minutes"), t("s.calls"), t("s.reports")],
      buckets.map((b, i) => [labels[i], b.minutes_from_alert, fmt(b.calls), fmt(b.reports)]));
  }

  /** What the notice saved, in words: the API's figures (calls_fewer and its interval), in the user's language. */
  function noticeSaved(saved) {
    const known = saved.calls_fewer !== null;
    const interval = { low: signed.format(saved.low), high: signed.format(saved.high) };
    let text = t("saved.none");
    const n = known ? Math.round(saved.calls_fewer) : 0;
    if (known) text = n >= 0 ? t("saved.fewer", { n: fmt(Math.abs(n)), ...interval }) : t("saved.more", { n: fmt(-n), ...interval });
    const when = (at) => localTime(at, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
    const parts = [t("saved", { text })];
    if (known) {
      parts.push(t("saved.detail", {
        before: fmt(saved.calls_before),
        expected: fmt(saved.expected_calls),
        hours: fmt(saved.hours_after),
        until: when(saved.window_to),
        after: fmt(saved.calls_after),
      }));
      if (saved.provisional) parts.push(t("saved.provisional"));
    }
    return el("p", { class: "notice-saved", "data-notice-saved": known ? String(saved.calls_fewer) : "" }, parts.join(" "));
  }

  function summaryFilters() {
    const f = state.data.summary.filters;
    const parts = [f.district, f.category && categoryName(f.category)].filter(Boolean);
    return parts.length ? ` (${parts.join(", ")})` : "";
  }

  const RENDERERS = {
    "calls-over-time": renderCallsOverTime,
    "calls-by-hour": renderCallsByHour,
    "topics-outcomes": renderTopics,
    "reports-by-category": (c) => renderReportRows(c, state.data.categories, "category", categoryName),
    "reports-by-district": (c) => renderReportRows(c, state.data.districts, "district", (d) => d),
    "workorders-by-assignee": renderWorkOrders,
    "incident-timeline": renderTimeline,
  };

  function render(name, renderer) {
    const container = document.querySelector(`[data-chart="${name}"]`);
    container.replaceChildren();
    renderer(container);
  }

  function renderAll() {
    renderKpis();
    renderIncidentOptions();
    $("#grain-label").textContent = t(`per.${state.grain}`);
    for (const [name, renderer] of Object.entries(RENDERERS)) render(name, renderer);
  }

  // ------------------------------------------------------------------------------------------------
  // Filters, kept in the URL so a view can be shared

  function setMode(mode) {
    $("#f-mode").value = mode;
    for (const label of document.querySelectorAll("[data-mode]")) label.hidden = label.dataset.mode !== mode;
  }

  function option(value, text) {
    return el("option", { value }, text);
  }

  async function init() {
    const form = $("#filters");
    form.addEventListener("submit", (event) => event.preventDefault());
    try {
      state.meta = await getJSON("/meta", null, undefined);
    } catch (error) {
      showError(t("error.load", { error: error.message }));
      document.body.dataset.state = "error";
      console.error("statistics dashboard:", error);
      return;
    }
    const meta = state.meta;
    $("#tz-label").textContent = meta.timezone;
    const thisYear = Number(meta.today.slice(0, 4));
    const years = meta.years.length ? [...meta.years].reverse() : [thisYear];
    $("#f-year").replaceChildren(...years.map((y) => option(String(y), String(y))));
    $("#f-district").append(...meta.districts.map((d) => option(d, d)));
    $("#f-category").append(...meta.categories.map((c) => option(c.code, categoryName(c.code))));

    const url = new URLSearchParams(location.search);
    const has = (select, value) => [...select.options].some((o) => o.value === value);
    if (url.get("from")) {
      setMode("range");
      $("#f-from").value = url.get("from");
      $("#f-to").value = url.get("to") || meta.today;
    } else {
      setMode("year");
      if (url.get("year") && !has($("#f-year"), url.get("year"))) $("#f-year").append(option(url.get("year"), url.get("year")));
      $("#f-year").value = url.get("year") || String(years[0]);
    }
    for (const name of ["district", "category"]) {
      const value = url.get(name);
      if (value && has($(`#f-${name}`), value)) $(`#f-${name}`).value = value;
    }
    if (["day", "week", "month"].includes(url.get("grain"))) state.grain = url.get("grain");
    if (url.get("incident")) state.incident = url.get("incident");
    for (const button of document.querySelectorAll("[data-grain]")) {
      button.setAttribute("aria-pressed", String(button.dataset.grain === state.grain));
      button.addEventListener("click", () => {
        state.grain = button.dataset.grain;
        for (const b of document.querySelectorAll("[data-grain]")) b.setAttribute("aria-pressed", String(b === button));
        load();
      });
    }

    $("#f-mode").addEventListener("change", () => {
      const mode = $("#f-mode").value;
      setMode(mode);
      if (mode === "range" && !$("#f-from").value) {
        const year = $("#f-year").value;
        $("#f-from").value = `${year}-01-01`;
        $("#f-to").value = `${year}-12-31`;
      }
      load();
    });
    for (const id of ["#f-year", "#f-from", "#f-to", "#f-district", "#f-category"]) {
      $(id).addEventListener("change", load);
    }
    $("#f-incident").addEventListener("change", () => {
      state.incident = $("#f-incident").value;
      keepInUrl(periodParams());
      loadTimeline();
    });

    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => state.data.summary && renderAll(), 150);
    });
    await load();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
