// Step 1 of the send view: pick or drop files and folders, stage them, upload them as an import.

import { ApiError, upload } from "./api.js";
import { $, formatBytes, h, show } from "./dom.js";
import { showImport } from "./send.js";

const state = {
  staged: [], // {file, path}
  uploading: false,
};

// --- Upload ----------------------------------------------------------------------------------

function readEntryFile(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readDirectoryBatch(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry, found) {
  if (entry.isFile) {
    found.push({ file: await readEntryFile(entry), path: entry.fullPath.replace(/^\//, "") });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    // readEntries answers in batches (100 in Chromium) until it answers an empty one.
    for (;;) {
      const batch = await readDirectoryBatch(reader);
      if (!batch.length) break;
      for (const child of batch) await walk(child, found);
    }
  }
}

// Entries must be taken from the DataTransfer during the drop event itself.
function takeDropped(dataTransfer) {
  const entries = [];
  const plain = [];
  for (const item of Array.from(dataTransfer.items || [])) {
    if (item.kind !== "file") continue;
    const entry = typeof item.webkitGetAsEntry === "function" ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else {
      const file = item.getAsFile();
      if (file) plain.push({ file, path: file.name });
    }
  }
  if (!entries.length && !plain.length) {
    for (const file of Array.from(dataTransfer.files || [])) plain.push({ file, path: file.name });
  }
  return { entries, plain };
}

function stage(items) {
  const known = new Set(state.staged.map((item) => `${item.path}\u0000${item.file.size}`));
  for (const item of items) {
    const key = `${item.path}\u0000${item.file.size}`;
    if (!known.has(key)) {
      state.staged.push(item);
      known.add(key);
    }
  }
  renderStaged();
}

function renderStaged() {
  const count = state.staged.length;
  show($("#staged"), count > 0);
  if (!count) return;
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
  $("#staged-summary").textContent =
    `Ready to upload: ${count} file${count === 1 ? "" : "s"}, ${formatBytes(bytes)} — ${names.join(", ")}${more}.`;
}

async function startUpload() {
  if (state.uploading || !state.staged.length) return;
  state.uploading = true;
  const form = new FormData();
  for (const item of state.staged) form.append("files", item.file, item.path);
  const bar = $("#upload-bar");
  const text = $("#upload-text");
  bar.value = 0;
  text.textContent = "";
  show($("#upload-progress"));
  $("#upload").disabled = true;
  $("#upload-result").replaceChildren();
  let lastAnnounced = -10;
  try {
    const result = await upload("/api/dicom/import/", form, (loaded, total) => {
      const percent = Math.floor((loaded / total) * 100);
      bar.value = percent;
      bar.setAttribute("aria-valuetext", `${percent} %`);
      // The bar moves with every event; the spoken text only every 10 %.
      if (percent === 100) text.textContent = "Uploaded; reading the files…";
      else if (percent >= lastAnnounced + 10) {
        text.textContent = `${formatBytes(loaded)} of ${formatBytes(total)} (${percent} %)`;
        lastAnnounced = percent - (percent % 10);
      }
    });
    state.staged = [];
    renderStaged();
    bar.value = 100;
    text.textContent = "Done.";
    renderUploadOutcome(result, null, result.errors || []);
    showImport(result);
  } catch (error) {
    text.textContent = "";
    show($("#upload-progress"), false);
    const body = error instanceof ApiError ? error.body : null;
    renderUploadOutcome(null, error.message, body && Array.isArray(body.errors) ? body.errors : []);
  } finally {
    state.uploading = false;
    $("#upload").disabled = false;
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
    renderStaged();
  });
}
