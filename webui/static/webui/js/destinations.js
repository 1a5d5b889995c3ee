// Destinations management, for admins: list, create, edit, enable/disable, delete, test.

import { api, ApiError } from "./api.js";
import { unreachableNote } from "./delivery.js";
import { $, $$, h, setText } from "./dom.js";
import { clearErrors, showErrors } from "./forms.js";
import { testConnection } from "./send.js";
import { acceptedSummary, policyLabel, POLICIES } from "./syntaxes.js";

const state = { destinations: [], editing: null, onChange: () => {} };

export async function loadAdminDestinations() {
  setText($("#destinations-error"), "");
  try {
    state.destinations = await api("/api/destinations/");
  } catch (error) {
    setText($("#destinations-error"), error.message);
    return;
  }
  const body = $("#destinations tbody");
  body.replaceChildren(...state.destinations.map(row));
  if (!state.destinations.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "8", class: "muted empty" }, "No destination yet.")));
  }
}

// A preferred syntax (a UID) that no SOP class of the last probe accepted.
function policyRefused(destination) {
  const policy = destination.transfer_syntax_policy || "";
  const record = destination.accepted_transfer_syntaxes;
  if (!policy.startsWith("1.") || !record || record.message || !record.sop_classes.length) return false;
  return !record.sop_classes.some((c) => c.transfer_syntaxes.some((syntax) => syntax.uid === policy));
}

function row(destination) {
  const result = h("span", { class: "echo-result", "aria-live": "polite" });
  const test = h("button", { type: "button", class: "secondary small", "aria-label": `Test connection to ${destination.name}` }, "Test");
  const dicomweb = destination.kind === "dicomweb";
  const accepted = h("div", {}, acceptedSummary(destination.accepted_transfer_syntaxes, { dicomweb }));
  test.addEventListener("click", async () => {
    const answer = await testConnection(destination, test, result);
    if (answer && answer.accepted_transfer_syntaxes) accepted.replaceChildren(acceptedSummary(answer.accepted_transfer_syntaxes, { dicomweb }));
  });
  const policy = h(
    "p",
    { class: "muted policy" },
    `Sent: ${policyLabel(destination.transfer_syntax_policy)}${destination.lossy_allowed ? " (lossy allowed)" : ""}`,
    policyRefused(destination) ? h("span", { class: "warning-text" }, " — which its last probe did not accept: instances go in a syntax it accepts") : "",
  );
  const toggle = h(
    "button",
    { type: "button", class: "secondary small", "aria-label": `${destination.enabled ? "Disable" : "Enable"} ${destination.name}` },
    destination.enabled ? "Disable" : "Enable",
  );
  toggle.addEventListener("click", () => setEnabled(destination, !destination.enabled));
  const edit = h("button", { type: "button", class: "secondary small", "aria-label": `Edit ${destination.name}` }, "Edit");
  edit.addEventListener("click", () => openForm(destination, edit));
  const remove = h("button", { type: "button", class: "danger small", "aria-label": `Delete ${destination.name}` }, "Delete");
  remove.addEventListener("click", () => confirmDelete(destination, remove));
  return h(
    "tr",
    { "data-destination": destination.name, class: destination.enabled ? "" : "disabled" },
    h("td", {}, h("strong", {}, destination.name)),
    ...(destination.kind === "dicomweb"
      ? [h("td", {}, "DICOMweb"), h("td", { colspan: "2" }, h("code", {}, destination.url))]
      : [
          h("td", {}, h("code", {}, destination.ae_title)),
          h("td", {}, destination.host, ...(destination.tls ? [" ", h("span", { class: "tag" }, destination.tls.has_client_key ? "TLS, client certificate" : "TLS")] : [])),
          h("td", { class: "num" }, String(destination.port)),
        ]),
    h("td", {}, destination.description || ""),
    h("td", { class: "enabled-cell" }, destination.enabled ? "Yes" : "No", unreachableNote(destination)),
    h("td", {}, h("div", { class: "test-cell" }, test, result), policy, accepted),
    h("td", { class: "actions" }, edit, toggle, remove),
  );
}

async function setEnabled(destination, enabled) {
  try {
    await api(`/api/destinations/${destination.id}/`, { method: "PATCH", body: { enabled } });
  } catch (error) {
    setText($("#destinations-error"), error.message);
  }
  await loadAdminDestinations();
  state.onChange();
  const again = $$("#destinations tbody tr").find((tr) => tr.dataset.destination === destination.name);
  const button = again && again.querySelector(".actions button:nth-child(2)");
  if (button) button.focus();
}

