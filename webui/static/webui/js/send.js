// Choose series → choose destinations → send → watch the transfers (the upload is upload.js).

import { api, ApiError } from "./api.js";
import { $, announce, formatBytes, h, personName, setText, show } from "./dom.js";
import { loadRecentTransfers, trackTransfers } from "./transfers.js";
import { confirmResend, unreachableNote } from "./delivery.js";
import { prefillSendAs, resetSendAs, sendAsValues } from "./send-as.js";

const state = {
  importResult: null,
  seriesByUid: new Map(),
  selected: new Set(), // series instance UIDs
  destinations: [],
  chosenDestinations: new Set(),
};

// An import to choose series from (upload.js calls it when an upload has finished).
export function showImport(result) {
  state.importResult = result;
  state.seriesByUid.clear();
  state.selected.clear();
  renderTree();
  show($("#tree-card"), true);
  show($("#destinations-card"), true);
  updateSendButton();
}

// --- Tree ------------------------------------------------------------------------------------

const groups = []; // {checkbox, uids}

function renderTree() {
  const body = $("#tree tbody");
  groups.length = 0;
  const rows = [];
  for (const [p, patient] of state.importResult.patients.entries()) {
    const patientUids = [];
    const patientRow = h("tr", { class: "level-patient" });
    rows.push(patientRow);
    let patientInstances = 0;
    let patientBytes = 0;
    const patientModalities = new Set();
    for (const [s, study] of patient.studies.entries()) {
      const studyUids = [];
      const studyRow = h("tr", { class: "level-study" });
      rows.push(studyRow);
      let studyInstances = 0;
      let studyBytes = 0;
      const studyModalities = new Set();
      for (const series of study.series) {
        const uid = series.series_instance_uid;
        state.seriesByUid.set(uid, { ...series, patient, study });
        studyUids.push(uid);
        studyInstances += series.instance_count;
        studyBytes += series.size_bytes;
        if (series.modality) studyModalities.add(series.modality);
        const label = seriesLabel(series);
        const id = `series-${p}-${s}-${studyUids.length}`;
        const checkbox = h("input", { type: "checkbox", id, "data-series": uid });
        checkbox.addEventListener("change", () => {
          if (checkbox.checked) state.selected.add(uid);
          else state.selected.delete(uid);
          syncChecks();
        });
        rows.push(
          h(
            "tr",
            { class: "level-series" },
            h("td", { class: "check" }, checkbox),
            h("td", {}, h("label", { for: id }, label)),
            h("td", {}, series.modality || ""),
            h("td", {}, ""),
            h("td", { class: "num" }, String(series.instance_count)),
            h("td", { class: "num" }, formatBytes(series.size_bytes)),
          ),
        );
      }
      patientUids.push(...studyUids);
      patientInstances += studyInstances;
      patientBytes += studyBytes;
      for (const m of studyModalities) patientModalities.add(m);
      const studyId = `study-${p}-${s}`;
      const studyCheck = groupCheckbox(studyId, studyUids);
      const accession = study.accession_number ? ` · accession ${study.accession_number}` : "";
      studyRow.append(
        h("td", { class: "check" }, studyCheck),
        h(
          "td",
          {},
          h("label", { for: studyId }, h("span", { class: "kind" }, "Study "), study.study_description || "(no description)"),
          h("span", { class: "muted" }, accession),
        ),
        h("td", {}, Array.from(studyModalities).sort().join(", ")),
        h("td", {}, study.study_date || ""),
        h("td", { class: "num" }, String(studyInstances)),
        h("td", { class: "num" }, formatBytes(studyBytes)),
      );
    }
    const patientId = `patient-${p}`;
    patientRow.append(
      h("td", { class: "check" }, groupCheckbox(patientId, patientUids)),
      h(
        "td",
        {},
        h("label", { for: patientId }, h("span", { class: "kind" }, "Patient "), personName(patient.patient_name)),
        h("span", { class: "muted" }, ` · ID ${patient.patient_id || "(none)"}`),
      ),
      h("td", {}, Array.from(patientModalities).sort().join(", ")),
      h("td", {}, ""),
      h("td", { class: "num" }, String(patientInstances)),
      h("td", { class: "num" }, formatBytes(patientBytes)),
    );
  }
  body.replaceChildren(...rows);
  syncChecks();
}

function seriesLabel(series) {
  const number = series.series_number === null || series.series_number === undefined ? "" : `#${series.series_number} `;
  return `${number}${series.series_description || "(no description)"}`;
}

function groupCheckbox(id, uids) {
  const checkbox = h("input", { type: "checkbox", id });
  checkbox.addEventListener("change", () => {
    for (const uid of uids) {
      if (checkbox.checked) state.selected.add(uid);
      else state.selected.delete(uid);
    }
    syncChecks();
  });
  groups.push({ checkbox, uids });
  return checkbox;
}

function setTriState(checkbox, uids) {
  const chosen = uids.filter((uid) => state.selected.has(uid)).length;
  checkbox.checked = uids.length > 0 && chosen === uids.length;
  checkbox.indeterminate = chosen > 0 && chosen < uids.length;
}

