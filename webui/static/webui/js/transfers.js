// Transfers, as a shift reads them: by send request, then study × destination with overall
// progress, expandable to the series and, per series, to what was not delivered and why. Filters,
// "clear finished" (hides rows in this tab; the audit log keeps everything), Retry only where the
// server says it works, a notice (and a browser notification, if allowed) when one fails.

import { api } from "./api.js";
import { isOnline, onConnectionChange } from "./connection.js";
import { $, $$, announce, formatDateTime, h, personName, setText, show, statusBadge } from "./dom.js";
import { describeNotDelivered, loadNotDelivered } from "./undelivered.js";

const ACTIVE = new Set(["pending", "sending"]);
const POLL_MS = 1000;
const HIDDEN_KEY = "dicom-transfer.hidden-transfers";

const state = {
  transfers: new Map(), // id → the status API's transfer
  hidden: new Set(readHidden()),
  expanded: new Set(), // group keys
  open: new Set(), // transfer ids whose "why" row is open
  why: new Map(), // transfer id → {loading, result, error}
  filter: "all",
  pollTimer: null,
  lastAnswer: null,
};

function readHidden() {
  try {
    return JSON.parse(sessionStorage.getItem(HIDDEN_KEY) || "[]");
  } catch {
    return [];
  }
}

function saveHidden() {
  sessionStorage.setItem(HIDDEN_KEY, JSON.stringify(Array.from(state.hidden)));
}

// --- Data ------------------------------------------------------------------------------------

function upsert(transfer) {
  const previous = state.transfers.get(transfer.id);
  state.transfers.set(transfer.id, { ...(previous || {}), ...transfer });
  if (previous && ACTIVE.has(previous.status) && transfer.status === "failed") failed(state.transfers.get(transfer.id));
  if (previous && previous.status !== transfer.status && !ACTIVE.has(transfer.status)) {
    $("#transfers-live").textContent = `${seriesName(transfer)} to ${destinationName(transfer)}: ${transfer.status}.`;
  }
}

// A transfer that was retried is replaced, in its group, by the retry (when the page has it).
function superseded(t) {
  return Boolean(t.retried_by && state.transfers.has(t.retried_by));
}

function seriesName(t) {
  const number = t.series_number !== null && t.series_number !== undefined ? `#${t.series_number} ` : "";
  return `${number}${t.series_description || "(no description)"}${t.modality ? ` (${t.modality})` : ""}`;
}

function destinationName(t) {
  return t.destination ? t.destination.name : "?";
}

function studyName(t) {
  return [t.study_description || "(no study description)", t.study_date].filter(Boolean).join(" · ");
}

function isToday(iso) {
  const date = new Date(iso);
  const now = new Date();
  return date.getFullYear() === now.getFullYear() && date.getMonth() === now.getMonth() && date.getDate() === now.getDate();
}

// requests: [{key, time, groups: [{key, transfers, ...}]}], newest request first.
function grouped() {
  const requests = new Map();
  const shown = Array.from(state.transfers.values())
    .filter((t) => !superseded(t) && !state.hidden.has(t.id))
    .sort((a, b) => a.id - b.id);
  for (const t of shown) {
    const requestKey = t.send_request || `transfer-${t.retry_of || t.id}`;
    if (!requests.has(requestKey)) requests.set(requestKey, { key: requestKey, time: t.timestamp, first: t.id, groups: new Map() });
    const request = requests.get(requestKey);
    const destinationKey = t.destination && t.destination.id !== null ? t.destination.id : `deleted:${destinationName(t)}`;
    const groupKey = `${requestKey}|${t.study_instance_uid || t.series_instance_uid}|${destinationKey}`;
    if (!request.groups.has(groupKey)) request.groups.set(groupKey, { key: groupKey, transfers: [] });
    request.groups.get(groupKey).transfers.push(t);
  }
  const list = Array.from(requests.values()).sort((a, b) => b.first - a.first);
  for (const request of list) {
    request.groups = Array.from(request.groups.values()).map(summarise);
    request.groups.sort((a, b) => a.label.localeCompare(b.label) || a.destination.localeCompare(b.destination));
  }
  return list;
}

