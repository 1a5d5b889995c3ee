// Step 2, the tree of an import: patient → study → series, with check boxes to choose series.
// Patients and studies collapse; a text box filters; "Select all shown" takes every series the
// filter shows; each series row shows its thumbnail, fetched with the JWT (an <img> can't send the
// Authorization header) when the row scrolls into view.

import { api, ApiError } from "./api.js";
import { $, formatBytes, h, personName } from "./dom.js";

// Shared with send.js, which sends what is selected.
export const selection = {
  seriesByUid: new Map(), // series instance UID → {...series, patient, study}
  selected: new Set(), // series instance UIDs
};

// Imports with more series than this open with their studies collapsed (patients and studies shown).
const OPEN_UP_TO = 20;
const THUMBNAILS_AT_ONCE = 3;

let onSelectionChange = () => {};
const groups = []; // {checkbox, uids}
let nodes = []; // every row: {row, key, parents: [keys], level, text?, uid?, toggle?}
const collapsed = new Set(); // keys of the collapsed patients ("p0") and studies ("p0s1")
let terms = [];
let generation = 0; // a new tree makes the thumbnails of the old one moot
let blobUrls = [];
let observer = null;
const waiting = [];
let loading = 0;

export function renderTree(importResult) {
  const body = $("#tree tbody");
  generation += 1;
  for (const url of blobUrls) URL.revokeObjectURL(url);
  blobUrls = [];
  waiting.length = 0;
  if (observer) observer.disconnect();
  observer = "IntersectionObserver" in window ? new IntersectionObserver(onVisible, { rootMargin: "200px" }) : null;
  groups.length = 0;
  nodes = [];
  collapsed.clear();
  const seriesCount = importResult.patients.reduce(
    (n, patient) => n + patient.studies.reduce((m, study) => m + study.series.length, 0),
    0,
  );
  const rows = [];
  for (const [p, patient] of importResult.patients.entries()) {
    const patientKey = `p${p}`;
    const patientUids = [];
    const patientRow = h("tr", { class: "level-patient" });
    const patientNode = { row: patientRow, key: patientKey, parents: [], level: "patient" };
    rows.push(patientRow);
    nodes.push(patientNode);
    const patientText = [
      personName(patient.patient_name),
      patient.patient_name,
      patient.patient_id,
      patient.patient_birth_date,
      patient.patient_sex,
    ];
    let patientInstances = 0;
    let patientBytes = 0;
    const patientModalities = new Set();
    for (const [s, study] of patient.studies.entries()) {
      const studyKey = `p${p}s${s}`;
      if (seriesCount > OPEN_UP_TO) collapsed.add(studyKey);
      const studyUids = [];
      const studyRow = h("tr", { class: "level-study" });
      const studyNode = { row: studyRow, key: studyKey, parents: [patientKey], level: "study" };
      rows.push(studyRow);
      nodes.push(studyNode);
      const studyText = [
        ...patientText,
        study.study_description,
        study.accession_number,
        study.study_date,
        personName(study.referring_physician_name),
        study.institution_name,
      ];
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
        const thumb = h("span", { class: "thumb loading", "aria-hidden": "true" });
        thumb.dataset.import = importResult.import_id;
        thumb.dataset.series = uid;
        thumb.dataset.label = label;
        const row = h(
          "tr",
          { class: "level-series" },
          h("td", { class: "check" }, checkbox),
          h(
            "td",
            {},
            h(
              "div",
              { class: "series-cell" },
              thumb,
              h("label", { for: id }, label),
              series.body_part_examined ? h("span", { class: "muted" }, `· ${series.body_part_examined}`) : null,
            ),
          ),
          h("td", {}, series.modality || ""),
          h("td", {}, dateTime(series.series_date, series.series_time)),
          h("td", { class: "num" }, String(series.instance_count)),
          h("td", { class: "num" }, formatBytes(series.size_bytes)),
        );
        rows.push(row);
        nodes.push({
          row,
          key: uid,
          parents: [patientKey, studyKey],
          level: "series",
          uid,
          thumb,
          text: [...studyText, label, series.modality, series.body_part_examined, series.series_date]
            .filter(Boolean)
            .join(" ")
            .toLowerCase(),
        });
      }
      patientUids.push(...studyUids);
      patientInstances += studyInstances;
      patientBytes += studyBytes;
      for (const m of studyModalities) patientModalities.add(m);
      const studyId = `study-${p}-${s}`;
      const studyName = study.study_description || "(no description)";
      studyNode.toggle = groupToggle(studyKey, `Series of study ${studyName}`);
      const details = [
        study.accession_number ? `accession ${study.accession_number}` : "",
        study.referring_physician_name ? `referred by ${personName(study.referring_physician_name)}` : "",
        study.institution_name,
      ].filter(Boolean);
      studyRow.append(
        h("td", { class: "check" }, groupCheckbox(studyId, studyUids, studyKey)),
        h(
          "td",
          {},
          studyNode.toggle,
          h("label", { for: studyId }, h("span", { class: "kind" }, "Study "), studyName),
          h("span", { class: "muted" }, details.length ? ` · ${details.join(" · ")}` : ""),
        ),
        h("td", {}, Array.from(studyModalities).sort().join(", ")),
        h("td", {}, dateTime(study.study_date, study.study_time)),
        h("td", { class: "num" }, String(studyInstances)),
        h("td", { class: "num" }, formatBytes(studyBytes)),
      );
    }
    const patientId = `patient-${p}`;
    const name = personName(patient.patient_name);
    patientNode.toggle = groupToggle(patientKey, `Studies of patient ${name}`);
    patientRow.append(
      h("td", { class: "check" }, groupCheckbox(patientId, patientUids, patientKey)),
      h(
        "td",
        {},
        patientNode.toggle,
        h("label", { for: patientId }, h("span", { class: "kind" }, "Patient "), name),
        h("span", { class: "muted" }, ` · ID ${patient.patient_id || "(none)"}`),
        // What staff confirm the patient by: shown in full, never only on hover.
        h(
          "span",
          { class: "identity" },
          ` · born ${patient.patient_birth_date || "(unknown)"} · sex ${sexName(patient.patient_sex)}`,
        ),
      ),
      h("td", {}, Array.from(patientModalities).sort().join(", ")),
      h("td", {}, ""),
      h("td", { class: "num" }, String(patientInstances)),
      h("td", { class: "num" }, formatBytes(patientBytes)),
    );
  }
  body.replaceChildren(...rows);
  const filter = $("#tree-filter");
  terms = filter ? words(filter.value) : [];
  applyVisibility();
  syncChecks();
}

