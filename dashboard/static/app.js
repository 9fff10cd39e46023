// hookd dashboard: a client of the admin API. Pages are chosen by the URL
// fragment (#/overview, #/event/ID, ...). Everything is built with DOM
// calls and textContent, never innerHTML, so event data cannot inject markup.

import { stackedBars, sparkline, colorOf } from "./chart.js";

const main = document.getElementById("main");

// ---- helpers ----

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// answers holds the text of each answer api returned as an object.
const answers = new WeakMap();

// api calls the admin API and returns its JSON answer. It throws an
// APIError with the API's own message when it answers an error, and one
// with status 0 when hookd does not answer at all: fetch's "Failed to
// fetch" does not say that hookd may be down.
async function api(path, opts = {}) {
  let r;
  try {
    r = await fetch("/api" + path, { credentials: "same-origin", ...opts });
  } catch {
    throw new APIError(0, "hookd did not answer: is it running?");
  }
  if (r.status === 401) { location.href = "/ui/login" + location.hash; throw new APIError(401, "log in first"); }
  let body = null;
  let text = "";
  try { text = await r.text(); } catch { throw new APIError(0, "hookd stopped answering: is it running?"); }
  let parsed = !text;
  try { body = text ? JSON.parse(text, exactIntegers) : null; parsed = true; } catch {
    // The reviver recurses, so an event's data nested thousands deep
    // exhausts the stack: read it again without.
    try { body = JSON.parse(text); parsed = true; } catch { body = null; }
  }
  if (!r.ok) throw new APIError(r.status, `hookd answered ${r.status}: ` + ((body && body.error) || r.statusText));
  if (!parsed) throw new APIError(r.status, "hookd's answer could not be read as JSON");
  if (body && typeof body === "object") answers.set(body, text);
  return body;
}

// apiList gets the first limit items (the list named key) of a listing
// whose path holds its filters, following next: a page of large items, such
// as jobs holding their event, holds fewer than its limit while more follow.
async function apiList(path, key, limit) {
  return (await apiPage(path, key, limit, "")).items;
}