function summarise(group) {
  const ts = group.transfers.sort(
    (a, b) => (a.series_number ?? 1e9) - (b.series_number ?? 1e9) || a.id - b.id,
  );
  const first = ts[0];
  const count = (status) => ts.filter((t) => t.status === status).length;
  const total = ts.reduce((sum, t) => sum + (t.instance_count || 0), 0);
  const sent = ts.reduce((sum, t) => sum + (t.instances_sent || 0), 0);
  const active = ts.filter((t) => ACTIVE.has(t.status)).length;
  const delivered = count("success");
  const failedCount = count("failed");
  const cancelled = count("cancelled");
  let status = "success";
  if (active) status = ts.some((t) => t.status === "sending") ? "sending" : "pending";
  else if (failedCount) status = "failed";
  else if (cancelled) status = "cancelled";
  return {
    ...group,
    transfers: ts,
    label: `${personName(first.patient_name)} · ${studyName(first)}`,
    patientRaw: first.patient_name || "",
    destination: destinationName(first),
    destinationGone: Boolean(first.destination && first.destination.id === null),
    total,
    sent,
    active,
    delivered,
    failed: failedCount,
    cancelled,
    status,
    finished: active === 0,
    today: ts.some((t) => isToday(t.timestamp)),
  };
}

function matches(group) {
  if (state.filter === "active") return group.active > 0;
  if (state.filter === "failed") return group.failed > 0 || group.cancelled > 0;
  if (state.filter === "today") return group.today;
  return true;
}

// --- Rendering -------------------------------------------------------------------------------

function percentOf(done, total) {
  return total ? Math.min(100, Math.floor((100 * done) / total)) : 0;
}

function progress(done, total, label) {
  const percent = percentOf(done, total);
  return h("progress", { max: String(Math.max(total, 1)), value: String(done), "aria-label": label, "aria-valuetext": `${percent} %` });
}

function toggle(key, expanded, label, extra = {}) {
  return h(
    "button",
    { type: "button", class: "toggle", "aria-expanded": expanded ? "true" : "false", "data-focus": key, ...extra },
    h("span", { class: "chevron", "aria-hidden": "true" }, expanded ? "▾" : "▸"),
    ...label,
  );
}

function requestRows(request) {
  const byDestination = new Map();
  for (const group of request.groups) {
    const counts = byDestination.get(group.destination) || { studies: 0, delivered: 0 };
    counts.studies += 1;
    if (group.status === "success") counts.delivered += 1;
    byDestination.set(group.destination, counts);
  }
  const parts = Array.from(byDestination.entries()).map(
    ([name, c]) => `${c.delivered} of ${c.studies} ${c.studies === 1 ? "study" : "studies"} delivered to ${name}`,
  );
  const rows = [
    h(
      "tr",
      { class: "request", "data-request": request.key },
      h("th", { colspan: "5", scope: "colgroup" }, `Sent ${formatDateTime(request.time)}`, h("span", { class: "request-summary" }, ` — ${parts.join(" · ")}`)),
    ),
  ];
  for (const group of request.groups) {
    if (!matches(group)) continue;
    rows.push(groupRow(group));
    if (state.expanded.has(group.key)) {
      for (const t of group.transfers) {
        rows.push(seriesRow(t, group));
        if (state.open.has(t.id)) rows.push(whyRow(t));
      }
    }
  }
  return rows.length > 1 ? rows : [];
}

