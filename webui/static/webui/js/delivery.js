// Delivery: asking before a series goes to a destination a second time, a destination found
// unreachable, and what a destination said it holds after a send (verification).

import { $, formatDateTime, h } from "./dom.js";

// Ask with the resend dialog; resolves "yes" (send everything again), "others" (only what was
// not sent before: offered when there is some) or "no".
function askResend(text, { others = false } = {}) {
  const dialog = $("#resend-dialog");
  $("#resend-text").textContent = text;
  $("#resend-others").hidden = !others;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(["yes", "others"].includes(dialog.returnValue) ? dialog.returnValue : "no"), { once: true });
    dialog.showModal();
  });
}

function seriesLabel(series, uid) {
  if (!series) return uid;
  const number = series.series_number === null || series.series_number === undefined ? "" : `#${series.series_number}`;
  return [number, series.series_description || "(no description)", series.modality ? `(${series.modality})` : ""].filter(Boolean).join(" ");
}

// A 409 of /send/ lists what was already delivered: ask whether to send it again.
export function confirmResend(error, seriesByUid, destinations, requested = 0) {
  const pairs = (error.body && error.body.already_delivered) || [];
  const names = new Map(destinations.map((d) => [d.id, d.name]));
  const lines = pairs.slice(0, 5).map((pair) => {
    const series = seriesByUid.get(pair.series_instance_uid);
    const what = seriesLabel(series, pair.series_instance_uid);
    const where = names.get(pair.destination_id) || `destination ${pair.destination_id}`;
    const when = pair.completed_at ? `delivered ${formatDateTime(pair.completed_at)}` : "on its way now";
    const by = pair.transfer_id == null ? "by another user" : `transfer ${pair.transfer_id}`;
    return `${what} → ${where} (${when}, ${by})`;
  });
  const more = pairs.length > 5 ? ` and ${pairs.length - 5} more` : "";
  const others = requested - pairs.length;
  if (others > 0) {
    return askResend(
      `${pairs.length} of the ${requested} series × destination were sent before: ${lines.join("; ")}${more}. ` +
        `Send those again too, or only the other ${others}?`,
      { others: true },
    );
  }
  return askResend(`Already sent: ${lines.join("; ")}${more}. Send again?`);
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