// apiPage is apiList from cursor on, returning the items and the cursor
// of those after them ("" at the end), for More.
async function apiPage(path, key, limit, cursor) {
  const items = [];
  do {
    const page = await api(`${path}${path.includes("?") ? "&" : "?"}limit=${limit - items.length}` + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    items.push(...page[key]);
    cursor = page.next;
  } while (cursor && items.length < limit);
  return { items, next: cursor || "" };
}

// exactIntegers keeps integers beyond 2^53 (Mailjet's MessageID) as the
// text the server sent, so the raw payload shows them exactly: a JS number
// would round them.
function exactIntegers(key, value, context) {
  if (typeof value === "number" && !Number.isSafeInteger(value) && Number.isInteger(value) && context && context.source) {
    return JSON.rawJSON(context.source);
  }
  return value;
}

// h makes an element with attributes and children. style is an object
// of CSS properties, set through the element's style object: the page's
// Content-Security-Policy refuses inline styles, a style attribute
// included, and allows only that.
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (k === "style") Object.assign(e.style, v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const fmtNum = n => Number(n || 0).toLocaleString("en-US");
// fmtRatio shows a ratio from 0 to 1 as a percentage to a tenth. One that
// is not 0 yet rounds to 0.0% shows as <0.1%, and one that is not 1 yet
// rounds to 100.0% as >99.9%: one click in thousands of opens, or one
// delivery among thousands of bounces, is not none and not all.
function fmtRatio(r) {
  const text = (100 * r).toFixed(1);
  if (r > 0 && text === "0.0") return "<0.1%";
  if (r < 1 && text === "100.0") return ">99.9%";
  return text + "%";
}
const pct = (a, b) => (b > 0 ? fmtRatio(a / b) : "–");
const fmtTime = t => (t ? new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$|Z$/, "Z") : "");
const short = (s, n = 60) => (s && s.length > n ? s.slice(0, n - 1) + "…" : s || "");

// cell is a table cell showing text cut to n characters, the whole of it in
// its title (the tooltip): an error or a reason can run to kilobytes.
function cell(text, n, attrs = {}) {
  return h("td", { ...attrs, title: text && text.length > n ? text : undefined }, short(text, n));
}

// A row of an event list shows at most these many characters of its
// address, campaign and type, the whole of each in its tooltip: a sender
// may send any length, and one address of kilobytes would stretch its row
// over many screens. The event's page shows them whole.
const emailLen = 80, campaignLen = 40, typeLen = 40;

// typePill shows an event's type, cut to typeLen characters.
function typePill(type) {
  return h("span", { class: "pill", title: type && type.length > typeLen ? type : undefined }, short(type, typeLen));
}

// tally is a count shown with its noun, "1 event", "2 events": the number
// alone in the element of id.
function tally(id, one, many) {
  const num = h("span", { id }, "0");
  const noun = h("span", {}, many);
  return {
    el: [num, " ", noun],
    set(n) {
      num.textContent = fmtNum(n);
      noun.textContent = n === 1 ? one : many;
    },
  };
}

// plural is n with its noun, "1 target", "2 targets".
function plural(n, one, many) {
  return `${fmtNum(n)} ${n === 1 ? one : many}`;
}

// errorBox shows err, with a Retry button calling retry when given.
function errorBox(err, retry, id) {
  return h("div", { class: "card errors", id },
    h("p", { class: "error" }, String(err.message || err)),
    retry ? h("button", { class: "retry", onclick: retry }, "Retry") : null);
}

// pager is a listing shown a page at a time: load(cursor) shows one page
// and returns its next cursor. first() shows the first page, throwing what
// fails for the page to show; More shows the next, and what fails then
// shows in error, next to it, until a later try succeeds.
function pager(id, load) {
  const more = h("button", { id: id + "-more", hidden: true }, "More");
  const error = h("div", { id: id + "-more-error" });
  let next = "";
  const show = async cursor => {
    next = await load(cursor);
    more.hidden = !next;
  };
  more.onclick = async () => {
    more.disabled = true;
    try {
      await show(next);
      error.replaceChildren();
    } catch (err) {
      error.replaceChildren(errorBox(err, () => more.click()));
    } finally {
      more.disabled = false;
    }
  };
  return { more, error, first: () => show("") };
}

// table builds a table of headers over rows: an array of <tr>, or a
// <tbody> that the caller fills later.
function table(headers, rows, attrs = {}) {
  return h("table", attrs,
    h("thead", {}, h("tr", {}, headers.map(c => h("th", { class: c.num ? "num" : "" }, c.label || c)))),
    rows instanceof HTMLTableSectionElement ? rows : h("tbody", {}, rows));
}

function tabs(values, current, onpick, id) {
  return h("div", { class: "tabs", id }, values.map(v =>
    h("button", { class: v === current ? "active" : "", "data-range": v, onclick: () => onpick(v) }, v)));
}

// show makes hash the page's URL and shows it. A form submitted again
// with the same values, or a range picked again, changes no hash, so
// fires no hashchange, yet its user asks for the page anew: its results
// as they now are.
function show(hash) {
  const before = location.hash;
  location.hash = hash;
  if (location.hash === before) route();
}

// Windows offered on the time-based pages, with their bucket width.
const ranges = {
  "1h": { ms: 3600e3, interval: "1m", ivms: 60e3 },
  "24h": { ms: 86400e3, interval: "1h", ivms: 3600e3 },
  "7d": { ms: 7 * 86400e3, interval: "1h", ivms: 3600e3 },
  "30d": { ms: 30 * 86400e3, interval: "1d", ivms: 86400e3 },
};

// rangeOf is the range a page's URL names (range=7d), 24h when it names
// none: the range lives in the URL, so a reload or the back button shows
// the window it showed.
function rangeOf(params) {
  const r = params.get("range");
  return Object.hasOwn(ranges, r) ? r : "24h";
}

// windowOf returns since and until (ISO) for a range, until being the end
// of the bucket holding now so the last bar is the current one.
function windowOf(name) {
  const r = ranges[name];
  const until = Math.ceil((Date.now() + 1) / r.ivms) * r.ivms;
  return { since: new Date(until - r.ms).toISOString(), until: new Date(until).toISOString(), interval: r.interval };
}

// axisOf tells how a chart of buckets of interval from since to until
// names them (UTC): label names a bucket in its tooltip, tick on the x
// axis. Over more than a day the axis names the days ("Nov 27"), at their
// midnights when the buckets are shorter: the hours alone would repeat
// and read as time running backwards.
function axisOf(interval, since, until) {
  const p = n => String(n).padStart(2, "0");
  const day = t => new Date(t).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
  const hm = t => { const d = new Date(t); return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`; };
  if (interval === "1d") return { label: day };
  if (Date.parse(until) - Date.parse(since) <= 86400e3) return { label: hm };
  return { label: t => `${day(t)} ${hm(t)}`, tick: t => (new Date(t).getTime() % 86400e3 === 0 ? day(t) : "") };
}

// The categories in the order of a message's life (event.Categories),
// then "other": the events whose type has none.
const categoryOrder = ["sent", "delivered", "deferred", "open", "click", "bounce", "blocked", "complaint", "unsubscribe", "other"];
const sortCategories = keys => [...keys].sort((a, b) => {
  const i = categoryOrder.indexOf(a), j = categoryOrder.indexOf(b);
  return (i < 0 ? 99 : i) - (j < 0 ? 99 : j) || a.localeCompare(b);
});

let cleanup = null;

// ---- pages ----

// overview counts events by category, shared by every provider, so that
// Mailjet's sent, Postmark's Delivery and Mailgun's delivered are one
// "delivered", and the funnel holds every provider's mail.
async function overview(params) {
  const range = rangeOf(params);
  const w = windowOf(range);
  const data = await api(`/stats?by=category&interval=${w.interval}&since=${w.since}&until=${w.until}`);
  // Events whose type has no category count under "": shown as other.
  const buckets = data.buckets.map(b => ({
    time: b.time,
    counts: Object.fromEntries(Object.entries(b.counts).map(([k, v]) => [k || "other", v])),
  }));
  const totals = {};
  for (const b of buckets) for (const [k, v] of Object.entries(b.counts)) totals[k] = (totals[k] || 0) + v;
  const keys = sortCategories(Object.keys(totals));
  const all = Object.values(totals).reduce((a, b) => a + b, 0);
  const delivered = totals.delivered || 0, open = totals.open || 0, click = totals.click || 0;
  const axis = axisOf(data.interval, data.since, data.until);
  // A window without events may be a store without any: then the page
  // says where a provider must send them, rather than a chart of nothing.
  const none = all === 0 && (await api("/events?limit=1")).events.length === 0;
  const chart = h("div", { id: "overview-chart", "data-total": all }, stackedBars(buckets, keys, axis.label, { tick: axis.tick }));
  // On a window too narrow for the whole chart it scrolls: show its end,
  // the newest buckets, once the page is drawn.
  setTimeout(() => { chart.scrollLeft = chart.scrollWidth; });
  return [
    h("h1", {}, "Overview"),
    none ? h("div", { class: "card notice", id: "overview-empty" },
      h("h2", {}, "No events yet"),
      h("p", {}, "Point your provider's webhook at hookd's hooks listener: ", h("code", {}, "POST /hooks/SOURCE"),
        ", SOURCE being a source's name in the configuration (the built-in one is ", h("code", {}, "mailjet"),
        "). To try the dashboard first, ", h("code", {}, "hookd send --generate 100 http://HOST:PORT/hooks/mailjet"),
        " posts made-up events.")) : null,
    tabs(Object.keys(ranges), range, v => show("#/overview?range=" + v), "ranges"),
    h("p", { class: "muted" }, `Events by category, whichever provider sent them, from ${fmtTime(data.since)} to ${fmtTime(data.until)}, per ${data.interval} bucket (event time, UTC); "other" are events whose type has no category. Search shows each provider's own types.`),
    h("div", { class: "kpis", id: "totals" },
      h("div", { class: "kpi" }, h("div", { class: "v", id: "total-all" }, fmtNum(all)), h("div", { class: "l" }, "events")),
      keys.map(k => h("div", { class: "kpi" },
        h("div", { class: "v", id: "total-" + k, "data-count": totals[k] }, fmtNum(totals[k])),
        h("div", { class: "l" }, k)))),
    h("div", { class: "card" }, h("h2", {}, "Events per category"),
      chart,
      h("div", { class: "legend" }, keys.map((k, i) => h("span", {}, h("i", { style: { background: colorOf(k, i) } }), k)))),
    h("div", { class: "card" }, h("h2", {}, "Delivery funnel"),
      h("div", { class: "funnel", id: "funnel" },
        h("div", { class: "step" }, h("div", { class: "l muted" }, "delivered"), h("div", { class: "v", id: "funnel-delivered" }, fmtNum(delivered))),
        h("div", { class: "arrow" }, "→"),
        h("div", { class: "step" }, h("div", { class: "l muted" }, "opened"), h("div", { class: "v", id: "funnel-open" }, fmtNum(open)),
          h("div", { class: "muted" }, "open rate ", h("b", { id: "rate-open" }, pct(open, delivered)))),
        h("div", { class: "arrow" }, "→"),
        h("div", { class: "step" }, h("div", { class: "l muted" }, "clicked"), h("div", { class: "v", id: "funnel-click" }, fmtNum(click)),
          h("div", { class: "muted" }, "click-to-open ", h("b", { id: "rate-click" }, pct(click, open)), " · click rate ", h("b", { id: "rate-click-delivered" }, pct(click, delivered))))),
      h("p", { class: "muted" }, "Rates are ratios of event counts in the window, of every provider.")),
  ];
}

// errorKeyLen is how many characters of an event's error the store counts
// by (errorKeyLen in store/counts.go): an error that long was most likely
// cut there.
const errorKeyLen = 120;

function errorCell(text) {
  if ([...text].length < errorKeyLen) return h("td", {}, text);
  return h("td", { title: `the first ${errorKeyLen} characters: errors are counted by them` }, text + "…");
}

// delivDomains is how many domains the Deliverability page lists.
const delivDomains = 50;

async function deliverability(params) {
  const range = rangeOf(params);
  const w = windowOf(range);
  // One more than are shown tells whether the list is cut: the API gives
  // neither a count nor a flag.
  const d = await api(`/deliverability?since=${w.since}&until=${w.until}&limit=${delivDomains + 1}`);
  const cut = d.domains.length > delivDomains;
  d.domains = d.domains.slice(0, delivDomains);
  d.errors = d.errors.slice(0, delivDomains);
  return [
    h("h1", {}, "Deliverability"),
    tabs(Object.keys(ranges), range, v => show("#/deliverability?range=" + v), "dranges"),
    h("p", { class: "muted" }, `Bounce, blocked and complaint rates per recipient domain, worst first, from ${fmtTime(d.since)} to ${fmtTime(d.until)}, counted by category whichever provider sent them. Rate = (bounce + blocked + complaint) / (delivered + bounce + blocked): a bounced or blocked message is reported instead of a delivered one.`),
    h("div", { class: "row" },
      h("div", { class: "card" }, h("h2", {}, "Domains"),
        cut ? h("p", { class: "muted", id: "deliv-cut" }, `The ${delivDomains} worst domains; more had a bounce, block or complaint in this window.`) : null,
        d.domains.length === 0 ? h("p", { class: "muted", id: "deliv-empty" }, "No bounce, block or complaint in this window.") :
          table(["domain", { label: "delivered", num: 1 }, { label: "bounce", num: 1 }, { label: "blocked", num: 1 }, { label: "complaint", num: 1 }, { label: "rate", num: 1 }],
            d.domains.map(x => h("tr", { "data-domain": x.domain },
              h("td", {}, x.domain || "(none)"), h("td", { class: "num sent" }, fmtNum(x.sent)), h("td", { class: "num bounce" }, fmtNum(x.bounce)),
              h("td", { class: "num blocked" }, fmtNum(x.blocked)), h("td", { class: "num spam" }, fmtNum(x.spam)),
              h("td", { class: "num rate" }, fmtRatio(x.rate)))), { id: "deliv-table" })),
      h("div", {},
        h("div", { class: "card" }, h("h2", {}, "Bounces"),
          h("div", { class: "kpis" },
            h("div", { class: "kpi" }, h("div", { class: "v", id: "hard-bounces" }, fmtNum(d.hard_bounces)), h("div", { class: "l" }, "hard")),
            h("div", { class: "kpi" }, h("div", { class: "v", id: "soft-bounces" }, fmtNum(d.soft_bounces)), h("div", { class: "l" }, "soft"))),
          h("p", { class: "muted" }, "A bounce whose provider does not tell its class is in neither.")),
        h("div", { class: "card" }, h("h2", {}, "Top errors"),
          h("p", { class: "muted" }, "The provider's error text of bounces and blocks; those without one are not listed."),
          d.errors.length === 0 ? h("p", { class: "muted" }, "None.") :
            table(["type", "error", { label: "count", num: 1 }],
              d.errors.map(e => h("tr", {}, h("td", {}, e.type), errorCell(e.error), h("td", { class: "num" }, fmtNum(e.count)))), { id: "errors-table" })))),
  ];
}

// live shows the events as hookd stores them, newest at the top, of the
// source and type that its URL names (#/live?type=open): Apply puts them
// there, so that a reload or the back button keeps them.
function live(params) {
  const list = h("tbody", { id: "live-rows" });
  const count = h("span", { id: "live-count" }, "0");
  // Until the first event comes, the page says what it waits for rather
  // than showing the table's headers over nothing.
  const empty = h("p", { class: "muted", id: "live-empty" }, "No event yet: each event appears here as hookd stores it.");
  const status = h("span", { class: "muted", id: "live-status" }, "connecting…");
  const source = h("input", { name: "source", id: "live-source", placeholder: "any source", value: params.get("source") || "" });
  const type = h("input", { name: "type", id: "live-type", placeholder: "any type", value: params.get("type") || "" });
  let es = null, n = 0;
  // closed says why the browser gave up on stream: it does so, without
  // saying why, when hookd answers anything but a stream (401 once the
  // session has ended, 503), where it retries a broken connection. The
  // same request through fetch tells the answer; 401 goes to the login,
  // as on every other page.
  const closed = async (stream, url) => {
    let why = "hookd ended the stream";
    const ac = new AbortController();
    try {
      const r = await fetch(url, { credentials: "same-origin", signal: ac.signal });
      if (r.status === 401) { location.href = "/ui/login" + location.hash; return; }
      if (!r.ok) {
        const body = await r.json().catch(() => null);
        why = `hookd answered ${r.status}: ${(body && body.error) || r.statusText}`;
      }
    } catch {
      why = "hookd did not answer: is it running?";
    } finally {
      ac.abort();
    }
    if (es === stream) status.textContent = `disconnected (${why}): Apply connects again`;
  };
  // connect opens the stream of the inputs' filters; push, when the user
  // applied them, makes them the page's URL, a new entry in its history
  // (pushState fires no hashchange: the page stays, with its stream).
  const connect = push => {
    if (es) es.close();
    status.textContent = "connecting…";
    list.replaceChildren();
    n = 0; count.textContent = "0"; empty.hidden = false;
    const q = new URLSearchParams();
    if (source.value.trim()) q.set("source", source.value.trim());
    if (type.value.trim()) q.set("type", type.value.trim());
    const hash = "#/live" + (q.size ? "?" + q.toString() : "");
    if (push && location.hash !== hash) history.pushState(null, "", hash);
    const url = "/api/live?" + q.toString();
    const stream = es = new EventSource(url);
    es.onopen = () => { status.textContent = "connected: new events appear at the top"; };
    es.onerror = () => {
      if (stream.readyState === EventSource.CLOSED) closed(stream, url);
      else status.textContent = "disconnected, reconnecting…";
    };
    es.addEventListener("event", m => {
      const e = JSON.parse(m.data);
      n++; count.textContent = fmtNum(n); empty.hidden = true;
      list.prepend(h("tr", { "data-id": e.id, "data-type": e.type },
        h("td", {}, fmtTime(e.time)), h("td", {}, e.source), h("td", {}, typePill(e.type)),
        cell(e.email, emailLen), cell(e.campaign, campaignLen), h("td", {}, h("a", { href: "#/event/" + encodeURIComponent(e.id) }, short(e.id, 24)))));
      while (list.children.length > 500) list.lastChild.remove();
    });
  };
  cleanup = () => es && es.close();
  setTimeout(() => connect(false));
  return [
    h("h1", {}, "Live"),
    h("form", { class: "filters card", onsubmit: ev => { ev.preventDefault(); connect(true); } },
      h("label", {}, "source", source), h("label", {}, "type", type),
      h("button", { type: "submit", class: "primary", id: "live-apply" }, "Apply"), status),
    h("div", { class: "card live-list" }, h("p", {}, "Events received since opening: ", count), empty,
      table(["time", "source", "type", "email", "campaign", "id"], list, { id: "live-table" })),
  ];
}

// toISO reads a since or until written as a date and time without an
// offset (2024-11-27T12:00, as a datetime-local input wrote it in older
// bookmarks) as UTC, as every time on the page is shown: the browser would
// read it in its own time zone. Anything else the API takes (a time with
// an offset, a date, a duration such as 7d) goes as it is, and so does a
// value that is none of those, for the API to say what is wrong with it.
function toISO(value) {
  if (!/^\d{4}-\d{2}-\d{2}t\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/i.test(value)) return value;
  const d = new Date(value.toUpperCase() + "Z");
  return isNaN(d) ? value : d.toISOString();
}

// timeHelp says what a since or until input takes: what GET /api/events
// takes, which a datetime-local input could neither show nor keep.
const timeHelp = "an RFC 3339 time (2025-03-01T12:00:00+02:00), a date and time in UTC (2025-03-01T12:00), " +
  "a date (2025-03-01, its midnight UTC) or a duration ago (24h, 7d)";

// searchFilters are the filters of GET /api/events that the search form
// offers, in its order. They live in the page's URL (#/search?domain=...),
// so a search can be bookmarked and More asks for the same events.
const searchFilters = ["email", "domain", "type", "category", "bounce_class", "campaign", "source", "since", "until"];

async function search(params) {
  const f = Object.fromEntries(searchFilters.map(k => [k, params.get(k) || ""]));
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) q.set(k, k === "since" || k === "until" ? toISO(v) : v);
  const input = (name, attrs = {}, label = name) => h("label", {}, label, h("input", { name, id: "search-" + name, value: f[name], ...attrs }));
  const form = h("form", { class: "filters card", id: "search-form", onsubmit: ev => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(ev.target)) if (v) p.set(k, v);
    show("#/search?" + p.toString());
  } },
  input("email", { placeholder: "user@example.com" }), input("domain", { placeholder: "example.com" }),
  input("type", { placeholder: "open" }), input("category", { list: "categories", placeholder: "any" }),
  input("bounce_class", { list: "bounce-classes", placeholder: "any" }, "bounce class"),
  input("campaign"), input("source", { placeholder: "any source" }),
  input("since", { placeholder: "2025-03-01 or 7d", title: timeHelp }, "since (UTC)"),
  input("until", { placeholder: "2025-03-01T12:00 or 24h", title: timeHelp }, "until (UTC)"),
  h("button", { type: "submit", class: "primary", id: "search-go" }, "Search"),
  h("a", { href: "/api/events?format=csv&" + q.toString(), id: "export-csv" }, "CSV"),
  h("a", { href: "/api/events?format=ndjson&" + q.toString(), id: "export-ndjson" }, "NDJSON"));
  const body = h("tbody", { id: "search-rows" });
  const count = tally("search-count", "event", "events");
  let shown = 0;
  const pages = pager("search", async cursor => {
    const p = new URLSearchParams(q);
    p.set("limit", "100");
    if (cursor) p.set("cursor", cursor);
    const page = await api("/events?" + p.toString());
    for (const e of page.events) {
      body.append(h("tr", { "data-id": e.id },
        h("td", {}, fmtTime(e.time)), h("td", {}, typePill(e.type)), cell(e.email, emailLen),
        cell(e.campaign, campaignLen), h("td", {}, e.source), h("td", {}, h("a", { href: "#/event/" + encodeURIComponent(e.id) }, short(e.id, 28)))));
    }
    shown += page.events.length;
    count.set(shown);
    return page.next;
  });
  try {
    await pages.first();
  } catch (err) {
    // The form stays, with what was typed, so a refused value can be put
    // right where it is.
    return [h("h1", {}, "Search"), form, errorBox(err, route, "page-error")];
  }
  if (shown === 0) {
    return [h("h1", {}, "Search"), form,
      h("div", { class: "card" }, h("p", { class: "muted", id: "search-empty" },
        q.size ? "No event matches these filters." : "No events yet: once a provider posts to hookd, its events are listed here.")),
    ];
  }
  return [h("h1", {}, "Search"), form,
    h("div", { class: "card" }, h("p", {}, count.el, " shown, newest first."),
      table(["time", "type", "email", "campaign", "source", "id"], body, { id: "search-results" }), pages.more, pages.error)];
}