function seriesLabel(series) {
  const number = series.series_number === null || series.series_number === undefined ? "" : `#${series.series_number} `;
  return `${number}${series.series_description || "(no description)"}`;
}

function sexName(sex) {
  return { F: "F (female)", M: "M (male)", O: "O (other)" }[sex] || sex || "(unknown)";
}

function dateTime(date, time) {
  return [date || "", time ? time.slice(0, 5) : ""].filter(Boolean).join(" ");
}

function words(text) {
  return text.toLowerCase().split(/\s+/).filter(Boolean);
}

function groupCheckbox(id, uids, key) {
  const checkbox = h("input", { type: "checkbox", id, "data-group": key });
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

function groupToggle(key, label) {
  const button = h(
    "button",
    { type: "button", class: "toggle", "aria-expanded": "true", "aria-label": label, "data-toggle": key },
    h("span", { class: "chevron", "aria-hidden": "true" }, "▾"),
  );
  button.addEventListener("click", () => setCollapsed(key, !collapsed.has(key)));
  return button;
}

function setCollapsed(key, collapse) {
  if (collapse) collapsed.add(key);
  else collapsed.delete(key);
  applyVisibility();
}

// A row is shown when the filter keeps it (a series matching every word; a study or patient with
// such a series) and no patient or study above it is collapsed.
function applyVisibility({ openMatches = false } = {}) {
  const kept = new Set();
  let matching = 0;
  for (const node of nodes) {
    if (node.level !== "series" || !terms.every((term) => node.text.includes(term))) continue;
    matching += 1;
    kept.add(node.key);
    for (const parent of node.parents) kept.add(parent);
  }
  if (terms.length && openMatches) {
    // What the filter finds is shown: typing opens the groups that hold it.
    for (const key of kept) collapsed.delete(key);
  }
  for (const node of nodes) {
    const inFilter = !terms.length || kept.has(node.key);
    node.row.hidden = !inFilter || node.parents.some((parent) => collapsed.has(parent));
    if (node.toggle) {
      const open = !collapsed.has(node.key);
      node.toggle.setAttribute("aria-expanded", open ? "true" : "false");
      node.toggle.firstChild.textContent = open ? "▾" : "▸";
    }
    if (node.thumb && !node.row.hidden && observer) observer.observe(node.thumb);
  }
  const total = selection.seriesByUid.size;
  const summary = $("#tree-filter-summary");
  if (summary) {
    summary.textContent = terms.length
      ? `${matching} of ${total} series match “${terms.join(" ")}”.`
      : "";
  }
  if (!observer) for (const node of nodes) if (node.thumb && !node.row.hidden) queueThumbnail(node.thumb);
}

function shownSeries() {
  return nodes.filter((node) => node.level === "series" && terms.every((term) => node.text.includes(term)));
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

// --- Thumbnails --------------------------------------------------------------------------------

function onVisible(entries) {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    observer.unobserve(entry.target);
    queueThumbnail(entry.target);
  }
}

function queueThumbnail(holder) {
  if (holder.dataset.queued) return;
  holder.dataset.queued = "1";
  waiting.push(holder);
  pump();
}

function pump() {
  while (loading < THUMBNAILS_AT_ONCE && waiting.length) {
    const holder = waiting.shift();
    loading += 1;
    loadThumbnail(holder, generation).finally(() => {
      loading -= 1;
      pump();
    });
  }
}

async function loadThumbnail(holder, asked) {
  const { import: importId, series, label } = holder.dataset;
  const path = `/api/dicom/imports/${encodeURIComponent(importId)}/series/${encodeURIComponent(series)}/thumbnail`;
  try {
    const response = await api(path, { raw: true });
    const blob = await response.blob();
    if (asked !== generation) return;
    const url = URL.createObjectURL(blob);
    blobUrls.push(url);
    const image = h("img", { src: url, alt: `Picture of series ${label}`, class: "thumb", width: "56", height: "56" });
    holder.replaceWith(image);
  } catch (error) {
    if (asked !== generation) return;
    const reason = error instanceof ApiError && error.body ? error.body.reason : "";
    holder.replaceWith(noPicture(reason, error instanceof ApiError && error.body ? error.body.detail : ""));
  }
}

const SVG = "http://www.w3.org/2000/svg";

function svgElement(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  return element;
}

// A page with lines for a series without an image (a report, a plan); a crossed frame for one whose
// image can't be shown.
function noPicture(reason, detail) {
  const text =
    reason === "no_image"
      ? "No image: this series holds no picture (a report, a plan or a waveform)"
      : detail || "The picture of this series could not be loaded";
  const svg = svgElement("svg", { viewBox: "0 0 24 24", width: "28", height: "28", "aria-hidden": "true" });
  if (reason === "no_image") {
    svg.append(
      svgElement("path", { d: "M6 2h9l4 4v16H6z", fill: "none", stroke: "currentColor", "stroke-width": "1.5" }),
      svgElement("path", { d: "M9 10h7M9 13h7M9 16h5", stroke: "currentColor", "stroke-width": "1.5" }),
    );
  } else {
    svg.append(
      svgElement("rect", { x: "3", y: "4", width: "18", height: "16", fill: "none", stroke: "currentColor", "stroke-width": "1.5" }),
      svgElement("path", { d: "M4 19L20 5", stroke: "currentColor", "stroke-width": "1.5" }),
    );
  }
  return h("span", { class: `thumb none ${reason || "unreadable"}`, role: "img", "aria-label": text, title: text }, svg);
}

// --- Keyboard and the tools --------------------------------------------------------------------

// Arrow keys move between the tree's checkboxes (Space toggles the focused one, as any checkbox);
// on a patient's or a study's box, Right opens it and Left closes it.
function treeKeys(event) {
  if (!(event.target instanceof HTMLInputElement) || event.target.type !== "checkbox") return;
  if (["ArrowRight", "ArrowLeft"].includes(event.key) && event.target.dataset.group) {
    event.preventDefault();
    setCollapsed(event.target.dataset.group, event.key === "ArrowLeft");
    return;
  }
  if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
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
  $("#tree-filter").addEventListener("input", (event) => {
    terms = words(event.target.value);
    applyVisibility({ openMatches: true });
  });
  $("#tree-select-shown").addEventListener("click", () => {
    for (const node of shownSeries()) selection.selected.add(node.uid);
    syncChecks();
  });
  $("#tree-clear").addEventListener("click", () => {
    selection.selected.clear();
    syncChecks();
  });
  $("#tree-expand").addEventListener("click", () => {
    collapsed.clear();
    applyVisibility();
  });
  $("#tree-collapse").addEventListener("click", () => {
    for (const node of nodes) if (node.level === "patient") collapsed.add(node.key);
    applyVisibility();
  });
}
