// Transfers, as a shift reads them: by send request, then study × destination with overall
// progress, expandable to the series and, per series, to what was not delivered and why. Filters,
// "clear finished" (hides rows in this tab; the audit log keeps everything), Retry only where the
// server says it works, a notice (and a browser notification, if allowed) when one fails.

import { api } from "./api.js";
import { isOnline, onConnectionChange } from "./connection.js";
import { $, $$, announce, formatDateTime, h, personName, setText, show } from "./dom.js";
import { ACTIVE, destinationName, requestRows, seriesName, summarise } from "./transfer-rows.js";
import { loadNotDelivered } from "./undelivered.js";

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

function matches(group) {
  if (state.filter === "active") return group.active > 0;
  if (state.filter === "failed") return group.failed > 0 || group.cancelled > 0;
  if (state.filter === "today") return group.today;
  return true;
}

export function render() {
  const body = $("#transfers tbody");
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focus : null;
  const requests = grouped();
  const view = {
    ...state,
    matches,
    toggleGroup,
    toggleWhy,
    cancel,
    retry,
  };
  const rows = requests.flatMap((request) => requestRows(request, view));
  if (!rows.length) {
    const allHidden = state.transfers.size && Array.from(state.transfers.values()).every((t) => state.hidden.has(t.id));
    const message = allHidden
      ? "Finished transfers cleared from this list; the audit log keeps them."
      : state.transfers.size
        ? "No transfer matches this filter."
        : "No transfer yet.";
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

function toggleGroup(key) {
  if (state.expanded.has(key)) state.expanded.delete(key);
  else state.expanded.add(key);
  render();
}

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
  const item = h("div", { class: `transfer-notice${failure ? " failure" : ""}` }, h("p", {}, text), dismiss);
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