// jobsTable shows jobs; a pending one whose target is in suspended (a
// Set of target names) says that it waits for the target to be resumed.
function jobsTable(jobs, id, suspended) {
  return table(["job", "rule", "action", "target", "status", { label: "attempts", num: 1 }, "history"],
    h("tbody", {}, jobs.map(j => jobRow(j, suspended))), { id });
}

function jobRow(j, suspended) {
  const waits = j.status === "pending" && suspended && suspended.has(j.target);
  return h("tr", { "data-job": j.id },
      h("td", {}, String(j.id)), h("td", {}, j.rule), h("td", {}, j.action), cell(j.target, 50),
      h("td", { class: "status status-" + j.status }, j.status,
        waits ? h("div", { class: "muted waiting" }, "waits for its target, suspended: ", h("a", { href: "#/deadletters" }, "resume it")) : null),
      h("td", { class: "num" }, fmtNum(j.attempts)),
      h("td", {}, h("ol", { class: "attempts" }, (j.history || []).map(a =>
        h("li", { value: a.attempt }, `${fmtTime(a.started)} · ${(a.took_ns / 1e6).toFixed(1)} ms · `,
          a.error ? h("span", { class: "error", title: a.error.length > 200 ? a.error : undefined }, short(a.error, 200)) : h("span", { class: "status-done" }, "ok"))))));
}

