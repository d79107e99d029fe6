// The dashboard page: polls the JSON API and redraws what changed. Charts are plain SVG drawn here,
// no library; nothing is loaded from outside this server (the CSP forbids it anyway).
"use strict";

const REFRESH_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";
const ROLE_COLORS = {
  specifier: "#8b5cf6", planner: "#6366f1", implementer: "#3b82f6", reviewer: "#f59e0b",
  merger: "#10b981", "N/A": "#94a3b8",
};
const PALETTE = ["#3b82f6", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#06b6d4", "#84cc16", "#ec4899", "#94a3b8"];
const LANE_COLORS = {
  planned: "#94a3b8", claimed: "#60a5fa", in_progress: "#3b82f6", doing: "#3b82f6", for_review: "#f59e0b",
  in_review: "#fbbf24", approved: "#a3e635", done: "#10b981", blocked: "#ef4444", canceled: "#64748b",
};
const DOCUMENTS = [["spec", "Spec"], ["plan", "Plan"], ["tasks", "Tasks"], ["research", "Research"],
  ["quickstart", "Quickstart"], ["data-model", "Data model"]];

const state = { feature: null, document: "spec", seen: {} };

// ---- helpers ------------------------------------------------------------------------------------

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

/** Runs `draw(data)` only when the answer differs from the last one drawn for `key`. */
function changed(key, data) {
  const text = JSON.stringify(data);
  if (state.seen[key] === text) return false;
  state.seen[key] = text;
  return true;
}

const usd = (v) => (v >= 100 ? `$${v.toFixed(0)}` : v >= 1 ? `$${v.toFixed(2)}` : `$${v.toFixed(4)}`);
const compact = (v) => (v >= 1e9 ? `${(v / 1e9).toFixed(1)}B` : v >= 1e6 ? `${(v / 1e6).toFixed(1)}M`
  : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : `${Math.round(v)}`);

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))}m`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

function colorOf(key, index) {
  return ROLE_COLORS[key] || PALETTE[index % PALETTE.length];
}

function legend(keys) {
  return el("div", { class: "legend" },
    keys.map((key, i) => el("span", {}, el("i", { class: `swatch-${i}`, "data-color": colorOf(key, i) }), key)));
}

/** Legend swatches get their colour through the CSSOM (allowed by the CSP, unlike style attributes). */
function paintSwatches(root) {
  for (const swatch of root.querySelectorAll("i[data-color]")) swatch.style.background = swatch.dataset.color;
}

function empty(target, message) {
  target.replaceChildren(el("div", { class: "empty" }, message));
}

// ---- charts -------------------------------------------------------------------------------------

/** Horizontal bars: one per item, labelled, longest first. */
function barChart(target, items, format, chartId) {
  if (!items.length) return empty(target, "No events yet.");
  const rowHeight = 22, labelWidth = 130, width = 520, valueWidth = 70;
  const max = Math.max(...items.map((i) => i.value), 1e-12);
  const height = items.length * rowHeight + 6;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, id: chartId, role: "img", "data-kind": "bars" });
  items.forEach((item, i) => {
    const y = 3 + i * rowHeight;
    const barWidth = Math.max(1, ((width - labelWidth - valueWidth) * item.value) / max);
    chart.append(
      svg("text", { x: labelWidth - 6, y: y + 14, "text-anchor": "end" }, item.label),
      svg("rect", { x: labelWidth, y: y + 3, width: barWidth, height: rowHeight - 8, rx: 3, fill: colorOf(item.label, i), class: "seg" },
        svg("title", {}, `${item.label}: ${format(item.value)}`)),
      svg("text", { x: labelWidth + barWidth + 5, y: y + 14, class: "value" }, format(item.value)),
    );
  });
  target.replaceChildren(chart);
}

/** Vertical bars per category (day), each stacked by series (role). */
function stackedBars(target, categories, series, format, chartId) {
  const keys = Object.keys(series);
  if (!categories.length || !keys.length) return empty(target, "No events yet.");
  const width = 900, height = 220, left = 56, bottom = 24, top = 8;
  const totals = categories.map((_, c) => keys.reduce((sum, k) => sum + series[k][c], 0));
  const max = Math.max(...totals, 1e-12);
  const step = (width - left) / categories.length;
  const barWidth = Math.max(2, step * 0.7);
  const scale = (v) => ((height - bottom - top) * v) / max;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, id: chartId, role: "img", "data-kind": "stacked" });
  for (const fraction of [0, 0.5, 1]) {
    const y = height - bottom - scale(max * fraction);
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, stroke: "#e3e6ef" }),
      svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, format(max * fraction)));
  }
  categories.forEach((category, c) => {
    const x = left + c * step + (step - barWidth) / 2;
    let y = height - bottom;
    keys.forEach((key, k) => {
      const h = scale(series[key][c]);
      if (h <= 0) return;
      y -= h;
      chart.append(svg("rect", { x, y, width: barWidth, height: h, fill: colorOf(key, k), class: "seg" },
        svg("title", {}, `${category} · ${key}: ${format(series[key][c])}`)));
    });
    const every = Math.ceil(categories.length / 12);
    if (c % every === 0) {
      chart.append(svg("text", { x: x + barWidth / 2, y: height - 8, "text-anchor": "middle" }, category.slice(5)));
    }
  });
  target.replaceChildren(chart, legend(keys));
  paintSwatches(target);
}

/** Stacked areas: how many work packages sat in each lane at the end of each day. */
function cumulativeFlow(target, flow, chartId) {
  const days = flow.days || [];
  const lanes = (flow.lanes || []).slice().reverse(); // done at the bottom, planned on top
  if (!days.length || !lanes.length) return empty(target, "No lane changes yet.");
  const width = 900, height = 220, left = 40, bottom = 24, top = 8;
  const totals = days.map((_, d) => lanes.reduce((sum, lane) => sum + flow.series[lane][d], 0));
  const max = Math.max(...totals, 1);
  const x = (d) => left + (days.length === 1 ? (width - left) / 2 : ((width - left - 24) * d) / (days.length - 1));
  const y = (v) => height - bottom - ((height - bottom - top) * v) / max;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, id: chartId, role: "img", "data-kind": "flow" });
  const base = days.map(() => 0);
  lanes.forEach((lane) => {
    const lower = base.slice();
    days.forEach((_, d) => { base[d] += flow.series[lane][d]; });
    const upperPoints = days.map((_, d) => `${x(d)},${y(base[d])}`);
    const lowerPoints = days.map((_, d) => `${x(d)},${y(lower[d])}`).reverse();
    chart.append(svg("polygon", { points: [...upperPoints, ...lowerPoints].join(" "), fill: LANE_COLORS[lane] || "#cbd5e1",
      opacity: 0.85, class: "area", "data-lane": lane }, svg("title", {}, lane)));
  });
  chart.append(svg("text", { x: left - 6, y: y(max) + 4, "text-anchor": "end" }, max),
    svg("text", { x: left - 6, y: y(0) + 4, "text-anchor": "end" }, 0));
  const every = Math.ceil(days.length / 12);
  days.forEach((day, d) => {
    if (d % every === 0) chart.append(svg("text", { x: x(d), y: height - 8, "text-anchor": "middle" }, day.slice(5)));
  });
  const keys = flow.lanes || [];
  const key = el("div", { class: "legend" },
    keys.map((lane) => el("span", {}, el("i", { "data-color": LANE_COLORS[lane] || "#cbd5e1" }), lane)));
  target.replaceChildren(chart, key);
  paintSwatches(target);
}

/** Agent × model: a table with a bar of each pair's share of the cost. */
function agentTable(target, rows) {
  if (!rows.length) return empty(target, "No events yet.");
  const max = Math.max(...rows.map((r) => r.total_cost_usd), 1e-12);
  const head = el("tr", {}, el("th", {}, "Agent"), el("th", {}, "Model"), el("th", { class: "num" }, "Events"),
    el("th", { class: "num" }, "Input"), el("th", { class: "num" }, "Output"), el("th", { class: "num" }, "Cost"),
    el("th", {}, "Share"));
  const body = rows.map((row, i) => {
    const share = svg("svg", { viewBox: "0 0 120 10", width: 120, height: 10 },
      svg("rect", { x: 0, y: 1, width: Math.max(1, (120 * row.total_cost_usd) / max), height: 8, rx: 2, fill: PALETTE[i % PALETTE.length] }));
    return el("tr", { class: "agent-row" }, el("td", {}, row.group.agent), el("td", {}, row.group.model),
      el("td", { class: "num" }, row.event_count), el("td", { class: "num" }, compact(row.total_input_tokens)),
      el("td", { class: "num" }, compact(row.total_output_tokens)),
      el("td", { class: "num" }, usd(row.total_cost_usd) + (row.estimated_cost_usd > 0 ? " ~" : "")), el("td", {}, share));
  });
  target.replaceChildren(el("table", { class: "data", id: "agent-table" }, el("thead", {}, head), el("tbody", {}, body)));
}

// ---- panels -------------------------------------------------------------------------------------

function drawFeatures(data) {
  const list = $("features");
  const features = data.features || [];
  if (!features.length) return list.replaceChildren(el("li", { class: "muted" }, "No features in kitty-specs/."));
  if (!state.feature || !features.some((f) => f.id === state.feature)) state.feature = features[0].id;
  list.replaceChildren(...features.map((feature) => {
    const stats = feature.kanban_stats || {};
    const item = el("li", { class: feature.id === state.feature ? "selected" : "", "data-feature": feature.id,
      onclick: () => selectFeature(feature.id) },
    el("div", { class: "name" }, feature.name || feature.id),
    el("div", { class: "sub" }, `${feature.id} · ${stats.done || 0}/${stats.total || 0} done`),
    el("div", { class: "bar" }, el("span", { "data-width": `${feature.progress_percentage || 0}` })));
    return item;
  }));
  for (const bar of list.querySelectorAll("span[data-width]")) bar.style.width = `${bar.dataset.width}%`;
}

function drawKanban(data) {
  const board = $("kanban");
  $("feature-title").textContent = `Kanban · ${data.feature}`;
  const problems = (data.problems || []).concat(data.status_log_error ? [data.status_log_error] : []);
  $("feature-meta").textContent = problems.join("; ");
  const order = data.lane_order || Object.keys(data.lanes || {});
  board.replaceChildren(...order.map((lane) => {
    const cards = (data.lanes[lane] || []).map((wp) => el("div", { class: `wp-card lane-${wp.canonical_lane || lane}`, "data-wp": wp.id },
      el("div", { class: "id" }, wp.id),
      el("div", { class: "title" }, wp.title || wp.id),
      el("div", { class: "facts" },
        el("span", { class: "subtasks" }, `${wp.subtasks_done ?? 0}/${wp.subtasks_total ?? 0} subtasks`),
        el("span", { class: "agent" }, wp.agent || ""),
        el("span", { class: "age", title: wp.lane_since || "" }, duration(wp.time_in_lane_seconds)))));
    return el("div", { class: "lane", "data-lane": lane }, el("h3", {}, `${lane.replace("_", " ")} (${cards.length})`), cards);
  }));
}

function drawSync(data) {
  const status = (data.connection && data.connection.status) || "Offline";
  const queue = data.queue || {};
  const last = (data.last_sync && data.last_sync.last_success_at) || "never";
  const dot = status === "Connected" ? "online" : data.server_url ? "offline" : "";
  $("sync").replaceChildren(
    el("span", { id: "sync-connection" }, el("i", { class: `dot ${dot}` }), data.server_url ? status : "no server configured"),
    el("span", { id: "sync-queue" }, `queue ${queue.depth ?? 0}`),
    el("span", { id: "sync-last" }, `last sync ${last}`),
    el("span", { id: "sync-dead", class: queue.dead_letters ? "warn" : "" }, `dead letters ${queue.dead_letters ?? 0}`),
  );
}

/** Rows of a `group_by=day,role` answer → days and one series per role. */
function byDayAndRole(rows, metric) {
  const days = [...new Set(rows.map((r) => r.group.day))].sort();
  const roles = [...new Set(rows.map((r) => r.group.role))];
  const series = Object.fromEntries(roles.map((role) => [role, days.map(() => 0)]));
  for (const row of rows) series[row.group.role][days.indexOf(row.group.day)] += metric(row);
  return { days, series };
}

function costPath(groupBy) {
  const feature = $("scope-feature").checked && state.feature ? `&feature=${encodeURIComponent(state.feature)}` : "";
  return `/api/costs?group_by=${groupBy}${feature}`;
}

async function refreshCosts() {
  const [byRole, byWp, byDay, byAgent] = await Promise.all(
    ["role", "wp", "day,role", "agent,model"].map((g) => getJson(costPath(g))));
  if (changed("cost-role", byRole)) {
    barChart($("chart-cost-role"), byRole.rows.map((r) => ({ label: r.group_key, value: r.total_cost_usd })), usd, "svg-cost-role");
    $("cost-total").textContent = `${usd(byRole.total.total_cost_usd)} over ${byRole.total.event_count} events`;
  }
  if (changed("cost-wp", byWp)) {
    barChart($("chart-cost-wp"), byWp.rows.slice(0, 15).map((r) => ({ label: r.group_key, value: r.total_cost_usd })), usd, "svg-cost-wp");
  }
  if (changed("cost-day", byDay)) {
    const cost = byDayAndRole(byDay.rows, (r) => r.total_cost_usd);
    stackedBars($("chart-cost-day"), cost.days, cost.series, usd, "svg-cost-day");
    const tokens = byDayAndRole(byDay.rows, (r) => r.total_input_tokens + r.total_output_tokens
      + r.total_cache_read_tokens + r.total_cache_write_tokens);
    stackedBars($("chart-tokens-day"), tokens.days, tokens.series, compact, "svg-tokens-day");
  }
  if (changed("cost-agent", byAgent)) agentTable($("chart-agents"), byAgent.rows);
}

async function refreshEvents() {
  const feature = $("scope-feature").checked && state.feature ? `?feature=${encodeURIComponent(state.feature)}` : "";
  const data = await getJson(`/api/events${feature}`);
  if (!changed("events", data)) return;
  cumulativeFlow($("chart-flow"), data.cumulative_flow || {}, "svg-flow");
  const recent = data.recent_execution_events || [];
  if (!recent.length) return empty($("recent"), "No execution events yet.");
  const head = el("tr", {}, ["When", "Feature", "WP", "Role", "Agent", "Model", "Tokens", "Cost"].map((h) => el("th", {}, h)));
  const body = recent.slice(0, 20).map((e) => el("tr", {},
    el("td", {}, (e.timestamp || "").replace("T", " ").slice(0, 16)), el("td", {}, e.feature), el("td", {}, e.wp_id),
    el("td", {}, e.role), el("td", {}, e.agent), el("td", {}, e.model || ""),
    el("td", { class: "num" }, compact((e.input_tokens || 0) + (e.output_tokens || 0))),
    el("td", { class: "num" }, e.cost_usd === null || e.cost_usd === undefined ? "" : usd(e.cost_usd))));
  $("recent").replaceChildren(el("table", { class: "data" }, el("thead", {}, head), el("tbody", {}, body)));
}

async function refreshDocument() {
  if (!state.feature) return;
  const tabs = DOCUMENTS.map(([key, label]) => el("button", { class: key === state.document ? "active" : "",
    onclick: () => { state.document = key; delete state.seen.document; refreshDocument(); } }, label));
  $("doc-tabs").replaceChildren(...tabs);
  const path = `/api/artifact/${encodeURIComponent(state.feature)}/${state.document}?format=html`;
  const response = await fetch(path);
  const html = response.ok ? await response.text() : "";
  if (!changed("document", [path, html])) return;
  // The server renders Markdown to HTML that cannot carry scripts or event handlers (see markdown.rs).
  if (response.ok) $("document").innerHTML = html;
  else $("document").textContent = `No ${state.document} document in this feature.`;
}

function selectFeature(id) {
  state.feature = id;
  for (const key of ["kanban", "document", "cost-role", "cost-wp", "cost-day", "cost-agent", "events"]) delete state.seen[key];
  for (const item of document.querySelectorAll("#features li")) item.classList.toggle("selected", item.dataset.feature === id);
  refresh();
}

async function refresh() {
  const jobs = [
    getJson("/api/features").then((data) => { if (changed("features", data)) drawFeatures(data); }),
    getJson("/api/sync").then((data) => { if (changed("sync", data)) drawSync(data); }),
    refreshCosts(),
    refreshEvents(),
  ];
  await jobs[0].catch(() => {});
  if (state.feature) {
    jobs.push(getJson(`/api/kanban/${encodeURIComponent(state.feature)}`).then((data) => { if (changed("kanban", data)) drawKanban(data); }));
    jobs.push(refreshDocument());
  }
  const results = await Promise.allSettled(jobs);
  const failed = results.filter((r) => r.status === "rejected");
  $("updated").textContent = failed.length
    ? `Some panels could not refresh: ${failed[0].reason.message}`
    : `Updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000}s`;
}

async function start() {
  try {
    const health = await getJson("/api/health");
    $("project").textContent = health.project_path;
  } catch (error) {
    $("project").textContent = `The dashboard server does not answer (${error.message}).`;
  }
  $("scope-feature").addEventListener("change", () => {
    for (const key of ["cost-role", "cost-wp", "cost-day", "cost-agent", "events"]) delete state.seen[key];
    refresh();
  });
  await refresh();
  document.body.dataset.ready = "true";
  setInterval(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
