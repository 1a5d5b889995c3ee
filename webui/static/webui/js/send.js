// Choose series → choose destinations → send → watch the transfers (the upload is upload.js).

import { api, ApiError } from "./api.js";
import { $, announce, h, setText, show } from "./dom.js";
import { loadRecentTransfers, trackTransfers } from "./transfers.js";
import { confirmResend, unreachableNote } from "./delivery.js";
import { prefillSendAs, resetSendAs, sendAsValues } from "./send-as.js";
import { initTree, renderTree, selection, syncChecks } from "./tree.js";
import { loadRecentImports } from "./upload.js";

const state = {
  importResult: null,
  seriesByUid: selection.seriesByUid, // tree.js fills both
  selected: selection.selected, // series instance UIDs
  destinations: [],
  chosenDestinations: new Set(),
  sending: false, // a click's requests are on their way: the button waits
};

// An import to choose series from (upload.js calls it when an upload has finished).
export function showImport(result) {
  state.importResult = result;
  state.seriesByUid.clear();
  state.selected.clear();
  renderTree(result);
  show($("#tree-card"), true);
  show($("#destinations-card"), true);
  updateSendButton();
}

// --- Destinations ----------------------------------------------------------------------------

export async function loadDestinations() {
  try {
    state.destinations = (await api("/api/destinations/")).filter((d) => d.enabled);
  } catch (error) {
    setText($("#send-error"), error.message);
    return false;
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
          h(
            "span",
            { class: "muted" },
            destination.kind === "dicomweb"
              ? ` DICOMweb ${destination.url}`
              : ` ${destination.ae_title} @ ${destination.host}:${destination.port}`,
          ),
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

// The tree's selection changed: "Send as" follows the chosen series, and so does the button.
function selectionChanged() {
  prefillSendAs(Array.from(state.selected).map((uid) => state.seriesByUid.get(uid)));
  updateSendButton();
}

function updateSendButton() {
  const button = $("#send");
  const ready = state.importResult && state.selected.size > 0 && state.chosenDestinations.size > 0;
  button.disabled = !ready || state.sending;
  const n = state.selected.size * state.chosenDestinations.size;
  button.textContent = ready ? `Send (${n} transfer${n === 1 ? "" : "s"})` : "Send";
}

// What one click sends: every chosen series to every chosen destination, or ("skip") all but the
// series × destination pairs sent before, as one request per destination.
function requests(chosen, skip) {
  if (!skip) return [{ series: chosen.series, destinations: chosen.destinations }];
  return chosen.destinations
    .map((id) => ({ series: chosen.series.filter((uid) => !skip.has(`${uid} ${id}`)), destinations: [id] }))
    .filter((r) => r.series.length);
}

// One click: what was chosen at that moment is what is sent (and asked about), whatever is ticked
// while the requests are on their way; the button waits for them, and for the answer to a 409.
async function send() {
  if (state.sending) return;
  const chosen = { series: Array.from(state.selected), destinations: Array.from(state.chosenDestinations) };
  state.sending = true;
  setText($("#send-error"), "");
  updateSendButton();
  try {
    await sendChosen(chosen, false, null);
  } finally {
    state.sending = false;
    updateSendButton();
  }
}

async function sendChosen(chosen, resend, skip) {
  const patient = sendAsValues();
  const transfers = [];
  try {
    for (const r of requests(chosen, skip)) {
      const body = {
        import_id: state.importResult.import_id,
        series_instance_uids: r.series,
        destination_ids: r.destinations,
        resend,
      };
      if (patient) body.patient = patient;
      const queued = (await api("/api/dicom/send/", { method: "POST", body })).transfers;
      transfers.push(...queued);
      trackTransfers(queued); // each request's at once: a later one may fail
    }
    resetSendAs();
    loadRecentImports(); // its count of transfers
    // The series are on their way: clear the choice, so a second click can't send them again.
    for (const uid of chosen.series) state.selected.delete(uid);
    syncChecks();
    announce(`${transfers.length} ${transfers.length === 1 ? "transfer" : "transfers"} queued.`);
  } catch (error) {
    if (!resend && !skip && error instanceof ApiError && error.status === 409 && error.body && error.body.already_delivered) {
      // Sending twice is a choice: ask, and send again only if the user says so.
      const requested = chosen.series.length * chosen.destinations.length;
      const choice = await confirmResend(error, state.seriesByUid, state.destinations, requested);
      if (choice === "yes") return sendChosen(chosen, true, null);
      if (choice === "others") {
        return sendChosen(chosen, false, new Set(error.body.already_delivered.map((p) => `${p.series_instance_uid} ${p.destination_id}`)));
      }
      setText($("#send-error"), "Nothing was sent: you chose not to send again what had been delivered before.");
    } else {
      // A later request of "only the others" failed: say what the earlier ones queued.
      const queued = transfers.length ? ` (${transfers.length} transfer${transfers.length === 1 ? " was" : "s were"} queued before this)` : "";
      if (error instanceof ApiError && error.status === 400 && error.body && error.body.destination_ids) {
        setText($("#send-error"), `${await destinationsGone(chosen.destinations)}${queued}`);
      } else {
        setText($("#send-error"), `${error.message}${queued}`);
      }
    }
  }
}

// A destination chosen was deleted or disabled meanwhile (by an administrator, on another page):
// the list is read again, and the message names what went.
async function destinationsGone(chosenIds) {
  const names = new Map(state.destinations.map((d) => [d.id, d.name]));
  if ((await loadDestinations()) === false) return $("#send-error").textContent; // why the list can't be read
  const gone = chosenIds.filter((id) => !state.destinations.some((d) => d.id === id)).map((id) => names.get(id) || `#${id}`);
  const which = gone.length ? gone.join(", ") : "A destination you chose";
  updateSendButton();
  return `${which} can no longer be sent to (an administrator removed or disabled ${gone.length > 1 ? "them" : "it"}): the list of destinations is up to date now. Choose again and send.`;
}

// --- Wiring ----------------------------------------------------------------------------------

export function initSend() {
  initTree(selectionChanged);
  $("#send").addEventListener("click", () => send());
}

export async function showSend() {
  await Promise.all([loadDestinations(), loadRecentTransfers()]);
}