async function eventPage(id) {
  const [e, jobs] = await Promise.all([
    api("/events/" + encodeURIComponent(id)),
    apiList("/jobs?event_id=" + encodeURIComponent(id), "jobs", 1000),
  ]);
  // A pending job does not run while its target is suspended: each
  // pending job's target tells, looked up by name rather than listing
  // every target, which are one per recipient.
  const suspended = new Set();
  const pendingTargets = [...new Set(jobs.filter(j => j.status === "pending").map(j => j.target))];
  await Promise.all(pendingTargets.map(async name => {
    const page = await api("/targets?suspended=true&target=" + encodeURIComponent(name));
    if (page.targets.length) suspended.add(name);
  }));
  const rules = [...new Set(jobs.map(j => j.rule))].sort();
  return [
    h("h1", {}, "Event ", h("code", {}, e.id)),
    h("div", { class: "row" },
      h("div", { class: "card" }, h("h2", {}, "Fields"),
        table(["field", "value"], ["type", "category", "bounce_class", "source", "provider", "time", "received", "email", "domain", "message_id", "campaign"].map(k =>
          h("tr", {}, h("td", { class: "muted" }, k), h("td", { id: "field-" + k }, k === "time" || k === "received" ? fmtTime(e[k]) : e[k]))))),
      h("div", { class: "card" }, h("h2", {}, "Rules that matched"),
        rules.length ? h("ul", { id: "event-rules" }, rules.map(r => h("li", {}, r))) : h("p", { class: "muted", id: "event-rules" }, "No rule made a job for this event."))),
    h("div", { class: "card" }, h("h2", {}, "Why each rule did or did not fire"), explanation(e.explanation)),
    h("div", { class: "card" }, h("h2", {}, "Action jobs"), jobs.length ? jobsTable(jobs, "event-jobs", suspended) : h("p", { class: "muted" }, "None.")),
    h("div", { class: "card" }, h("h2", {}, "Raw payload"), rawPayload(e)),
  ];
}