function syncChecks() {
  for (const checkbox of document.querySelectorAll("#tree tbody input[data-series]")) {
    checkbox.checked = state.selected.has(checkbox.dataset.series);
  }
  for (const group of groups) setTriState(group.checkbox, group.uids);
  setTriState($("#select-all"), Array.from(state.seriesByUid.keys()));
  const selected = Array.from(state.selected).map((uid) => state.seriesByUid.get(uid));
  const instances = selected.reduce((sum, s) => sum + s.instance_count, 0);
  $("#selection-summary").textContent = selected.length
    ? `${selected.length} series selected (${instances} ${instances === 1 ? "instance" : "instances"}, ${formatBytes(selected.reduce((sum, s) => sum + s.size_bytes, 0))}).`
    : "No series selected.";
  prefillSendAs(selected);
  updateSendButton();
}

// --- Destinations ----------------------------------------------------------------------------

export async function loadDestinations() {
  try {
    state.destinations = (await api("/api/destinations/")).filter((d) => d.enabled);
  } catch (error) {
    setText($("#send-error"), error.message);
    return;
  }
  for (const id of Array.from(state.chosenDestinations)) {
    if (!state.destinations.some((d) => d.id === id)) state.chosenDestinations.delete(id);
  }
  const list = $("#destination-choices");
  list.replaceChildren(
    ...state.destinations.map((destination) => {
      const id = `destination-${destination.id}`;
      const checkbox = h("input", { type: "checkbox", id, checked: state.chosenDestinations.has(destination.id) });
      checkbox.addEventListener("change", () => {
        if (checkbox.checked) state.chosenDestinations.add(destination.id);
        else state.chosenDestinations.delete(destination.id);
        updateSendButton();
      });
      const result = h("span", { class: "echo-result", "aria-live": "polite" });
      const button = h(
        "button",
        { type: "button", class: "secondary small", "aria-label": `Test connection to ${destination.name}` },
        "Test connection",
      );
      button.addEventListener("click", () => testConnection(destination, button, result));
      return h(
        "li",
        { "data-destination": destination.name },
        checkbox,
        h(
          "label",
          { for: id },
          h("strong", {}, destination.name),
          h("span", { class: "muted" }, ` ${destination.ae_title} @ ${destination.host}:${destination.port}`),
          destination.deidentification ? h("span", { class: "badge" }, " de-identified") : null,
        ),
        button,
        result,
        unreachableNote(destination),
      );
    }),
  );
  show($("#no-destinations"), state.destinations.length === 0);
  updateSendButton();
}

export async function testConnection(destination, button, result) {
  button.disabled = true;
  result.className = "echo-result";
  result.textContent = "Testing…";
  try {
    const answer = await api(`/api/destinations/${destination.id}/test_connection/`, { method: "POST" });
    result.classList.add(answer.success ? "ok" : "failed");
    result.textContent = answer.success
      ? `Success (${answer.duration_ms} ms): ${answer.message}`
      : `Failed: ${answer.message}`;
    return answer;
  } catch (error) {
    result.classList.add("failed");
    result.textContent = `Failed: ${error.message}`;
    return null;
  } finally {
    button.disabled = false;
  }
}

function updateSendButton() {
  const button = $("#send");
  const ready = state.importResult && state.selected.size > 0 && state.chosenDestinations.size > 0;
  button.disabled = !ready;
  const n = state.selected.size * state.chosenDestinations.size;
  button.textContent = ready ? `Send (${n} transfer${n === 1 ? "" : "s"})` : "Send";
}

async function send(resend = false) {
  const button = $("#send");
  setText($("#send-error"), "");
  button.disabled = true;
  try {
    const body = {
      import_id: state.importResult.import_id,
      series_instance_uids: Array.from(state.selected),
      destination_ids: Array.from(state.chosenDestinations),
      resend,
    };
    const patient = sendAsValues();
    if (patient) body.patient = patient;
    const answer = await api("/api/dicom/send/", { method: "POST", body });
    resetSendAs();
    trackTransfers(answer.transfers);
    // The series are on their way: clear the choice, so a second click can't send them again.
    state.selected.clear();
    syncChecks();
    announce(`${answer.transfers.length} ${answer.transfers.length === 1 ? "transfer" : "transfers"} queued.`);
  } catch (error) {
    if (!resend && error instanceof ApiError && error.status === 409 && error.body && error.body.already_delivered) {
      // Sending twice is a choice: ask, and send again only if the user says so.
      if (await confirmResend(error, state.seriesByUid, state.destinations)) return send(true);
      announce("Not sent again.");
    } else {
      setText($("#send-error"), error.message);
    }
  } finally {
    updateSendButton();
  }
}

// --- Wiring ----------------------------------------------------------------------------------

// Arrow keys move between the tree's checkboxes (Space toggles the focused one, as any checkbox).
function treeKeys(event) {
  if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
  if (!(event.target instanceof HTMLInputElement) || event.target.type !== "checkbox") return;
  const boxes = [...document.querySelectorAll("#tree tbody input[type=checkbox]")].filter((box) => !box.closest("[hidden]"));
  const at = boxes.indexOf(event.target);
  if (at < 0) return;
  const next = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: boxes.length - 1 }[event.key];
  if (next < 0 || next >= boxes.length) return;
  event.preventDefault();
  boxes[next].focus();
}

export function initSend() {
  $("#tree").addEventListener("keydown", treeKeys);
  $("#select-all").addEventListener("change", (event) => {
    for (const uid of state.seriesByUid.keys()) {
      if (event.target.checked) state.selected.add(uid);
      else state.selected.delete(uid);
    }
    syncChecks();
  });
  $("#send").addEventListener("click", () => send());
}

export async function showSend() {
  await Promise.all([loadDestinations(), loadRecentTransfers()]);
}

