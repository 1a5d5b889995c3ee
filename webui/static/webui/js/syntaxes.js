// What a destination accepts (its last probe, at each connection test) and what it is sent in.

import { formatDateTime, h } from "./dom.js";

export const POLICIES = [
  ["as-stored", "As stored (converted only when not accepted)"],
  ["uncompressed", "Uncompressed"],
  ["1.2.840.10008.1.2.1", "Explicit VR Little Endian"],
  ["1.2.840.10008.1.2", "Implicit VR Little Endian"],
  ["1.2.840.10008.1.2.4.90", "JPEG 2000 lossless"],
  ["1.2.840.10008.1.2.4.80", "JPEG-LS lossless"],
  ["1.2.840.10008.1.2.5", "RLE lossless"],
];

export function policyLabel(value) {
  const known = POLICIES.find(([uid]) => uid === value);
  return known ? known[1] : value;
}

// Names of the transfer syntaxes instances are stored in (PS3.6 Table A-1); others show their UID.
const SYNTAX_NAMES = new Map([
  ...POLICIES.slice(2),
  ["1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian"],
  ["1.2.840.10008.1.2.2", "Explicit VR Big Endian"],
  ["1.2.840.10008.1.2.4.50", "JPEG Baseline (lossy)"],
  ["1.2.840.10008.1.2.4.51", "JPEG Extended (lossy)"],
  ["1.2.840.10008.1.2.4.57", "JPEG Lossless"],
  ["1.2.840.10008.1.2.4.70", "JPEG Lossless SV1"],
  ["1.2.840.10008.1.2.4.81", "JPEG-LS near-lossless"],
  ["1.2.840.10008.1.2.4.91", "JPEG 2000 (lossy)"],
]);

export function syntaxName(uid) {
  return SYNTAX_NAMES.get(uid) || uid;
}

// SOP classes that accept the same syntaxes are listed together. A DICOMweb server negotiates
// nothing: it is never probed (an instance it does not take is refused, and the ledger says so).
export function acceptedSummary(record, { dicomweb = false } = {}) {
  if (dicomweb) return h("p", { class: "muted accepted-syntaxes" }, "Transfer syntaxes: DICOMweb negotiates none; each instance goes as the policy says.");
  if (!record) return h("p", { class: "muted accepted-syntaxes" }, "Accepted transfer syntaxes: not probed yet (test the connection).");
  const groups = new Map();
  for (const sopClass of record.sop_classes) {
    const key = sopClass.transfer_syntaxes.map((syntax) => syntax.name).join(", ") || "none";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(sopClass.name);
  }
  const when = record.probed_at ? formatDateTime(record.probed_at) : "never";
  const items = [...groups].map(([syntaxes, classes]) =>
    h("li", {}, h("span", { class: "syntaxes" }, syntaxes), " — ", h("span", { class: "muted" }, classes.join(", "))),
  );
  return h(
    "details",
    { class: "accepted-syntaxes" },
    h("summary", {}, `Accepted transfer syntaxes (probed ${when})`),
    record.message ? h("p", { class: "error" }, `Last probe failed: ${record.message}`) : "",
    h("ul", {}, ...items),
  );
}
