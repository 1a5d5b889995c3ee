// Step 1 of the send view: pick or drop files and folders, stage them, upload them as an import.

import { api, ApiError } from "./api.js";
import { $, announce, formatBytes, formatDateTime, h, setText, show } from "./dom.js";
import { takeDropped, walk } from "./dropped-files.js";
import { showImport } from "./send.js";
import { batches, CHUNKED_FROM, sendBatch, sendInChunks } from "./upload-batches.js";

const state = {
  staged: [], // {file, path}
  uploading: false,
  // The open import the next upload goes into (a Resume): {import_id, received: Set, skipped}.
  target: null,
  resuming: null, // the Resume on its way (a promise), which an Upload waits for
};

// --- Upload ----------------------------------------------------------------------------------

// A Resume: the open import being filled again, and what it already has ("path\0size").
function itemKey(item) {
  return `${item.path}\u0000${item.file.size}`;
}

function stage(items) {
  const known = new Set(state.staged.map(itemKey));
  let skipped = 0;
  for (const item of items) {
    const key = itemKey(item);
    if (state.target && state.target.received.has(key)) {
      skipped += 1;
      continue;
    }
    if (!known.has(key)) {
      state.staged.push(item);
      known.add(key);
    }
  }
  if (state.target) state.target.skipped += skipped;
  renderStaged();
}

function renderStaged() {
  const count = state.staged.length;
  const target = state.target;
  show($("#staged"), count > 0 || Boolean(target && target.skipped));
  const summary = $("#staged-summary");
  if (!count) {
    summary.textContent = target && target.skipped ? `All ${target.skipped} files are already on the server.` : "";
    return;
  }
  const bytes = state.staged.reduce((sum, item) => sum + item.file.size, 0);
  const tops = new Map();
  for (const item of state.staged) {
    const top = item.path.includes("/") ? `${item.path.split("/")[0]}/` : item.path;
    tops.set(top, (tops.get(top) || 0) + 1);
  }
  const names = Array.from(tops.entries())
    .slice(0, 6)
    .map(([name, n]) => (name.endsWith("/") ? `${name} (${n} files)` : name));
  const more = tops.size > 6 ? ` and ${tops.size - 6} more` : "";
  const skipped = target && target.skipped ? ` (${target.skipped} already on the server, skipped)` : "";
  summary.textContent =
    `Ready to upload: ${count} file${count === 1 ? "" : "s"}, ${formatBytes(bytes)} — ${names.join(", ")}${more}.${skipped}`;
}

async function startUpload() {
  if (state.resuming) {
    try {
      await state.resuming;
    } catch {
      return; // the Resume said why (Recent imports)
    }
  }
  if (state.uploading || !state.staged.length) return;
  state.uploading = true;
  const bar = $("#upload-bar");
  const text = $("#upload-text");
  bar.value = 0;
  text.textContent = "";
  show($("#upload-progress"));
  $("#upload").disabled = true;
  $("#upload-result").replaceChildren();
  const large = state.staged.filter((item) => item.file.size >= CHUNKED_FROM);
  const work = [...batches(state.staged.filter((item) => item.file.size < CHUNKED_FROM)), ...large.map((item) => [item])];
  const total = state.staged.reduce((sum, item) => sum + item.file.size, 0) || 1;
  let done = 0;
  let lastAnnounced = -10;
  const progress = (loaded, batchNumber) => {
    const percent = Math.min(100, Math.floor(((done + loaded) / total) * 100));
    bar.value = percent;
    bar.setAttribute("aria-valuetext", `${percent} %`);
    // The bar moves with every event; the spoken text only every 10 %.
    if (percent >= lastAnnounced + 10 || percent === 100) {
      const of = work.length > 1 ? `batch ${batchNumber} of ${work.length}: ` : "";
      text.textContent = `${of}${formatBytes(done + loaded)} of ${formatBytes(total)} (${percent} %)`;
      lastAnnounced = percent - (percent % 10);
    }
  };
  let importId = state.target ? state.target.import_id : null;
  try {
    if (!importId) {
      importId = (await api("/api/dicom/imports/", { method: "POST" })).import_id;
      loadRecentImports();
    }
    for (const [index, batch] of work.entries()) {
      const batchBytes = batch.reduce((sum, item) => sum + item.file.size, 0);
      if (batch.length === 1 && batch[0].file.size >= CHUNKED_FROM) {
        await sendInChunks(importId, batch[0], (sent) => progress(sent, index + 1));
      } else {
        try {
          await sendBatch(importId, batch, (sent) => progress(sent, index + 1));
        } catch (error) {
          // Refused whole (a limit, a ZIP bomb): sending these files again would be refused again.
          if (error instanceof ApiError && error.status === 413) {
            const refused = new Set(batch);
            state.staged = state.staged.filter((item) => !refused.has(item));
            renderStaged();
          }
          throw error;
        }
      }
      // The server has them, imported or refused: they leave the queue.
      const gone = new Set(batch);
      state.staged = state.staged.filter((item) => !gone.has(item));
      done += batchBytes;
      renderStaged();
    }
    text.textContent = "Uploaded; completing the import…";
    const result = await api(`/api/dicom/imports/${importId}/complete/`, { method: "POST" });
    state.target = null;
    renderTarget();
    renderStaged();
    bar.value = 100;
    bar.setAttribute("aria-valuetext", "100 %");
    text.textContent = "Done.";
    renderUploadOutcome(result, null, result.errors || []);
    showImport(result);
  } catch (error) {
    text.textContent = "";
    show($("#upload-progress"), false);
    const body = error instanceof ApiError ? error.body : null;
    const errors = body && Array.isArray(body.errors) ? body.errors : [];
    if (importId && error instanceof ApiError && error.status === 400 && body && body.received_files !== undefined) {
      // Completed with no DICOM at all: nothing to keep.
      await api(`/api/dicom/imports/${importId}/`, { method: "DELETE" }).catch(() => {});
      state.target = null;
      renderTarget();
      renderStaged();
      renderUploadOutcome(null, error.message, errors);
    } else if (importId) {
      const left = state.staged.length;
      renderUploadOutcome(
        null,
        `${error.message} The upload stopped with ${left} file${left === 1 ? "" : "s"} still to send: ` +
          "Upload again to go on, or Resume it from Recent imports after a reload.",
        errors,
      );
      if (!state.target) state.target = { import_id: importId, received: new Set(), skipped: 0 };
    } else {
      renderUploadOutcome(null, error.message, errors);
    }
  } finally {
    state.uploading = false;
    $("#upload").disabled = false;
    loadRecentImports();
  }
}

