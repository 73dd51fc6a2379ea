// The operations page (moa dev): live figures from the process's own metrics, the recent
// traces it keeps in memory, and a saga's timeline by subscription id. It is shown at #ops
// and reads /ops/api/, which answers operators only (edge/ops.go): the operator signs in
// with the operator secret (MOA_AUTH_OPERATOR_SECRET; moa dev has a default) or pastes an
// operator token. Nothing here uses the app's session: an app user's token is refused.
// Its text is in the page's language (i18n.js, the header's switch), like the app's.

import { t, locale, onLangChange } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};
const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs = {}) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

// How often the figures are read, and how many points a chart keeps (two minutes).
const POLL_MS = 2000;
const POINTS = 60;

let token = null;  // the operator's access token (kept in memory only)
let secret = null; // to sign in again when the 5-minute token expires
let timers = [];

// The charts: counters become rates per second between two polls; gauges and the business
// totals are shown as they are.
// Each chart's label is the dictionary's "ops.chart.<id>".
const CHARTS = [
  { id: "requests", value: "requests", rate: true },
  { id: "errors", value: "errors", rate: true },
  { id: "lag", value: "consumer_lag" },
  { id: "started", value: "subscriptions_started" },
  { id: "activated", value: "subscriptions_activated" },
  { id: "revenue", value: "revenue_minor" },
];
const series = Object.fromEntries(CHARTS.map((c) => [c.id, []]));
let last = null;
// What the page last read, drawn again when the language changes.
let lastTraces = null;
let lastTimeline = null; // { key, tl }
const num = (v, digits) => v.toLocaleString(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits });

class OpsError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || { code: "internal", message: `HTTP ${status}` };
    super(e.message);
    this.code = e.code;
    this.status = status;
  }
}

async function api(path, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { ...(init.headers || {}) };
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(path, { ...init, headers, cache: "no-store" });
    const body = await res.json().catch(() => null);
    if (res.ok) return body;
    const err = new OpsError(res.status, body);
    // The operator token lives five minutes: sign in again with the secret, once.
    if (err.code === "token_expired" && secret && attempt === 0) {
      await signIn(secret);
      continue;
    }
    throw err;
  }
}

async function signIn(s) {
  const t = await api("ops/api/token", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ secret: s }) });
  token = t.access_token;
  secret = s;
}

function show() {
  const on = location.hash.startsWith("#ops");
  $("ops").hidden = !on;
  for (const t of timers) clearInterval(t);
  timers = [];
  if (on && token) start();
}

function start() {
  $("ops-signin").hidden = true;
  $("ops-body").hidden = false;
  const poll = () => figures().catch(fail);
  poll();
  timers.push(setInterval(poll, POLL_MS));
  const list = () => recent().catch(fail);
  list();
  timers.push(setInterval(list, 5000));
  // #ops/<subscription id> opens that saga's timeline.
  const key = decodeURIComponent(location.hash.slice("#ops/".length));
  if (location.hash.startsWith("#ops/") && key) {
    $("ops-sub").value = key;
    timeline(key).catch(fail);
  }
}

function fail(e) {
  $("ops-error").textContent = `${e.code || "error"}: ${e.message}`;
  if (e.code === "unauthenticated" || e.code === "token_invalid" || e.code === "token_expired" || e.code === "forbidden") {
    token = null;
    $("ops-signin").hidden = false;
    $("ops-body").hidden = true;
    for (const t of timers) clearInterval(t);
    timers = [];
  }
}

// ---- live figures ----

async function figures() {
  const f = await api("ops/api/metrics");
  for (const c of CHARTS) {
    let v = f.values[c.value] || 0;
    if (c.rate) {
      if (!last) continue;
      const dt = (f.at - last.at) / 1000;
      v = dt > 0 ? Math.max(0, (v - (last.values[c.value] || 0)) / dt) : 0;
    }
    const s = series[c.id];
    s.push(v);
    if (s.length > POINTS) s.shift();
  }
  last = f;
  drawFigures();
}

function drawFigures() {
  if (!last) return;
  $("ops-revenue").textContent = Object.entries(last.revenue || {}).map(([cur, v]) => `${v} ${cur}`).join(", ") || t("ops.none");
  drawCharts();
}

function drawCharts() {
  const box = $("ops-charts");
  box.replaceChildren();
  const W = 240, H = 70;
  for (const c of CHARTS) {
    const s = series[c.id];
    const max = Math.max(1e-9, ...s);
    const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart", "data-figure": c.id });
    g.append(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "#f7f8fb" }));
    const pts = s.map((v, i) => `${(i * W) / (POINTS - 1)},${H - 4 - (v / max) * (H - 18)}`).join(" ");
    if (s.length > 1) g.append(svg("polyline", { points: pts, fill: "none", stroke: "#2f6fde", "stroke-width": 2 }));
    const now = s.length ? s[s.length - 1] : 0;
    const label = svg("text", { x: 4, y: 12, "font-size": 11, fill: "#1d2330" });
    label.textContent = `${t("ops.chart." + c.id)}: ${Number.isInteger(now) ? now : num(now, 2)}`;
    g.append(label);
    box.append(el("figure", { className: "chart-box" }, g));
  }
}