// rawPayload shows an event's data indented; data nested too deep for
// JSON.stringify, which recurses, shows as hookd's answer was written.
function rawPayload(e) {
  try {
    return h("pre", { id: "raw" }, JSON.stringify(e.data, null, 2));
  } catch {
    return [h("p", { class: "muted" }, "Nested too deep to indent: hookd's whole answer, as it came."),
      h("pre", { id: "raw" }, answers.get(e) || "")];
  }
}

// explanation shows what each rule did with an event (GET /api/events/{id}):
// fired, held by once or cooldown, failed, or no, with the first false
// condition and the values it saw.
function explanation(x) {
  if (!x) return h("p", { class: "muted", id: "explanation" }, "Not evaluated by the rules when it arrived (or at the last rebuild). A replay does not add an explanation: the jobs it made, if any, are listed below.");
  return table(["rule", "result", "why"], x.rules.map(r => h("tr", { "data-rule": r.rule },
    h("td", {}, r.rule), h("td", { class: "result" + (r.result === "error" ? " error" : "") }, r.result),
    h("td", { class: "why" }, r.condition ? h("span", {}, h("code", {}, r.condition), " is false: ", r.saw) : (r.reason || "")))),
    { id: "explanation" });
}

async function rulesPage() {
  const w = windowOf("24h");
  const [rs, act] = await Promise.all([api("/rules"), api(`/rules/activity?interval=1h&since=${w.since}&until=${w.until}`)]);
  const byRule = Object.fromEntries(act.rules.map(r => [r.rule, r.buckets]));
  const sum = (bs, f) => (bs || []).reduce((s, b) => s + f(b), 0);
  const names = [...new Set([...rs.rules.map(r => r.name), ...act.rules.map(r => r.rule)])];
  const defs = Object.fromEntries(rs.rules.map(r => [r.name, r]));
  return [
    h("h1", {}, "Rules"),
    rs.errors.length ? h("div", { class: "card errors", id: "rule-errors" }, h("h2", { class: "error" }, "The rule files do not load; the rules below keep running"),
      h("ul", { class: "errors" }, rs.errors.map(e => h("li", {}, `${e.file}:${e.line}:${e.column}: `, e.rule ? `rule ${e.rule}: ` : "", e.field ? `${e.field}: ` : "", e.message)))) : null,
    h("p", { class: "muted" }, rs.loaded ? `Loaded ${fmtTime(rs.loaded)}. ` : "No rules configured. ", "Matches (events) and jobs (one per action of a match) over the last 24 hours, by hour."),
    h("div", { class: "card" }, table(["rule", "where", "when", "actions", { label: "matches", num: 1 }, { label: "jobs done", num: 1 }, { label: "jobs pending", num: 1 }, { label: "jobs dead", num: 1 }, "per hour: matches, dead jobs"],
      names.map(n => {
        const d = defs[n], bs = byRule[n];
        return h("tr", { "data-rule": n },
          h("td", {}, h("a", { href: "#/search-jobs/" + encodeURIComponent(n) }, n)), h("td", { class: "muted" }, d ? `${d.file}:${d.line}` : "(not loaded)"),
          h("td", {}, h("code", { title: d && d.when.length > 80 ? d.when : undefined }, d ? short(d.when, 80) : "")), h("td", {}, d ? d.actions.map(a => a.type).join(", ") : ""),
          h("td", { class: "num matches" }, fmtNum(sum(bs, b => b.matches))),
          h("td", { class: "num done" }, fmtNum(sum(bs, b => b.jobs.done || 0))),
          h("td", { class: "num pending" }, fmtNum(sum(bs, b => (b.jobs.pending || 0) + (b.jobs.running || 0)))),
          h("td", { class: "num dead" }, fmtNum(sum(bs, b => b.jobs.dead || 0))),
          h("td", {}, sparkline([
            { key: "matches", color: "#2f6fdf", values: (bs || []).map(b => b.matches) },
            { key: "dead", color: "#c62828", values: (bs || []).map(b => b.jobs.dead || 0) },
          ])));
      }), { id: "rules-table" })),
  ];
}