function groupRow(group) {
  const expanded = state.expanded.has(group.key);
  const n = group.transfers.length;
  const counts = [`${group.delivered} of ${n} series delivered`];
  if (group.failed) counts.push(`${group.failed} failed`);
  if (group.cancelled) counts.push(`${group.cancelled} cancelled`);
  if (group.active) counts.push(`${group.active} in progress`);
  const percent = percentOf(group.sent, group.total);
  const button = toggle(`group:${group.key}`, expanded, [
    h("span", { class: "patient", title: group.patientRaw }, group.label.split(" · ")[0]),
    ` · ${group.label.split(" · ").slice(1).join(" · ")}`,
  ]);
  button.addEventListener("click", () => {
    if (state.expanded.has(group.key)) state.expanded.delete(group.key);
    else state.expanded.add(group.key);
    render();
  });
  return h(
    "tr",
    { class: `group status-row-${group.status}`, "data-group": group.key },
    h("td", {}, button),
    h("td", {}, group.destination, group.destinationGone ? h("span", { class: "muted" }, " (deleted)") : ""),
    h(
      "td",
      { class: "progress-col" },
      h(
        "div",
        { class: "progress-cell" },
        progress(group.sent, group.total, `Progress to ${group.destination}: ${group.label}`),
        h("span", { class: "progress-text" }, `${counts.join(", ")} · ${group.sent} / ${group.total} instances (${percent} %)`),
      ),
    ),
    h("td", { class: "status" }, statusBadge(group.status)),
    h("td", { class: "actions" }),
  );
}

function seriesRow(t, group) {
  const open = state.open.has(t.id);
  const button = toggle(`series:${t.id}`, open, [seriesName(t)], { "aria-label": `${seriesName(t)} to ${group.destination}: details` });
  button.addEventListener("click", () => toggleWhy(t.id));
  const percent = t.progress ?? percentOf(t.instances_sent || 0, t.instance_count);
  const failedText = t.instances_failed ? `, ${t.instances_failed} not delivered` : "";
  const actions = [];
  if (ACTIVE.has(t.status)) {
    actions.push(h("button", { type: "button", class: "secondary small", onclick: () => cancel(t.id), "aria-label": `Cancel ${seriesName(t)} to ${group.destination}` }, "Cancel"));
  } else if (t.can_retry) {
    actions.push(h("button", { type: "button", class: "small", onclick: () => retry(t.id), "aria-label": `Retry ${seriesName(t)} to ${group.destination}` }, "Retry"));
  } else if (t.status !== "success" && t.retry_blocked_because) {
    actions.push(h("span", { class: "muted no-retry" }, t.retry_blocked_because));
  }
  return h(
    "tr",
    { class: "series", "data-transfer": String(t.id) },
    h("td", { class: "series-cell" }, button),
    h("td", { class: "muted" }, t.attempt > 1 ? `attempt ${t.attempt}` : ""),
    h(
      "td",
      { class: "progress-col" },
      h(
        "div",
        { class: "progress-cell" },
        progress(t.instances_sent || 0, t.instance_count || 0, `Progress of ${seriesName(t)} to ${group.destination}`),
        h("span", { class: "progress-text" }, `${t.instances_sent || 0} / ${t.instance_count} (${percent} %)${failedText}`),
      ),
    ),
    h("td", { class: "status" }, statusBadge(t.status)),
    h("td", { class: "actions" }, ...actions),
  );
}

function whyRow(t) {
  const cell = h("td", { colspan: "5", class: "why" });
  const parts = [];
  if (t.error_message) parts.push(h("p", { class: t.status === "success" ? "" : "error" }, t.error_message));
  const why = state.why.get(t.id);
  if (t.status === "success") parts.push(h("p", { class: "success-text" }, `All ${t.instance_count} instances acknowledged.`));
  else if (ACTIVE.has(t.status)) parts.push(h("p", { class: "muted" }, "Still being sent."));
  else if (!why || why.loading) parts.push(h("p", { class: "muted" }, "Looking up what was not delivered…"));
  else if (why.error) parts.push(h("p", { class: "error" }, why.error));
  else parts.push(...describeNotDelivered(t, why.result));
  if (!t.can_retry && t.retry_blocked_because && t.status !== "success" && !ACTIVE.has(t.status)) {
    parts.push(h("p", { class: "muted" }, `No Retry: ${t.retry_blocked_because}`));
  }
  cell.append(...parts);
  return h("tr", { class: "why-row", "data-why": String(t.id) }, cell);
}