// ---- recent traces ----

async function recent() {
  lastTraces = await api("ops/api/traces?limit=50");
  drawTraces();
}

function drawTraces() {
  const list = lastTraces;
  if (!list) return;
  const ul = $("ops-traces");
  ul.replaceChildren();
  for (const tr of list) {
    const li = el("li", { className: "trace" },
      el("strong", { textContent: `${tr.service}: ${tr.root}` }),
      el("span", { className: "meta", textContent: " " + t("ops.trace.meta", { spans: tr.spans, ms: num(tr.duration_ms, 1), services: tr.services.join(" → ") })
        + (tr.errors ? t("ops.trace.failed", { n: tr.errors }) : "") }));
    li.dataset.trace = tr.trace_id;
    for (const k of tr.keys || []) {
      const a = el("a", { href: `#ops/${encodeURIComponent(k)}`, className: "saga-link", textContent: t("ops.timeline.of", { key: k }) });
      a.dataset.key = k;
      li.append(" ", a);
    }
    ul.append(li);
  }
  if (!list.length) ul.append(el("li", { className: "meta", textContent: t("ops.traces.none") }));
}

// ---- saga timeline ----

async function timeline(key) {
  const tl = await api(`ops/api/timeline?subscription=${encodeURIComponent(key)}`);
  lastTimeline = { key, tl };
  drawTimeline();
}

function drawTimeline() {
  if (!lastTimeline) return;
  const { key, tl } = lastTimeline;
  const box = $("ops-timeline");
  box.replaceChildren();
  box.dataset.key = key;
  if (!tl.steps.length) {
    box.append(el("p", { className: "meta", textContent: t("ops.timeline.none", { key }) }));
    return;
  }
  box.append(el("p", { className: "meta", textContent: t("ops.timeline.summary", { steps: tl.steps.length, ms: num(tl.duration_ms, 1), traces: tl.traces.length, services: tl.services.join(", ") }) }));
  const ol = el("ol", { className: "list timeline" });
  const W = 160, total = Math.max(tl.duration_ms, 0.001);
  for (const s of tl.steps) {
    const bar = svg("svg", { viewBox: `0 0 ${W} 10`, width: W, height: 10, class: "bar" });
    bar.append(svg("rect", { x: (s.offset_ms / total) * W, y: 1, width: Math.max(1, (s.duration_ms / total) * W), height: 8,
      fill: s.error ? "#c43a3a" : s.compensation ? "#b7791f" : "#2f6fde" }));
    const tags = [];
    if (s.retry) tags.push(el("span", { className: "tag retry", textContent: s.deliveries > 1 ? t("ops.retry.n", { n: s.deliveries - 1 }) : t("ops.retry") }));
    if (s.compensation) tags.push(el("span", { className: "tag compensation", textContent: t("ops.compensation") }));
    if (s.error) tags.push(el("span", { className: "tag error", textContent: t("ops.error", { code: s.error }) }));
    const li = el("li", { className: "step" },
      bar,
      el("code", { className: "offset", textContent: `+${num(s.offset_ms, 1)} ms` }), " ",
      el("strong", { textContent: s.service }), " ",
      el("span", { className: "name" }, "· ".repeat(s.depth) + s.name,
        el("span", { className: "meta", textContent: ` ${s.kind}, ${num(s.duration_ms, 2)} ms${s.db_calls ? ", " + t("ops.db", { n: s.db_calls }) : ""}` }),
        ...tags));
    li.dataset.service = s.service;
    li.dataset.kind = s.kind;
    ol.append(li);
  }
  box.append(ol);
}

// ---- wiring ----

$("ops-signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("ops-error").textContent = "";
  try {
    const v = $("ops-secret").value.trim();
    if (v.split(".").length === 3) token = v; // a pasted operator token (a JWT)
    else await signIn(v);
    $("ops-secret").value = "";
    show();
  } catch (err) {
    fail(err);
  }
});
$("ops-timeline-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const key = $("ops-sub").value.trim();
  if (!key) return;
  const h = `#ops/${encodeURIComponent(key)}`;
  if (location.hash === h) timeline(key).catch(fail); // the same saga again: read it anew
  else location.hash = h;
});
addEventListener("hashchange", show);
onLangChange(() => { drawFigures(); drawTraces(); drawTimeline(); });
show();