// ruleJobs shows a rule's jobs, newest first, 100 at a time with More.
async function ruleJobs(rule) {
  const t = jobsTable([], "rule-jobs");
  const count = tally("rule-jobs-count", "job", "jobs");
  let shown = 0;
  const pages = pager("rule-jobs", async cursor => {
    const page = await apiPage("/jobs?rule=" + encodeURIComponent(rule), "jobs", 100, cursor);
    t.tBodies[0].append(...page.items.map(j => jobRow(j)));
    shown += page.items.length;
    count.set(shown);
    return page.next;
  });
  await pages.first();
  return [h("h1", {}, "Jobs of rule ", h("code", {}, rule)),
    h("div", { class: "card" }, h("p", {}, count.el, " shown, newest first."), t, pages.more, pages.error)];
}

// watchJob polls a retried job until it is done or dead again, showing its
// status in cell.
async function watchJob(id, cell) {
  for (let i = 0; i < 240; i++) {
    const j = await api("/jobs/" + id);
    cell.textContent = j.status;
    cell.className = "status status-" + j.status;
    if (j.status === "done" || j.status === "dead") return;
    await new Promise(r => setTimeout(r, 500));
  }
}

// deadLettersNote is what the Dead letters page shows above its cards the
// next time it is drawn: what Retry all or Resume all did.
let deadLettersNote = "";