export function render() {
  const body = $("#transfers tbody");
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focus : null;
  const requests = grouped();
  const rows = requests.flatMap(requestRows);
  if (!rows.length) {
    const message = state.transfers.size ? "No transfer matches this filter." : "No transfer yet.";
    rows.push(h("tr", {}, h("td", { colspan: "5", class: "muted empty" }, message)));
  }
  body.replaceChildren(...rows);
  if (focused) {
    const again = body.querySelector(`[data-focus="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  const groups = requests.flatMap((r) => r.groups);
  const delivered = groups.filter((g) => g.status === "success").length;
  const failedGroups = groups.filter((g) => g.failed || g.cancelled).length;
  const active = groups.filter((g) => g.active).length;
  $("#transfers-summary").textContent = groups.length
    ? `${groups.length} ${groups.length === 1 ? "study" : "studies"} × destination: ${delivered} delivered, ${failedGroups} with failures, ${active} in progress.`
    : "";
  $("#clear-finished").disabled = !groups.some((g) => g.finished);
  show($("#transfers-card"), state.transfers.size > 0);
}

// --- Keyboard: arrows move between rows, right/left open and close, space toggles -------------

function onKey(event) {
  const button = event.target.closest("button.toggle");
  if (!button) return;
  const toggles = $$("#transfers tbody button.toggle");
  const index = toggles.indexOf(button);
  const expanded = button.getAttribute("aria-expanded") === "true";
  let next = null;
  if (event.key === "ArrowDown") next = toggles[index + 1];
  else if (event.key === "ArrowUp") next = toggles[index - 1];
  else if (event.key === "Home") next = toggles[0];
  else if (event.key === "End") next = toggles[toggles.length - 1];
  else if (event.key === "ArrowRight" && !expanded) button.click();
  else if (event.key === "ArrowLeft" && expanded) button.click();
  else if (event.key === "ArrowLeft" && button.closest("tr.series")) {
    let row = button.closest("tr").previousElementSibling;
    while (row && !row.classList.contains("group")) row = row.previousElementSibling;
    next = row && row.querySelector("button.toggle");
  } else return;
  event.preventDefault();
  if (next) next.focus();
}

// --- Actions ---------------------------------------------------------------------------------

async function toggleWhy(id) {
  if (state.open.has(id)) {
    state.open.delete(id);
    render();
    return;
  }
  state.open.add(id);
  const t = state.transfers.get(id);
  if (t && !ACTIVE.has(t.status) && t.status !== "success" && !state.why.has(id)) {
    state.why.set(id, { loading: true });
    render();
    try {
      state.why.set(id, { result: await loadNotDelivered(t) });
    } catch (error) {
      state.why.set(id, { error: error.message });
    }
  }
  render();
}

async function cancel(id) {
  try {
    upsert(await api(`/api/dicom/transfers/${id}/cancel/`, { method: "POST" }));
  } catch (error) {
    notice(error.message);
  }
  render();
  schedulePoll(0);
}

async function retry(id) {
  try {
    const answer = await api(`/api/dicom/transfers/${id}/retry/`, { method: "POST" });
    await trackTransfers(answer.transfers, { reveal: false });
    await refresh([id]);
  } catch (error) {
    notice(error.message);
    await refresh([id]).catch(() => {});
  }
}

function clearFinished() {
  const groups = grouped().flatMap((r) => r.groups).filter((g) => g.finished);
  let n = 0;
  for (const group of groups) {
    for (const t of group.transfers) state.hidden.add(t.id);
    n += 1;
  }
  // Their earlier, retried transfers go with them.
  for (const t of state.transfers.values()) if (superseded(t) && state.hidden.has(t.retried_by)) state.hidden.add(t.id);
  saveHidden();
  render();
  announce(`${n} finished ${n === 1 ? "row" : "rows"} cleared from this list; the audit log keeps them.`);
}

// --- Failure notices -------------------------------------------------------------------------

function notice(text, { failure = false } = {}) {
  const dismiss = h("button", { type: "button", class: "secondary small", "aria-label": "Dismiss this notice" }, "Dismiss");
  const item = h("div", { class: `notice${failure ? " failure" : ""}` }, h("p", {}, text), dismiss);
  dismiss.addEventListener("click", () => {
    item.remove();
    $("#transfers-card").focus();
  });
  $("#transfer-notices").append(item);
}

function failed(t) {
  const text = `Transfer failed: ${seriesName(t)} of ${personName(t.patient_name)} to ${destinationName(t)}. ${t.error_message || ""}`;
  notice(text.trim(), { failure: true });
  if ("Notification" in window && Notification.permission === "granted") {
    // No patient name outside the page: a notification may show on a locked screen.
    new Notification("DICOM Transfer: a transfer failed", { body: `${seriesName(t)} to ${destinationName(t)}`, tag: `transfer-${t.id}` });
  }
}

function updateNotifyButton() {
  const button = $("#notify-failures");
  show(button, "Notification" in window && Notification.permission === "default");
}

// --- Polling ---------------------------------------------------------------------------------

function schedulePoll(delay = POLL_MS) {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(poll, delay);
}

async function refresh(ids) {
  const answer = await api(`/api/dicom/status/?ids=${ids.slice(0, 500).join(",")}`);
  for (const t of answer.transfers) upsert(t);
  state.lastAnswer = new Date();
  render();
}

async function poll() {
  state.pollTimer = null;
  if (!isOnline()) return; // connection.js probes; we resume when it is back
  const active = Array.from(state.transfers.values())
    .filter((t) => ACTIVE.has(t.status))
    .map((t) => t.id);
  if (!active.length) return;
  try {
    await refresh(active);
  } catch (error) {
    if (error.status === 401) return; // signed out
    if (error.status === 0) return; // the banner is up; polling resumes when the server is back
  }
  if (Array.from(state.transfers.values()).some((t) => ACTIVE.has(t.status))) schedulePoll();
}

function connectionChanged(online) {
  const card = $("#transfers-card");
  card.classList.toggle("stale", !online);
  setText(
    $("#transfers-stale"),
    online ? "" : `Progress as last known${state.lastAnswer ? ` at ${formatDateTime(state.lastAnswer.toISOString())}` : ""}: the server can't be reached.`,
  );
  if (online) schedulePoll(0);
}

// --- Entry points ----------------------------------------------------------------------------

// New transfers (the answer of /send/ or /retry/): fetched in full, shown, and brought into view.
export async function trackTransfers(created, { reveal = true } = {}) {
  for (const t of created) upsert({ instances_sent: 0, instances_failed: 0, progress: 0, ...t });
  const ids = created.map((t) => t.id);
  try {
    await refresh(ids);
  } catch {
    render();
  }
  if (reveal && ids.length) {
    const first = state.transfers.get(ids[0]);
    const row = first && $$("#transfers tbody tr.group").find((tr) => tr.dataset.group.startsWith(`${first.send_request}|`));
    const card = $("#transfers-card");
    (row || card).scrollIntoView({ block: "start", behavior: "smooth" });
    const button = row && row.querySelector("button.toggle");
    (button || card).focus({ preventScroll: true });
  }
  schedulePoll();
}

// The caller's transfers of the last hour (and any still running), e.g. after a reload.
export async function loadRecentTransfers() {
  if (state.transfers.size) return;
  try {
    const answer = await api("/api/dicom/status/");
    for (const t of answer.transfers) upsert(t);
    state.lastAnswer = new Date();
    render();
    schedulePoll();
  } catch {
    // Not fatal: new transfers still show.
  }
}

export function initTransfers() {
  for (const radio of $$('input[name="transfer-filter"]')) {
    radio.addEventListener("change", () => {
      state.filter = radio.value;
      render();
    });
  }
  $("#clear-finished").addEventListener("click", clearFinished);
  $("#notify-failures").addEventListener("click", async () => {
    await Notification.requestPermission();
    updateNotifyButton();
  });
  $("#transfers tbody").addEventListener("keydown", onKey);
  onConnectionChange(connectionChanged);
  updateNotifyButton();
}
