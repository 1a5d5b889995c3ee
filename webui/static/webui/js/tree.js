// Step 2, the tree of an import: patient → study → series, with check boxes to choose series.

import { $, formatBytes, h, personName } from "./dom.js";

// Shared with send.js, which sends what is selected.
export const selection = {
  seriesByUid: new Map(), // series instance UID → {...series, patient, study}
  selected: new Set(), // series instance UIDs
};

let onSelectionChange = () => {};

const groups = []; // {checkbox, uids}

export function renderTree(importResult) {
  const body = $("#tree tbody");
  groups.length = 0;
  const rows = [];
  for (const [p, patient] of importResult.patients.entries()) {
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
        selection.seriesByUid.set(uid, { ...series, patient, study });
        studyUids.push(uid);
        studyInstances += series.instance_count;
        studyBytes += series.size_bytes;
        if (series.modality) studyModalities.add(series.modality);
        const label = seriesLabel(series);
        const id = `series-${p}-${s}-${studyUids.length}`;
        const checkbox = h("input", { type: "checkbox", id, "data-series": uid });
        checkbox.addEventListener("change", () => {
          if (checkbox.checked) selection.selected.add(uid);
          else selection.selected.delete(uid);
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
      if (checkbox.checked) selection.selected.add(uid);
      else selection.selected.delete(uid);
    }
    syncChecks();
  });
  groups.push({ checkbox, uids });
  return checkbox;
}

function setTriState(checkbox, uids) {
  const chosen = uids.filter((uid) => selection.selected.has(uid)).length;
  checkbox.checked = uids.length > 0 && chosen === uids.length;
  checkbox.indeterminate = chosen > 0 && chosen < uids.length;
}

export function syncChecks() {
  for (const checkbox of document.querySelectorAll("#tree tbody input[data-series]")) {
    checkbox.checked = selection.selected.has(checkbox.dataset.series);
  }
  for (const group of groups) setTriState(group.checkbox, group.uids);
  setTriState($("#select-all"), Array.from(selection.seriesByUid.keys()));
  const selected = Array.from(selection.selected).map((uid) => selection.seriesByUid.get(uid));
  const instances = selected.reduce((sum, s) => sum + s.instance_count, 0);
  $("#selection-summary").textContent = selected.length
    ? `${selected.length} series selected (${instances} ${instances === 1 ? "instance" : "instances"}, ${formatBytes(selected.reduce((sum, s) => sum + s.size_bytes, 0))}).`
    : "No series selected.";
  onSelectionChange();
}

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

export function initTree(onChange) {
  onSelectionChange = onChange;
  $("#tree").addEventListener("keydown", treeKeys);
  $("#select-all").addEventListener("change", (event) => {
    for (const uid of selection.seriesByUid.keys()) {
      if (event.target.checked) selection.selected.add(uid);
      else selection.selected.delete(uid);
    }
    syncChecks();
  });
}