function openForm(destination, opener) {
  const dialog = $("#destination-dialog");
  const form = $("#destination-form");
  state.editing = destination;
  form.reset();
  clearErrors(form);
  $("#destination-form-title").textContent = destination ? `Edit ${destination.name}` : "New destination";
  if (destination) {
    form.elements.name.value = destination.name;
    form.elements.kind.value = destination.kind || "dicom";
    form.elements.description.value = destination.description || "";
    form.elements.enabled.checked = destination.enabled;
    if (destination.kind === "dicomweb") {
      form.elements.url.value = destination.url;
      form.elements.auth_type.value = destination.auth.type;
      form.elements.username.value = destination.auth.username;
    } else {
      form.elements.ae_title.value = destination.ae_title;
      form.elements.host.value = destination.host;
      form.elements.port.value = String(destination.port);
      form.elements.max_associations.value = String(destination.max_associations || 1);
    }
    const deid = destination.deidentification;
    form.elements.deid_on.checked = Boolean(deid);
    for (const box of $$('input[name="deid_option"]', form)) box.checked = Boolean(deid && deid.options.includes(box.value));
    form.elements.transfer_syntax_policy.value = destination.transfer_syntax_policy;
    form.elements.lossy_allowed.checked = destination.lossy_allowed;
  }
  showTls(form, destination ? destination.tls : null);
  showKind(form);
  dialog.addEventListener("close", () => opener && opener.isConnected && opener.focus(), { once: true });
  dialog.showModal();
  form.elements.name.focus();
}

// The fields of the chosen kind (and of the chosen authentication) are shown; the others hidden.
function showKind(form) {
  const kind = form.elements.kind.value;
  for (const part of $$("[data-kind]", form)) part.hidden = part.dataset.kind !== kind;
  const auth = form.elements.auth_type.value;
  for (const field of $$("[data-auth]", form)) field.hidden = !field.dataset.auth.split(" ").includes(auth);
  $("#d-secret-label").textContent = auth === "bearer" ? "Token" : "Password";
  const editing = state.editing && state.editing.kind === "dicomweb" ? state.editing : null;
  const stored = editing && editing.auth.has_secret && editing.auth.type === auth;
  setText($("#d-secret-hint"), stored ? "One is stored: leave empty to keep it." : "Never shown again once saved.");
  const fingerprints = (editing && editing.ca_fingerprints) || [];
  $("#d-ca-remove-field").hidden = !fingerprints.length;
  setText(
    $("#d-ca-hint"),
    fingerprints.length
      ? `Stored: SHA-256 ${fingerprints[0].slice(0, 16)}…. Leave empty to keep it.`
      : "For https with a certificate the system does not trust.",
  );
}

function dicomwebBody(form) {
  const auth = { type: form.elements.auth_type.value };
  if (auth.type === "basic") auth.username = form.elements.username.value;
  const secret = form.elements.secret.value;
  if (secret) auth[auth.type === "bearer" ? "token" : "password"] = secret;
  const body = { kind: "dicomweb", url: form.elements.url.value, auth };
  const ca = form.elements.ca_certificate.value.trim();
  if (ca) body.ca_certificate = ca;
  else if (form.elements.ca_remove.checked) body.ca_certificate = "";
  return body;
}

// The auth's nested errors ({auth: {type: [...]}}) are shown under the authentication field.
function flatAuthErrors(body) {
  const auth = body && body.auth;
  if (!auth || typeof auth !== "object" || Array.isArray(auth)) return body;
  return { ...body, auth: Object.values(auth).flat() };
}

async function save(event) {
  event.preventDefault();
  const form = $("#destination-form");
  clearErrors(form);
  const port = form.elements.port.value.trim();
  const associations = form.elements.max_associations.value.trim();
  const common = {
    name: form.elements.name.value,
    description: form.elements.description.value,
    enabled: form.elements.enabled.checked,
    deidentification: form.elements.deid_on.checked
      ? { profile: "basic", options: $$('input[name="deid_option"]:checked', form).map((box) => box.value) }
      : null,
    transfer_syntax_policy: form.elements.transfer_syntax_policy.value,
    lossy_allowed: form.elements.lossy_allowed.checked,
  };
  const web = form.elements.kind.value === "dicomweb";
  const body = web
    ? { ...common, ...dicomwebBody(form) }
    : {
        ...common,
        kind: "dicom",
        ae_title: form.elements.ae_title.value,
        host: form.elements.host.value,
        port: port === "" ? 104 : Number(port),
        max_associations: associations === "" ? 1 : Number(associations),
      };
  if (!web && port !== "" && !Number.isInteger(body.port)) {
    showErrors(form, { port: ["Give a whole number between 1 and 65535."] });
    return;
  }
  if (!web && associations !== "" && !Number.isInteger(body.max_associations)) {
    showErrors(form, { max_associations: ["Give a whole number, 1 or more."] });
    return;
  }
  const submit = form.querySelector('button[type="submit"]');
  submit.disabled = true;
  try {
    if (!web) {
      const tls = await tlsBody(form, state.editing ? state.editing.tls : null);
      if (tls !== undefined) body.tls = tls;
    }
    if (state.editing) {
      // PATCH: settings the form does not show (set through the API) stay as they are.
      await api(`/api/destinations/${state.editing.id}/`, { method: "PATCH", body });
    } else {
      await api("/api/destinations/", { method: "POST", body });
    }
    // The list is fresh before the dialog closes: an Edit clicked at once opens what was saved.
    await loadAdminDestinations();
    $("#destination-dialog").close();
    state.onChange();
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) showErrors(form, flatAuthErrors(flatErrors(error.body)));
    else showErrors(form, { non_field_errors: [error.message] });
  } finally {
    submit.disabled = false;
  }
}

