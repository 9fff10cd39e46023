// Small SVG charts: a stacked bar chart over time buckets and a sparkline.
// Hand-drawn rather than a library: the dashboard needs two chart kinds.

const NS = "http://www.w3.org/2000/svg";

// Colors per event category; other keys take the fallback palette in
// order.
export const typeColors = {
  sent: "#b0bec5", delivered: "#8da2c0", deferred: "#ffb74d", open: "#2f6fdf", click: "#17a2b8",
  bounce: "#e65100", blocked: "#c62828", complaint: "#8e24aa", unsubscribe: "#6d4c41", other: "#9e9e9e",
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

// intStep is the step of at most four intervals of the y axis up to v: a
// whole number of the form 1, 2, 2.5 or 5 times a power of ten, so that
// small counts do not show the same tick twice (0, 0, 1, 1, 1).
function intStep(v) {
  const want = v / 4;
  if (want <= 1) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(want)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= want && Number.isInteger(m * p)) return m * p;
  return 10 * p;
}

// stackedBars draws buckets ([{time, counts}]) stacked by keys in order and
// returns the <svg>. Each bar segment has data-key and data-count, and a
// <title> for the tooltip; label(time) names a bucket there. tick(time)
// names a bucket on the x axis, or returns "" to leave it out; without
// tick, about eight buckets are named with label. An empty chart says so.
export function stackedBars(buckets, keys, label, { width = 1000, height = 260, tick } = {}) {
  const m = { l: 44, r: 8, t: 8, b: 22 };
  const w = width - m.l - m.r, h = height - m.t - m.b;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", class: "chart" });
  const totals = buckets.map(b => keys.reduce((s, k) => s + (b.counts[k] || 0), 0));
  const top = Math.max(0, ...totals);
  const step = intStep(top);
  const max = Math.max(step, Math.ceil(top / step) * step);
  for (let v = 0; v <= max; v += step) {
    const y = m.t + h - (h * v) / max;
    svg.append(el("line", { x1: m.l, x2: m.l + w, y1: y, y2: y, stroke: "#e2e5ea" }));
    svg.append(el("text", { x: m.l - 6, y: y + 4, "text-anchor": "end", class: "y-tick" }, String(v)));
  }
  if (top === 0) {
    svg.append(el("text", { x: m.l + w / 2, y: m.t + h / 2, "text-anchor": "middle", class: "empty" }, "no events in this window"));
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
    const name = tick ? tick(b.time) : i % every === 0 ? label(b.time) : "";
    if (name) {
      svg.append(el("text", { x: x + bw / 2, y: height - 6, "text-anchor": "middle", class: "x-tick" }, name));
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