// deadLetters shows the suspended targets and the dead letters, each 100
// at a time with More.
async function deadLetters() {
  const msg = h("p", { class: "muted message", id: "dl-message" }, deadLettersNote);
  deadLettersNote = "";
  // resumeButtons holds each suspended target's Resume button by its
  // name: a dead letter's Retry that resumes its target says so there.
  const resumeButtons = new Map();
  const deadRow = j => {
    const status = h("td", { class: "status status-" + j.status, id: "status-" + j.id }, j.status);
    const btn = h("button", { class: "primary", id: "retry-" + j.id, onclick: async () => {
      btn.disabled = true;
      try {
        const r = await api(`/deadletters/${j.id}/retry`, { method: "POST" });
        btn.textContent = "Retried";
        const resume = r.target_resumed && resumeButtons.get(j.target);
        if (resume) { resume.disabled = true; resume.textContent = "Resumed"; }
        msg.textContent = r.target_resumed ? `Job ${j.id} retried; its target ${j.target} resumed.` :
          r.target_suspended ? `Job ${j.id} waits until its target is resumed.` : `Job ${j.id} retried.`;
        await watchJob(j.id, status);
      } catch (err) { btn.disabled = false; msg.textContent = err.message; }
    } }, "Retry");
    // A dead job changes no more until retried: its updated is when it
    // died, which the list is sorted by.
    return h("tr", { "data-job": j.id }, h("td", { class: "died" }, fmtTime(j.updated)), h("td", {}, String(j.id)), h("td", {}, j.rule), h("td", {}, j.action), cell(j.target, 40),
      h("td", {}, h("a", { href: "#/event/" + encodeURIComponent(j.event_id) }, short(j.event_id, 20))),
      cell(j.last_error, 120, { class: "error" }), h("td", { class: "num" }, fmtNum(j.attempts)), status, h("td", {}, btn));
  };
  const targetRow = t => {
    const btn = h("button", { class: "primary", id: "resume-" + t.id, onclick: async () => {
      btn.disabled = true;
      try { await api(`/targets/${t.id}/resume`, { method: "POST" }); btn.textContent = "Resumed"; msg.textContent = `Target ${t.name} resumed.`; }
      catch (err) { btn.disabled = false; msg.textContent = err.message; }
    } }, "Resume");
    resumeButtons.set(t.name, btn);
    return h("tr", { "data-target": t.id }, h("td", {}, t.name), h("td", {}, fmtTime(t.suspended_at)), cell(t.reason, 120, { class: "error" }),
      h("td", { class: "num" }, fmtNum(t.pending)), h("td", { class: "num" }, fmtNum(t.dead)), h("td", {}, btn));
  };
  const targetsBody = h("tbody", {});
  let suspended = 0;
  const targetPages = pager("targets", async cursor => {
    const page = await apiPage("/targets?suspended=true", "targets", 100, cursor);
    targetsBody.append(...page.items.map(targetRow));
    suspended += page.items.length;
    return page.next;
  });
  await targetPages.first();
  const body = h("tbody", {});
  const count = tally("dead-count", "dead letter", "dead letters");
  let shown = 0;
  const pages = pager("dead", async cursor => {
    const page = await apiPage("/deadletters", "jobs", 100, cursor);
    body.append(...page.items.map(deadRow));
    shown += page.items.length;
    count.set(shown);
    return page.next;
  });
  await pages.first();
  // bulkButton POSTs path once clicked and the user confirms ask (it acts
  // on every dead letter or target, shown or not), and shows the page
  // again, as it now is, saying what it did with say(answer).
  const bulkButton = (id, label, path, ask, say) => {
    const btn = h("button", { class: "primary", id, onclick: async () => {
      if (!confirm(ask)) return;
      btn.disabled = true;
      try {
        deadLettersNote = say(await api(path, { method: "POST" }));
        await route();
      } catch (err) { btn.disabled = false; msg.textContent = err.message; }
    } }, label);
    return btn;
  };
  // Retry all retries every dead job, not only those shown, and resumes
  // their targets: after an outage, one job and one target per recipient.
  const retryAll = bulkButton("retry-all", "Retry all", "/deadletters/retry?all=true",
    "Retry every dead letter, shown or not, running each job's action again, and resume their targets?",
    r => `Retried ${plural(r.retried, "dead letter", "dead letters")}; resumed ${plural(r.targets_resumed, "target", "targets")}.`);
  const resumeAll = bulkButton("resume-all", "Resume all", "/targets/resume?all=true",
    "Resume every suspended target, running the jobs that wait for it?",
    r => `Resumed ${plural(r.resumed, "target", "targets")}; their dead letters stay dead.`);
  return [
    h("h1", {}, "Dead letters and suspended targets"), msg,
    h("div", { class: "card" }, h("h2", {}, "Suspended targets"),
      suspended === 0 ? h("p", { class: "muted", id: "no-suspended" }, "No target is suspended.") : [
        h("p", {}, resumeAll, " lifts every suspension, shown or not; a target's dead letters stay dead (Retry all retries them and resumes their targets)."),
        table(["target", "since", "reason", { label: "pending", num: 1 }, { label: "dead", num: 1 }, ""], targetsBody, { id: "targets-table" }),
        targetPages.more, targetPages.error]),
    h("div", { class: "card" }, h("h2", {}, "Dead letters"),
      shown === 0 ? h("p", { class: "muted", id: "no-dead" }, "No dead letters.") : [
        h("p", {}, count.el, " shown, the most recently dead first. ", retryAll,
          " retries every dead letter, shown or not, and resumes its target: after an outage, one per recipient."),
        table(["died", "job", "rule", "action", "target", "event", "last error", { label: "attempts", num: 1 }, "status", ""], body, { id: "dead-table" }),
        pages.more, pages.error]),
  ];
}

