// "Send as another patient": new values for the patient of the selected series, applied by the
// server to every instance sent (the stored import keeps its own). Prefilled with today's values
// of the selected series' patient; only the values the user changed are sent.

import { $, setText } from "./dom.js";

const FIELDS = [
  ["patient_id", "send-as-id"],
  ["issuer_of_patient_id", "send-as-issuer"],
  ["patient_name", "send-as-name"],
  ["patient_birth_date", "send-as-birth"],
  ["patient_sex", "send-as-sex"],
  ["accession_number", "send-as-accession"],
];

let prefilled = null; // the values of the selected patient, by API field

function distinct(values) {
  return [...new Set(values.map((v) => v ?? ""))];
}

// The selection's patient and study values, or null when the series are of several patients.
function today(selected) {
  const patients = distinct(selected.map((s) => `${s.patient.patient_id}\u0000${s.patient.patient_name}`));
  if (selected.length === 0 || patients.length !== 1) return null;
  const { patient } = selected[0];
  const accessions = distinct(selected.map((s) => s.study.accession_number));
  return {
    patient_id: patient.patient_id || "",
    issuer_of_patient_id: patient.issuer_of_patient_id || "",
    patient_name: patient.patient_name || "",
    patient_birth_date: patient.patient_birth_date || "",
    patient_sex: patient.patient_sex || "",
    accession_number: accessions.length === 1 ? accessions[0] : "",
  };
}

export function prefillSendAs(selected) {
  const values = today(selected);
  const box = $("#send-as");
  const fields = $("#send-as-fields");
  if (!box || !fields) return;
  const same = JSON.stringify(values) === JSON.stringify(prefilled);
  if (same) return;
  prefilled = values;
  fields.disabled = values === null;
  setText(
    $("#send-as-note"),
    values === null && selected.length ? "Select the series of one patient to send them as another patient." : "",
  );
  for (const [field, id] of FIELDS) $(`#${id}`).value = values ? values[field] : "";
}

// What to send as `patient` (only the changed values), or null to send the instances as they are.
export function sendAsValues() {
  const box = $("#send-as");
  if (!box || !box.open || !prefilled) return null;
  const changed = {};
  for (const [field, id] of FIELDS) {
    const value = $(`#${id}`).value.trim();
    if (value !== prefilled[field]) changed[field] = value;
  }
  return Object.keys(changed).length ? changed : null;
}

export function resetSendAs() {
  prefilled = null;
  const box = $("#send-as");
  if (box) box.open = false;
}
