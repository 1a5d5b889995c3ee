// The audit log: filters, sortable columns, paging, one entry's details, CSV export.

import { api } from "./api.js";
import { $, $$, formatDateTime, h, setText, statusBadge } from "./dom.js";
import { actionName, detailItems, patientCell } from "./log-detail.js";

const state = { page: 1, pageSize: 50, ordering: "-timestamp", count: 0, entries: new Map(), loaded: false, request: 0 };

const DELETED = "deleted:"; // and the id its entries kept
const DELETED_NAME = "deleted-name:";

function filterParams() {
  const params = new URLSearchParams();
  const form = $("#log-filters");
  for (const [name, value] of new FormData(form).entries()) {
    const text = String(value).trim();
    if (!text) continue;
    // An admin-only field hidden from a user is not sent.
    const field = form.elements.namedItem(name);
    if (field && field.closest("[hidden]")) continue;
    // A deleted destination: by the id its entries kept, or, deleted before they kept ids, by
    // the name they kept, exactly as the server listed it (not trimmed).
    if (name === "destination" && String(value).startsWith(DELETED_NAME)) {
      params.set("deleted_destination_name", String(value).slice(DELETED_NAME.length));
      continue;
    }
    if (name === "destination" && String(value).startsWith(DELETED)) {
      params.set("deleted_destination", String(value).slice(DELETED.length));
      continue;
    }
    params.set(name, text);
  }
  params.set("ordering", state.ordering);
  return params;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function isDate(text) {
  const match = ISO_DATE.exec(text);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.getUTCMonth() === Number(match[2]) - 1 && date.getUTCDate() === Number(match[3]);
}

// The date filters in words, before the server is asked: the problem ("" when they are fine)
// and the fields it is in (only the one written wrong, or both when From is after To).
function datesProblem() {
  const from = $("#f-date-from").value.trim();
  const to = $("#f-date-to").value.trim();
  for (const [label, value, id] of [["From", from, "#f-date-from"], ["To", to, "#f-date-to"]]) {
    if (value && !isDate(value)) return [`Write “${label}” as year-month-day, for example 2026-12-01 (you wrote “${value}”).`, [id]];
  }
  if (from && to && from > to) {
    return [`“From” (${from}) is after “To” (${to}): no entry can match. Choose a From date on or before the To date.`, ["#f-date-from", "#f-date-to"]];
  }
  return ["", []];
}

function checkDates() {
  const [problem, fields] = datesProblem();
  setText($("#f-dates-error"), problem);
  for (const id of ["#f-date-from", "#f-date-to"]) {
    if (fields.includes(id)) $(id).setAttribute("aria-invalid", "true");
    else $(id).removeAttribute("aria-invalid");
  }
  return !problem;
}

export async function loadLog() {
  if (!checkDates()) return;
  const params = filterParams();
  params.set("page", String(state.page));
  params.set("page_size", String(state.pageSize));
  const body = $("#log tbody");
  $("#log").setAttribute("aria-busy", "true");
  setText($("#log-error"), "");
  // Only the latest request's answer is shown: an earlier, slower one must not overwrite it.
  const request = ++state.request;
  try {
    const answer = await api(`/api/dicom/logs/?${params}`);
    if (request !== state.request) return;
    state.count = answer.count;
    state.entries.clear();
    for (const entry of answer.results) state.entries.set(entry.id, entry);
    body.replaceChildren(...answer.results.map(row));
    if (!answer.results.length) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: "10", class: "muted empty" }, "No entries match these filters.")));
    }
    renderPager(Boolean(answer.previous), Boolean(answer.next));
  } catch (error) {
    if (request !== state.request) return;
    if (error.status === 404 && state.page > 1) {
      state.page = 1;
      return loadLog();
    }
    body.replaceChildren();
    setText($("#log-error"), error.message);
  } finally {
    if (request === state.request) $("#log").removeAttribute("aria-busy");
  }
  state.loaded = true;
}

function row(entry) {
  const destination = entry.destination ? `${entry.destination.name}${entry.destination.deleted ? " (deleted)" : ""}` : "";
  const series = [entry.series_description, entry.modality ? `(${entry.modality})` : ""].filter(Boolean).join(" ");
  const open = h("button", { type: "button", class: "secondary small", "aria-label": `Details of entry ${entry.id}` }, "Details");
  open.addEventListener("click", () => showDetail(entry.id, open));
  return h(
    "tr",
    { "data-entry": String(entry.id) },
    h("td", {}, h("time", { datetime: entry.timestamp }, formatDateTime(entry.timestamp))),
    h("td", {}, actionName(entry.action)),
    h("td", {}, statusBadge(entry.status)),
    h("td", {}, entry.user ? entry.user.username : ""),
    h("td", {}, patientCell(entry)),
    h("td", {}, series),
    h("td", {}, destination),
    h("td", { class: "num" }, entry.instance_count ? String(entry.instance_count) : ""),
    h("td", {}, entry.completed_at ? formatDateTime(entry.completed_at) : ""),
    h("td", {}, open),
  );
}

