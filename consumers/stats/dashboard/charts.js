/* The dashboard's charts: inline SVG bars and lines, a legend, and the table every chart also is.
 *
 * No library and no CDN: the hub runs on machines without internet, so these ~200 lines are all the chart code
 * there is. `window.hubCharts({format, tableLabel})` gives the drawing functions, with numbers in the page's
 * locale (`format`) and the words of the table's toggle (`tableLabel()`); app.js draws the figures with them.
 * Every mark carries its figure (data-series, data-label, data-value) so a test, and a screen reader's table
 * fallback, read exactly what the API said.
 */
"use strict";

window.hubCharts = ({ format: fmt, tableLabel }) => {
  const SVG_NS = "http://www.w3.org/2000/svg";

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
    // A wide table scrolls on its own on a phone; the page itself never gets wider than the screen.
    const scroll = el("div", { class: "table-scroll" }, t);
    if (open) {
      t.classList.add("figures");
      container.append(scroll);
      return;
    }
    container.append(el("details", { class: "table" }, el("summary", {}, tableLabel()), scroll));
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

    let lastTickEnd = -Infinity;
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
      // A tick label that would run into the one before it (a narrow chart: a phone) is left out.
      const half = tick === null ? 0 : String(tick).length * 3.4 + 3;
      if (tick !== null && x + band / 2 - half >= lastTickEnd) {
        svgEl(root, "text", { x: x + band / 2, y: m.top + h + 16, "text-anchor": "middle" }, tick);
        lastTickEnd = x + band / 2 + half;
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

  return { el, columns, rows, table, empty };
};
