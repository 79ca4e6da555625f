/* The statistics dashboard: reads /api/stats/* and draws its charts as inline SVG.
 *
 * No library and no CDN: the hub runs on machines without internet, so the ~300 lines of chart code below
 * are all there is. Every mark carries its figure (data-series, data-label, data-value) so a test, and a
 * screen reader's table fallback, read exactly what the API said.
 */
"use strict";

(() => {
  const API = "/api/stats";
  const SVG_NS = "http://www.w3.org/2000/svg";
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
  const number = new Intl.NumberFormat("en-GB");
  const fmt = (n) => (n === null || n === undefined ? "–" : number.format(n));
  const pct = (n) => (n === null || n === undefined ? "–" : `${n.toFixed(1)} %`);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    for (const child of children) node.append(child);
    return node;
  }

  function svgEl(parent, tag, attrs = {}, text = null) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== null) node.textContent = text;
    parent.append(node);
    return node;
  }

  function humanize(code) {
    const text = String(code).replace(/[._]+/g, " ").trim();
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function categoryName(code) {
    const known = state.meta && state.meta.categories.find((c) => c.code === code);
    return known ? known.name : humanize(code);
  }

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
    return new Intl.DateTimeFormat("en-GB", { timeZone: tz, ...options }).format(new Date(iso));
  }

  function shortDay(isoDay) {
    // "2021-03-15" is a local calendar day: format it without a time zone shift.
    const [y, m, d] = isoDay.split("-").map(Number);
    return new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", timeZone: "UTC" }).format(
      new Date(Date.UTC(y, m - 1, d)),
    );
  }

  function niceTicks(max, count = 4) {
    if (max <= 0) return [0, 1];
    const raw = max / count;
    const power = 10 ** Math.floor(Math.log10(raw));
    // Counts: whole-number steps of 1, 2 or 5 times a power of ten.
    const step = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw && s >= 1) || Math.max(power * 10, 1);
    const ticks = [];
    for (let v = 0; v < max + step; v += step) ticks.push(Math.round(v * 100) / 100);
    return ticks;
  }

  // ------------------------------------------------------------------------------------------------
  // Chart building blocks: a titled SVG, a legend, and the table every chart also is

  let uid = 0;

  function frame(container, title, desc, width, height) {
    const id = `chart-${++uid}`;
    const root = svgEl(container, "svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": `${id}-title ${id}-desc`,
      "data-chart-svg": container.dataset.chart,
    });
    svgEl(root, "title", { id: `${id}-title` }, title);
    svgEl(root, "desc", { id: `${id}-desc` }, desc);
    return root;
  }

  function legend(container, items) {
    const list = el("ul", { class: "legend", "aria-hidden": "true" });
    for (const item of items) {
      const swatch = el("span", { class: `swatch${item.line ? " line" : ""}` });
      swatch.style.background = item.color;
      list.append(el("li", {}, swatch, item.name));
    }
    container.append(list);
  }

  function table(container, caption, headers, rows, open = false) {
    const t = el("table", {});
    t.append(el("caption", { class: "skip" }, caption));
    const head = el("tr", {});
    for (const h of headers) head.append(el("th", { scope: "col" }, h));
    t.append(el("thead", {}, head));
    const body = el("tbody", {});
    for (const row of rows) {
      const tr = el("tr", {});
      row.forEach((cell, i) => tr.append(el(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : {}, String(cell))));
      body.append(tr);
    }
    t.append(body);
    if (open) {
      t.classList.add("figures");
      container.append(t);
      return;
    }
    container.append(el("details", { class: "table" }, el("summary", {}, "Show as a table"), t));
  }

  function empty(container, text) {
    container.append(el("p", { class: "empty" }, text));
  }

  /** Vertical bars (stacked when several bar series) with optional line series and vertical markers.
   *  opts: {title, desc, labels, tick(i) -> text|null, series: [{key, name, color, values, line?}],
   *         markers: [{at (fractional bar index), label, color, dash?}], height} */
  function columns(container, opts) {
    const width = Math.max(container.clientWidth || 640, 320);
    const height = opts.height || 240;
    const m = { top: 22, right: 14, bottom: 34, left: 46 };
    const w = width - m.left - m.right;
    const h = height - m.top - m.bottom;
    const n = opts.labels.length;
    const bars = opts.series.filter((s) => !s.line);
    const lines = opts.series.filter((s) => s.line);
    const totals = opts.labels.map((_, i) => bars.reduce((sum, s) => sum + s.values[i], 0));
    const max = Math.max(1, ...totals, ...lines.flatMap((s) => s.values));
    const ticks = niceTicks(max);
    const top = ticks[ticks.length - 1];
    const y = (v) => m.top + h - (v / top) * h;
    const band = w / Math.max(n, 1);
    // A few bars over a wide chart stay bar-shaped: at most 56 px wide, centred in their band.
    const gap = band > 6 ? Math.max(Math.min(band * 0.22, 8), band - 56) : 0.5;
    const root = frame(container, opts.title, opts.desc, width, height);

    for (const t of ticks) {
      svgEl(root, "line", { class: "gridline", x1: m.left, x2: m.left + w, y1: y(t), y2: y(t) });
      svgEl(root, "text", { x: m.left - 6, y: y(t) + 4, "text-anchor": "end" }, fmt(t));
    }
    svgEl(root, "line", { class: "axis-line", x1: m.left, x2: m.left + w, y1: m.top + h, y2: m.top + h });

    opts.labels.forEach((label, i) => {
      const x = m.left + i * band;
      const group = svgEl(root, "g", { class: "bar-group", "data-label": label, "data-total": totals[i] });
      let base = 0;
      for (const s of bars) {
        const v = s.values[i];
        const rect = svgEl(group, "rect", {
          class: "bar",
          x: x + gap / 2,
          y: y(base + v),
          width: Math.max(band - gap, 0.5),
          height: Math.max(y(base) - y(base + v), 0),
          fill: s.color,
          "data-series": s.key,
          "data-label": label,
          "data-value": v,
        });
        svgEl(rect, "title", {}, `${opts.full ? opts.full[i] : label} · ${s.name}: ${fmt(v)}`);
        base += v;
      }
      const tick = opts.tick(i);
      if (tick !== null) {
        svgEl(root, "text", { x: x + band / 2, y: m.top + h + 16, "text-anchor": "middle" }, tick);
      }
    });

    for (const s of lines) {
      const points = s.values.map((v, i) => [m.left + i * band + band / 2, y(v)]);
      svgEl(root, "path", {
        d: points.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join(""),
        fill: "none",
        stroke: s.color,
        "stroke-width": 2,
        "stroke-linejoin": "round",
      });
      points.forEach(([px, py], i) => {
        const dot = svgEl(root, "circle", {
          class: "point",
          cx: px,
          cy: py,
          r: n > 60 ? 1.6 : 3,
          fill: s.color,
          "data-series": s.key,
          "data-label": opts.labels[i],
          "data-value": s.values[i],
        });
        svgEl(dot, "title", {}, `${opts.full ? opts.full[i] : opts.labels[i]} · ${s.name}: ${fmt(s.values[i])}`);
      });
    }

    for (const mark of opts.markers || []) {
      const x = m.left + mark.at * band;
      const g = svgEl(root, "g", { class: "marker", "data-marker": mark.key });
      svgEl(g, "line", {
        x1: x, x2: x, y1: m.top - 6, y2: m.top + h,
        stroke: mark.color, "stroke-width": 2, "stroke-dasharray": mark.dash ? "5 4" : "none",
      });
      const anchor = x > m.left + w - 80 ? "end" : "start";
      svgEl(g, "text", { class: "marker-label", x: x + (anchor === "end" ? -5 : 5), y: m.top - 8, fill: mark.color, "text-anchor": anchor }, mark.label);
    }
    legend(container, opts.series.map((s) => ({ name: s.name, color: s.color, line: s.line })));
  }

  /** Horizontal bars, one row per item (stacked when several series), the total at the end of each row.
   *  opts: {title, desc, rows: [{key, label, values: {series: n}}], series: [{key, name, color}]} */
  function rows(container, opts) {
    const width = Math.max(container.clientWidth || 560, 320);
    const labelWidth = Math.min(Math.max(...opts.rows.map((r) => r.label.length), 6) * 6.6 + 12, width * 0.42);
    const rowHeight = 24;
    const m = { top: 6, right: 54, bottom: 6, left: labelWidth };
    const w = width - m.left - m.right;
    const height = m.top + m.bottom + rowHeight * opts.rows.length;
    const totals = opts.rows.map((r) => opts.series.reduce((sum, s) => sum + (r.values[s.key] || 0), 0));
    const max = Math.max(1, ...totals);
    const root = frame(container, opts.title, opts.desc, width, height);
    opts.rows.forEach((r, i) => {
      const yTop = m.top + i * rowHeight;
      const group = svgEl(root, "g", { class: "bar-row", "data-key": r.key, "data-label": r.label, "data-total": totals[i] });
      const label = r.label.length * 6.6 > labelWidth - 12 ? `${r.label.slice(0, Math.floor((labelWidth - 24) / 6.6))}…` : r.label;
      svgEl(group, "text", { class: "row-label", x: m.left - 8, y: yTop + rowHeight / 2 + 4, "text-anchor": "end" }, label);
      let x = m.left;
      for (const s of opts.series) {
        const v = r.values[s.key] || 0;
        const bw = (v / max) * w;
        const rect = svgEl(group, "rect", {
          class: "bar", x, y: yTop + 4, width: Math.max(bw, 0), height: rowHeight - 8, rx: 2, fill: s.color,
          "data-series": s.key, "data-label": r.key, "data-value": v,
        });
        svgEl(rect, "title", {}, `${r.label} · ${s.name}: ${fmt(v)}`);
        x += bw;
      }
      svgEl(group, "text", { class: "value-label", x: x + 6, y: yTop + rowHeight / 2 + 4 }, fmt(totals[i]));
    });
    if (opts.series.length > 1) legend(container, opts.series);
  }

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
      const detail = body && body.detail && body.detail.length ? `: ${body.detail.map((d) => d.msg).join("; ")}` : "";
      throw new Error(`${(body && body.error) || response.statusText}${detail}`);
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
    if (!from || !to) return "Choose both days of the range.";
    if (to < from) return "The range ends before it starts.";
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
      showError(`The figures could not be loaded: ${error.message}`);
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
  }

  async function loadTimeline() {
    try {
      const id = encodeURIComponent(state.incident);
      state.data.timeline = await getJSON(`/incidents/${id}/timeline`, null, undefined);
      render("incident-timeline", renderTimeline);
      state.loads += 1;
      document.body.dataset.loads = String(state.loads);
    } catch (error) {
      showError(`The incident timeline could not be loaded: ${error.message}`);
      console.error("statistics dashboard:", error);
    }
  }

  // ------------------------------------------------------------------------------------------------
  // The dashboard

  function kpi(label, value, sub, warn = false) {
    const card = el("div", { class: `kpi${warn ? " warn" : ""}`, "data-kpi": label });
    card.append(el("div", { class: "k-label" }, label), el("div", { class: "k-value" }, value), el("div", { class: "k-sub" }, sub));
    return card;
  }

  function renderKpis() {
    const { summary, orders } = state.data;
    const c = summary.calls;
    const w = orders.total;
    $("#kpis").replaceChildren(
      kpi("Calls", fmt(c.total), `${fmt(c.answered)} answered · ${fmt(c.abandoned)} abandoned`),
      kpi("First-contact resolution", pct(c.first_contact_resolution_pct), "answered at once, of answered calls"),
      kpi("Handle time", duration(c.avg_handle_seconds), `average · median ${duration(c.median_handle_seconds)}`),
      kpi("Outside opening hours", fmt(c.outside_opening_hours), `calls · ${fmt(summary.reports.outside_opening_hours)} reports`),
      kpi("Reports", fmt(summary.reports.total), "filed, all channels"),
      kpi("Work orders open", fmt(w.open), `${fmt(w.overdue)} overdue · ${fmt(w.issued)} issued`, w.overdue > 0),
      kpi("SLA compliance", pct(w.sla_compliance_pct), `median completion ${w.median_completion_hours === null ? "–" : `${w.median_completion_hours} h`}`),
      kpi("Incidents", fmt(summary.incidents), "spikes detected"),
    );
    const p = summary.period;
    $("#period-label").textContent = p.first_day === `${p.label}-01-01` ? p.label : `${shortDay(p.first_day)} – ${shortDay(p.last_day)} ${p.last_day.slice(0, 4)}`;
    $("#as-of").textContent = orders.as_of;
  }

  function renderCallsOverTime(container) {
    const points = state.data.series.points;
    const grain = state.data.series.grain;
    const labels = points.map((p) => p.label);
    const many = points.length > 45;
    const tick = (i) => {
      const label = labels[i];
      if (grain === "day") {
        if (many) return label.endsWith("-01") ? shortDay(label).split(" ")[1] : null;
        return points.length > 16 && i % Math.ceil(points.length / 14) ? null : shortDay(label);
      }
      if (grain === "week") return points.length > 20 && i % Math.ceil(points.length / 14) ? null : label.slice(5);
      return label;
    };
    const filtered = summaryFilters();
    columns(container, {
      title: `Calls per ${grain}${filtered}`,
      desc: `Calls (bars) and reports (line) per ${grain}, ${state.data.series.period.label}.`,
      labels,
      tick,
      series: [
        { key: "calls", name: "Calls", color: BLUE, values: points.map((p) => p.calls) },
        { key: "reports", name: "Reports", color: PURPLE, values: points.map((p) => p.reports), line: true },
      ],
    });
    table(container, "Calls and reports per period", [grain, "Calls", "Answered", "At once", "Abandoned", "Reports"],
      points.map((p) => [p.label, fmt(p.calls), fmt(p.answered), fmt(p.answered_at_once), fmt(p.abandoned), fmt(p.reports)]));
  }

  function renderCallsByHour(container) {
    const hours = state.data.hours.hours;
    const labels = hours.map((h) => String(h.hour).padStart(2, "0"));
    columns(container, {
      title: `Calls per hour of the day${summaryFilters()}`,
      desc: "Calls per local hour of the day, in and outside opening hours, and reports filed, summed over the period.",
      labels,
      full: labels.map((l) => `${l}:00–${l}:59`),
      tick: (i) => (i % 3 === 0 ? `${labels[i]}h` : null),
      series: [
        { key: "inside", name: "Calls in opening hours", color: BLUE, values: hours.map((h) => h.calls - h.outside_opening_hours) },
        { key: "outside", name: "Calls outside opening hours", color: AMBER, values: hours.map((h) => h.outside_opening_hours) },
        { key: "reports", name: "Reports filed", color: PURPLE, values: hours.map((h) => h.reports), line: true },
      ],
    });
    table(container, "Calls per hour of the day", ["Hour", "Calls", "Outside opening hours", "Reports"],
      hours.map((h) => [`${String(h.hour).padStart(2, "0")}:00`, fmt(h.calls), fmt(h.outside_opening_hours), fmt(h.reports)]));
  }

  function renderTopics(container) {
    const topics = state.data.summary.calls.by_topic;
    if (!topics.length) return empty(container, "No calls in this period.");
    const seen = new Set(topics.flatMap((t) => Object.keys(t.outcomes)));
    const outcomes = [...OUTCOME_ORDER.filter((o) => seen.has(o)), ...[...seen].filter((o) => !OUTCOME_ORDER.includes(o)).sort()];
    rows(container, {
      title: `Calls by topic and outcome${summaryFilters()}`,
      desc: "Calls per topic, split by outcome.",
      rows: topics.map((t) => ({ key: t.key, label: humanize(t.key), values: t.outcomes })),
      series: outcomes.map((o) => ({ key: o, name: humanize(o), color: OUTCOME_COLORS[o] || GREY })),
    });
    table(container, "Calls by topic", ["Topic", "Calls", "Share", "First-contact resolution", "Avg handle time", ...outcomes.map(humanize)],
      topics.map((t) => [humanize(t.key), fmt(t.calls), pct(t.share_pct), pct(t.first_contact_resolution_pct), duration(t.avg_handle_seconds), ...outcomes.map((o) => fmt(t.outcomes[o] || 0))]));
  }

  function renderReportRows(container, result, name, label) {
    if (!result.rows.length) return empty(container, "No reports in this period.");
    rows(container, {
      title: `Reports by ${name}${summaryFilters()}`,
      desc: `Reports filed per ${name}, ${result.period.label}; ${fmt(result.total)} in all.`,
      rows: result.rows.map((r) => ({ key: r.key, label: label(r.key), values: { reports: r.reports } })),
      series: [{ key: "reports", name: "Reports", color: name === "category" ? PURPLE : BLUE }],
    });
    table(container, `Reports by ${name}`, [humanize(name), "Reports", "Share"],
      result.rows.map((r) => [label(r.key), fmt(r.reports), pct(r.share_pct)]));
  }

  function renderWorkOrders(container) {
    const result = state.data.orders;
    if (!result.rows.length) return empty(container, "No work orders issued in this period.");
    rows(container, {
      title: `Work orders per assignee${summaryFilters()}`,
      desc: `Work orders issued in the period per assignee: done, open within the SLA, overdue as of ${result.as_of}, rejected.`,
      rows: result.rows.map((r) => ({
        key: r.key,
        label: assigneeName(r.key),
        values: { done: r.done, open: r.open - r.overdue, overdue: r.overdue, rejected: r.rejected },
      })),
      series: [
        { key: "done", name: "Done", color: GREEN },
        { key: "open", name: "Open, within SLA", color: BLUE },
        { key: "overdue", name: "Overdue", color: RED },
        { key: "rejected", name: "Rejected", color: GREY },
      ],
    });
    const t = result.total;
    table(container, "Work orders per assignee", ["Assignee", "Issued", "Open", "Overdue", "Done", "Done on time", "SLA compliance", "Median completion"],
      [
        ...result.rows.map((r) => [assigneeName(r.key), fmt(r.issued), fmt(r.open), fmt(r.overdue), fmt(r.done), fmt(r.done_on_time), pct(r.sla_compliance_pct), r.median_completion_hours === null ? "–" : `${r.median_completion_hours} h`]),
        ["All assignees", fmt(t.issued), fmt(t.open), fmt(t.overdue), fmt(t.done), fmt(t.done_on_time), pct(t.sla_compliance_pct), t.median_completion_hours === null ? "–" : `${t.median_completion_hours} h`],
      ], true);
  }

  function incidentTitle(i) {
    const what = i.waste_fraction ? `${categoryName(i.category)} (${i.waste_fraction})` : categoryName(i.category);
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
    const t = state.data.timeline;
    if (!t) return empty(container, "No incidents in this period.");
    const step = t.step_minutes;
    const buckets = t.buckets;
    const first = buckets[0].minutes_from_alert;
    const labels = buckets.map((b) => localTime(b.start, { hour: "2-digit", minute: "2-digit" }));
    const markers = [{ key: "alert", at: -first / step, label: `Alert ${localTime(t.alert_at, { hour: "2-digit", minute: "2-digit" })}`, color: RED }];
    if (t.broadcast_at) {
      const minutes = (new Date(t.broadcast_at) - new Date(t.alert_at)) / 60000;
      const at = (minutes - first) / step;
      if (at >= 0 && at <= buckets.length) {
        markers.push({ key: "broadcast", at, label: `Broadcast ${localTime(t.broadcast_at, { hour: "2-digit", minute: "2-digit" })}`, color: AMBER, dash: true });
      }
    }
    if (t.resolved_at) {
      const minutes = (new Date(t.resolved_at) - new Date(t.alert_at)) / 60000;
      const at = (minutes - first) / step;
      if (at <= buckets.length) {
        markers.push({ key: "resolved", at, label: `Resolved ${localTime(t.resolved_at, { hour: "2-digit", minute: "2-digit" })}`, color: GREEN, dash: true });
      }
    }
    columns(container, {
      title: `Incident timeline: ${incidentTitle(t.incident)}`,
      desc: `Calls and reports per ${step} minutes from ${-first} minutes before the alert; the alert, the broadcast and the resolution are marked.`,
      labels: buckets.map((b) => String(b.minutes_from_alert)),
      full: labels,
      tick: (i) => (i % 4 === 0 ? labels[i] : null),
      series: [
        { key: "calls", name: "Calls", color: BLUE, values: buckets.map((b) => b.calls) },
        { key: "reports", name: "Reports", color: PURPLE, values: buckets.map((b) => b.reports), line: true },
      ],
      markers,
      height: 260,
    });
    const saved = t.incident.notice_saved;
    if (saved) {
      const when = (at) => localTime(at, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
      const detail = saved.calls_fewer === null
        ? ""
        : ` ${fmt(saved.calls_before)} calls in the hour before the notice, so ${saved.expected_calls} expected in the ${saved.hours_after} open hours after it (to ${when(saved.window_to)}); ${fmt(saved.calls_after)} came.${saved.provisional ? " Provisional: the window has not ended." : ""}`;
      container.append(el("p", { class: "notice-saved", "data-notice-saved": saved.calls_fewer === null ? "" : String(saved.calls_fewer) },
        `What the notice saved: ${saved.text}.${detail}`));
    }
    table(container, "Incident timeline", ["Time", "Minutes from alert", "Calls", "Reports"],
      buckets.map((b, i) => [labels[i], b.minutes_from_alert, fmt(b.calls), fmt(b.reports)]));
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
    $("#grain-label").textContent = state.grain;
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
      showError(`The figures could not be loaded: ${error.message}`);
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
    $("#f-category").append(...meta.categories.map((c) => option(c.code, c.name)));

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
