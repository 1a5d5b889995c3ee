// One audit entry, readable: the attempts of a transfer as a table, patient names written one way
// ("Family, Given", the stored DICOM value beside it), an import's patients listed; no internal
// ids for operators (admins may open the raw details).

import { formatDateTime, h, personName, statusBadge } from "./dom.js";
import { policyLabel, syntaxName } from "./syntaxes.js";

// An action as the Action filter names it ("Destination changed"), else its words.
export function actionName(action) {
  const option = document.querySelector(`#f-action option[value="${CSS.escape(action)}"]`);
  return option ? option.textContent : words(action);
}

function patients(entry) {
  const listed = (entry.details && entry.details.patients) || [];
  return listed.length > 1 ? listed : [];
}

// The patient column of the log: one patient's name (the DICOM value on hover), or "3 patients".
export function patientCell(entry) {
  if (entry.patient_name || entry.patient_id) {
    return h("span", { title: entry.patient_name || "" }, personName(entry.patient_name));
  }
  const several = patients(entry);
  const count = (entry.details && entry.details.patient_count) || several.length;
  if (count > 1) {
    return h("span", { title: several.map((p) => personName(p.patient_name)).join("; ") }, `${count} patients`);
  }
  return "";
}

function name(raw) {
  const shown = personName(raw);
  return h("span", {}, h("span", { class: "person", title: raw || "" }, shown), raw && raw !== shown ? h("span", { class: "muted raw-name" }, ` (DICOM: ${raw})`) : "");
}

function item(label, value) {
  if (value === null || value === undefined || value === "") return [];
  return [h("dt", {}, label), h("dd", {}, value)];
}

function when(iso) {
  return iso ? h("time", { datetime: iso, title: iso }, formatDateTime(iso)) : "";
}

