// Delivery: asking before a series goes to a destination a second time, and showing what a
// transfer did not deliver and why (its ledger, GET /api/dicom/transfers/{id}/instances/).

import { api } from "./api.js";
import { $, formatDateTime, h } from "./dom.js";

// Ask with the page's confirmation dialog; resolves true when the user chose `yesLabel`.
export function askConfirm(text, yesLabel) {
  const dialog = $("#confirm-dialog");
  $("#confirm-text").textContent = text;
  $("#confirm-yes").textContent = yesLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
  });
}

// A 409 of /send/ lists what was already delivered: ask whether to send it again.
export function confirmResend(error, seriesByUid, destinations) {
  const pairs = (error.body && error.body.already_delivered) || [];
  const names = new Map(destinations.map((d) => [d.id, d.name]));
  const lines = pairs.slice(0, 5).map((pair) => {
    const series = seriesByUid.get(pair.series_instance_uid);
    const what = series ? series.series_description || "(no description)" : pair.series_instance_uid;
    const where = names.get(pair.destination_id) || `destination ${pair.destination_id}`;
    const when = pair.completed_at ? `delivered ${formatDateTime(pair.completed_at)}` : "on its way now";
    return `${what} → ${where} (${when}, transfer ${pair.transfer_id})`;
  });
  const more = pairs.length > 5 ? ` and ${pairs.length - 5} more` : "";
  return askConfirm(`Already sent: ${lines.join("; ")}${more}. Send again?`, "Send again");
}

const NOT_DELIVERED = ["unsendable", "refused", "pending"];
const LABELS = { unsendable: "could not be sent", refused: "refused", pending: "not sent" };

// "What was not delivered": the instances of a finished transfer that did not arrive, and why.
export function notDeliveredButton(transfer, cell) {
  return h(
    "button",
    {
      type: "button",
      class: "secondary small",
      "aria-label": `What transfer ${transfer.id} did not deliver`,
      onclick: async (event) => {
        event.currentTarget.disabled = true;
        cell.append(await notDeliveredList(transfer.id));
      },
    },
    "Not delivered",
  );
}

async function notDeliveredList(id) {
  const list = h("ul", { class: "not-delivered" });
  try {
    for (const outcome of NOT_DELIVERED) {
      const page = await api(`/api/dicom/transfers/${id}/instances/?outcome=${outcome}&page_size=20`);
      for (const row of page.results) {
        const why = row.reason ? `: ${row.reason}` : "";
        list.append(h("li", {}, `${row.sop_instance_uid} ${LABELS[outcome]}${why}`));
      }
      if (page.count > page.results.length) {
        list.append(h("li", { class: "muted" }, `… ${page.count - page.results.length} more ${LABELS[outcome]}`));
      }
    }
  } catch (error) {
    list.append(h("li", {}, error.message));
  }
  if (!list.children.length) list.append(h("li", { class: "muted" }, "Every instance was delivered."));
  return list;
}

// A destination the workers found refusing connections: since when, and what it said.
export function unreachableNote(destination) {
  const state = destination.state;
  if (!state || state.reachable) return "";
  return h(
    "span",
    { class: "unreachable", role: "note" },
    `Unreachable since ${formatDateTime(state.since)}: ${state.last_error} Its transfers wait and resume by themselves.`,
  );
}

// After a success, what the destination said it holds (C-FIND): "verified: 6 of 6 held."...
export function verificationNote(verification) {
  if (!verification) return "";
  const text =
    verification.state === "pending" && !verification.message ? "verifying…" : `${verification.state}: ${verification.message}`;
  return h("span", { class: `verification verification-${verification.state}` }, text);
}
