// What a transfer did not deliver, and why: from the per-instance ledger where the server has it
// (GET /api/dicom/transfers/{id}/instances/?outcome=), otherwise from the audit entry's details
// (the instances the peer refused) and the counts of the transfer.

import { api } from "./api.js";
import { h } from "./dom.js";

const NOT_DELIVERED = ["refused", "unsendable", "pending"];
const LISTED = 100;
let ledger = null; // null: not known yet; true: the server has it; false: it answered 404

async function fromLedger(t) {
  const items = [];
  let count = 0;
  for (const outcome of NOT_DELIVERED) {
    const page = await api(`/api/dicom/transfers/${t.id}/instances/?outcome=${outcome}&page_size=${LISTED}`);
    count += page.count;
    items.push(...page.results);
  }
  return { source: "ledger", count, items };
}

async function fromAudit(t) {
  const entry = await api(`/api/dicom/logs/${t.id}/`);
  const refused = (entry.details && entry.details.refused_instances) || [];
  return {
    source: "audit",
    count: refused.length,
    items: refused.map((r) => ({ sop_instance_uid: r.sop_instance_uid, outcome: "refused", dimse_status: r.status, reason: r.text })),
  };
}

export async function loadNotDelivered(t) {
  if (ledger !== false) {
    try {
      const result = await fromLedger(t);
      ledger = true;
      return result;
    } catch (error) {
      // Feature detection: a server without the ledger has no such endpoint.
      if (!(error.status === 404 && ledger === null)) throw error;
      ledger = false;
    }
  }
  return fromAudit(t);
}

const OUTCOME_WORDS = { refused: "refused by the destination", unsendable: "could not be sent", pending: "not sent" };

export function describeNotDelivered(t, result) {
  const missing = Math.max(0, (t.instance_count || 0) - (t.instances_sent || 0));
  const parts = [h("p", {}, `${missing} of ${t.instance_count} instances not delivered.`)];
  if (result.items.length) {
    const rows = result.items.slice(0, LISTED).map((item) =>
      h(
        "tr",
        {},
        h("td", {}, h("code", {}, item.sop_instance_uid)),
        h("td", {}, OUTCOME_WORDS[item.outcome] || item.outcome),
        h("td", {}, item.dimse_status || ""),
        h("td", {}, item.reason || ""),
      ),
    );
    parts.push(
      h(
        "table",
        { class: "data compact" },
        h("caption", { class: "visually-hidden" }, "Instances not delivered"),
        h(
          "thead",
          {},
          h("tr", {}, h("th", { scope: "col" }, "SOP Instance UID"), h("th", { scope: "col" }, "What happened"), h("th", { scope: "col" }, "DIMSE status"), h("th", { scope: "col" }, "Reason")),
        ),
        h("tbody", {}, ...rows),
      ),
    );
    if (result.count > result.items.length) parts.push(h("p", { class: "muted" }, `The first ${result.items.length} of ${result.count} are listed.`));
  }
  const unexplained = missing - (result.source === "audit" ? result.items.length : result.count);
  if (result.source === "audit" && unexplained > 0) {
    parts.push(h("p", { class: "muted" }, `${unexplained} ${unexplained === 1 ? "was" : "were"} not sent: the attempt ended before ${unexplained === 1 ? "it was" : "they were"} offered (see the message above).`));
  }
  return parts;
}