function renderUploadOutcome(result, failure, errors) {
  const box = $("#upload-result");
  const parts = [];
  if (result) {
    const duplicates = result.duplicate_count ? `, ${result.duplicate_count} duplicate${result.duplicate_count === 1 ? "" : "s"} skipped` : "";
    parts.push(
      h(
        "p",
        { class: "success-text" },
        `Imported ${result.instance_count} instance${result.instance_count === 1 ? "" : "s"} from ${result.received_files} file${result.received_files === 1 ? "" : "s"}${duplicates}.`,
      ),
    );
  }
  const duplicates = (result && result.duplicates) || [];
  if (duplicates.length) {
    // Which files were skipped: the same instance (SOP Instance UID) came in another file.
    const more = result.duplicate_count > duplicates.length ? ` (the first ${duplicates.length})` : "";
    parts.push(
      h(
        "details",
        { class: "duplicates" },
        h("summary", {}, `Skipped as duplicates${more}: their instance came in another file too`),
        h("ul", { class: "file-errors" }, duplicates.map((d) => h("li", {}, h("span", { class: "filename" }, d.filename), ` (${d.sop_instance_uid})`))),
      ),
    );
  }
  if (failure) parts.push(h("p", { class: "error", role: "alert" }, failure));
  if (errors.length) {
    parts.push(
      h("p", { class: "error" }, `${errors.length} file${errors.length === 1 ? " was" : "s were"} not imported:`),
      h(
        "ul",
        { class: "file-errors" },
        errors.map((e) => h("li", {}, h("span", { class: "filename" }, e.filename || "(unnamed)"), ": ", e.error)),
      ),
    );
  }
  box.replaceChildren(...parts);
}

export function initUpload() {
  const zone = $("#dropzone");
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const { entries, plain } = takeDropped(event.dataTransfer);
    const found = [...plain];
    for (const entry of entries) await walk(entry, found);
    stage(found);
  });
  // A file dropped next to the zone must not make the browser open it (and leave the page).
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  $("#pick-files").addEventListener("change", (event) => {
    stage(Array.from(event.target.files).map((file) => ({ file, path: file.name })));
    event.target.value = "";
  });
  $("#pick-folder").addEventListener("change", (event) => {
    stage(Array.from(event.target.files).map((file) => ({ file, path: file.webkitRelativePath || file.name })));
    event.target.value = "";
  });
  $("#upload").addEventListener("click", startUpload);
  $("#clear-staged").addEventListener("click", () => {
    state.staged = [];
    if (state.target) state.target.skipped = 0;
    renderStaged();
  });
  $("#resume-cancel").addEventListener("click", () => {
    state.target = null;
    state.staged = [];
    renderTarget();
    renderStaged();
  });
}

// --- Recent imports ----------------------------------------------------------------------------

function describeImport(entry) {
  const files = `${entry.received_files} file${entry.received_files === 1 ? "" : "s"}`;
  const instances = `${entry.instance_count} instance${entry.instance_count === 1 ? "" : "s"}`;
  const what =
    entry.state === "open"
      ? `Not finished: ${files} received (${formatBytes(entry.received_bytes)}), ${instances}`
      : `${instances}, ${entry.patient_count} patient${entry.patient_count === 1 ? "" : "s"}, ` +
        `${entry.series_count} series, ${formatBytes(entry.size_bytes)}`;
  const sent = entry.transfer_count ? ` · ${entry.transfer_count} transfer${entry.transfer_count === 1 ? "" : "s"}` : "";
  return `${what}${sent}`;
}