// suppressions shows the list a page of 100 at a time, in address order,
// with More for the next: a list can hold far more addresses than a page
// should draw at once.
async function suppressions() {
  const msg = h("p", { class: "muted message", id: "supp-message" });
  const body = h("tbody", {});
  const count = tally("supp-count", "address", "addresses");
  const card = h("div", { class: "card" });
  const empty = () => h("p", { class: "muted", id: "no-suppressions" }, "The suppression list is empty.");
  let shown = 0;
  const row = s => {
    const tr = h("tr", { "data-email": s.email }, cell(s.email, 80), cell(s.reason, 80), h("td", {}, s.rule),
      h("td", {}, s.event_id ? h("a", { href: "#/event/" + encodeURIComponent(s.event_id) }, short(s.event_id, 20)) : ""),
      h("td", {}, fmtTime(s.created)));
    tr.append(h("td", {}, h("button", { onclick: async () => {
      // The address gets mail again, and its reason cannot be put back.
      if (!confirm(`Remove ${s.email} from the suppression list? Mail to it is sent again.`)) return;
      try {
        await api("/suppressions/" + encodeURIComponent(s.email), { method: "DELETE" });
        tr.remove();
        count.set(--shown);
        msg.textContent = `${s.email} removed.`;
        // The last address gone, the list is empty: say so, as the page
        // does when it opens on an empty list, rather than a count of 0
        // over a table without rows.
        if (shown === 0 && pages.more.hidden) card.replaceChildren(empty());
      } catch (err) { msg.textContent = err.message; }
    } }, "Remove")));
    return tr;
  };
  const pages = pager("supp", async cursor => {
    const page = await api("/suppressions?limit=100" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    body.append(...(page.suppressions || []).map(row));
    shown += (page.suppressions || []).length;
    count.set(shown);
    return page.next;
  });
  await pages.first();
  if (shown === 0) card.append(empty());
  else card.append(h("p", {}, count.el, " shown, in address order."),
    table(["email", "reason", "rule", "event", "since", ""], body, { id: "suppressions-table" }), pages.more, pages.error);
  return [h("h1", {}, "Suppressions"), msg, card];
}

// quarantine shows the bodies that authenticated sources sent but that
// could not be decoded, the most recently received first, 100 at a time
// with More; those of one source when the URL names it (a row's source
// links there). A body is whatever a sender posted: like everything else
// it goes in as text (h and textContent), and it is cut to a line with the
// whole of it behind an expand, as it may run to a megabyte.
async function quarantine(params) {
  const source = params.get("source") || "";
  const body = h("tbody", {});
  const count = tally("quarantine-count", "body", "bodies");
  let shown = 0;
  const byURL = s => "#/quarantine" + (s ? "?" + new URLSearchParams({ source: s }).toString() : "");
  const row = q => h("tr", { "data-id": q.id },
    h("td", {}, fmtTime(q.received)), h("td", {}, h("a", { href: byURL(q.source), title: `only ${q.source}'s bodies` }, q.source)),
    cell(q.error, 120, { class: "error" }), cell(q.content_type, 40), bodyCell(q));
  const form = h("form", { class: "filters card", id: "quarantine-form", onsubmit: ev => {
    ev.preventDefault();
    show(byURL(new FormData(ev.target).get("source").trim()));
  } },
  h("label", {}, "source", h("input", { name: "source", id: "quarantine-source", value: source, placeholder: "any source" })),
  h("button", { type: "submit", class: "primary", id: "quarantine-go" }, "Show"),
  source ? h("a", { href: byURL(""), id: "quarantine-all" }, "All sources") : null);
  const path = "/quarantine" + (source ? "?" + new URLSearchParams({ source }).toString() : "");
  const pages = pager("quarantine", async cursor => {
    const page = await apiPage(path, "quarantine", 100, cursor);
    body.append(...page.items.map(row));
    shown += page.items.length;
    count.set(shown);
    return page.next;
  });
  const intro = h("p", { class: "muted" }, "Bodies that sources sent, past their authentication, that hookd could not decode: it answered 400 (413 for a batch of too many events) and kept them here.");
  try {
    await pages.first();
  } catch (err) {
    return [h("h1", {}, "Quarantine"), intro, form, errorBox(err, route, "page-error")];
  }
  const none = source ? `Nothing is quarantined from ${source}.` : "Nothing is quarantined.";
  return [h("h1", {}, "Quarantine"), intro, form,
    h("div", { class: "card" }, shown === 0 ? h("p", { class: "muted", id: "no-quarantine" }, none) : [
      h("p", {}, count.el, " shown, the most recently received first", source ? [", from ", h("b", {}, source)] : null, "."),
      table(["received", "source", "error", "content type", "body"], body, { id: "quarantine-table" }), pages.more, pages.error])];
}

// bodyLen is how many characters of a quarantined body its row shows.
const bodyLen = 120;

// bodyCell shows a quarantined body: its first bodyLen characters, and
// when it is longer or not valid UTF-8 an expand holding the whole of it
// (and its exact bytes in base64, which the API gives for a body that is
// not UTF-8).
function bodyCell(q) {
  const text = q.body || "";
  if (!text) return h("td", { class: "body muted" }, "(empty)");
  if (text.length <= bodyLen && !q.body_base64) return h("td", { class: "body" }, h("code", {}, text));
  return h("td", { class: "body" }, h("details", {},
    h("summary", { title: `${fmtNum(text.length)} characters: open for the whole body` }, h("code", {}, short(text, bodyLen))),
    h("pre", { class: "whole" }, text),
    q.body_base64 ? [
      h("p", { class: "muted" }, "Not valid UTF-8: above, each run of invalid bytes shows as \uFFFD; the exact bytes in base64:"),
      h("pre", { class: "base64" }, q.body_base64)] : null));
}

// ---- router ----

const pages = {
  overview, deliverability, live, search, rules: rulesPage, deadletters: deadLetters, suppressions, quarantine,
};

// routed counts the routes begun: a page that took longer to load than
// the user took to go elsewhere is dropped when it comes, where it
// replaced the page the URL and the nav now name.
let routed = 0;

async function route() {
  const n = ++routed;
  if (cleanup) { cleanup(); cleanup = null; }
  const hash = location.hash.replace(/^#\/?/, "") || "overview";
  const [path, query] = hash.split("?");
  const [name, ...rest] = path.split("/");
  const arg = decodeURIComponent(rest.join("/"));
  // An event's page is reached from Search, a rule's jobs from Rules.
  const navPage = { event: "search", "search-jobs": "rules" }[name] || name;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === navPage);
  main.setAttribute("aria-busy", "true");
  let content;
  try {
    if (name === "event") content = await eventPage(arg);
    else if (name === "search-jobs") content = await ruleJobs(arg);
    else content = await (pages[name] || overview)(new URLSearchParams(query || ""));
  } catch (err) {
    content = [errorBox(err, route, "page-error")];
  }
  if (n !== routed) return;
  // A page leaves out a part with null or false, as h() takes children.
  main.replaceChildren(...[content].flat(Infinity).filter(c => c !== undefined && c !== null && c !== false));
  main.dataset.page = name;
  main.removeAttribute("aria-busy");
}

window.addEventListener("hashchange", route);
// A link to the page shown changes no hash, so no hashchange: it shows the
// page again, as a reload would, which is how one gets past an error.
document.getElementById("nav").addEventListener("click", ev => {
  const a = ev.target.closest("a");
  if (a && a.getAttribute("href") === location.hash) route();
});
route();
