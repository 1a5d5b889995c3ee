// The rows of the transfers table: a send request's heading, its study × destination groups
// (overall progress and counts) and, opened, their series and what each did not deliver.

import { verificationNote } from "./delivery.js";
import { formatDateTime, h, personName, statusBadge } from "./dom.js";
import { describeNotDelivered } from "./undelivered.js";

export const ACTIVE = new Set(["pending", "sending"]);

export function seriesName(t) {
  const number = t.series_number !== null && t.series_number !== undefined ? `#${t.series_number} ` : "";
  return `${number}${t.series_description || "(no description)"}${t.modality ? ` (${t.modality})` : ""}`;
}

export function destinationName(t) {
  return t.destination ? t.destination.name : "?";
}

function studyName(t) {
  return [t.study_description || "(no study description)", t.study_date].filter(Boolean).join(" · ");
}

export function isToday(iso) {
  const date = new Date(iso);
  const now = new Date();
  return date.getFullYear() === now.getFullYear() && date.getMonth() === now.getMonth() && date.getDate() === now.getDate();
}

export function summarise(group) {
  const ts = group.transfers.sort(
    (a, b) => (a.series_number ?? 1e9) - (b.series_number ?? 1e9) || a.id - b.id,
  );
  const first = ts[0];
  const count = (status) => ts.filter((t) => t.status === status).length;
  const total = ts.reduce((sum, t) => sum + (t.instance_count || 0), 0);
  const sent = ts.reduce((sum, t) => sum + (t.instances_sent || 0), 0);
  const active = ts.filter((t) => ACTIVE.has(t.status)).length;
  // Waiting for their next attempt (the destination did not answer, say): said so, not "in progress".
  const retrying = ts.filter((t) => t.status === "pending" && t.next_attempt_at).length;
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
    retrying,
    delivered,
    failed: failedCount,
    cancelled,
    status,
    finished: active === 0,
    today: ts.some((t) => isToday(t.timestamp)),
  };
}

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

export function requestRows(request, view) {
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
    if (!view.matches(group)) continue;
    rows.push(groupRow(group, view));
    if (view.expanded.has(group.key)) {
      for (const t of group.transfers) {
        rows.push(seriesRow(t, group, view));
        if (view.open.has(t.id)) rows.push(whyRow(t, view));
      }
    }
  }
  return rows.length > 1 ? rows : [];
}

function groupRow(group, view) {
  const expanded = view.expanded.has(group.key);
  const n = group.transfers.length;
  const counts = [`${group.delivered} of ${n} series delivered`];
  if (group.failed) counts.push(`${group.failed} failed`);
  if (group.cancelled) counts.push(`${group.cancelled} cancelled`);
  if (group.active - group.retrying) counts.push(`${group.active - group.retrying} in progress`);
  if (group.retrying) counts.push(`${group.retrying} waiting to try again`);
  const percent = percentOf(group.sent, group.total);
  const button = toggle(`group:${group.key}`, expanded, [
    h("span", { class: "patient", title: group.patientRaw }, group.label.split(" · ")[0]),
    ` · ${group.label.split(" · ").slice(1).join(" · ")}`,
  ]);
  button.addEventListener("click", () => view.toggleGroup(group.key));
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

function seriesRow(t, group, view) {
  const open = view.open.has(t.id);
  const button = toggle(`series:${t.id}`, open, [seriesName(t)], { "aria-label": `${seriesName(t)} to ${group.destination}: details` });
  button.addEventListener("click", () => view.toggleWhy(t.id));
  const percent = t.progress ?? percentOf(t.instances_sent || 0, t.instance_count);
  const failedText = t.instances_failed ? `, ${t.instances_failed} not delivered` : "";
  const actions = [];
  if (ACTIVE.has(t.status)) {
    actions.push(h("button", { type: "button", class: "secondary small", onclick: () => view.cancel(t.id), "aria-label": `Cancel ${seriesName(t)} to ${group.destination}` }, "Cancel"));
  } else if (t.can_retry) {
    actions.push(h("button", { type: "button", class: "small", onclick: () => view.retry(t.id), "aria-label": `Retry ${seriesName(t)} to ${group.destination}` }, "Retry"));
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
    h(
      "td",
      { class: "status" },
      statusBadge(t.status),
      t.status === "pending" && t.next_attempt_at
        ? h("span", { class: "muted next-attempt" }, `next attempt ${formatDateTime(t.next_attempt_at)}`)
        : "",
      verificationNote(t.verification),
    ),
    h("td", { class: "actions" }, ...actions),
  );
}

function whyRow(t, view) {
  const cell = h("td", { colspan: "5", class: "why" });
  const parts = [];
  if (t.error_message) parts.push(h("p", { class: t.status === "success" ? "" : "error" }, t.error_message));
  const why = view.why.get(t.id);
  const sent = t.instances_sent || 0;
  if (t.status === "success") {
    // Fewer than all in a success: the rest was held back (de-identification), as error_message says.
    const acknowledged =
      sent >= t.instance_count
        ? t.instance_count === 1
          ? "The instance was acknowledged."
          : `All ${t.instance_count} instances acknowledged.`
        : `${sent} of ${t.instance_count} instances acknowledged.`;
    parts.push(h("p", { class: "success-text" }, acknowledged));
  }
  if (t.instances_already_delivered) {
    parts.push(h("p", { class: "muted" }, `${t.instances_already_delivered} of them were delivered before this attempt: only the rest was sent.`));
  }
  // What was not delivered is looked up only for transfers that did not succeed (toggleWhy).
  if (t.status !== "success") {
    if (t.status === "sending") parts.push(h("p", { class: "muted" }, "Being sent now."));
    else if (t.status === "pending" && t.next_attempt_at) {
      parts.push(h("p", { class: "muted" }, `Waiting: the next attempt is at ${formatDateTime(t.next_attempt_at)}; it resumes by itself.`));
    } else if (t.status === "pending") parts.push(h("p", { class: "muted" }, "Queued: a worker will send it next."));
    else if (!why || why.loading) parts.push(h("p", { class: "muted" }, "Looking up what was not delivered…"));
    else if (why.error) parts.push(h("p", { class: "error" }, why.error));
    else parts.push(...describeNotDelivered(t, why.result));
  }
  if (!t.can_retry && t.retry_blocked_because && t.status !== "success" && !ACTIVE.has(t.status)) {
    parts.push(h("p", { class: "muted" }, `No Retry: ${t.retry_blocked_because}`));
  }
  cell.append(...parts);
  return h("tr", { class: "why-row", "data-why": String(t.id) }, cell);
}