function renderPager(hasPrevious, hasNext) {
  const pages = Math.max(1, Math.ceil(state.count / state.pageSize));
  $("#log-page").textContent = `Page ${state.page} of ${pages} · ${state.count} entr${state.count === 1 ? "y" : "ies"}`;
  $("#log-prev").disabled = !hasPrevious;
  $("#log-next").disabled = !hasNext;
  for (const th of $$("#log th[data-sort]")) {
    const key = th.dataset.sort;
    const sort = state.ordering === key ? "ascending" : state.ordering === `-${key}` ? "descending" : "none";
    th.setAttribute("aria-sort", sort);
  }
}

async function showDetail(id, opener) {
  const dialog = $("#log-dialog");
  let entry = state.entries.get(id);
  try {
    entry = await api(`/api/dicom/logs/${id}/`);
  } catch {
    // The row we have is the same entry; show it.
  }
  $("#log-detail").replaceChildren(...detailItems(entry, { admin: document.body.classList.contains("is-admin") }));
  $("#log-detail-title").textContent = `${actionName(entry.action)} · ${formatDateTime(entry.timestamp)}`;
  dialog.addEventListener("close", () => opener.focus(), { once: true });
  dialog.showModal();
}

async function exportCsv() {
  if (!checkDates()) return;
  const button = $("#export-csv");
  button.disabled = true;
  setText($("#log-error"), "");
  try {
    const params = filterParams();
    params.set("format", "csv");
    const response = await api(`/api/dicom/logs/?${params}`, { raw: true });
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    const link = h("a", { href: url, download: `audit-log-${stamp}.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (error) {
    setText($("#log-error"), error.message);
  } finally {
    button.disabled = false;
  }
}

// The destinations of today, then those deleted since the audit log named them (by the id their
// entries kept, or by name for those deleted before ids were kept), each with its deletion's day.
export function fillDestinationFilter(destinations, deleted = []) {
  const select = $("#f-destination");
  const current = select.value;
  const options = [h("option", { value: "" }, "Any"), ...destinations.map((d) => h("option", { value: String(d.id) }, d.name))];
  if (deleted.length) {
    // The day of the deletion; two of one name are told apart by its time, or else by their ids.
    const day = (d) => (d.deleted_at ? formatDateTime(d.deleted_at).slice(0, 10) : "");
    const twins = (d) => deleted.filter((o) => o !== d && o.name === d.name);
    const when = (d) => {
      if (!d.deleted_at) return twins(d).length && d.id !== null ? `, id ${d.id}` : "";
      const sameDay = twins(d).some((o) => day(o) === day(d));
      return ` ${formatDateTime(d.deleted_at).slice(0, sameDay ? 16 : 10)}`;
    };
    const label = (d) => `${d.name} (deleted${when(d)})`;
    const value = (d) => (d.id === null ? `${DELETED_NAME}${d.name}` : `${DELETED}${d.id}`);
    options.push(h("optgroup", { label: "Deleted" }, ...deleted.map((d) => h("option", { value: value(d) }, label(d)))));
  }
  select.replaceChildren(...options);
  select.value = current;
  if (select.value === current) return;
  // Chosen, then deleted: the same destination, now among the deleted ones; or else gone.
  select.value = /^\d+$/.test(current) && deleted.some((d) => d.id === Number(current)) ? `${DELETED}${current}` : "";
}

export function initLog() {
  $("#log-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.page = 1;
    loadLog();
  });
  $("#log-filters").addEventListener("reset", () => {
    state.page = 1;
    // After the form has reset its fields.
    setTimeout(loadLog, 0);
  });
  for (const th of $$("#log th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.sort;
      // A new column sorts ascending (A to Z, oldest first); a second click reverses it.
      state.ordering = state.ordering === key ? `-${key}` : key;
      state.page = 1;
      loadLog();
    });
  }
  $("#log-prev").addEventListener("click", () => {
    state.page = Math.max(1, state.page - 1);
    loadLog();
  });
  $("#log-next").addEventListener("click", () => {
    state.page += 1;
    loadLog();
  });
  $("#log-page-size").addEventListener("change", (event) => {
    state.pageSize = Number(event.target.value);
    state.page = 1;
    loadLog();
  });
  $("#export-csv").addEventListener("click", exportCsv);
}
