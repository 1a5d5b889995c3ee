// The dashboard (admins and auditors): the last 24 hours or 7 days per destination, from
// GET /api/dicom/dashboard/. Charts are SVG drawn here (no library, no inline style: the page's
// CSP allows none); every chart has a text alternative, and the table below holds every figure.

import { api } from "./api.js";
import { $, $$, formatBytes, h, setText } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const BAR = 18;
const LABEL = 150; // room for a destination's name left of its bars
let period = "24h";

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

function chart(height, label, ...parts) {
  return svg(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${height}`, role: "img", "aria-label": label, class: "chart-svg", preserveAspectRatio: "xMinYMin meet" },
    svg("title", {}, label),
    ...parts,
  );
}

export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function legend(y, items) {
  return items.map(([name, kind], index) =>
    svg(
      "g",
      { transform: `translate(${LABEL + index * 130}, ${y})` },
      svg("rect", { width: 12, height: 12, class: `bar-${kind}` }),
      svg("text", { x: 18, y: 11, class: "chart-text" }, name),
    ),
  );
}

// A column's name, written as the rest of the page writes times (24-hour, month-day), whatever
// the browser's locale.
function columnName(when, bucket) {
  const pad = (number) => String(number).padStart(2, "0");
  return bucket === "hour" ? `${pad(when.getHours())}:${pad(when.getMinutes())}` : `${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
}

// Stacked columns: successes and failures of every destination per hour or day.
function timeline(points, bucket) {
  const height = 190;
  const plot = 140;
  const most = Math.max(1, ...points.map((p) => p.succeeded + p.failed));
  const step = (WIDTH - 40) / Math.max(1, points.length);
  const columns = points.map((point, index) => {
    const x = 40 + index * step;
    const ok = (point.succeeded / most) * plot;
    const bad = (point.failed / most) * plot;
    const name = columnName(new Date(point.start), bucket);
    const tip = `${name}: ${point.succeeded} succeeded, ${point.failed} failed`;
    const parts = [
      svg("rect", { x, y: 10 + plot - ok, width: step * 0.8, height: ok, class: "bar-ok" }, svg("title", {}, tip)),
      svg("rect", { x, y: 10 + plot - ok - bad, width: step * 0.8, height: bad, class: "bar-bad" }, svg("title", {}, tip)),
    ];
    // Every 4th hour, counted back from the last (the current one), each under its column; the
    // last ends at its column's right edge, inside the chart.
    const every = bucket === "hour" ? 4 : 1;
    if ((points.length - 1 - index) % every === 0) {
      const last = index === points.length - 1;
      const at = last ? { x: x + step * 0.8, "text-anchor": "end" } : { x: x + step * 0.4, "text-anchor": "middle" };
      parts.push(svg("text", { ...at, y: plot + 26, class: "chart-text small" }, name));
    }
    return svg("g", { class: "column" }, ...parts);
  });
  const total = points.reduce((sum, p) => sum + p.succeeded + p.failed, 0);
  const failed = points.reduce((sum, p) => sum + p.failed, 0);
  return chart(
    height,
    `${total} transfers finished, ${failed} of them failed, per ${bucket}; the busiest ${bucket} had ${most}.`,
    svg("text", { x: 0, y: 20, class: "chart-text small" }, String(most)),
    svg("line", { x1: 38, y1: 10 + plot, x2: WIDTH, y2: 10 + plot, class: "axis" }),
    ...columns,
    ...legend(height - 14, [["Succeeded", "ok"], ["Failed", "bad"]]),
  );
}

// Horizontal bars per destination: one or more series of values, scaled to the largest.
function bars(rows, series, describe, format = String) {
  const most = Math.max(1, ...rows.flatMap((row) => series.map(([key]) => row[key] ?? 0)));
  const rowHeight = series.length * (BAR + 2) + 10;
  const height = rows.length * rowHeight + 30;
  const room = WIDTH - LABEL - 70;
  const groups = rows.map((row, index) => {
    const y = index * rowHeight;
    const parts = [svg("text", { x: 0, y: y + BAR - 4, class: "chart-text" }, row.destination)];
    series.forEach(([key, kind], n) => {
      const value = row[key];
      const width = value ? Math.max(1, (value / most) * room) : 0;
      const top = y + n * (BAR + 2);
      parts.push(svg("rect", { x: LABEL, y: top, width, height: BAR, class: `bar-${kind}` }));
      parts.push(svg("text", { x: LABEL + width + 6, y: top + BAR - 4, class: "chart-text" }, format(value)));
    });
    return svg("g", {}, ...parts);
  });
  const label = rows.length ? rows.map(describe).join("; ") : "No destination.";
  return chart(height, label, ...groups, ...legend(height - 14, series.map(([, kind, name]) => [name, kind])));
}

function tableRow(row) {
  const cell = (value) => h("td", { class: "num" }, value);
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, row.destination),
    cell(row.succeeded),
    cell(row.failed),
    cell(row.instances_sent),
    cell(formatBytes(row.bytes_sent)),
    cell(formatSeconds(row.send_seconds_median)),
    cell(formatSeconds(row.send_seconds_p95)),
    cell(row.pending),
    cell(row.sending),
    cell(row.pending ? formatSeconds(row.oldest_pending_seconds) : "—"),
  );
}

function draw(body) {
  const rows = body.destinations;
  const sum = (key) => rows.reduce((total, row) => total + row[key], 0);
  const span = body.window === "24h" ? "the last 24 hours" : "the last 7 days";
  setText(
    $("#dashboard-summary"),
    `In ${span}: ${sum("succeeded")} transfers succeeded, ${sum("failed")} failed; ` +
      `${sum("instances_sent")} instances (${formatBytes(sum("bytes_sent"))}) stored. ` +
      `Now: ${sum("pending")} waiting, ${sum("sending")} sending.`,
  );
  $("#chart-bucket").textContent = body.bucket;
  $("#chart-timeline").replaceChildren(timeline(body.timeline, body.bucket));
  $("#chart-outcomes").replaceChildren(
    bars(
      rows,
      [["succeeded", "ok", "Succeeded"], ["failed", "bad", "Failed"]],
      (row) => `${row.destination}: ${row.succeeded} succeeded, ${row.failed} failed`,
    ),
  );
  $("#chart-times").replaceChildren(
    bars(
      rows,
      [["send_seconds_median", "accent", "Median"], ["send_seconds_p95", "warn", "95th percentile"]],
      (row) => `${row.destination}: median ${formatSeconds(row.send_seconds_median)}, p95 ${formatSeconds(row.send_seconds_p95)}`,
      formatSeconds,
    ),
  );
  $("#chart-queue").replaceChildren(
    bars(
      rows,
      [["pending", "warn", "Waiting"], ["sending", "accent", "Sending"]],
      (row) => `${row.destination}: ${row.pending} waiting, ${row.sending} sending`,
    ),
  );
  $("#dashboard-table tbody").replaceChildren(...rows.map(tableRow));
}

export async function loadDashboard() {
  setText($("#dashboard-error"), "");
  for (const button of $$("#view-dashboard [data-window]")) {
    button.setAttribute("aria-pressed", String(button.dataset.window === period));
  }
  try {
    draw(await api(`/api/dicom/dashboard/?window=${encodeURIComponent(period)}`));
  } catch (error) {
    setText($("#dashboard-error"), error.message);
  }
}

export function initDashboard() {
  for (const button of $$("#view-dashboard [data-window]")) {
    button.addEventListener("click", () => {
      period = button.dataset.window;
      loadDashboard();
    });
  }
}
