// Small SVG charts: a stacked bar chart over time buckets and a sparkline.
// Hand-drawn rather than a library: the dashboard needs two chart kinds.

const NS = "http://www.w3.org/2000/svg";

// Colors per event type; other keys take the fallback palette in order.
export const typeColors = {
  sent: "#8da2c0", open: "#2f6fdf", click: "#17a2b8", bounce: "#e65100",
  blocked: "#c62828", spam: "#8e24aa", unsub: "#6d4c41",
};
const palette = ["#43a047", "#fbc02d", "#5c6bc0", "#00897b", "#d81b60", "#546e7a"];

export function colorOf(key, i) {
  return typeColors[key] || palette[i % palette.length];
}

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// stackedBars draws buckets ([{time, counts}]) stacked by keys in order and
// returns the <svg>. Each bar segment has data-key and data-count, and a
// <title> for the tooltip; label(time) formats the x axis.
export function stackedBars(buckets, keys, label, { width = 1000, height = 260 } = {}) {
  const m = { l: 44, r: 8, t: 8, b: 22 };
  const w = width - m.l - m.r, h = height - m.t - m.b;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", class: "chart" });
  const totals = buckets.map(b => keys.reduce((s, k) => s + (b.counts[k] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  for (let i = 0; i <= 4; i++) {
    const y = m.t + h - (h * i) / 4;
    svg.append(el("line", { x1: m.l, x2: m.l + w, y1: y, y2: y, stroke: "#e2e5ea" }));
    svg.append(el("text", { x: m.l - 6, y: y + 4, "text-anchor": "end" }, String(Math.round((max * i) / 4))));
  }
  const n = Math.max(buckets.length, 1);
  const bw = w / n;
  const every = Math.ceil(n / 8);
  buckets.forEach((b, i) => {
    let y = m.t + h;
    const x = m.l + i * bw;
    keys.forEach((k, j) => {
      const c = b.counts[k] || 0;
      if (!c) return;
      const bh = (h * c) / max;
      y -= bh;
      const r = el("rect", {
        x: x + bw * 0.1, y, width: Math.max(bw * 0.8, 1), height: bh,
        fill: colorOf(k, j), "data-key": k, "data-count": c, "data-time": b.time,
      });
      r.append(el("title", {}, `${label(b.time)} ${k}: ${c}`));
      svg.append(r);
    });
    if (i % every === 0) {
      svg.append(el("text", { x: x + bw / 2, y: height - 6, "text-anchor": "middle" }, label(b.time)));
    }
  });
  return svg;
}

// sparkline draws each series ({values, color, key}) as a small line on one
// scale; each polyline has data-key and data-total.
export function sparkline(series, { width = 160, height = 28 } = {}) {
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "spark" });
  const max = Math.max(1, ...series.flatMap(s => s.values));
  for (const s of series) {
    const step = s.values.length > 1 ? width / (s.values.length - 1) : 0;
    const pts = s.values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - ((height - 4) * v) / max).toFixed(1)}`);
    svg.append(el("polyline", {
      points: pts.join(" "), fill: "none", stroke: s.color, "stroke-width": 1.5,
      "data-key": s.key, "data-total": s.values.reduce((a, b) => a + b, 0),
    }));
  }
  return svg;
}