function seconds(value) {
  if (value === null || value === undefined) return "";
  return value < 60 ? `${Number(value).toFixed(value < 10 ? 1 : 0)} s` : `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
}

function words(text) {
  return String(text || "").replaceAll("_", " ");
}

// A destination's setting as its form names it: the transfer syntax policy by its label, the
// de-identification as its profile and options.
function settingValue(field, value) {
  if (field === "transfer_syntax_policy" && value) return policyLabel(value);
  if (field === "deidentification" && value && typeof value === "object") {
    const options = value.options || [];
    return `PS3.15 ${value.profile} profile${options.length ? `, ${options.map(words).join(", ")}` : ", no options"}`;
  }
  return shownValue(value);
}

// A setting's value in a sentence: yes/no, "(none)", an object as its JSON.
function shownValue(value) {
  if (value === null || value === undefined || value === "") return "(none)";
  if (value === true) return "yes";
  if (value === false) return "no";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function attemptsTable(attempts) {
  const head = ["Attempt", "When", "How long", "Acknowledged", "Refused", "Not sent", "Outcome", "Message"];
  return h(
    "table",
    { class: "data compact attempts" },
    h("caption", { class: "visually-hidden" }, "Attempts of this transfer"),
    h("thead", {}, h("tr", {}, ...head.map((label) => h("th", { scope: "col" }, label)))),
    h(
      "tbody",
      {},
      ...attempts.map((a) =>
        h(
          "tr",
          {},
          h("td", { class: "num" }, String(a.attempt ?? "")),
          h("td", {}, when(a.started_at || a.finished_at)),
          h("td", { class: "num" }, seconds(a.duration_s)),
          h("td", { class: "num" }, String(a.acknowledged ?? "")),
          h("td", { class: "num" }, String(a.refused ?? "")),
          h("td", { class: "num" }, String(a.not_sent ?? "")),
          h("td", {}, words(a.outcome)),
          h("td", {}, a.detail || (a.destination ? `to ${a.destination.url || `${a.destination.ae_title} @ ${a.destination.host}:${a.destination.port}`}` : "")),
        ),
      ),
    ),
  );
}

function refusedTable(refused) {
  return h(
    "table",
    { class: "data compact" },
    h("caption", { class: "visually-hidden" }, "Instances the destination refused"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "SOP Instance UID"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Reason"))),
    h("tbody", {}, ...refused.map((r) => h("tr", {}, h("td", {}, h("code", {}, r.sop_instance_uid)), h("td", {}, r.status || ""), h("td", {}, r.text || "")))),
  );
}

// A wide table scrolls inside its box, which the keyboard can reach too.
function scroller(label, table) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": label }, table);
}

export function detailItems(entry, { admin = false } = {}) {
  const d = entry.details || {};
  const where = entry.destination
    ? [entry.destination.ae_title, `${entry.destination.host}:${entry.destination.port}`].filter(Boolean).join(" @ ")
    : "";
  const destination = entry.destination
    ? `${entry.destination.name} (${where})${entry.destination.deleted ? ", deleted since" : ""}`
    : "";
  const several = patients(entry);
  const items = [
    ...item("Action", actionName(entry.action)),
    ...item("Status", statusBadge(entry.status)),
    ...item("User", entry.user ? entry.user.username : ""),
    ...item("Account", d.target_username || ""),
    ...item("Time", when(entry.timestamp)),
    ...item("Completed", when(entry.completed_at)),
    ...(entry.patient_name || entry.patient_id ? item("Patient", name(entry.patient_name)) : []),
    ...item("Patient ID", entry.patient_id),
  ];
  if (several.length) {
    items.push(
      ...item(
        `Patients (${d.patient_count || several.length})`,
        h("ul", { class: "plain" }, ...several.map((p) => h("li", {}, name(p.patient_name), p.patient_id ? ` · ID ${p.patient_id}` : ""))),
      ),
    );
  }
  items.push(
    ...item("Study Instance UID", entry.study_instance_uid),
    ...item("Series Instance UID", entry.series_instance_uid),
    ...item("Series", [entry.series_description, entry.modality ? `(${entry.modality})` : ""].filter(Boolean).join(" ")),
    ...item("Instances", entry.instance_count ? String(entry.instance_count) : ""),
    ...item("Destination", destination),
    ...item("Error", entry.error_message),
  );
  if (entry.action === "import") {
    const counts = [
      d.received_files !== undefined ? `${d.received_files} files received` : "",
      d.duplicate_count ? `${d.duplicate_count} duplicates` : "",
      d.error_count ? `${d.error_count} not imported` : "",
      d.study_count !== undefined ? `${d.study_count} ${d.study_count === 1 ? "study" : "studies"}` : "",
      d.series_count !== undefined ? `${d.series_count} series` : "",
    ].filter(Boolean);
    items.push(...item("Upload", counts.join(", ")));
  }
  if (d.send_as && d.send_as.values) {
    const changes = Object.entries(d.send_as.values).map(([field, value]) =>
      h("li", {}, `${words(field)}: ${(d.send_as.previous || {})[field] || "(none)"} → ${value || "(none)"}`),
    );
    items.push(...item("Sent as", h("ul", { class: "plain" }, ...changes)));
  }
  if (d.deidentification) {
    const options = d.deidentification.options || [];
    items.push(...item("De-identified", `PS3.15 ${d.deidentification.profile} profile${options.length ? `, ${options.map(words).join(", ")}` : ""}`));
  }
  if (Array.isArray(d.transcoded) && d.transcoded.length) {
    const lines = d.transcoded.map((t) =>
      h("li", {}, `${t.instances} instance${t.instances === 1 ? "" : "s"}: ${syntaxName(t.from)} → ${syntaxName(t.to)}`),
    );
    items.push(...item("Transcoded", h("ul", { class: "plain" }, ...lines)));
  }
  // A destination's or a user's settings as they were made, changed (before → after) or deleted.
  if (d.settings && entry.action.startsWith("destination_")) {
    const shown = Object.entries(d.settings).filter(([, value]) => value !== "" && value !== null && value !== undefined);
    items.push(...item("Settings", h("ul", { class: "plain" }, ...shown.map(([field, value]) => h("li", {}, `${words(field)}: ${settingValue(field, value)}`)))));
  }
  if (d.changes && typeof d.changes === "object" && !Array.isArray(d.changes)) {
    const lines = Object.entries(d.changes).map(([field, [before, after]]) =>
      h("li", {}, `${words(field)}: ${settingValue(field, before)} → ${settingValue(field, after)}`),
    );
    items.push(...item("Changed", h("ul", { class: "plain" }, ...lines)));
  }
  if (Array.isArray(d.replaced) && d.replaced.length) {
    const label = entry.action.endsWith("_create") ? "Set" : "Replaced";
    items.push(...item(label, `${d.replaced.map(words).join(", ")} (never shown)`));
  }
  if (d.held_back) items.push(...item("Held back", `${d.held_back} instance(s) not sent to this destination.`));
  if (d.retry_of) items.push(...item("Retry", "This transfer retried an earlier one that had failed or was cancelled."));
  if (d.retried_by) items.push(...item("Retried", "This transfer was sent again as a new transfer."));
  if (Array.isArray(d.attempts) && d.attempts.length) items.push(...item("Attempts", scroller("Attempts", attemptsTable(d.attempts))));
  else if (entry.action === "send") items.push(...item("Attempts", "None yet: no worker has sent it."));
  if (Array.isArray(d.refused_instances) && d.refused_instances.length) items.push(...item("Refused", scroller("Refused instances", refusedTable(d.refused_instances))));
  if (admin && Object.keys(d).length) {
    items.push(
      ...item(
        "Raw details",
        h("details", {}, h("summary", {}, `Show the stored details (entry ${entry.id})`), h("pre", {}, JSON.stringify(d, null, 2))),
      ),
    );
  }
  return items;
}