// DICOM TLS: PEM files are read as text in the browser and sent in `tls`; the stored key is never
// sent back by the API (has_client_key says whether there is one), so an edit without a new key file
// keeps it (the stored client certificate is sent again with it).
function showTls(form, tls) {
  form.elements.tls_enabled.checked = Boolean(tls);
  $("#d-tls-detail").hidden = !tls;
  form.elements["tls.profile"].value = tls ? tls.profile : "bcp195-nd";
  setText($("#d-tls-ca-stored"), tls ? "Stored: " + pemSubjects(tls.ca_certificates) + ". Choose a file to replace them." : "");
  setText(
    $("#d-tls-cert-stored"),
    tls && tls.client_certificate ? "Stored: a client certificate. Choose a file to replace it." : "None stored.",
  );
  setText($("#d-tls-key-stored"), tls && tls.has_client_key ? "A client key is stored (it is never shown)." : "No client key stored.");
  $("#d-tls-warnings").replaceChildren(...((tls && tls.warnings) || []).map((w) => h("li", {}, w)));
}

function pemSubjects(pem) {
  const count = (pem.match(/-----BEGIN CERTIFICATE-----/g) || []).length;
  return `${count} certificate${count === 1 ? "" : "s"}`;
}

async function fileText(input) {
  const file = input.files && input.files[0];
  return file ? await file.text() : null;
}

async function tlsBody(form, stored) {
  if (!form.elements.tls_enabled.checked) return stored ? null : undefined;
  const ca = await fileText(form.elements["tls.ca_certificates"]);
  const certificate = await fileText(form.elements["tls.client_certificate"]);
  const key = await fileText(form.elements["tls.client_key"]);
  const body = {
    profile: form.elements["tls.profile"].value,
    ca_certificates: ca !== null ? ca : stored ? stored.ca_certificates : "",
  };
  if (form.elements.tls_no_client.checked) return { ...body, client_certificate: "" };
  body.client_certificate = certificate !== null ? certificate : stored ? stored.client_certificate : "";
  if (key !== null) body.client_key = key;
  const passphrase = form.elements["tls.client_key_passphrase"].value;
  if (key !== null && passphrase) body.client_key_passphrase = passphrase;
  return body;
}

function flatErrors(body) {
  if (!body || typeof body.tls !== "object" || Array.isArray(body.tls) || body.tls === null) return body;
  const flat = { ...body };
  delete flat.tls;
  for (const [field, messages] of Object.entries(body.tls)) flat[field === "non_field_errors" ? "tls" : `tls.${field}`] = messages;
  return flat;
}

async function confirmDelete(destination, opener) {
  // The count now, not when the list was loaded: transfers come and go.
  let active = destination.active_transfers || 0;
  try {
    active = (await api(`/api/destinations/${destination.id}/`)).active_transfers || 0;
  } catch {
    // The list's count will do.
  }
  const dialog = $("#delete-destination-dialog");
  $("#delete-destination-title").textContent = `Delete ${destination.name}?`;
  $("#delete-destination-text").textContent =
    `Delete the destination “${destination.name}”? The audit log keeps what it recorded about it.`;
  const warning =
    active > 0
      ? `${active} ${active === 1 ? "transfer to it is" : "transfers to it are"} pending or sending. If you ` +
        "delete it, what has not been sent yet fails for good (no Retry). If you disable it instead, that fails " +
        "too, but can be retried once the destination is enabled again."
      : "";
  setText($("#delete-destination-warning"), warning);
  const disable = $("#delete-destination-disable");
  disable.hidden = !(active > 0 && destination.enabled);
  $("#delete-destination-yes").textContent = active > 0 ? "Delete anyway" : "Delete";
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    async () => {
      if (dialog.returnValue === "disable") {
        await setEnabled(destination, false);
        return;
      }
      if (dialog.returnValue !== "delete") {
        opener.focus();
        return;
      }
      try {
        await api(`/api/destinations/${destination.id}/`, { method: "DELETE" });
      } catch (error) {
        setText($("#destinations-error"), error.message);
      }
      await loadAdminDestinations();
      state.onChange();
      $("#new-destination").focus();
    },
    { once: true },
  );
  dialog.showModal();
  if (!disable.hidden) disable.focus();
}

export function initDestinations(onChange) {
  state.onChange = onChange;
  $("#d-policy").replaceChildren(...POLICIES.map(([value, label]) => h("option", { value }, label)));
  $("#new-destination").addEventListener("click", (event) => openForm(null, event.currentTarget));
  $("#destination-form").addEventListener("submit", save);
  $("#d-tls").addEventListener("change", (event) => {
    $("#d-tls-detail").hidden = !event.currentTarget.checked;
  });
  const form = $("#destination-form");
  form.elements.kind.addEventListener("change", () => showKind(form));
  form.elements.auth_type.addEventListener("change", () => showKind(form));
  $("#destination-dialog [data-close]").addEventListener("click", () => $("#destination-dialog").close());
}