export async function loadRecentImports() {
  let page;
  try {
    page = await api("/api/dicom/imports/?page_size=10");
  } catch (error) {
    setText($("#recent-imports-error"), error.message);
    return;
  }
  setText($("#recent-imports-error"), "");
  const list = $("#recent-imports");
  show($("#recent-imports-empty"), page.results.length === 0);
  list.replaceChildren(
    ...page.results.map((entry) => {
      const when = formatDateTime(entry.created_at);
      const buttons = [];
      if (entry.state === "open") {
        buttons.push(
          button("Resume", `Resume the import of ${when}`, () => resume(entry)),
          button("Finish with what is here", `Finish the import of ${when} with what it has`, () => finish(entry)),
        );
      } else {
        buttons.push(button("Open", `Open the import of ${when}`, () => reopen(entry)));
      }
      buttons.push(button("Delete", `Delete the import of ${when}`, (opener) => discard(entry, when, opener)));
      return h(
        "li",
        { "data-import": entry.import_id, "data-state": entry.state },
        h("span", {}, h("strong", {}, when), " — ", describeImport(entry)),
        h("span", { class: "buttons" }, ...buttons),
      );
    }),
  );
}

function button(label, name, action) {
  const element = h("button", { type: "button", class: "secondary small", "aria-label": name }, label);
  element.addEventListener("click", async () => {
    element.disabled = true;
    try {
      await action(element);
    } catch (error) {
      setText($("#recent-imports-error"), error.message);
    } finally {
      element.disabled = false;
    }
  });
  return element;
}

// Resume: the browser can't read the files again by itself; the user picks the same folder and
// only what the server has not received is staged.
// An Upload clicked while the import's manifest is on its way waits for it (it would otherwise
// start a new import from the first byte).
let resumeNumber = 0; // the latest Resume clicked wins

async function resume(entry) {
  if (state.uploading) return;
  resumeNumber += 1;
  const pending = resumeInto(entry, resumeNumber);
  state.resuming = pending;
  try {
    await pending;
  } finally {
    if (state.resuming === pending) state.resuming = null;
  }
}

async function resumeInto(entry, number) {
  const manifest = await api(`/api/dicom/imports/${entry.import_id}/files/`);
  if (number !== resumeNumber) return; // another Resume was clicked since: it wins
  state.target = {
    import_id: entry.import_id,
    received: new Set(manifest.files.map((f) => `${f.path}\u0000${f.size_bytes}`)),
    skipped: 0,
    created_at: entry.created_at,
    received_files: manifest.received_files,
  };
  // What was staged before may already be there too.
  const staged = state.staged;
  state.staged = [];
  stage(staged);
  renderTarget();
  announce("Choose the same folder or files again: only what the server does not have will be sent.");
}

function renderTarget() {
  const note = $("#resume-note");
  const target = state.target;
  show(note, Boolean(target));
  if (!target) return;
  const when = target.created_at ? formatDateTime(target.created_at) : "this upload";
  $("#resume-text").textContent =
    `Resuming the import of ${when}${target.received_files !== undefined ? ` (${target.received_files} files on the server)` : ""}: ` +
    "choose the same folder or files again, then Upload. Files already received are skipped.";
}

async function finish(entry) {
  const result = await api(`/api/dicom/imports/${entry.import_id}/complete/`, { method: "POST" });
  if (state.target && state.target.import_id === entry.import_id) {
    state.target = null;
    renderTarget();
  }
  renderUploadOutcome(result, null, result.errors || []);
  showImport(result);
  await loadRecentImports();
}

async function reopen(entry) {
  const result = await api(`/api/dicom/imports/${entry.import_id}/`);
  renderUploadOutcome(result, null, result.errors || []);
  showImport(result);
}

// Deleting removes the files from the server for good (the audit log keeps what was imported and
// sent): asked first, as deleting a destination is.
function confirmDelete(entry, when) {
  const dialog = $("#delete-import-dialog");
  $("#delete-import-text").textContent =
    `Delete the import of ${when} (${describeImport(entry)}) from the server? Its files can't be sent any more ` +
    "until they are imported again; the audit log keeps what was imported and sent.";
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "delete"), { once: true });
    dialog.showModal();
  });
}

async function discard(entry, when, opener) {
  const confirmed = await confirmDelete(entry, when);
  if (opener) opener.focus();
  if (!confirmed) return;
  await api(`/api/dicom/imports/${entry.import_id}/`, { method: "DELETE" });
  if (state.target && state.target.import_id === entry.import_id) {
    state.target = null;
    renderTarget();
  }
  announce("Import deleted.");
  await loadRecentImports();
}
